"""Pure logic: no network, no database, no clock reads."""
