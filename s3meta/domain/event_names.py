"""S3's event names, the one place that knows their families. Pure.

Names arrive without the ``s3:`` prefix (``ObjectCreated:Put``); a bucket's notification
configuration names them with it (``s3:ObjectCreated:*``).
"""

from __future__ import annotations

CREATED = "ObjectCreated"
REMOVED = "ObjectRemoved"
LIFECYCLE_EXPIRATION = "LifecycleExpiration"
TAGGING = "ObjectTagging"

# What s3meta subscribes a bucket to: uploads, deletes, lifecycle expirations (which fire no
# ObjectRemoved), and tag changes (PutObjectTagging and DeleteObjectTagging fire no other event).
SUBSCRIBED: tuple[str, ...] = tuple(
    f"s3:{family}:*" for family in (CREATED, REMOVED, LIFECYCLE_EXPIRATION, TAGGING)
)

# Event families S3 documents; other names still yield a task, but are logged as unfamiliar.
KNOWN_EVENT_PREFIXES = tuple(
    f"{family}:"
    for family in (
        CREATED,
        REMOVED,
        LIFECYCLE_EXPIRATION,
        "ObjectRestore",
        TAGGING,
        "ObjectAcl",
        "Replication",
    )
)
# The families that say the object went: it, or its current version, no longer exists.
REMOVAL_PREFIXES = (f"{REMOVED}:", f"{LIFECYCLE_EXPIRATION}:")
# EventBridge detail types with no S3 event name of their own; they become "EventBridge:<Type>".
EVENTBRIDGE_OTHER_DETAIL_TYPES = (
    "Object Restore Initiated",
    "Object Restore Completed",
    "Object Restore Expired",
    "Object Tags Added",
    "Object Tags Deleted",
    "Object ACL Updated",
    "Object Storage Class Changed",
    "Object Access Tier Changed",
)
# Known names that are not "Family:Suffix".
KNOWN_EVENT_NAMES = frozenset(
    {"LifecycleTransition", "IntelligentTiering"}
    | {"EventBridge:" + kind.replace(" ", "") for kind in EVENTBRIDGE_OTHER_DETAIL_TYPES}
)


def is_known_event_name(name: str) -> bool:
    """True for the event names S3 documents (and the ones given to EventBridge events)."""
    if name in KNOWN_EVENT_NAMES:
        return True
    return any(
        name.startswith(prefix) and len(name) > len(prefix) for prefix in KNOWN_EVENT_PREFIXES
    )


def is_removal(event_name: str | None) -> bool:
    """True for a name of the removal families (``ObjectRemoved:*``, ``LifecycleExpiration:*``)."""
    return bool(event_name) and str(event_name).startswith(REMOVAL_PREFIXES)
