#!/usr/bin/env bash
# Installs what the tests need into .venv and runs every check CI runs:
# ruff (lint + format), mypy --strict, alembic check, pytest.
# Needs only python3 (3.11+); the MySQL tests need a MariaDB/MySQL server at
# S3META_TEST_MYSQL_URL (default mysql+pymysql://root@127.0.0.1:3306): skipped loudly
# without one, but with CI set they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== alembic check (SQLite)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
S3META_DATABASE_URL="sqlite:///$scratch/check.db" .venv/bin/alembic upgrade head >/dev/null 2>&1
S3META_DATABASE_URL="sqlite:///$scratch/check.db" .venv/bin/alembic check
echo "== pytest"
# Two processes (S3META_TEST_WORKERS), a test file each at a time: most tests wait on
# servers and workers of their own, so two halve the run on a 2-core machine.
.venv/bin/pytest -n "${S3META_TEST_WORKERS:-2}" --dist loadfile "$@"
