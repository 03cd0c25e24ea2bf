"""What the operators' commands do, without click or rich: the I/O comes in, a report goes out."""
