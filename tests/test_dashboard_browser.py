"""The dashboard in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, nothing downloaded) driven by Selenium against the real bot
(`serve`) and the fake Bot API. A lead coordinator signs in with the link the bot sends,
sees the overview's charts drawn, creates and publishes a forum, checks an attendee in by
code, composes and schedules an announcement, and answers a question that reaches the
user on Telegram. A failing step leaves a screenshot in test-screenshots/."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from bot import PROJECT_DIR
from bot.clock import now
from bot.db.models import Broadcast, Forum, User
from bot.services import forums
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import RunningBot, one, running_bot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver; .ci/run installs them)")

GROUP, LEAD, USER = -100777, 7001, 7002
LINK = re.compile(r"/dashboard/signin\?token=([\w-]+)")
SHOTS = PROJECT_DIR / "test-screenshots"
T = TypeVar("T")


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium; the page as it was is saved in test-screenshots/ when the test
    fails (any error while the test held the browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=412,915", "--lang=en"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.implicitly_wait(0)
    driver.failed_shot = SHOTS / f"{request.node.name}.png"
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def screenshot_on_failure(driver: Any) -> Iterator[None]:
    try:
        yield
    except BaseException:
        SHOTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(driver.failed_shot))
        print(f"screenshot: {driver.failed_shot}")
        raise


async def step(work: Callable[[], T]) -> T:
    """A blocking browser step in a thread, while the bot serves in this loop."""
    return await asyncio.to_thread(work)


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 10) -> Any:
    """Until `condition` holds; an element of the page being left is looked up again."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def fill(driver: Any, values: dict[str, str]) -> None:
    """Form fields by name: typed like a person where the input takes typing, set by
    script where the browser draws its own picker (dates)."""
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        field = driver.find_element(By.NAME, name)
        if field.get_attribute("type") in ("datetime-local", "select-one") or \
                field.tag_name == "select":
            driver.execute_script("arguments[0].value = arguments[1]", field, value)
        else:
            field.clear()
            field.send_keys(value)


@pytest.fixture
async def bot(database_url: str, api: FakeTelegramAPI,
              handled: set[tuple[Any, ...]]) -> Any:
    if not database_url.startswith("sqlite"):
        pytest.skip("the browser's path is the same on both databases; run once")
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    async with running_bot(database_url, api, handled, admin_ids=[LEAD],
                           coordinator_chat_id=GROUP,
                           public_base_url="http://dashboard.invalid") as running:
        yield running


