"""The browsing page in headless Chromium (Debian's chromium and chromium-driver, through
selenium): sign in, search a prefix, page, open an object; screenshots into docs/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from db.engine import writer_engine
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from tests.support.api import TOKEN
from tests.support.database import IN_CI, ROOT
from tests.support.records import T0
from tests.support.serve import serving
from tests.support.writes import mark_deleted, save_state

pytestmark = pytest.mark.mysql

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BUCKET = "photos-archive"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM and CHROMEDRIVER):
        message = "no chromium and chromedriver (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(f"!!! SKIPPING BROWSER TEST: {message}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def test_a_person_searches_a_prefix_pages_through_and_opens_an_object(
    mysql_url: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    store = MetadataStore(writer_engine(mysql_url))
    for day in range(8):
        save_state(
            store,
            ObjectState(
                BUCKET,
                f"2026/11/{day + 1:02d}/IMG_{4100 + day}.jpg",
                size=2_400_000 + day * 51_000,
                etag=f"9b2cf535f27731c974343645a398{day:04x}",
                last_modified=T0 + timedelta(days=day),
                content_type="image/jpeg",
                user_metadata={"camera": "X100V", "photographer": "Ana Lima"},
            ),
            EventInfo("ObjectCreated:Put", T0 + timedelta(days=day), f"00{day:02X}"),
        )
    save_state(
        store,
        ObjectState(
            BUCKET,
            "2026/11/01/IMG_4100.jpg",
            size=2_500_000,
            etag="3f1e0c7a5b9d2e4f6a8c0b1d3e5f7a9c",
            last_modified=T0 + timedelta(days=9),
            content_type="image/jpeg",
            user_metadata={"camera": "X100V", "photographer": "Ana Lima", "edited": "true"},
        ),
        EventInfo("ObjectCreated:Put", T0 + timedelta(days=9), "0F"),
    )
    mark_deleted(
        store,
        BUCKET,
        "2026/11/08/IMG_4107.jpg",
        EventInfo("ObjectRemoved:Delete", T0 + timedelta(days=20), "FF"),
    )
    save_state(
        store,
        ObjectState(BUCKET, "raw/IMG_4100.raf", size=1, etag="r", last_modified=T0),
        EventInfo(),
    )

    with serving({"S3META_DATABASE_URL": mysql_url}, tmp_path / "serve.log") as served:
        browser.get(served.url + "/ui")
        assert browser.current_url.endswith("/ui/login")
        browser.find_element(By.NAME, "token").send_keys("a guess")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        refused = browser.find_element(By.CSS_SELECTOR, ".error").text
        browser.find_element(By.NAME, "token").send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        browser.find_element(By.NAME, "bucket").send_keys(BUCKET)
        browser.find_element(By.NAME, "prefix").send_keys("2026/11/")
        browser.find_element(By.NAME, "limit").send_keys("5")
        browser.find_element(By.ID, "search").click()
        first = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#results td code")]
        browser.save_screenshot(str(ROOT / "docs" / "browse-search.png"))

        browser.find_element(By.ID, "next").click()
        second = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#results td code")]
        deleted = browser.find_element(By.CSS_SELECTOR, "#results tr.deleted code").text
        assert not browser.find_elements(By.ID, "next")

        browser.get(served.url + f"/ui?bucket={BUCKET}&prefix=2026/11/")
        browser.find_element(By.LINK_TEXT, "2026/11/01/IMG_4100.jpg").click()
        browser.set_window_size(1280, 1000)
        metadata = browser.find_element(By.ID, "metadata").text
        history = browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
        history_types = [row.find_elements(By.TAG_NAME, "td")[1].text for row in history]
        fields = browser.find_element(By.ID, "fields").text
        browser.save_screenshot(str(ROOT / "docs" / "browse-object.png"))

    keys = [f"2026/11/{day + 1:02d}/IMG_{4100 + day}.jpg" for day in range(8)]
    assert refused == "Not the API's token."
    assert first == keys[:5]
    assert second == keys[5:]
    assert deleted == "2026/11/08/IMG_4107.jpg"
    assert "camera X100V" in metadata
    assert "photographer Ana Lima" in metadata
    assert len(history_types) == 2
    assert history_types[0] == "CREATE"
    assert "size 2500000" in fields
