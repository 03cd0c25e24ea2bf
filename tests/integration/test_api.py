"""The HTTP API on MariaDB: objects as the SPEC's JSON, journals, listings by keyset cursor
with every filter, stats, health, the token, the limits, and 422s for bad parameters."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.engine import writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.api.app import ApiConfig
from s3meta.api.params import SINGLE
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.errors import QueueUnavailable
from s3meta.memory import MemoryQueue
from s3meta.operations.serving import Serving
from s3meta.render import row_to_json
from tests.support.api import api_client
from tests.support.records import T0
from tests.support.writes import mark_deleted, save_state

pytestmark = pytest.mark.mysql

BUCKET = "api-bucket"


def state(key: str, size: int = 10, **fields: Any) -> ObjectState:
    return ObjectState(
        bucket=fields.pop("bucket", BUCKET),
        key=key,
        size=size,
        etag=f"etag-{size}",
        last_modified=fields.pop("last_modified", T0),
        **fields,
    )


@pytest.fixture
def store(mysql_url: str) -> Iterator[MetadataStore]:
    engine = writer_engine(mysql_url)
    yield MetadataStore(engine)
    engine.dispose()


@pytest.fixture
def api(mysql_url: str) -> Iterator[tuple[TestClient, Serving]]:
    with api_client(mysql_url) as found:
        yield found


@pytest.fixture
def client(api: tuple[TestClient, Serving]) -> TestClient:
    return api[0]


def keys_of(body: dict[str, Any]) -> list[str]:
    return [row["key"] for row in body["objects"]]


def every_page(client: TestClient, **params: Any) -> tuple[list[str], int]:
    """Every key a listing gives, page after page, and how many pages it took."""
    keys: list[str] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("/objects", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        keys += keys_of(body)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return keys, pages


def test_an_object_is_served_with_the_fields_s3meta_show_prints(
    client: TestClient, store: MetadataStore, mysql_url: str
) -> None:
    save_state(
        store,
        state("dir/a b+é.txt", content_type="text/plain", user_metadata={"owner": "ann"}),
        EventInfo("ObjectCreated:Put", T0, "00AB"),
    )

    response = client.get(f"/objects/{BUCKET}/{quote('dir/a b+é.txt')}")

    assert response.status_code == 200
    body = response.json()
    reader = ObjectReader(writer_engine(mysql_url))
    record = reader.get(BUCKET, "dir/a b+é.txt")
    assert record is not None
    assert body == {**row_to_json(record), "stale": False}
    assert body["metadata"] == {"owner": "ann"}
    assert response.headers["X-S3meta-Source"] == "primary"


def test_an_unknown_key_is_a_404_with_a_json_error(client: TestClient) -> None:
    response = client.get(f"/objects/{BUCKET}/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"error": f"no record of s3://{BUCKET}/nothing-here"}


def test_requests_without_the_right_bearer_token_are_refused_with_401(client: TestClient) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        response = client.get("/objects", params={"bucket": BUCKET}, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200


def test_the_journal_is_served_oldest_first_and_an_encoded_slash_keeps_history_in_the_key(
    client: TestClient, store: MetadataStore
) -> None:
    save_state(store, state("k", 1), EventInfo("ObjectCreated:Put", T0, "01"))
    mark_deleted(store, BUCKET, "k", EventInfo("ObjectRemoved:Delete", T0, "02"))
    save_state(store, state("x/history", 3), EventInfo("ObjectCreated:Put", T0, "01"))

    journal = client.get(f"/objects/{BUCKET}/k/history").json()["history"]
    literal = client.get(f"/objects/{BUCKET}/x%2Fhistory")

    assert [entry["record_type"] for entry in journal] == ["CREATE", "DELETE"]
    assert literal.status_code == 200
    assert (literal.json()["key"], literal.json()["size"]) == ("x/history", 3)
    assert client.get(f"/objects/{BUCKET}/none/history").status_code == 404


def test_pages_by_cursor_give_every_object_once_while_keys_are_added_and_removed(
    client: TestClient, store: MetadataStore
) -> None:
    keys = [f"k{index:03d}" for index in range(25)]
    for key in keys:
        save_state(store, state(key), EventInfo())

    first = client.get("/objects", params={"bucket": BUCKET, "limit": 10}).json()
    # Written meanwhile: before the cursor (never shown), after it (shown once).
    save_state(store, state("k000a"), EventInfo())
    save_state(store, state("k999"), EventInfo())
    rest, pages = every_page(client, bucket=BUCKET, limit=10, cursor=first["next_cursor"])

    listed = keys_of(first) + rest
    assert listed == [*keys, "k999"]
    assert pages == 2


def test_filters_select_by_type_size_time_class_deletion_tags_and_metadata(
    client: TestClient, store: MetadataStore
) -> None:
    later = T0 + timedelta(days=2)
    save_state(
        store, state("a.jpg", 100, content_type="image/jpeg", tags={"team": "x"}), EventInfo()
    )
    save_state(
        store, state("b.txt", 5, content_type="text/plain", last_modified=later), EventInfo()
    )
    save_state(
        store,
        state(
            "c.bin",
            5000,
            storage_class="GLACIER",
            user_metadata={"owner": "bo"},
            replication_status="FAILED",
            checksum_type="COMPOSITE",
            content_encoding="gzip",
            headers={"Cache-Control": "no-cache"},
        ),
        EventInfo(),
    )
    save_state(store, state("d.txt", 7, content_type="text/plain"), EventInfo())
    mark_deleted(store, BUCKET, "d.txt", EventInfo("ObjectRemoved:Delete", later))
    save_state(store, state("other", 1, bucket="api-other"), EventInfo())

    def listed(**params: Any) -> list[str]:
        return every_page(client, bucket=BUCKET, **params)[0]

    assert listed() == ["a.jpg", "b.txt", "c.bin", "d.txt"]
    assert listed(content_type="text/plain") == ["b.txt", "d.txt"]
    assert listed(min_size=10, max_size=1000) == ["a.jpg"]
    assert listed(modified_after=(T0 + timedelta(days=1)).isoformat()) == ["b.txt"]
    assert listed(modified_before="2026-11-21T00:00:00Z") == ["a.jpg", "c.bin", "d.txt"]
    assert listed(storage_class="GLACIER") == ["c.bin"]
    assert listed(replication_status="FAILED") == ["c.bin"]
    assert listed(checksum_type="COMPOSITE") == ["c.bin"]
    assert listed(content_encoding="gzip") == ["c.bin"]
    assert listed(replication_status="COMPLETED") == []
    assert listed(deleted="true") == ["d.txt"]
    assert listed(deleted="false") == ["a.jpg", "b.txt", "c.bin"]
    assert listed(**{"tag.team": "x"}) == ["a.jpg"]
    assert listed(**{"metadata.owner": "bo"}) == ["c.bin"]
    assert listed(**{"metadata.owner": "nobody"}) == []
    assert listed(prefix="b") == ["b.txt"]


def test_unindexed_filters_read_a_bounded_window_of_the_index_per_page(
    mysql_url: str, store: MetadataStore
) -> None:
    for index in range(30):
        kind = "image/png" if index % 7 == 0 else "text/plain"
        save_state(store, state(f"f{index:02d}", content_type=kind), EventInfo())

    with api_client(mysql_url, config=ApiConfig("", scan_limit=8, rate_limit=10_000)) as (
        client,
        _,
    ):
        first = client.get("/objects", params={"bucket": BUCKET, "content_type": "image/png"})
        keys, pages = every_page(client, bucket=BUCKET, content_type="image/png")

    assert first.json()["scanned"] == 8
    assert keys == ["f00", "f07", "f14", "f21", "f28"]
    assert pages == 4  # 30 rows, 8 a window


def test_a_cursor_is_good_only_for_the_listing_that_gave_it(
    client: TestClient, store: MetadataStore
) -> None:
    for key in ("a", "b", "c"):
        save_state(store, state(key), EventInfo())
    cursor = client.get("/objects", params={"bucket": BUCKET, "limit": 1}).json()["next_cursor"]

    response = client.get("/objects", params={"bucket": BUCKET, "prefix": "b", "cursor": cursor})

    assert response.status_code == 422
    assert response.json() == {"error": "cursor: belongs to a listing with other parameters"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "bucket: required: a listing reads one bucket's range of the index"),
        ({"bucket": "Bad_Bucket"}, "bucket: invalid bucket name"),
        ({"bucket": BUCKET, "limit": "0"}, "limit: must be 1 to 1000"),
        ({"bucket": BUCKET, "limit": "5000"}, "limit: must be 1 to 1000"),
        ({"bucket": BUCKET, "limit": "ten"}, "limit: expected a whole number"),
        ({"bucket": BUCKET, "min_size": "-1"}, "min_size: expected a whole number"),
        ({"bucket": BUCKET, "min_size": "9", "max_size": "3"}, "max_size: below min_size"),
        ({"bucket": BUCKET, "modified_after": "yesterday"}, "modified_after: expected an ISO"),
        ({"bucket": BUCKET, "deleted": "maybe"}, "deleted: expected true or false"),
        ({"bucket": BUCKET, "colour": "red"}, "colour: unknown parameter"),
        ({"bucket": BUCKET, "cursor": "!!!"}, "cursor: not a cursor this API returned"),
        ({"bucket": BUCKET, 'tag.a"b': "x"}, 'tag.a"b: a tag name is 1-128'),
    ],
)
def test_every_bad_listing_parameter_is_a_422_naming_it(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    response = client.get("/objects", params=params)

    assert response.status_code == 422
    assert response.json()["error"].startswith(message)


def test_a_repeated_parameter_is_a_422(client: TestClient) -> None:
    response = client.get(f"/objects?bucket={BUCKET}&bucket={BUCKET}")

    assert (response.status_code, response.json()) == (
        422,
        {"error": "bucket: given more than once"},
    )


def test_a_client_past_the_rate_limit_gets_429_with_retry_after(mysql_url: str) -> None:
    with api_client(mysql_url, config=ApiConfig("", rate_limit=2)) as (client, _):
        codes = [client.get("/healthz").status_code for _ in range(8)]

    assert codes[:4] == [200] * 4
    assert 429 in codes[4:]


def test_stats_count_rows_bytes_classes_types_and_attempts(
    client: TestClient, store: MetadataStore
) -> None:
    save_state(store, state("a", 100, content_type="text/plain"), EventInfo())
    save_state(
        store, state("b", 50, content_type="text/plain", storage_class="GLACIER"), EventInfo()
    )
    save_state(store, state("c", 7), EventInfo())
    mark_deleted(store, BUCKET, "c", EventInfo("ObjectRemoved:Delete", T0))

    body = client.get("/stats").json()

    assert body["buckets"] == [
        {"bucket": BUCKET, "live": 2, "deleted": 1, "total": 3, "never_seen": 0}
    ]
    assert body["bytes"] == 150
    assert {row["storage_class"]: row["bytes"] for row in body["by_storage_class"]} == {
        "STANDARD": 100,
        "GLACIER": 50,
    }
    assert body["by_content_type"] == [{"content_type": "text/plain", "objects": 2, "bytes": 150}]
    assert set(body["attempts"]["last_hour"]) >= {"succeeded", "failed"}


def test_stats_report_queue_depths_or_why_they_could_not_be_read(mysql_url: str) -> None:
    events = MemoryQueue("s3meta-events")
    events.send("{}")
    events.send("{}")

    def unreachable() -> list[tuple[str, MemoryQueue]]:
        raise QueueUnavailable("SQS could not be reached: no credentials")

    with api_client(mysql_url, config=ApiConfig("", queues=lambda: [("events", events)])) as (
        client,
        _,
    ):
        depths = client.get("/stats").json()
    with api_client(mysql_url, config=ApiConfig("", queues=unreachable)) as (client, _):
        missing = client.get("/stats").json()

    assert [(q["role"], q["name"], q["visible"]) for q in depths["queues"]] == [
        ("events", "s3meta-events", 2)
    ]
    assert missing["queues"] == []
    assert missing["queues_unavailable"] == "SQS could not be reached: no credentials"


def test_readyz_says_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"database": {"ok": True, "error": None}, "status": "ready"}


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"/objects", "/objects/{bucket}/{key}", "/stats", "/healthz", "/readyz"} <= set(paths)


# Anything a client may type: printable and not, long and short, paths and parameters.
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(["", "0", "-1", "99999999999999999999", "true", "2026-13-40", "%", "%ff"])
_NAMES = st.sampled_from([*SINGLE, "tag.team", "metadata.owner", "tag.", "metadata.a'b"]) | st.text(
    alphabet=string.printable, max_size=12
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.lists(st.tuples(_NAMES, _TEXT), max_size=6),
    path=st.lists(_TEXT, min_size=1, max_size=3),
)
def test_no_parameter_or_path_yields_a_server_error(
    client: TestClient, params: list[tuple[str, Any]], path: list[str]
) -> None:
    listing = client.get("/objects", params=[("bucket", BUCKET), *params])
    loose = client.get("/objects", params=params)
    shown = client.get("/objects/" + "/".join(quote(part, safe="") for part in path))
    raw = client.get("/objects/" + "/".join(quote(part, safe="/%+&=") for part in path))
    page = client.get("/ui", params=params)
    stats = client.get("/stats", params=params[:1])

    for response in (listing, loose, shown, raw, page, stats):
        assert response.status_code < 500, (response.request.url, response.text)
        if response.status_code >= 400 and response.headers["content-type"].startswith(
            "application/json"
        ):
            assert json.loads(response.text)["error"]
