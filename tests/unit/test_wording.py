"""``s3meta.domain.wording``: counts in the sentences the commands print."""

from __future__ import annotations

import pytest

from s3meta.domain.wording import counted


def test_one_of_a_thing_is_singular() -> None:
    assert counted(1, "task") == "1 task"


@pytest.mark.parametrize("number", [0, 2, 10_000])
def test_any_other_count_is_plural(number: int) -> None:
    assert counted(number, "message") == f"{number} messages"
