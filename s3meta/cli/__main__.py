"""``python -m s3meta.cli``: the console script, for environments without it on PATH."""

from s3meta.cli import main

main()