async def test_a_coordinators_day_in_the_browser(bot: RunningBot, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    with screenshot_on_failure(browser):

        api, base = bot.api, bot.base_url
        # A user asks the coordinators a question on Telegram.
        await bot.say(USER, "/start", language_code="ru", first_name="Айгерим")
        await bot.press(USER, "ho")
        await bot.say(USER, "Где будет форум в Берлине?")
        # The lead asks the bot for a link, and opens it.
        await bot.say(LEAD, "/start", language_code="en")
        link = one(await bot.say(LEAD, "/dashboard"))
        token = LINK.search(link.text or "")
        assert token, link.text

        def sign_in() -> int:
            browser.get(f"{base}/dashboard/signin?token={token.group(1)}")
            wait(browser, lambda d: d.current_url.endswith("/dashboard/"))
            charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
            bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
            assert all(chart.size["height"] > 50 and chart.size["width"] > 100 for chart in charts)
            assert bars and bars[0].size["height"] > 0
            return len(charts)

        assert await step(sign_in) >= 8

        starts = now() + timedelta(days=40)

        def create_forum() -> str:
            browser.find_element(By.LINK_TEXT, "Forums").click()
            browser.find_element(By.ID, "new-forum").click()
            fill(browser, {**{f"{field}_{code}": f"Berlin {field} {code}"
                              for field in ("title", "city", "venue")
                              for code in ("kk", "ru", "en")},
                           "country": "DE", "timezone": "Europe/Berlin", "capacity": "50",
                           "event_language": "ru",
                           "starts_at": starts.strftime("%Y-%m-%dT10:00"),
                           "ends_at": starts.strftime("%Y-%m-%dT18:00"),
                           "deadline": (starts - timedelta(days=2)).strftime("%Y-%m-%dT18:00")})
            browser.find_element(By.ID, "save").click()
            wait(browser, lambda d: re.search(r"/forums/\d+$", d.current_url))
            browser.find_element(By.ID, "publish").click()
            wait(browser, lambda d: d.find_element(By.ID, "forum-status").text == "open")
            return str(browser.current_url.rsplit("/", 1)[1])

        forum_id = int(await step(create_forum))
        async with bot.app.engine.sessionmaker() as db, db.begin():
            forum = await db.get(Forum, forum_id)
            assert forum is not None and forum.status == "published"
            guest = User(channel="telegram", external_id="7100", language="kk")
            db.add(guest)
            await db.flush()
            registration = await forums.register(db, forum_id, guest.id,
                                                 {"full_name": "Ержан Сейітов"}, now(),
                                                 bot.app.settings.reminder_offsets)
            secret = registration.ticket_secret
            other = User(channel="telegram", external_id="7101", language="kk")
            db.add(other)
            await db.flush()
            await forums.register(db, forum_id, other.id, {"full_name": "Айгүл Нұрланқызы"},
                                  now(), bot.app.settings.reminder_offsets)
        assert secret

        def check_in() -> str:
            browser.get(f"{base}/dashboard/forums/{forum_id}/checkin")
            browser.find_element(By.ID, "code").send_keys(f"ci_{secret}")
            browser.find_element(By.ID, "check").click()
            wait(browser, lambda d: d.find_element(By.ID, "arrived").text == "1")
            return str(browser.find_element(By.ID, "result").text)

        result = await step(check_in)
        assert "Checked in" in result and "Ержан Сейітов" in result

        def check_in_by_name() -> str:
            browser.find_element(By.ID, "search").send_keys("айгул")  # typed without ү
            wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#people .check-person"))
            browser.find_element(By.CSS_SELECTOR, "#people .check-person").click()
            wait(browser, lambda d: d.find_element(By.ID, "arrived").text == "2")
            return str(browser.find_element(By.ID, "result").text)

        assert "Айгүл Нұрланқызы" in await step(check_in_by_name)

        def announce() -> str:
            browser.get(f"{base}/dashboard/announcements/new")
            fill(browser, {"text_all": "The Berlin forum opens its doors!"})
            browser.find_element(By.CSS_SELECTOR, "input[name=languages][value=ru]").click()
            wait(browser, lambda d: d.find_element(By.ID, "count").text == "1")
            browser.find_element(By.ID, "preview").click()
            wait(browser, lambda d: d.find_elements(By.ID, "previews"))
            fill(browser, {"when": (now() + timedelta(days=3)).strftime("%Y-%m-%dT10:00")})
            browser.find_element(By.ID, "schedule").click()
            wait(browser, lambda d: re.search(r"/announcements/\d+$", d.current_url))
            return str(browser.find_element(By.ID, "broadcast-status").text)

        assert await step(announce) == "scheduled"
        async with bot.app.engine.sessionmaker() as db:
            scheduled = await db.get(Broadcast, 1)
            assert scheduled is not None and scheduled.audience == {"languages": ["ru"]}

        mark = api.mark()

        def answer() -> None:
            browser.get(f"{base}/dashboard/questions")
            browser.find_element(By.PARTIAL_LINK_TEXT, "#1").click()
            browser.find_element(By.ID, "answer").send_keys("В Берлине, 10:00, Alexanderplatz.")
            browser.find_element(By.ID, "send").click()
            wait(browser, lambda d: "Alexanderplatz" in d.find_element(By.ID, "messages").text)

        await step(answer)
        delivered = [call for call in api.replies(USER, mark)]
        assert len(delivered) == 1
        assert "В Берлине, 10:00, Alexanderplatz." in (delivered[0].text or "")
        assert bot._("ru", "Answer from a coordinator:").rstrip(":") in (delivered[0].text or "")

        def close() -> str:
            browser.find_element(By.ID, "close").click()
            wait(browser, lambda d: d.find_element(By.ID, "thread-status").text == "closed")
            return str(browser.find_element(By.ID, "thread-status").text)

        mark = api.mark()
        assert await step(close) == "closed"
        await api.wait_for(lambda: bool(api.replies(USER, mark)), 5, "the closing notice")
        # The coordinators' chat hears of it as when a coordinator closes it there.
        await api.wait_for(lambda: any("#1" in (m.text or "") and "Lead" in (m.text or "")
                                       for m in api.messages(GROUP)), 5, "the group's note")
