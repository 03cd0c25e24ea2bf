"""``s3meta.masking``: URL passwords (as SQLAlchemy renders them hidden) and registered
secrets never reach a log line or message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s3meta import masking
from s3meta.masking import mask_url, mask_urls, redact, register_secret, url_password


@pytest.fixture(autouse=True)
def forgotten_secrets() -> Iterator[None]:
    saved = masking._secrets
    yield
    masking._secrets = saved


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mysql+pymysql://u:hunter2@h:3306/db?charset=utf8mb4", "mysql+pymysql://u:***@h:3306/db?charset=utf8mb4"),
        ("mysql+pymysql://u:p%40ss%3Aw@h/db", "mysql+pymysql://u:***@h/db"),
        ("db+mysql+pymysql://u:pw@h/db", "db+mysql+pymysql://u:***@h/db"),
        ("sqs://AKIA:wJal%2FrX%2BY@[::1]:5000", "sqs://AKIA:***@[::1]:5000"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
    ],
)  # fmt: skip
def test_a_urls_password_is_hidden_as_sqlalchemy_renders_it(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "text", ["mysql+pymysql://u@h/db", "sqlite:///s3meta.db", "http://host:8080/path", "no url"]
)
def test_text_without_a_password_is_left_as_it_is(text: str) -> None:
    assert mask_url(text) == text
    assert mask_urls(text) == text


def test_a_url_sqlalchemy_cannot_parse_loses_its_whole_user_part() -> None:
    assert mask_url("mysql://u:hunter2@h:notaport/db") == "mysql://***@h:notaport/db"


def test_every_url_in_a_sentence_is_masked_and_the_punctuation_around_it_kept() -> None:
    text = "cannot use 'mysql://u:hunter2@h/db' (or sqs://k:s3cr3t@h:4566)."

    assert mask_urls(text) == "cannot use 'mysql://u:***@h/db' (or sqs://k:***@h:4566)."


def test_a_registered_secret_is_masked_with_its_url_quoted_form() -> None:
    register_secret("pa/ss:word")

    assert redact("got pa/ss:word, then pa%2Fss%3Aword") == "got ***, then ***"


def test_the_password_of_a_url_or_result_backend_is_found() -> None:
    assert url_password("db+mysql+pymysql://u:p%40ss@h/db") == "p@ss"
    assert url_password("mysql+pymysql://u@h/db") is None
    assert url_password("not a url") is None
    assert url_password(None) is None
