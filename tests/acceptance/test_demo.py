"""The README's first command: ``s3meta demo`` shows rows on a machine without MySQL or AWS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from s3meta.demo import BUCKET, DELETED_KEY, SAMPLES

# The console script beside this interpreter: the venv's, even when its bin is not on PATH.
S3META = shutil.which("s3meta", path=str(Path(sys.executable).parent)) or shutil.which("s3meta")


def clean_environment() -> dict[str, str]:
    """The environment of a new user: no AWS and no s3meta settings."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "S3META_"))
    }


def s3meta(
    *args: str, cwd: Path, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    assert S3META is not None, "the s3meta console script is not installed"
    return subprocess.run(
        [S3META, *args],
        cwd=cwd,
        env={**clean_environment(), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# The operator's own database, configured in the environment the demo runs in.
CONFIGURED_DATABASE = "configured.db"


@pytest.fixture(scope="module")
def demo_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    configured = f"sqlite:///{directory / CONFIGURED_DATABASE}"
    result = s3meta("demo", cwd=directory, timeout=180, S3META_DATABASE_URL=configured)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "S3META_DATABASE_URL is not used by the demo" in result.stdout
    return directory


def test_the_demo_leaves_the_configured_database_alone(demo_directory: Path) -> None:
    assert not (demo_directory / CONFIGURED_DATABASE).exists()


def test_the_demo_writes_to_the_database_it_is_told_to_use(tmp_path: Path) -> None:
    chosen = f"sqlite:///{tmp_path / 'chosen.db'}"

    result = s3meta("demo", "--database-url", chosen, cwd=tmp_path, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "s3meta.db").exists()
    listed = s3meta("list", "--bucket", BUCKET, "--json", cwd=tmp_path, S3META_DATABASE_URL=chosen)
    assert len(listed.stdout.splitlines()) == len(SAMPLES), listed.stderr


def test_the_demo_indexes_every_sample_into_the_embedded_database(demo_directory: Path) -> None:
    assert (demo_directory / "s3meta.db").is_file()

    listed = s3meta("list", "--bucket", BUCKET, "--json", cwd=demo_directory)

    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(row["key"] for row in rows) == sorted(sample.key for sample in SAMPLES)
    assert {row["key"] for row in rows if row["deleted"]} == {DELETED_KEY}


def test_the_demo_rows_carry_the_objects_metadata(demo_directory: Path) -> None:
    photo = SAMPLES[0]

    shown = s3meta("show", f"s3://{BUCKET}/{photo.key}", "--json", cwd=demo_directory)

    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["size"] == len(photo.body)
    assert row["content_type"] == photo.content_type
    assert row["metadata"] == {"camera": "X100V", "place": "Zürich"}
    assert row["storage_class"] == "STANDARD"
    assert row["deleted"] is False


def test_the_demo_deleted_row_names_its_removal_event_and_its_times_agree(
    demo_directory: Path,
) -> None:
    shown = s3meta("show", f"s3://{BUCKET}/{DELETED_KEY}", "--json", cwd=demo_directory)

    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)
    assert row["deleted"] is True
    assert row["deleted_by"] == "ObjectRemoved:Delete"
    assert row["event_name"] == "ObjectRemoved:Delete"
    # One format throughout (ISO 8601, UTC, microseconds), so the strings compare as times.
    assert row["deleted_at"] == row["event_time"]
    assert row["created_at"] <= row["deleted_at"] <= row["updated_at"]


def test_running_the_demo_again_updates_the_same_rows(demo_directory: Path) -> None:
    again = s3meta("demo", cwd=demo_directory, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr

    listed = s3meta("list", "--bucket", BUCKET, "--json", cwd=demo_directory)

    assert len(listed.stdout.splitlines()) == len(SAMPLES)


def test_stats_after_the_demo_show_the_counts_and_say_in_one_line_why_not_the_queues(
    demo_directory: Path,
) -> None:
    shown = s3meta("stats", cwd=demo_directory)

    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.split() == [BUCKET, str(len(SAMPLES) - 1), "1", str(len(SAMPLES))]
               for line in lines), shown.stdout  # fmt: skip
    assert any(line.split()[:1] == ["gone"] for line in lines), shown.stdout
    assert shown.stderr.strip() == (
        "s3meta: queue depths not shown: SQS queue 's3meta-events': Unable to locate credentials"
    )
