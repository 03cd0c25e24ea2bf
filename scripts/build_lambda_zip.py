"""Build the Lambda deployment package: s3meta's handler code and the dependencies it imports,
as binary wheels for the Lambda runtime's Python and architecture; no Celery, no test tools.

    python scripts/build_lambda_zip.py                      # python3.12, x86_64
    python scripts/build_lambda_zip.py --arch arm64 --python 3.13 --output dist/arm.zip
    python scripts/build_lambda_zip.py --without-boto3      # use the runtime's boto3

The zip's root holds ``s3meta/`` and ``db/`` (handlers ``s3meta.lambda_handler.handler`` and
``s3meta.lambda_handler.migrate``), ``alembic.ini`` with the migrations in
``s3meta_migrations/`` (beside the ``alembic`` package itself), and the dependencies, with
their versions from pyproject.toml. The Lambda runtime ships a boto3 of its own; AWS
recommends bundling yours so that a runtime update cannot change it, so it is included
unless ``--without-boto3``. The installed dependencies are kept under ``.cache/lambda/``,
one folder per platform, Python and requirement set: a rebuild copies them.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "lambda"
# What the handler imports (s3meta.lambda_handler and everything under it), by the names in
# pyproject.toml's dependencies; boto3 brings botocore, s3transfer and jmespath.
HANDLER_DEPENDENCIES = (
    "boto3",
    "sqlalchemy",
    "alembic",
    "pymysql",
    "pydantic-settings",
    "python-json-logger",
)
OPTIONAL_EXTRA = "lambda"  # Powertools' batch utility
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# Never in the package: the test tools, what only the Celery deployment runs, and the
# export's libraries (the handler never exports, and pyarrow is 170 MiB of the 250 MiB a
# Lambda function may unpack to).
FORBIDDEN = (
    "pytest", "moto", "hypothesis", "mypy", "ruff", "celery", "kombu", "flower", "pyarrow",
    "duckdb",
)  # fmt: skip
CODE = ("s3meta", "db")
MIGRATIONS = "s3meta_migrations"
# A fixed time for every entry: the same inputs give the same zip.
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def requirements(*, with_boto3: bool) -> list[str]:
    """The handler's requirements, with pyproject.toml's version ranges."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    chosen = [
        spec
        for spec in project["dependencies"]
        if _name(spec) in HANDLER_DEPENDENCIES and (with_boto3 or _name(spec) != "boto3")
    ]
    missing = set(HANDLER_DEPENDENCIES) - {_name(spec) for spec in chosen} - {"boto3"}
    if missing:
        raise SystemExit(f"build_lambda_zip: pyproject.toml lacks {sorted(missing)}")
    return [*chosen, *project["optional-dependencies"][OPTIONAL_EXTRA]]


def _name(spec: str) -> str:
    name = spec
    for stop in "[<>=!~ ;":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-")


def install(requirements: list[str], *, arch: str, python: str) -> Path:
    """The dependencies installed for the platform, in the cache (made on the first call)."""
    key = hashlib.sha256("\n".join([arch, python, *requirements]).encode()).hexdigest()[:16]
    target = CACHE / f"site-{arch}-py{python}-{key}"
    if (target / ".complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--target", str(target),
        "--platform", PLATFORMS[arch],
        "--implementation", "cp",
        "--python-version", python,
        "--only-binary=:all:",
        "--cache-dir", str(CACHE / "pip"),
        *requirements,
    ]  # fmt: skip
    subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, fixed arguments
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: not run in Lambda
    (target / ".complete").write_text("\n".join(requirements) + "\n")
    return target


def check_contents(site: Path) -> None:
    """Refuse a package with test tools, Celery or the export's libraries in it."""
    found = sorted(
        path.name
        for path in site.iterdir()
        if path.name.lower().split("-")[0].split(".")[0] in FORBIDDEN
    )
    if found:
        raise SystemExit(f"build_lambda_zip: the package would hold {found}")


def build(output: Path, *, arch: str, python: str, with_boto3: bool) -> Path:
    site = install(requirements(with_boto3=with_boto3), arch=arch, python=python)
    check_contents(site)
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "package"
        shutil.copytree(site, staged, ignore=shutil.ignore_patterns(".complete"))
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for package in CODE:
            shutil.copytree(ROOT / package, staged / package, ignore=ignore)
        shutil.copytree(ROOT / "alembic", staged / MIGRATIONS, ignore=ignore)
        shutil.copy2(ROOT / "alembic.ini", staged / "alembic.ini")
        output.parent.mkdir(parents=True, exist_ok=True)
        _zip(staged, output)
    return output


def _zip(folder: Path, output: Path) -> None:
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            if "__pycache__" in path.parts:
                continue
            entry = zipfile.ZipInfo(path.relative_to(folder).as_posix(), ZIP_TIME)
            entry.external_attr = 0o644 << 16  # readable by Lambda's user
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--python", default="3.12", help="the runtime's Python (python3.12)")
    parser.add_argument("--output", type=Path, default=ROOT / "dist" / "s3meta-lambda.zip")
    parser.add_argument(
        "--without-boto3", action="store_true", help="leave boto3 out: the runtime's is used"
    )
    args = parser.parse_args(argv)
    output = build(
        args.output, arch=args.arch, python=args.python, with_boto3=not args.without_boto3
    )
    size = output.stat().st_size
    print(f"{output}: {size / 2**20:.1f} MiB ({args.arch}, python{args.python})")


if __name__ == "__main__":
    main()
