"""The dashboard's pages through HTTP: forums made, published and checked in at the door,
announcements composed and scheduled, questions answered to the user's messenger, the
overview's charts and CSV, and every change in the audit log, from the bot too. On
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import App
from bot.clock import now
from bot.db.models import AuditEntry, Broadcast, BroadcastStatus, Forum, Registration, User
from bot.services import forums, handover
from tests.conftest import Chat
from tests.dashboard_helpers import (
    COORDINATOR,
    LEAD,
    STRANGER,
    Outbox,
    app_with_people,
    client_for,
    csrf_of,
    link_from_bot,
    sign_in,
)

FORUM_FORM = {
    **{f"{field}_{code}": f"{field} {code}" for field in ("title", "city", "venue")
       for code in ("kk", "ru", "en")},
    "title_en": "Berlin Business Forum", "country": "DE", "timezone": "Europe/Berlin",
    "event_language": "ru", "capacity": "2",
}


@pytest.fixture
async def board(database_url: str) -> AsyncIterator[App]:
    async with app_with_people(database_url) as built:
        yield built


@pytest.fixture
async def client(board: App) -> AsyncIterator[TestClient]:
    made = await client_for(board)
    assert await sign_in(made, await link_from_bot(board, COORDINATOR, "telegram")) == 302
    try:
        yield made
    finally:
        await made.close()


def when(days: int, hour: int = 10) -> str:
    return (now() + timedelta(days=days)).strftime(f"%Y-%m-%dT{hour:02d}:00")


async def make_forum(client: TestClient, **changes: str) -> int:
    form = {**FORUM_FORM, "starts_at": when(30), "ends_at": when(30, 18),
            "deadline": when(29), "csrf": await csrf_of(client), **changes}
    response = await client.post("/dashboard/forums/new", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    return int(response.headers["Location"].rsplit("/", 1)[1])


async def audit_actions(app: App) -> list[tuple[str, int | None]]:
    async with app.engine.sessionmaker() as db:
        return [(entry.action, entry.actor_id) for entry in (await db.execute(
            select(AuditEntry).order_by(AuditEntry.id))).scalars()]


async def test_a_forum_is_made_published_and_checked_in(board: App, client: TestClient) -> None:
    me = board.people["coordinator"]  # type: ignore[attr-defined]
    number = await make_forum(client)
    page = await client.get(f"/dashboard/forums/{number}")
    assert "Berlin Business Forum" in await page.text()
    csrf = await csrf_of(client)
    assert (await client.post(f"/dashboard/forums/{number}/status",
                              data={"action": "publish", "csrf": csrf},
                              allow_redirects=False)).status == 303
    async with board.engine.sessionmaker() as db, db.begin():
        forum = await db.get(Forum, number)
        assert forum is not None and forum.status == "published"
        people = []
        for name in ("Asel", "Berik", "Dana"):
            user = User(channel="telegram", external_id=f"9{len(people)}", language="ru")
            db.add(user)
            await db.flush()
            people.append(await forums.register(db, number, user.id, {"full_name": name},
                                                now(), board.settings.reminder_offsets))
    first, _, waiting = people
    assert waiting.status == "waiting"
    checkin = await client.get(f"/dashboard/forums/{number}/checkin")
    assert checkin.status == 200 and "BarcodeDetector" not in await checkin.text()
    result = await client.post(f"/dashboard/forums/{number}/checkin",
                               data={"code": f"https://t.me/bot?start=ci_{first.ticket_secret}",
                                     "csrf": csrf})
    body = await result.json()
    assert body["outcome"] == "checked_in" and body["name"] == "Asel" and body["arrived"] == 1
    again = await (await client.post(f"/dashboard/forums/{number}/checkin",
                                     data={"code": first.ticket_secret, "csrf": csrf})).json()
    assert again["outcome"] == "already" and again["arrived"] == 1
    queued = await (await client.post(f"/dashboard/forums/{number}/checkin",
                                      data={"code": waiting.ticket_secret, "csrf": csrf})).json()
    assert queued["outcome"] == "waiting"
    unknown = await (await client.post(f"/dashboard/forums/{number}/checkin",
                                       data={"code": "nope", "csrf": csrf})).json()
    assert unknown["outcome"] == "unknown"
    assert (await (await client.get(f"/dashboard/forums/{number}/arrivals")).json())[
        "arrived"] == 1
    other = await make_forum(client)
    elsewhere = await (await client.post(f"/dashboard/forums/{other}/checkin",
                                         data={"code": people[1].ticket_secret,
                                               "csrf": csrf})).json()
    assert elsewhere["outcome"] == "elsewhere"
    async with board.engine.sessionmaker() as db:
        second = await db.get(Registration, people[1].id)
        assert second is not None and second.checked_in_at is None
    found = await (await client.get(f"/dashboard/forums/{number}/people?q=BERIK")).json()
    assert [person["name"] for person in found] == ["Berik"] and not found[0]["arrived"]
    assert await (await client.get(f"/dashboard/forums/{other}/people?q=berik")).json() == []
    by_name = await (await client.post(f"/dashboard/forums/{number}/checkin", data={
        "registration": str(found[0]["id"]), "csrf": csrf})).json()
    assert by_name["outcome"] == "checked_in" and by_name["arrived"] == 2
    foreign = await (await client.post(f"/dashboard/forums/{other}/checkin", data={
        "registration": str(people[2].id), "csrf": csrf})).json()
    assert foreign["outcome"] == "unknown"
    csv = await client.get(f"/dashboard/forums/{number}/attendees.csv")
    assert csv.status == 200 and "Asel" in (await csv.read()).decode("utf-8-sig")
    xlsx = await client.get(f"/dashboard/forums/{number}/attendees.xlsx")
    assert (await xlsx.read())[:2] == b"PK"
    actions = await audit_actions(board)
    assert ("forum.create", me) in actions and ("forum.publish", me) in actions
    assert ("registration.check_in", me) in actions


async def test_bad_forum_input_gets_a_clear_message(board: App, client: TestClient) -> None:
    csrf = await csrf_of(client)
    base = {**FORUM_FORM, "starts_at": when(30), "ends_at": when(30, 18), "deadline": when(29),
            "csrf": csrf}
    for changes, words in (({"ends_at": when(29)}, "The end must be after the start."),
                           ({"timezone": "Mars/Base"}, "Unknown time zone"),
                           ({"capacity": "-3"}, "number of seats"),
                           ({"starts_at": "tomorrow"}, "2027-03-12 10:00"),
                           ({"country": "Germany"}, "two letters"),
                           ({"title_kk": ""}, "every field")):
        response = await client.post("/dashboard/forums/new", data={**base, **changes},
                                     allow_redirects=False)
        assert response.status == 400, (changes, response.status)
        assert words in await response.text(), changes
    async with board.engine.sessionmaker() as db:
        assert (await db.execute(select(Forum))).first() is None


async def test_editing_and_cancelling_a_forum(board: App, client: TestClient) -> None:
    number = await make_forum(client)
    csrf = await csrf_of(client)
    form = {**FORUM_FORM, "starts_at": when(31), "ends_at": when(31, 18), "deadline": when(29),
            "capacity": "5", "csrf": csrf}
    assert (await client.post(f"/dashboard/forums/{number}/edit", data=form,
                              allow_redirects=False)).status == 303
    assert (await client.post(f"/dashboard/forums/{number}/status",
                              data={"action": "close", "csrf": csrf})).status == 400
    assert (await client.post(f"/dashboard/forums/{number}/status",
                              data={"action": "cancel", "csrf": csrf},
                              allow_redirects=False)).status == 303
    async with board.engine.sessionmaker() as db:
        forum = await db.get(Forum, number)
        assert forum is not None and forum.capacity == 5 and forum.status == "cancelled"
        edit = (await db.execute(select(AuditEntry).where(
            AuditEntry.action == "forum.edit"))).scalar_one()
    assert edit.before is not None and edit.before["capacity"] == 2
    assert edit.after is not None and edit.after["capacity"] == 5


async def test_an_announcement_is_composed_and_scheduled(board: App,
                                                         client: TestClient) -> None:
    async with board.engine.sessionmaker() as db, db.begin():
        stranger = await db.get(User, board.people["stranger"])  # type: ignore[attr-defined]
        assert stranger is not None
        stranger.language = "ru"
    csrf = await csrf_of(client)
    count = await (await client.get("/dashboard/announcements/count?languages=en")).json()
    everyone = await (await client.get("/dashboard/announcements/count")).json()
    assert 0 < count["count"] < everyone["count"]
    preview = await client.post("/dashboard/announcements/new", data={
        "text_kk": "Сәлем!", "text_ru": "Привет!", "text_en": "Hello!", "languages": "en",
        "action": "preview", "csrf": csrf})
    text = await preview.text()
    assert preview.status == 200 and "Привет!" in text and "Hello!" in text
    assert text.count("· Telegram") == 3 and text.count("· WhatsApp") == 3  # per language
    assert re.search(r'id="count">1<', text)
    bad = await client.post("/dashboard/announcements/new", data={
        "text_en": "Hi", "when": "2000-01-01T10:00", "action": "schedule", "csrf": csrf})
    assert bad.status == 400
    empty = await client.post("/dashboard/announcements/new", data={
        "action": "schedule", "csrf": csrf})
    assert empty.status == 400
    response = await client.post("/dashboard/announcements/new", data={
        "text_all": "Forum on Friday", "languages": "en", "when": when(2),
        "action": "schedule", "csrf": csrf}, allow_redirects=False)
    assert response.status == 303
    number = int(response.headers["Location"].rsplit("/", 1)[1])
    async with board.engine.sessionmaker() as db:
        broadcast = await db.get(Broadcast, number)
        assert broadcast is not None and broadcast.status == BroadcastStatus.SCHEDULED
        assert broadcast.audience == {"languages": ["en"]}
    page = await client.get(f"/dashboard/announcements/{number}")
    assert "Forum on Friday" in await page.text()
    assert "#" + str(number) in await (await client.get("/dashboard/announcements")).text()
    assert (await client.post(f"/dashboard/announcements/{number}/cancel", data={"csrf": csrf},
                              allow_redirects=False)).status == 303
    actions = [action for action, _ in await audit_actions(board)]
    assert actions[-3:] == ["broadcast.create", "broadcast.schedule", "broadcast.cancel"]


async def test_a_question_is_answered_from_the_browser(board: App, client: TestClient) -> None:
    outbox = Outbox()
    board.engine.notifier.register("telegram", outbox)
    stranger = board.people["stranger"]  # type: ignore[attr-defined]
    async with board.engine.sessionmaker() as db, db.begin():
        thread, _ = await handover.open_thread(db, stranger, now())
        await handover.add_message(db, thread, "in", text="Where is the forum?",
                                   attachment_kind=None, author_id=None, now=now())
    inbox = await client.get("/dashboard/questions")
    assert f"/dashboard/questions/{thread.id}" in await inbox.text()
    csrf = await csrf_of(client, f"/dashboard/questions/{thread.id}")
    response = await client.post(f"/dashboard/questions/{thread.id}/answer",
                                 data={"text": "In Berlin, at 10:00.", "csrf": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    assert [external for external, _ in outbox.sent] == [STRANGER]
    assert "In Berlin, at 10:00." in outbox.sent[0][1][0].text
    me = board.people["coordinator"]  # type: ignore[attr-defined]
    assert (await client.post(f"/dashboard/questions/{thread.id}/assign",
                              data={"coordinator": str(me), "csrf": csrf},
                              allow_redirects=False)).status == 303
    assert (await client.post(f"/dashboard/questions/{thread.id}/assign",
                              data={"coordinator": str(stranger), "csrf": csrf},
                              allow_redirects=False)).status == 403
    assert (await client.post(f"/dashboard/questions/{thread.id}/answer",
                              data={"text": "", "csrf": csrf})).status == 400
    assert (await client.post(f"/dashboard/questions/{thread.id}/close", data={"csrf": csrf},
                              allow_redirects=False)).status == 303
    assert len(outbox.sent) == 2  # the closing notice
    assert f"/dashboard/questions/{thread.id}" not in await (
        await client.get("/dashboard/questions")).text()
    assert f"/dashboard/questions/{thread.id}" in await (
        await client.get("/dashboard/questions?status=closed")).text()
    late = await client.post(f"/dashboard/questions/{thread.id}/answer",
                             data={"text": "One more thing", "csrf": csrf})
    assert late.status == 409 and len(outbox.sent) == 2
    actions = [(a, who) for a, who in await audit_actions(board) if a.startswith("question.")]
    assert [a for a, _ in actions] == ["question.answer", "question.assign", "question.close"]
    assert all(actor == me for _, actor in actions)


async def test_changes_made_in_the_bot_are_in_the_audit_log(board: App) -> None:
    """The same services write the log, whoever calls them."""
    async with board.engine.sessionmaker() as db, db.begin():
        forum = await forums.create(db, forums.ForumDraft(
            slug="almaty", title={"en": "A"}, description={}, country="KZ", city={"en": "A"},
            venue={"en": "V"}, timezone="Asia/Almaty", starts_at=now() + timedelta(days=9),
            ends_at=now() + timedelta(days=9, hours=2), event_language="kk", capacity=3,
            deadline=now() + timedelta(days=8)), by=None, now=now())
    replies = await Chat(board, LEAD, channel="console", language_hint="en").text("/forums")
    assert replies
    async with board.engine.sessionmaker() as db, db.begin():
        stored = await db.get(Forum, forum.id)
        assert stored is not None
        await forums.set_status(db, stored, forums.ForumStatus.PUBLISHED, now(),
                                by=board.people["lead"])  # type: ignore[attr-defined]
    client = await client_for(board)
    try:
        assert await sign_in(client, await link_from_bot(board, LEAD)) == 302
        page = await (await client.get("/dashboard/audit")).text()
        assert "created a forum" in page and "published a forum" in page
        narrowed = await (await client.get("/dashboard/audit?subject=question")).text()
        assert "created a forum" not in narrowed
        assert (await client.get("/dashboard/audit?subject=../../x")).status == 200
    finally:
        await client.close()


async def test_the_overview_draws_its_charts_with_tables_and_csv(board: App,
                                                                 client: TestClient) -> None:
    page = await client.get("/dashboard/")
    text = await page.text()
    assert page.status == 200
    assert text.count("<svg") >= 8
    assert text.count('class="bar"') >= 1  # the users per channel at least
    assert "<table>" in text
    csv = await client.get("/dashboard/charts/users-channel.csv")
    body = (await csv.read()).decode("utf-8-sig")
    assert csv.status == 200 and "Telegram" in body and "terminal" in body
    month = now().strftime("%Y-%m")
    assert any(line.startswith(month) for line in body.splitlines())


class MenuBot:
    """Records setChatMenuButton as aiogram's Bot would send it."""

    def __init__(self) -> None:
        self.buttons: dict[int, object] = {}

    async def set_chat_menu_button(self, *, chat_id: int, menu_button: object) -> bool:
        self.buttons[chat_id] = menu_button
        return True


