"""s3meta.compat: release checks and the record of what each patch mirrors upstream."""

from __future__ import annotations

import inspect

import pytest

from s3meta.compat import (
    Mirrored,
    UnsupportedRelease,
    check_release,
    drifted,
    release,
    replace,
)
from s3meta.errors import ConfigError


@pytest.mark.parametrize(
    ("version", "expected"),
    [("5.7.0", (5, 7)), ("2.2rc1", (2, 2)), ("6", (6, 0)), ("5.10.1.post2", (5, 10))],
)
def test_a_release_is_read_from_the_major_and_minor_numbers(
    version: str, expected: tuple[int, int]
) -> None:
    assert release(version) == expected


def test_a_version_without_numbers_is_refused_in_one_sentence() -> None:
    with pytest.raises(UnsupportedRelease, match="cannot read a release number"):
        release("dev")


@pytest.mark.parametrize("version", ["5.6.9", "5.8.0", "6.0.0"])
def test_a_release_outside_the_mirrored_series_is_refused_with_what_to_do(version: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_release("kombu", version, ((5, 7), (5, 8)), "s3meta.compat.kombu")

    message = str(raised.value)
    assert f"kombu {version} is installed" in message
    assert "s3meta.compat.kombu mirrors kombu 5.7.x" in message
    assert "install kombu~=5.7.0" in message


def test_a_release_inside_the_series_passes() -> None:
    check_release("kombu", "5.7.3", ((5, 7), (5, 8)), "s3meta.compat.kombu")


class Upstream:
    def method(self, queue: str, count: int = 1) -> None: ...

    @property
    def flag(self) -> bool:
        return True

    value = 3


def test_a_mirrored_method_as_upstream_has_it_shows_no_drift() -> None:
    assert (
        drifted(
            [
                Mirrored(Upstream, "method", ("self", "queue", "count")),
                Mirrored(Upstream, "flag", ("self",)),
                Mirrored(Upstream, "value"),
                Mirrored("os.path", "join"),
            ]
        )
        == []
    )


def test_a_changed_signature_a_missing_method_or_attribute_is_drift() -> None:
    found = drifted(
        [
            Mirrored(Upstream, "method", ("self", "queue")),
            Mirrored(Upstream, "gone", ("self",)),
            Mirrored(Upstream, "value", ("self",)),
            Mirrored("os.path", "nowhere"),
        ]
    )

    assert found == [
        "tests.unit.test_compat.Upstream.method now takes ('self', 'queue', 'count'); "
        "the patch mirrors ('self', 'queue')",
        "tests.unit.test_compat.Upstream.gone no longer exists",
        "tests.unit.test_compat.Upstream.value is no longer callable",
        "posixpath.nowhere no longer exists",
    ]


def test_a_method_replaced_by_a_patch_is_still_checked_as_upstream_has_it() -> None:
    class Patched:
        def run(self, queue: str) -> None: ...

    def replacement(patched: object) -> None: ...

    replace(Patched, "run", replacement)

    assert inspect.getattr_static(Patched, "run") is replacement
    assert drifted([Mirrored(Patched, "run", ("self", "queue"))]) == []
    assert drifted([Mirrored(Patched, "run", ("self",))]) != []


def test_an_attribute_set_again_after_a_patch_is_checked_as_it_is_now() -> None:
    class Patched:
        def run(self, queue: str) -> None: ...

    replace(Patched, "run", lambda patched: None)
    setattr(Patched, "run", lambda patched, other: None)  # noqa: B010 - as a monkeypatch does

    assert drifted([Mirrored(Patched, "run", ("patched", "other"))]) == []
