"""``s3meta.domain.event_names``: S3's event families."""

from __future__ import annotations

import pytest

from s3meta.domain.event_names import SUBSCRIBED, is_known_event_name, is_removal


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("ObjectCreated:Put", True),
        ("ObjectRemoved:DeleteMarkerCreated", True),
        ("LifecycleExpiration:Delete", True),
        ("ObjectRestore:Completed", True),
        ("ObjectTagging:Delete", True),
        ("ObjectAcl:Put", True),
        ("LifecycleTransition", True),
        ("IntelligentTiering", True),
        ("Replication:OperationFailedReplication", True),
        ("EventBridge:ObjectTagsAdded", True),
        ("ObjectCreated:", False),
        ("LifecycleTransitionLater", False),
        ("EventBridge:ObjectTeleported", False),
        ("Brand:NewThing", False),
        ("", False),
    ],
)
def test_is_known_event_name_recognises_the_documented_families(name: str, known: bool) -> None:
    assert is_known_event_name(name) is known


@pytest.mark.parametrize(
    ("name", "removal"),
    [
        ("ObjectRemoved:Delete", True),
        ("ObjectRemoved:DeleteMarkerCreated", True),
        ("LifecycleExpiration:Delete", True),
        ("ObjectCreated:Put", False),
        ("ObjectTagging:Put", False),
        (None, False),
        ("", False),
    ],
)
def test_removals_are_the_object_removed_and_lifecycle_expiration_families(
    name: str | None, removal: bool
) -> None:
    assert is_removal(name) is removal


def test_a_bucket_is_subscribed_to_creates_removals_expirations_and_tag_changes() -> None:
    assert SUBSCRIBED == (
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
        "s3:LifecycleExpiration:*",
        "s3:ObjectTagging:*",
    )
