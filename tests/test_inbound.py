"""Bad input gets a clear answer, never a traceback: numbers in other scripts' digits or
too long for `int`, ids past every column, NUL and lone surrogates in typed text and in
names, on the flows directly and through both channels."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.channels.whatsapp_inbox_queue import MAX_ATTEMPTS
from bot.channels.whatsapp_updates import parse_delivery
from bot.clock import now
from bot.core.events import Event, EventKind, Identity
from bot.core.inbound import clean, whole_number
from bot.db.models import InboxStatus, Registration, User, WhatsAppContact, WhatsAppInbox
from tests.conftest import Chat, make_settings
from tests.fakes.graph_api import WhatsAppUser, encode, sign, webhook
from tests.logged import describe, exceptions_logged
from tests.telegram_harness import RunningBot, user_row
from tests.test_forums_flow import LEAD, create_forum
from tests.test_whatsapp_webhook import SECRET, WA, make_wa

# '²' and the like pass `str.isdigit` and fail `int`; `int` refuses over 4,300 digits.
BAD_NUMBERS = ["²", "①", "³", "1²", "5" * 5000, str(2**63), str(2**64)]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    """With LEAD a lead coordinator."""
    built = await build_app(make_settings(database_url, admin_ids=[int(LEAD)]))
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


# ---- the parsers ---------------------------------------------------------------------------


def test_whole_numbers_are_ascii_digits_of_bounded_length() -> None:
    assert whole_number(" 42 ") == 42 and whole_number("0") == 0
    assert whole_number(str(2**63 - 1)) == 2**63 - 1
    for raw in [*BAD_NUMBERS, "", " ", "-1", "+1", "1.5", "1e3", "1_000", "٣"]:
        assert whole_number(raw) is None, raw
    assert whole_number("7", low=1, high=5) is None and whole_number("5", low=1, high=5) == 5


def test_clean_text_has_no_nul_controls_or_lone_surrogates() -> None:
    assert clean("a\x00b\x1b[0m\r\nc\td\x7f") == "ab[0m\nc\td"
    assert clean("x\ud800y") == "x\ufffdy"
    assert clean("\ud83d\ude00") == "\U0001f600"  # a pair written as two is joined
    assert clean("Сәлем 👋", 4) == "Сәлем 👋"[:4]
    clean("\udfff" * 10).encode()  # UTF-8 once cleaned


def test_every_event_is_built_of_clean_bounded_text() -> None:
    who = Identity("test", "1")
    event = Event.from_text(who, "/start\x00 a\ud800", display_name="Ai\x00gerim")
    assert (event.kind, event.command, event.args) == (EventKind.COMMAND, "start", "a\ufffd")
    assert event.display_name == "Aigerim"
    assert len(Event.from_text(who, "x" * 100_000).text) == 4096
    assert len(Event(who, EventKind.BUTTON, payload="fo:" + "9" * 5000).payload) == 256


# ---- numbers typed or pressed ----------------------------------------------------------------


async def test_numbers_typed_in_the_guide_get_a_clear_answer(app: App) -> None:
    chat = Chat(app, "el", language_hint="en")
    await chat.text("/start")
    await chat.press("el")
    for payload in ["el:a:nationality:yes", "el:a:nationality_document:yes",
                    "el:a:ever_citizen:no", "el:a:permanent:yes", "el:a:country:CN"]:
        await chat.press(payload)
    with exceptions_logged() as failed:
        for raw in BAD_NUMBERS:
            await chat.text(raw)
            assert "number from 0 to 15" in chat.texts(), raw
            await chat.press(f"el:a:family_size:{raw}"[:64])
            assert "earlier question" in chat.texts(), raw
    assert not failed, describe(failed)
    await chat.text("2")
    assert "Question 7" in chat.texts()


async def test_numbers_typed_by_coordinators_get_a_clear_answer(app: App) -> None:
    lead = Chat(app, LEAD, channel="console")
    await lead.text("/start")
    await lead.press("lang:en")
    with exceptions_logged() as failed:
        for raw in BAD_NUMBERS:
            await lead.text(f"/addcoordinator {raw}")
            assert "Telegram user ID" in lead.texts(), raw
        await lead.press("co:add")
        for raw in BAD_NUMBERS:
            await lead.text(raw)
            assert "not a Telegram user ID" in lead.texts(), raw
    assert not failed, describe(failed)


async def test_seats_typed_in_the_forum_dialog_get_a_clear_answer(app: App) -> None:
    lead = Chat(app, LEAD, channel="console")
    await lead.text("/start")
    await lead.press("lang:en")
    await lead.press("ad")
    await lead.press("ad:new")
    for answer in ["Т", "Т", "T", "С", "О", "D", "Germany", "Б", "Б", "B", "А", "А", "A"]:
        await lead.text(answer)
    await lead.press("ad:tz:Europe/Berlin")
    await lead.text("2099-03-12 10:00")
    await lead.text("2099-03-12 18:00")
    await lead.press("ad:lang:ru")
    with exceptions_logged() as failed:
        for raw in BAD_NUMBERS:
            await lead.text(raw)
            assert "whole number of seats" in lead.texts(), raw
    assert not failed, describe(failed)
    await lead.text("150")
    assert "registration deadline" in lead.texts().lower()


async def test_ids_past_every_column_in_buttons_are_stale_presses(app: App) -> None:
    chat = Chat(app, "fo", language_hint="en")
    await chat.text("/start")
    with exceptions_logged() as failed:
        for raw in BAD_NUMBERS:
            for kind in ("v", "r", "m", "t", "x", "xx"):
                await chat.press(f"fo:{kind}:{raw}"[:64])
                assert chat.payloads(), (kind, raw)
    assert not failed, describe(failed)


# ---- NUL and lone surrogates -----------------------------------------------------------------


async def test_a_nul_in_a_name_or_typed_text_never_blocks_a_user(app: App) -> None:
    forum = await create_forum(app)
    chat = Chat(app, "nul", language_hint="en", name="Ai\x00gerim\ud800")
    with exceptions_logged() as failed:
        await chat.text("/start")
        assert "Main menu" in chat.texts()
        await chat.press(f"fo:r:{forum}")
        for typed in ["Aigerim\x00 Seitova", "Germany\x00", "Ber\x00lin", "-\x00"]:
            await chat.text(typed)
        await chat.press("rg:sector:trade")
        await chat.text("+49 151 1234\x005678")
        await chat.text("a\x00@example.com")
        await chat.press("rg:agree")
        assert "Please check your details" in chat.texts()
        await chat.text("\x00")
        await chat.press("rg:go")
        assert "You are registered" in chat.texts()
    assert not failed, describe(failed)
    async with app.engine.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.external_id == "nul"))).scalar_one()
        registration = (await db.execute(select(Registration))).scalar_one()
    assert user.display_name == "Aigerim\ufffd"
    assert (registration.full_name, registration.city) == ("Aigerim Seitova", "Berlin")


async def test_a_nul_in_a_telegram_first_name(bot: RunningBot) -> None:
    with exceptions_logged() as failed:
        await bot.say(7300, "/start", language_code="en", first_name="\x00Dana\x00")
        replies = await bot.say(7300, "/menu", first_name="\x00Dana\x00")
    assert not failed, describe(failed)
    assert replies and replies[-1].callback_data
    row = await user_row(bot.app, 7300)
    assert row is not None and row.display_name == "Dana"


# ---- WhatsApp: one delivery, many messages ---------------------------------------------------


def _malformed(good: WhatsAppUser) -> list[dict[str, Any]]:
    """Messages Meta never documents: fields that are not objects, ids past their columns,
    NUL and lone surrogates in a profile name."""
    strange = WhatsAppUser("77010000001", "KZ.5000000000000000101", "x")
    long_id = WhatsAppUser(None, "KZ." + "7" * 200, "y")
    return [
        {**strange.message("text"), "text": "not an object"},
        {**strange.message("interactive"), "interactive": ["a", "list"]},
        {**strange.message("contacts"), "contacts": "none"},
        {**strange.message("image"), "image": 5},
        long_id.message("text", text={"body": "hello"}),
        {**good.message("text", text={"body": "start"}), "id": "wamid." + "9" * 300},
    ]


async def test_a_malformed_message_holds_back_none_of_the_others(wa: WA) -> None:
    good = WhatsAppUser("77010000002", "KZ.5000000000000000102", "Dana\x00\ud800")
    delivery = good.delivery(*_malformed(good), good.message("text", text={"body": "hi"}))
    delivery["entry"][0]["changes"][0]["value"]["contacts"] += [
        "a contact that is a string", {"profile": "not an object", "wa_id": "77010000001"}]
    with exceptions_logged() as failed:
        sent = await wa.say(good, delivery)
    assert not failed, describe(failed)
    assert sent and sent[-1].choices  # the good message is answered
    contact = await wa.get(WhatsAppContact, good.user_id)
    assert contact is not None and contact.profile_name == "Dana\ufffd"
    async with wa.app.engine.sessionmaker() as db:
        rows = (await db.execute(select(WhatsAppInbox.status))).scalars().all()
    assert rows == [InboxStatus.DONE]
    skipped = parse_delivery(json.loads(encode(delivery))).skipped
    assert len(skipped) == 2  # the two ids longer than their columns


async def test_a_delivery_that_can_never_be_handled_is_given_up_with_its_reason(
    wa: WA, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database refused it")

    monkeypatch.setattr(wa.channel, "_message", broken)
    user = WhatsAppUser("77010000003", "KZ.5000000000000000103")
    assert (await wa.post(user.text("hi"))).status == 200
    for _attempt in range(MAX_ATTEMPTS + 2):
        await wa.channel.drain(2)
        async with wa.app.engine.sessionmaker() as db, db.begin():
            row = (await db.execute(select(WhatsAppInbox))).scalar_one()
            row.next_attempt_at = now() - timedelta(seconds=1)  # the backoff is over
    assert row.status == InboxStatus.FAILED and row.attempts == MAX_ATTEMPTS
    assert "the database refused it" in (row.last_error or "")


async def test_a_body_nested_too_deep_is_a_400(wa: WA) -> None:
    body = ("[" * 100_000 + "]" * 100_000).encode()
    response = await wa.post(body)
    assert response.status == 400
    nested = webhook({"messages": [{"id": "x", "deep": "[" * 10}]})
    raw = encode(nested).replace(b'"[[[[[[[[[["', b"[" * 100_000 + b"]" * 100_000)
    response = await wa.http.post("/whatsapp/webhook", data=raw,
                                  headers={"X-Hub-Signature-256": sign(raw, SECRET)})
    assert response.status == 400
