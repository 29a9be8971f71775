"""Announcements: audience, opt-out, scheduling, cancelling, the sender's durability and
its handling of 429, 403 and other errors, the priority of replies, WhatsApp statuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import func, select, update

from bot import clock
from bot.app import App, build_app
from bot.channels.broadcast_senders import TelegramBroadcaster
from bot.channels.whatsapp_events import command_word
from bot.core.ratelimit import BROADCAST, INTERACTIVE, PriorityLimiter
from bot.core.replies import Attachment, Reply
from bot.db.models import (
    Broadcast,
    BroadcastDelivery,
    EligibilityCheck,
    Registration,
    User,
)
from bot.services import broadcasts
from bot.services.broadcasts import Outcome, Sender
from tests.conftest import Chat, make_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.forum_helpers import make_forum

LEAD = "4242"


@pytest.fixture
async def bapp(database_url: str) -> AsyncIterator[App]:
    built = await build_app(make_settings(database_url, admin_ids=[int(LEAD)]))
    try:
        yield built
    finally:
        await built.close()


async def add_user(db: Any, external_id: str, *, channel: str = "telegram",
                   language: str | None = "kk", country: str | None = None,
                   announcements: bool = True, unreachable: bool = False) -> User:
    user = User(channel=channel, external_id=external_id, language=language, country=country,
                announcements=announcements, created_at=clock.now(), last_seen_at=clock.now(),
                unreachable_since=clock.now() if unreachable else None)
    db.add(user)
    await db.flush()
    return user


async def new_broadcast(db: Any, audience: dict[str, Any] | None = None,
                        **extra: Any) -> Broadcast:
    return await broadcasts.create(db, created_by=None, texts={"*": "Hello", "ru": "Привет"},
                                   audience=audience or {}, **extra)


async def statuses(app: App, broadcast_id: int) -> dict[str, int]:
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(BroadcastDelivery.status, func.count())
                                 .where(BroadcastDelivery.broadcast_id == broadcast_id)
                                 .group_by(BroadcastDelivery.status))).all()
    return {status: int(count) for status, count in rows}


async def start(app: App, broadcast_id: int) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        await broadcasts.schedule(db, broadcast_id, clock.now())
    async with app.engine.sessionmaker() as db, db.begin():
        assert broadcast_id in await broadcasts.start_due(db, clock.now(), "kk")


class FakePlatform:
    """Records what it is asked to send; answers from a script per external id."""

    def __init__(self, script: dict[str, list[Outcome]] | None = None,
                 delay: float = 0.0) -> None:
        self.script = script or {}
        self.sent: list[tuple[str, str]] = []
        self.delay = delay
        self.first = asyncio.Event()

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        if self.delay:
            await asyncio.sleep(self.delay)
        answers = self.script.get(external_id)
        outcome = answers.pop(0) if answers else Outcome("sent", message_id=f"m{external_id}")
        if outcome.status == "sent":
            self.sent.append((external_id, reply.text))
            self.first.set()
        return outcome


def sender(app: App, platform: Any, **extra: Any) -> Sender:
    return Sender(app.engine.sessionmaker, {"telegram": platform, "whatsapp": platform},
                  "test-worker", backoff=0.0, **extra)


# ---- the audience -------------------------------------------------------------------------


async def test_audience_filters_combine_and_skip_opted_out_and_blocked(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db)
        kk_tg = await add_user(db, "1", language="kk", country="CN")
        ru_tg = await add_user(db, "2", language="ru", country="DE")
        en_wa = await add_user(db, "77011", channel="whatsapp", language="en", country="DE")
        await add_user(db, "3", language="kk", announcements=False)  # opted out
        await add_user(db, "4", language="kk", unreachable=True)  # blocked the bot
        await add_user(db, "c1", channel="console", language="kk")  # cannot be reached
        none_tg = await add_user(db, "5", language=None)  # the default language (kk)
        db.add_all([
            Registration(forum_id=forum.id, user_id=kk_tg.id, status="confirmed",
                         checked_in_at=clock.now()),
            Registration(forum_id=forum.id, user_id=ru_tg.id, status="waiting"),
            Registration(forum_id=forum.id, user_id=en_wa.id, status="cancelled"),
        ])
        for user, verdict, minutes in ((kk_tg, "not_eligible", 10), (kk_tg, "eligible", 5),
                                       (ru_tg, "needs_checking", 1)):
            db.add(EligibilityCheck(user_id=user.id, rules_version="1", status="done",
                                    verdict=verdict,
                                    completed_at=clock.now() - timedelta(minutes=minutes)))
        db.add(EligibilityCheck(user_id=none_tg.id, rules_version="1", status="draft"))

    async def count(**audience: Any) -> int:
        async with bapp.engine.sessionmaker() as db:
            return await broadcasts.count(db, audience, "kk")

    assert await count() == 4
    assert await count(languages=["kk"]) == 2
    assert await count(languages=["kk", "en"]) == 3
    assert await count(channels=["whatsapp"]) == 1
    assert await count(countries=["DE"]) == 2
    assert await count(countries=["DE"], channels=["telegram"]) == 1
    assert await count(forum=forum.id) == 2  # registered + waiting; not the cancelled one
    assert await count(forum=forum.id, forum_statuses=["waiting"]) == 1
    assert await count(forum=forum.id, forum_statuses=["checked_in"]) == 1
    assert await count(verdicts=["eligible"]) == 1  # the latest check counts
    assert await count(verdicts=["not_eligible"]) == 0
    assert await count(verdicts=["needs_checking"], languages=["ru"]) == 1
    async with bapp.engine.sessionmaker() as db:
        assert await broadcasts.excluded(db, {"languages": ["kk"]}, "kk") == {
            "opted_out": 1, "unreachable": 1}


# ---- opting out -----------------------------------------------------------------------------


async def test_settings_switch_and_stop_word_turn_announcements_off_and_on(bapp: App) -> None:
    chat = Chat(bapp, user="9", channel="telegram")
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.press("set")
    assert "Announcements from the Fund: on" in chat.texts()
    await chat.press("set:ann")
    assert "Announcements from the Fund: off" in chat.texts()
    assert "set:ann" in chat.payloads()

    async def opted_in() -> bool:
        async with bapp.engine.sessionmaker() as db:
            return bool((await db.execute(select(User.announcements)
                                          .where(User.external_id == "9"))).scalar_one())

    assert not await opted_in()
    await chat.press("set:ann")
    assert await opted_in()
    await chat.text("/stop")
    assert "no more announcements" in chat.texts()
    assert not await opted_in()
    await chat.press("set:ann")
    assert await opted_in()


def test_whatsapp_words() -> None:
    assert command_word("stop") == "stop"
    assert command_word("Стоп") == "stop"
    assert command_word("тоқтату") == "stop"
    assert command_word("start") == "start"
    assert command_word("болдырмау") == "cancel"


# ---- scheduling, cancelling ---------------------------------------------------------------------


async def test_scheduled_broadcast_starts_at_its_time_and_cancel_skips_the_rest(
        bapp: App) -> None:
    now = clock.now()
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(6):
            await add_user(db, str(100 + number), language="ru" if number % 2 else "kk")
        await add_user(db, "199", announcements=False)
        broadcast = await new_broadcast(db)
        await broadcasts.schedule(db, broadcast.id, now + timedelta(hours=1))
    async with bapp.engine.sessionmaker() as db, db.begin():
        assert await broadcasts.start_due(db, now, "kk") == []
    async with bapp.engine.sessionmaker() as db, db.begin():
        assert await broadcasts.start_due(db, now + timedelta(hours=1), "kk") == [broadcast.id]
    assert await statuses(bapp, broadcast.id) == {"pending": 6}

    platform = FakePlatform(delay=0.01)
    send = sender(bapp, platform, batch=2, concurrency=1)
    running = asyncio.create_task(send.run_once())
    await platform.first.wait()
    async with bapp.engine.sessionmaker() as db, db.begin():
        await broadcasts.cancel(db, broadcast.id, clock.now())
    await running
    counts = await statuses(bapp, broadcast.id)
    # At most what the sender held when it was cancelled went out; the rest is skipped.
    assert counts.get("sent", 0) <= 4
    assert counts["skipped"] >= 2 and sum(counts.values()) == 6
    async with bapp.engine.sessionmaker() as db:
        stored = await db.get(Broadcast, broadcast.id)
        assert stored is not None and stored.status == "cancelled"
        report = await broadcasts.report(db, stored, clock.now())
        assert report.excluded == {"opted_out": 1, "unreachable": 0}
    # Texts per language: the Russian text for ru, the common one for the others.
    assert {text for _, text in platform.sent} <= {"Hello", "Привет"}


# ---- the sender ---------------------------------------------------------------------------------


async def test_403_blocks_other_errors_retry_then_fail_and_the_report_counts(
        bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(5):
            await add_user(db, str(number))
        broadcast = await new_broadcast(db)
    await start(bapp, broadcast.id)
    platform = FakePlatform({
        "1": [Outcome("blocked", error="Forbidden: bot was blocked by the user")],
        "2": [Outcome("retry", error="ServerError")] * 2,  # then sent
        "3": [Outcome("retry", error="ServerError")] * 10,  # gives up
        "4": [Outcome("failed", error="Bad Request: chat not found")],
    })
    send = sender(bapp, platform, max_attempts=3)
    for _ in range(4):
        await send.run_once()
    assert sorted(external for external, _ in platform.sent) == ["0", "2"]
    assert await statuses(bapp, broadcast.id) == {"sent": 2, "blocked": 1, "failed": 2}
    async with bapp.engine.sessionmaker() as db:
        blocked = (await db.execute(select(User.unreachable_since)
                                    .where(User.external_id == "1"))).scalar_one()
        assert blocked is not None
        stored = await db.get(Broadcast, broadcast.id)
        assert stored is not None and stored.status == "done" and stored.total == 5
        report = await broadcasts.report(db, stored, clock.now())
    assert (report.sent, report.blocked, report.failed) == (2, 1, 2)
    assert report.failed_reasons == {"ServerError": 1, "Bad Request: chat not found": 1}
    assert send.finished == [broadcast.id]
    async with bapp.engine.sessionmaker() as db:  # the blocked user is never counted again
        assert await broadcasts.count(db, {}, "kk") == 4


async def test_restart_resumes_without_sending_a_delivered_row_again(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(10):
            await add_user(db, str(number))
        broadcast = await new_broadcast(db)
    await start(bapp, broadcast.id)
    # A sender was killed: it had sent two rows, and held two more in flight.
    now = clock.now()
    async with bapp.engine.sessionmaker() as db, db.begin():
        claimed = await broadcasts.claim(db, "dead", now, 4)
        await broadcasts.record(db, [(row, Outcome("sent", "x")) for row in claimed[:2]], now)
    in_flight = {row.external_id for row in claimed[2:]}
    platform = FakePlatform()
    # Right after the restart the dead claim's lease runs: those rows wait.
    await sender(bapp, platform).run_once()
    assert len(platform.sent) == 6 and not in_flight & {e for e, _ in platform.sent}
    # Once the lease has expired they go out; the two delivered rows never again.
    later = sender(bapp, platform, clock=lambda: clock.now() + timedelta(minutes=3))
    await later.run_once()
    sent = [external for external, _ in platform.sent]
    assert len(sent) == 8 and len(set(sent)) == 8
    assert {row.external_id for row in claimed[:2]}.isdisjoint(sent)
    assert await statuses(bapp, broadcast.id) == {"sent": 10}


# ---- the limiter and Telegram --------------------------------------------------------------------


async def test_replies_go_ahead_of_broadcast_messages() -> None:
    limiter = PriorityLimiter(rate=50, burst=1)
    order: list[str] = []

    async def one(name: str, priority: int) -> None:
        await limiter.acquire(priority)
        order.append(name)

    tasks = [asyncio.create_task(one(f"b{i}", BROADCAST)) for i in range(6)]
    await asyncio.sleep(0.03)  # the broadcast is running
    tasks.append(asyncio.create_task(one("reply", INTERACTIVE)))
    await asyncio.gather(*tasks)
    assert order.index("reply") <= 3, order  # served next, not after the whole queue


async def test_pause_stops_every_sender() -> None:
    limiter = PriorityLimiter(rate=1000, burst=1000)
    await limiter.acquire(BROADCAST)
    limiter.pause(0.3)
    started = time.monotonic()
    await asyncio.gather(limiter.acquire(INTERACTIVE), limiter.acquire(BROADCAST))
    assert time.monotonic() - started >= 0.28


@pytest.fixture
async def tg_bot(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
    bot = Bot(api.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_telegram_429_pauses_all_sending_and_403_blocks(
        api: FakeTelegramAPI, tg_bot: Bot) -> None:
    limiter = PriorityLimiter(rate=1000, burst=1000)
    broadcaster = TelegramBroadcaster(tg_bot, limiter)
    message = Reply("Hello")
    for chat in (501, 502, 503):
        api.user(chat)
    api.fail_next("sendMessage", 1, error_code=429, retry_after=1)
    started = time.monotonic()
    first, second = await asyncio.gather(broadcaster.send("501", message, "1"),
                                         broadcaster.send("502", message, "1"))
    assert first.status == second.status == "sent"
    assert time.monotonic() - started >= 0.9  # both waited for retry_after
    api.block(503)
    blocked = await broadcaster.send("503", message, "1")
    assert blocked.status == "blocked"


async def test_telegram_file_is_uploaded_once_and_long_text_goes_first(
        api: FakeTelegramAPI, tg_bot: Bot) -> None:
    broadcaster = TelegramBroadcaster(tg_bot, PriorityLimiter(rate=1000, burst=1000),
                                      per_chat=0.05)
    photo = Attachment("p.jpg", b"\xff\xd8" + b"0" * 100, "image/jpeg")
    api.user(601)
    api.user(602)
    for chat in ("601", "602"):
        outcome = await broadcaster.send(chat, Reply("x" * 2000, attachment=photo), "7")
        assert outcome.status == "sent"
    photos = api.calls_to("sendPhoto")
    assert len(photos) == 2 and len(api.calls_to("sendMessage")) == 2
    assert photos[0].params["photo"] != photos[1].params["photo"]  # uploaded, then by id


# ---- WhatsApp statuses ---------------------------------------------------------------------------


async def test_whatsapp_statuses_count_as_delivered_and_read(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(3):
            await add_user(db, f"7701{number}", channel="whatsapp")
        broadcast = await new_broadcast(db)
    await start(bapp, broadcast.id)
    platform = FakePlatform()
    await sender(bapp, platform).run_once()
    async with bapp.engine.sessionmaker() as db, db.begin():
        await broadcasts.on_whatsapp_status(db, "m77010", "delivered")
        await broadcasts.on_whatsapp_status(db, "m77011", "read")
        await broadcasts.on_whatsapp_status(db, "m77011", "delivered")  # late: no step back
        await broadcasts.on_whatsapp_status(db, "m77012", "failed", "Message undeliverable")
    async with bapp.engine.sessionmaker() as db:
        stored = await db.get(Broadcast, broadcast.id)
        assert stored is not None
        report = await broadcasts.report(db, stored, clock.now())
    assert (report.sent, report.delivered, report.read, report.failed) == (2, 2, 1, 1)
    assert report.failed_reasons == {"Message undeliverable": 1}


# ---- the coordinators' dialog -------------------------------------------------------------------


@pytest.mark.parametrize("action", [
    ("text", "/broadcasts"), ("press", "bc"), ("press", "bc:new"), ("press", "bc:one"),
    ("press", "bc:v:1"), ("press", "bc:cx:1"), ("press", "bc:now"), ("press", "bc:pv"),
    ("press", "bc:t:l:kk"), ("press", "bc:go"), ("state", "bc:text:*"), ("state", "bc:when"),
    ("state", "bc:url"), ("state", "bc:country"), ("state", "bc:label:*"),
])
async def test_every_broadcast_action_checks_the_role(bapp: App,
                                                      action: tuple[str, str]) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        broadcast = await new_broadcast(db)
        await broadcasts.schedule(db, broadcast.id, clock.now() + timedelta(days=1))
    chat = Chat(bapp, user="555", channel="telegram")
    await chat.text("/start")
    await chat.press("lang:en")
    kind, value = action
    if kind == "state":
        async with bapp.engine.sessionmaker() as db, db.begin():
            from bot.db.models import ChatSession
            user_id = (await db.execute(select(User.id).where(User.external_id == "555"))
                       ).scalar_one()
            await db.execute(update(ChatSession).where(ChatSession.user_id == user_id)
                             .values(state=value, data={"bc": broadcast.id}))
        await chat.text("2026-12-01 10:00")
    elif kind == "text":
        await chat.text(value)
    else:
        await chat.press(value)
    assert "coordinators only" in chat.texts()
    async with bapp.engine.sessionmaker() as db:
        stored = await db.get(Broadcast, broadcast.id)
        assert stored is not None and stored.status == "scheduled"


async def test_coordinator_composes_previews_and_schedules(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        await add_user(db, "10", language="ru")
        await add_user(db, "11", language="kk")
    lead = Chat(bapp, user=LEAD, channel="telegram")
    await lead.text("/start")
    await lead.press("lang:en")
    await lead.press("ad")
    assert "bc" in lead.payloads()
    await lead.text("/broadcasts")
    assert "No announcements yet." in lead.texts()
    await lead.press("bc:new")
    await lead.press("bc:each")
    await lead.text("Сәлем!")
    await lead.text("Привет!")
    await lead.text("Hello!")
    assert "bc:nofile" in lead.payloads()
    await lead.press("bc:nofile")
    await lead.text("https://otandastar.kz/news")
    await lead.text("Толығырақ")
    await lead.text("Подробнее")
    await lead.text("More")
    assert "Recipients: 3" in lead.texts()  # the lead too, who has announcements on
    await lead.press("bc:t:l:ru")
    assert "Recipients: 1" in lead.texts()
    await lead.press("bc:pv")
    previews = [reply for reply in lead.last if reply.choices and reply.choices[0][0].url]
    assert [reply.text for reply in previews] == ["Сәлем!", "Привет!", "Hello!"]
    assert [reply.choices[0][0].label for reply in previews] == [
        "Толығырақ", "Подробнее", "More"]
    await lead.press("bc:go")
    await lead.text("2099-01-01 10:00")
    assert "Scheduled for" in lead.texts()
    async with bapp.engine.sessionmaker() as db:
        stored = (await db.execute(select(Broadcast))).scalar_one()
    assert stored.status == "scheduled" and stored.audience == {"languages": ["ru"]}
    assert stored.scheduled_at is not None and stored.scheduled_at.hour == 5  # 10:00 UTC+5
    await lead.press(f"bc:cx:{stored.id}")
    assert "Cancelled" in lead.texts()


# ---- end to end on Telegram ----------------------------------------------------------------


async def test_telegram_compose_preview_send_and_report(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
        telegram_mode: str) -> None:
    from tests.telegram_harness import running_bot

    lead = int(LEAD)
    async with running_bot(database_url, api, handled, admin_ids=[lead],
                           telegram_mode=telegram_mode) as bot:
        await bot.say(801, "/start", language_code="ru")
        await bot.say(802, "/start", language_code="kk")
        await bot.say(803, "/start", language_code="en")
        api.block(803)  # blocks the bot before the announcement
        await bot.say(lead, "/start", language_code="en")
        await bot.say(lead, "/broadcasts")
        await bot.press(lead, "bc:new")
        await bot.press(lead, "bc:one")
        await bot.say(lead, "Forum in Astana on 1 December!")
        await bot.press(lead, "bc:nofile")
        await bot.press(lead, "bc:nourl")
        await bot.press(lead, "bc:t:c:telegram")
        assert "Recipients: 4" in api.last_message(lead).text
        preview = await bot.press(lead, "bc:pv")
        assert [r.text for r in preview].count("Forum in Astana on 1 December!") == 3
        await bot.press(lead, "bc:go")
        started = await bot.press(lead, "bc:now")
        assert "Sending has started" in started[-1].text

        def report_arrived() -> bool:
            return any("The announcement has been sent." in m.text
                       for m in api.messages(lead))

        await api.wait_for(report_arrived, 10, "the final report")
        for user in (801, 802):
            assert any(m.text == "Forum in Astana on 1 December!" for m in api.messages(user))
        report = next(m.text for m in api.messages(lead)
                      if "The announcement has been sent." in m.text)
        assert "Recipients 4 · sent 3" in report and "blocked 1" in report
        listing = await bot.say(lead, "/broadcasts")
        assert "done" in listing[-1].text and "Recipients 4 · sent 3" in listing[-1].text
        assert api.violations == []


# ---- end to end on WhatsApp --------------------------------------------------------------------


async def test_whatsapp_stop_start_words_broadcast_and_statuses(database_url: str) -> None:
    from bot.channels.broadcast_senders import WhatsAppBroadcaster
    from tests.fakes.graph_api import WhatsAppUser, webhook
    from tests.test_whatsapp_webhook import make_wa

    aigul = WhatsAppUser("77011234567", "KZ.1029384756102938475", "Айгүл")
    async for wa in make_wa(database_url):
        await wa.deliver(aigul.text("start"))
        await wa.deliver(aigul.button("lang:ru", "Русский"))

        async def opted_in(wa: Any = wa) -> bool:
            async with wa.app.engine.sessionmaker() as db:
                return bool((await db.execute(select(User.announcements).where(
                    User.channel == "whatsapp"))).scalar_one())

        sent = await wa.say(aigul, aigul.text("Стоп"))
        assert "объявления больше не придут" in sent[0].body
        assert not await opted_in()
        await wa.deliver(aigul.text("start"))
        assert await opted_in()

        async with wa.app.engine.sessionmaker() as db, db.begin():
            broadcast = await new_broadcast(db)
        await start(wa.app, broadcast.id)
        mark = wa.api.mark()
        send = Sender(wa.app.engine.sessionmaker,
                      {"whatsapp": WhatsAppBroadcaster(wa.channel)}, "test")
        assert await send.run_once() == {"sent": 1}
        message = wa.api.messages_to(aigul.recipient, mark)
        assert [m.body for m in message] == ["Привет"]  # inside the 24-hour window
        for status in ("sent", "delivered", "read"):
            await wa.deliver(webhook({"statuses": [{
                "id": message[0].wamid, "status": status, "timestamp": str(int(time.time())),
                "recipient_id": aigul.wa_id}]}))
        async with wa.app.engine.sessionmaker() as db:
            stored = await db.get(Broadcast, broadcast.id)
            assert stored is not None
            report = await broadcasts.report(db, stored, clock.now())
        assert (report.sent, report.delivered, report.read) == (1, 1, 1)


async def test_a_running_broadcast_does_not_slow_replies_down(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]) -> None:
    from tests.telegram_harness import running_bot

    async with running_bot(database_url, api, handled, broadcast_rate=10.0) as bot:
        await bot.say(901, "/start", language_code="en")
        async with bot.app.engine.sessionmaker() as db, db.begin():
            for number in range(40):
                api.user(2000 + number)
                await add_user(db, str(2000 + number))
            broadcast = await new_broadcast(db)
            await broadcasts.schedule(db, broadcast.id, clock.now())
        await api.wait_for(lambda: len(api.calls_to("sendMessage")) > 15, 10, "the broadcast")
        started = time.monotonic()
        replies = await bot.say(901, "/menu")
        took = time.monotonic() - started
        assert replies and took < 0.6, took  # the broadcast's queue would be ~2 s
        async with bot.app.engine.sessionmaker() as db:
            waiting = (await db.execute(select(func.count()).select_from(BroadcastDelivery)
                                        .where(BroadcastDelivery.status.in_(
                                            ("pending", "sending"))))).scalar_one()
        assert waiting > 0  # it was still running


async def test_stopping_the_sender_puts_claimed_rows_back(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(8):
            await add_user(db, str(number))
        broadcast = await new_broadcast(db)
    await start(bapp, broadcast.id)
    platform = FakePlatform(delay=0.02)
    send = sender(bapp, platform, batch=8, concurrency=1)
    running = asyncio.create_task(send.run_once())
    await platform.first.wait()
    await send.stop()
    await running
    counts = await statuses(bapp, broadcast.id)
    assert counts["pending"] >= 5 and counts.get("sending", 0) == 0
    assert counts.get("sent", 0) == len(platform.sent)


async def test_a_photo_sent_while_composing_goes_out_with_the_announcement(bapp: App) -> None:
    from bot.core.events import Event, EventKind, InboundFile

    async with bapp.engine.sessionmaker() as db, db.begin():
        await add_user(db, "12", language="kk")
    lead = Chat(bapp, user=LEAD, channel="telegram")
    await lead.text("/start")
    await lead.press("lang:en")
    await lead.press("bc:new")
    await lead.press("bc:one")
    await lead.text("With a picture")
    await lead._send(Event(lead.identity, EventKind.FILE, text="",
                           file=InboundFile("photo", "AgACfileid")))
    assert "bc:nourl" in lead.payloads()
    await lead.press("bc:nourl")
    await lead.press("bc:t:l:kk")
    await lead.press("bc:now")
    fetched: list[str] = []

    async def fetch(ref: str) -> bytes:
        fetched.append(ref)
        return b"\xff\xd8jpeg"

    platform = FakePlatform()
    received: list[Reply] = []
    original = platform.send

    async def keep(external_id: str, reply: Reply, key: str) -> Outcome:
        received.append(reply)
        return await original(external_id, reply, key)

    platform.send = keep  # type: ignore[method-assign]
    await sender(bapp, platform, fetch_file=fetch).run_once()
    assert fetched == ["AgACfileid"] and [external for external, _ in platform.sent] == ["12"]
    assert received[0].attachment is not None
    assert received[0].attachment.data == b"\xff\xd8jpeg"
    assert received[0].attachment.mime == "image/jpeg"


async def test_two_live_senders_never_send_a_row_twice(bapp: App) -> None:
    async with bapp.engine.sessionmaker() as db, db.begin():
        for number in range(12):
            await add_user(db, str(number))
        broadcast = await new_broadcast(db)
    await start(bapp, broadcast.id)
    platform = FakePlatform(delay=0.08)  # a row waits ~0.5 s in hand: longer than a lease
    first = Sender(bapp.engine.sessionmaker, {"telegram": platform}, "one", batch=6,
                   concurrency=1, lease=timedelta(seconds=0.3))
    second = Sender(bapp.engine.sessionmaker, {"telegram": platform}, "two", batch=6,
                    concurrency=1, lease=timedelta(seconds=0.3))
    await asyncio.gather(first.run_once(), second.run_once())
    sent = [external for external, _ in platform.sent]
    assert sorted(sent) == sorted(str(number) for number in range(12))