async def test_coordinators_get_the_mini_app_menu_button_on_https(database_url: str) -> None:
    from bot.web.dashboard.menu import set_menu_buttons

    async with app_with_people(database_url) as plain:
        recorder = MenuBot()
        assert await set_menu_buttons(recorder, plain.engine) == 0  # type: ignore[arg-type]
        plain.engine.settings.public_base_url = "https://bot.example.org"
        assert await set_menu_buttons(recorder, plain.engine) == 2  # type: ignore[arg-type]
    assert set(recorder.buttons) == {int(LEAD), int(COORDINATOR)}  # not the stranger
    button = recorder.buttons[int(COORDINATOR)]
    url = button.web_app.url  # type: ignore[attr-defined]
    assert url == "https://bot.example.org/dashboard/signin"
    assert button.text == "Dashboard"  # type: ignore[attr-defined]


async def test_the_overview_counts_again_in_the_background(board: App) -> None:
    from bot.web.dashboard.overview import FiguresCache

    cache = FiguresCache(ttl=timedelta(0))
    first = await cache.get(board.engine)
    before = first.series["users-channel"].row_total(now().strftime("%Y-%m"))
    await Chat(board, "newcomer", channel="telegram", language_hint="en").text("/start")
    assert await cache.get(board.engine) is first  # the page does not wait
    for _ in range(100):
        if cache.figures is not first:
            break
        await asyncio.sleep(0.02)
    assert cache.figures is not None and cache.figures is not first
    after = cache.figures.series["users-channel"].row_total(now().strftime("%Y-%m"))
    assert after == before + 1
