"""``s3://`` URIs as the command line takes them: the key is literal, never URL-decoded."""

from __future__ import annotations

from s3meta.domain.names import bucket_name_problem
from s3meta.domain.objects import MAX_KEY_BYTES

SCHEME = "s3://"


def parse_s3_uri(text: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://BUCKET/KEY``; raise ``ValueError`` when it is not one."""
    bucket, key = _split(text, expected="s3://BUCKET/KEY")
    if key is None:
        raise ValueError(f"no key in {text!r}: expected s3://BUCKET/KEY")
    if not key:
        raise ValueError(f"empty key in {text!r}: expected s3://BUCKET/KEY")
    _check_key_length(key, "key")
    return bucket, key


def parse_s3_prefix_uri(text: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://BUCKET[/PREFIX]``, the prefix possibly empty."""
    bucket, prefix = _split(text, expected="s3://BUCKET[/PREFIX]")
    prefix = prefix or ""
    _check_key_length(prefix, "prefix")
    return bucket, prefix


def validate_bucket_name(name: str) -> str:
    """``name`` if it is a valid S3 bucket name, else raise ``ValueError`` saying why."""
    problem = bucket_name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def _split(text: str, *, expected: str) -> tuple[str, str | None]:
    """Bucket and the rest after its ``/`` (None when there is no ``/``)."""
    # Not urlsplit: '?', '#' and '%' are ordinary characters of a key.
    if text[: len(SCHEME)].lower() != SCHEME:
        raise ValueError(f"not an S3 URI: {text!r} (expected {expected})")
    bucket, slash, rest = text[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {text!r} (expected {expected})")
    validate_bucket_name(bucket)
    return bucket, rest if slash else None


def _check_key_length(key: str, what: str) -> None:
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        # A command-line argument that was not valid UTF-8 arrives with lone surrogates.
        raise ValueError(f"{what} is not valid UTF-8: {key!r}") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"{what} is {size} bytes of UTF-8; S3 allows at most {MAX_KEY_BYTES}")
