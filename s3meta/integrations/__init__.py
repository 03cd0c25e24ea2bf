"""Optional libraries s3meta uses through their public API when they are installed (extras)."""
