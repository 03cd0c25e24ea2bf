"""``s3meta serve`` as an operator runs it: loopback, the token required, JSON from MariaDB."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from db.engine import writer_engine
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from tests.support.database import ROOT
from tests.support.records import T0
from tests.support.serve import S3META, serving
from tests.support.writes import save_state

pytestmark = pytest.mark.mysql


def test_serve_answers_key_lookups_with_the_token_and_401_without(
    mysql_url: str, tmp_path: Path
) -> None:
    engine = writer_engine(mysql_url)
    save_state(
        MetadataStore(engine),
        ObjectState("served", "a/b c.txt", size=3, etag="e", last_modified=T0),
        EventInfo(),
    )
    engine.dispose()

    with serving({"S3META_DATABASE_URL": mysql_url}, tmp_path / "serve.log") as served:
        found = served.get(f"/objects/served/{quote('a/b c.txt')}")
        refused = served.get("/objects/served/a", token=None)
        docs = served.get("/docs", token=None)

    assert (found.status, found.json()["key"], found.json()["size"]) == (200, "a/b c.txt", 3)
    assert refused.status == 401
    assert docs.status == 200


def test_serve_without_a_token_stops_at_start_in_one_line(mysql_url: str) -> None:
    done = subprocess.run(
        [S3META, "serve"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "S3META_DATABASE_URL": mysql_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "Error: no API token: set S3META_API_TOKEN (or S3META_API_TOKEN_SECRET_ARN)"
    )
