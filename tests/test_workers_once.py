"""The intent of a broadcast message is written before it goes to the platform, the
result after; a row taken again with an intent and no result is resolved without
sending it twice where the platform can tell (WhatsApp: its status), and sent again
where it cannot (Telegram): never lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot import clock
from bot.app import App
from bot.core.notify import STATUS_WAIT
from bot.core.replies import Reply
from bot.db.models import BroadcastDelivery
from bot.services import broadcasts
from bot.services.broadcasts import Outcome, Sender
from tests.test_broadcasts import add_user, new_broadcast

D = BroadcastDelivery


class Platform:
    def __init__(self, app: App, status_wait: timedelta | None) -> None:
        self.app = app
        self.status_wait = status_wait
        self.sent: list[str] = []
        self.intent_seen: list[bool] = []

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        async with self.app.engine.sessionmaker() as db:  # written before the request
            attempted = (await db.execute(select(D.attempted_at).where(
                D.external_id == external_id))).scalar_one()
        self.intent_seen.append(attempted is not None)
        self.sent.append(external_id)
        return Outcome("sent", message_id=f"m{external_id}")


async def crashed_mid_request(app: App, channel: str, people: list[str],
                              attempted: list[str]) -> int:
    """A broadcast whose rows of `attempted` were claimed by a process that wrote their
    intent and died before the result."""
    now = clock.now()
    async with app.engine.sessionmaker() as db, db.begin():
        for person in people:
            await add_user(db, person, channel=channel)
        broadcast = await new_broadcast(db)
        await broadcasts.schedule(db, broadcast.id, now)
        await broadcasts.start_due(db, now, "kk")
        await db.execute(update(D).where(D.external_id.in_(attempted)).values(
            status="sending", attempts=1, lease_owner="dead/abc",
            lease_expires_at=now - timedelta(seconds=1), attempted_at=now - timedelta(seconds=2)))
        return broadcast.id


async def rows(app: App) -> dict[str, Any]:
    async with app.engine.sessionmaker() as db:
        return {row.external_id: row for row in (await db.execute(select(D))).scalars()}


def make_sender(app: App, platform: Platform, channel: str, **extra: Any) -> Sender:
    return Sender(app.engine.sessionmaker, {channel: platform}, "w", backoff=0.0, **extra)


async def test_intent_is_written_before_the_request_and_cleared_of_nothing(app: App) -> None:
    await crashed_mid_request(app, "telegram", ["1", "2", "3"], [])
    platform = Platform(app, None)
    await make_sender(app, platform, "telegram").run_once()
    assert sorted(platform.sent) == ["1", "2", "3"] and all(platform.intent_seen)
    assert {row.status for row in (await rows(app)).values()} == {"sent"}


async def test_telegram_sends_again_what_it_cannot_tell_went_out(app: App) -> None:
    await crashed_mid_request(app, "telegram", ["1", "2", "3"], ["2"])
    platform = Platform(app, None)
    await make_sender(app, platform, "telegram").run_once()
    assert sorted(platform.sent) == ["1", "2", "3"]  # never lost
    assert {row.status for row in (await rows(app)).values()} == {"sent"}


async def test_whatsapp_waits_for_the_status_and_it_resolves_the_row(app: App) -> None:
    await crashed_mid_request(app, "whatsapp", ["7701", "7702"], ["7702"])
    platform = Platform(app, STATUS_WAIT)
    sender = make_sender(app, platform, "whatsapp")
    await sender.run_once()
    assert platform.sent == ["7701"]
    stored = await rows(app)
    assert stored["7702"].status == "pending" and stored["7702"].next_attempt_at is not None
    # The status of a message of no record names the recipient: it went out.
    async with app.engine.sessionmaker() as db, db.begin():
        await broadcasts.on_whatsapp_status(db, "wamid.LOST", "delivered", recipient="7702",
                                            now=clock.now())
    stored = await rows(app)
    assert (stored["7702"].status, stored["7702"].message_id) == ("delivered", "wamid.LOST")
    await sender.run_once()
    assert platform.sent == ["7701"]


async def test_whatsapp_sends_again_when_no_status_came_in_time(app: App) -> None:
    await crashed_mid_request(app, "whatsapp", ["7701", "7702"], ["7702"])
    platform = Platform(app, STATUS_WAIT)
    later = clock.now() + STATUS_WAIT + timedelta(seconds=5)
    await make_sender(app, platform, "whatsapp", clock=lambda: later).run_once()
    assert sorted(platform.sent) == ["7701", "7702"]
    assert {row.status for row in (await rows(app)).values()} == {"sent"}


async def test_paid_broadcasts_carry_the_flag_and_raise_the_rate(database_url: str) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.channels.broadcast_senders import TelegramBroadcaster
    from bot.core.ratelimit import PriorityLimiter
    from tests.conftest import make_settings
    from tests.fakes.telegram_api import FakeTelegramAPI

    assert make_settings(database_url).telegram_rate == 25
    paid = make_settings(database_url, telegram_paid_broadcast=True)
    assert paid.telegram_rate == 1000
    async with FakeTelegramAPI() as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        try:
            for chat, flag in ((701, True), (702, False)):
                api.user(chat)
                broadcaster = TelegramBroadcaster(bot, PriorityLimiter(1000, 1000), paid=flag)
                assert (await broadcaster.send(str(chat), Reply("News"), "1")).status == "sent"
        finally:
            await bot.session.close()
    first, second = api.calls_to("sendMessage")
    assert first.params.get("allow_paid_broadcast") in (True, "true")
    assert "allow_paid_broadcast" not in second.params
