"""s3meta.compat.flower: the Flower code the guard and the hooks override."""

from __future__ import annotations

import flower.command
import pytest

from s3meta.compat import drifted, release
from s3meta.compat import flower as compat


@pytest.mark.parametrize(
    "mirrors",
    [compat.COMMAND_MIRRORS, compat.BROKER_MIRRORS, compat.EVENTS_MIRRORS],
    ids=["command", "broker", "events"],
)
def test_the_flower_code_each_patch_mirrors_is_unchanged(mirrors: tuple[object, ...]) -> None:
    assert drifted(mirrors) == []  # type: ignore[arg-type]


def test_flowers_command_still_has_the_options_s3meta_sets() -> None:
    assert set(compat.OPTION_NAMES) <= set(flower.command.options._options)


def test_a_failing_settings_check_keeps_flower_from_extracting_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extracted: list[bool] = []
    monkeypatch.setattr(flower.command, "extract_settings", lambda: extracted.append(True))

    def refuse() -> None:
        raise SystemExit("flower: no credentials")

    compat.check_settings_first(refuse)
    compat.check_settings_first(refuse)  # idempotent: wrapped once

    with pytest.raises(SystemExit, match="no credentials"):
        flower.command.extract_settings()
    assert extracted == []


def test_a_passing_settings_check_lets_flower_extract_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extracted: list[bool] = []
    monkeypatch.setattr(flower.command, "extract_settings", lambda: extracted.append(True))

    compat.check_settings_first(lambda: None)
    flower.command.extract_settings()

    assert extracted == [True]


def test_the_running_flower_is_the_series_the_patches_mirror() -> None:
    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high
