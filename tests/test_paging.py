"""Lists that grow with the data come a page at a time on every channel: one message
with a bounded keyboard on Telegram, within WhatsApp's list of 10 rows, and Previous /
Next reach every item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from bot import clock
from bot.app import App
from bot.channels import whatsapp_render
from bot.channels.telegram_send import TEXT_LIMIT, keyboard
from bot.core.i18n import Translations
from bot.core.replies import Reply
from bot.db.models import Broadcast, Forum, Registration, User
from bot.db.paging import Page
from handlers.common import PAGE_SIZE
from tests import test_forums_flow
from tests.conftest import Chat
from tests.fakes.graph_api import check_message

# The app with a lead coordinator, as in the forum flows' tests.
app = test_forums_flow.app
LEAD = test_forums_flow.LEAD
MANY = 5000
TRANSLATIONS = Translations()


def forum_row(number: int, country: str = "DE", status: str = "published") -> dict[str, Any]:
    starts = clock.now() + timedelta(days=10, minutes=number)
    return {
        "slug": f"forum-{number:05}", "status": status, "country": country,
        "title": {"kk": f"Форум {number}", "ru": f"Форум {number}", "en": f"Forum {number}"},
        "description": {"kk": "Кездесу.", "ru": "Встреча.", "en": "A meeting."},
        "city": {"kk": "Берлин", "ru": "Берлин", "en": "Berlin"},
        "venue": {"kk": "Адлон", "ru": "Адлон", "en": "Adlon"},
        "timezone": "Europe/Berlin", "starts_at": starts, "ends_at": starts + timedelta(hours=8),
        "deadline": starts - timedelta(days=1), "event_language": "ru", "capacity": 100,
        "confirmed_count": 0, "created_at": clock.now(), "updated_at": clock.now(),
    }


async def add_forums(app: App, rows: list[dict[str, Any]]) -> list[int]:
    """Many forums in a few statements."""
    async with app.engine.sessionmaker() as db, db.begin():
        for start in range(0, len(rows), 1000):
            await db.execute(insert(Forum), rows[start:start + 1000])
        return list((await db.execute(
            Forum.__table__.select().with_only_columns(Forum.id).order_by(Forum.starts_at,
                                                                           Forum.id)
        )).scalars())


def assert_bounded(replies: list[Reply], language: str = "en") -> None:
    """One message; on Telegram a keyboard of a screen at most, on WhatsApp at most two
    messages (the text, the list) within its limits and no channel paging of its own."""
    assert len(replies) == 1
    reply = replies[0]
    assert len(reply.text) <= TEXT_LIMIT
    markup = keyboard(reply)
    assert markup is not None
    buttons = [button for row in markup.inline_keyboard for button in row]
    assert len(buttons) <= 12 and all(len(b.callback_data or "") <= 64 for b in buttons)
    rendered = whatsapp_render.render(replies, TRANSLATIONS[language])
    assert rendered.menu is None  # every choice fits in one list
    assert 1 <= len(rendered.messages) <= 2
    for message in rendered.messages:
        assert check_message({"messaging_product": "whatsapp", "to": "77010000000",
                              **message}) == [], message
    interactive = rendered.messages[-1]["interactive"]
    rows = interactive["action"]["sections"][0]["rows"] if interactive["type"] == "list" \
        else interactive["action"]["buttons"]
    assert len(rows) <= whatsapp_render.MAX_ROWS


def shown(chat: Chat, prefix: str) -> list[int]:
    return [int(payload.rsplit(":", 1)[1]) for payload in chat.payloads()
            if payload.startswith(prefix)]


def button(chat: Chat, label: str) -> str | None:
    return next((choice.payload for reply in chat.last for choice in reply.flat_choices
                 if choice.label == label), None)


async def walk(chat: Chat, first: str, prefix: str) -> list[int]:
    """Every item, following Next from the first page to the last."""
    await chat.press(first)
    assert_bounded(chat.last)
    seen = shown(chat, prefix)
    while (following := button(chat, "Next ▶️")) is not None:
        await chat.press(following)
        assert_bounded(chat.last)
        assert button(chat, "◀️ Previous") is not None
        seen += shown(chat, prefix)
    return seen


async def test_five_thousand_forums_are_one_bounded_page_and_paging_reaches_the_last(
        app: App) -> None:
    ids = await add_forums(app, [forum_row(n) for n in range(MANY)])
    for language in ("kk", "ru", "en"):
        chat = Chat(app, f"reader-{language}", language_hint=language)
        await chat.text("/start")
        await chat.press(f"lang:{language}")
        await chat.press("fo")
        assert_bounded(chat.last, language)
        assert shown(chat, "fo:v:") == ids[:PAGE_SIZE]
    chat = Chat(app, "reader-en", language_hint="en")
    await chat.press("fo")
    assert f"Page 1 of {MANY // PAGE_SIZE}" in chat.texts()
    following = button(chat, "Next ▶️")
    assert following is not None and button(chat, "◀️ Previous") is None
    await chat.press(following)
    assert shown(chat, "fo:v:") == ids[PAGE_SIZE:2 * PAGE_SIZE]
    assert f"Page 2 of {MANY // PAGE_SIZE}" in chat.texts()
    # The last page's button, as Next on the page before it makes it.
    await chat.press(following.replace(":1", f":{MANY // PAGE_SIZE - 2}"))
    last = button(chat, "Next ▶️")
    assert last is not None
    await chat.press(last)
    assert_bounded(chat.last)
    assert shown(chat, "fo:v:")[-1] == ids[-1] and button(chat, "Next ▶️") is None
    assert f"Page {MANY // PAGE_SIZE} of {MANY // PAGE_SIZE}" in chat.texts()
    await chat.press("fo:p:999999")  # past the end (forums went since): the last page
    assert shown(chat, "fo:v:")[-1] == ids[-1]


async def test_every_forum_and_country_is_reached_page_by_page(app: App) -> None:
    countries = ["DE", "TR", "FR", "GB", "US", "CN", "KG", "UZ"]
    ids = await add_forums(app, [forum_row(n, countries[n % len(countries)])
                                 for n in range(23)])
    chat = Chat(app, "reader", language_hint="en")
    await chat.text("/start")
    await chat.press("lang:en")
    assert await walk(chat, "fo", "fo:v:") == ids
    # All eight countries, not only the first six, can be chosen.
    codes: list[str] = []
    await chat.press("fo:cs")
    assert_bounded(chat.last)
    while True:
        codes += [p.rsplit(":", 1)[1] for p in chat.payloads() if p.startswith("fo:c:")]
        following = button(chat, "Next ▶️")
        if following is None:
            break
        await chat.press(following)
    assert sorted(codes) == sorted(countries)
    await chat.press("fo:c:KG")
    assert set(shown(chat, "fo:v:")) == {i for n, i in enumerate(ids)
                                         if countries[n % len(countries)] == "KG"}


async def test_my_registrations_are_paged(app: App) -> None:
    ids = await add_forums(app, [forum_row(n) for n in range(12)])
    chat = Chat(app, "many", language_hint="en")
    await chat.text("/start")
    await chat.press("lang:en")
    async with app.engine.sessionmaker() as db, db.begin():
        user = (await db.execute(User.__table__.select().where(
            User.external_id == "many"))).first()
        assert user is not None
        await db.execute(insert(Registration), [
            {"forum_id": forum_id, "user_id": user.id, "status": "confirmed",
             "ticket_secret": f"secret-{forum_id:027}", "consent_at": clock.now(),
             "created_at": clock.now(), "updated_at": clock.now()} for forum_id in ids])
    registrations = await walk(chat, "fo:my", "fo:m:")
    assert len(registrations) == len(set(registrations)) == 12


async def test_coordinators_forum_list_and_announcements_are_paged(app: App) -> None:
    ids = await add_forums(app, [forum_row(n) for n in range(12)]
                           + [forum_row(n, status="draft") for n in range(12, 14)])
    lead = Chat(app, LEAD, channel="console")
    await lead.text("/start")
    await lead.press("lang:en")
    assert sorted(await walk(lead, "ad", "ad:f:")) == sorted(ids)
    async with app.engine.sessionmaker() as db, db.begin():
        await db.execute(insert(Broadcast), [
            {"status": "finished", "texts": {"en": f"News {n}"}, "audience": {},
             "created_by": 1, "created_at": clock.now()} for n in range(12)])
    assert len(await walk(lead, "bc", "bc:v:")) == 12
    # The forums an announcement may go to: all but drafts, page by page.
    await lead.press("bc:new")
    await lead.press("bc:one")
    await lead.text("Hello")
    await lead.press("bc:nofile")
    await lead.press("bc:nourl")
    assert sorted(await walk(lead, "bc:fo", "bc:fo:")) == sorted(ids[:12])


def test_a_page_past_the_end_is_the_last_and_an_empty_list_one_page() -> None:
    assert Page.of(5000, 999_999, 5).number == 999 and Page.of(5000, 999, 5).next is None
    assert Page.of(5001, 999, 5).next == 1000
    assert Page.of(0, 3, 5).number == 0 and Page.of(0, 0, 5).count == 1
    assert Page.of(11, 1, 5).slice(list(range(11))) == [5, 6, 7, 8, 9]
    assert Page.of(11, 0, 5).previous is None and Page.of(11, 2, 5).previous == 1


async def test_the_coordinators_list_is_paged(app: App) -> None:
    from bot.services import coordinators

    async with app.engine.sessionmaker() as db, db.begin():
        for number in range(11):
            await coordinators.add(db, 500 + number, int(LEAD), clock.now(), f"Person {number}")
    lead = Chat(app, LEAD, channel="console")
    await lead.text("/start")
    await lead.press("lang:en")
    removable = await walk(lead, "co", "co:rm:")
    assert sorted(removable) == list(range(500, 511))
