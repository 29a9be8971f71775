"""One user's updates in the order the platform sent them, whichever process gets them:
Telegram's webhook answers only once the update is handled and a late, older update is
not run over newer state; the WhatsApp inbox hands out one user's rows one at a time,
in Meta's order, to any number of claimers, and the same oldest row again after its
holder died."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels import whatsapp_inbox_queue as queue
from bot.clock import now
from bot.core.events import Event, Identity
from bot.db.models import ChatSession, User, WhatsAppInbox
from bot.db.queue import LEASE, Consumer
from tests.telegram_harness import RunningBot


async def _session(app: App, external_id: str) -> tuple[Any, ...] | None:
    async with app.engine.sessionmaker() as db:
        row = (await db.execute(
            select(ChatSession.state, ChatSession.data, ChatSession.version,
                   ChatSession.last_update)
            .join(User, User.id == ChatSession.user_id)
            .where(User.external_id == external_id))).first()
    return tuple(row) if row is not None else None


async def test_an_update_older_than_one_stored_is_not_run_over_the_newer_state(
        app: App) -> None:
    identity = Identity("telegram", "7001")

    async def handle(text: str, update_id: int) -> list[Any]:
        event = Event.from_text(identity, text, language_hint="en")
        return await app.engine.handle(
            replace(event, update_id=str(update_id), sequence=update_id))

    assert await handle("/start", 10)
    stored = await _session(app, "7001")
    assert stored is not None and stored[3] == 10
    # Sent before /start, delivered after it (its first delivery was not acknowledged).
    assert await handle("/language", 9) == []
    assert await _session(app, "7001") == stored
    assert await handle("/language", 9) == []  # and again: still not run
    assert await handle("/language", 11) != []  # the user's next update runs as usual


@pytest.mark.parametrize("telegram_mode", ["webhook"])
async def test_the_webhook_answers_only_once_the_update_is_handled(bot: RunningBot) -> None:
    """Telegram sends a chat's next update only after the answer to the previous one, so
    an answer given only once the step is stored keeps one user's updates in order
    across processes. Every 200 here finds its step stored already."""
    api = bot.api
    started: dict[int, int] = {}
    for user in (7101, 7102, 7103):
        update = await api.send_text(user, "/start", language_code="en")
        started[user] = update["update_id"]
        assert (await _session(bot.app, str(user)) or ())[3:] == (update["update_id"],)
    update = await api.send_text(7101, "/language")
    stored = await _session(bot.app, "7101")
    mark = api.mark()
    # An older update of the same user, never handled, delivered late: 200, not run.
    late = {**update, "update_id": started[7101] - 100,
            "message": {**update["message"], "text": "/start", "entities": [
                {"type": "bot_command", "offset": 0, "length": 6}]}}
    await api.redeliver(late)
    assert api.deliveries[-1] == (late["update_id"], 200)
    await api.settle(0.2)
    assert api.replies(7101, mark) == []
    assert await _session(bot.app, "7101") == stored


# ---- the WhatsApp inbox ----------------------------------------------------------------


def _delivery(user: str, sent: int, number: int) -> str:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"messages": [{
            "from": user, "id": f"wamid.{user}.{number}", "timestamp": str(sent),
            "type": "text", "text": {"body": f"{user} {number}"}}]}}]}]})


def _who(body: str) -> tuple[str, int]:
    message = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
    return message["from"], int(message["timestamp"])


class Clock:
    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at


def _consumer(app: App, name: str, clock: Clock) -> Consumer[WhatsAppInbox]:
    return Consumer(queue.INBOX, app.engine.sessionmaker, name, clock=clock)


async def _claim(app: App, consumer: Consumer[WhatsAppInbox]) -> list[queue.Item]:
    async with app.engine.sessionmaker() as db, db.begin():
        return await queue.claim(db, consumer, 10)


async def _finish(app: App, items: list[queue.Item]) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        for item in items:
            await queue.finish(db, item[0])


async def test_claimers_get_one_user_s_rows_one_at_a_time_in_meta_s_order(app: App) -> None:
    """Two claimers at once (concurrent transactions on PostgreSQL): never two rows of one
    user out at the same time, and each user's rows in the order of their timestamps,
    though they were stored in another order. A claimer keeps what it took for a round
    while the other goes on: that user's next row waits."""
    sent = {"a": [300, 100, 200, 400], "b": [50, 60, 40, 70], "c": [10, 30, 20, 90]}
    bodies = [_delivery(user, at, number) for number in range(4)
              for user, times in sent.items() for at in [times[number]]]
    async with app.engine.sessionmaker() as db, db.begin():
        await queue.store(db, bodies)
    clock = Clock()
    first, second = _consumer(app, "one", clock), _consumer(app, "two", clock)
    handed: dict[str, list[int]] = {user: [] for user in sent}
    held: list[queue.Item] = []  # the second claimer's rows, kept for one round
    for _ in range(40):
        got_first, got_second = await asyncio.gather(_claim(app, first), _claim(app, second))
        out = [_who(item[2])[0] for item in got_first + got_second + held]
        assert len(out) == len(set(out)), out  # one row per user at a time
        for item in got_first + got_second:
            user, at = _who(item[2])
            handed[user].append(at)
        if not (got_first or got_second or held):
            break
        await _finish(app, got_first + held)
        held = got_second
    assert handed == {user: sorted(times) for user, times in sent.items()}


async def test_after_the_holder_dies_the_same_oldest_row_is_taken_first(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        await queue.store(db, [_delivery("d", 20, 1), _delivery("d", 10, 0),
                               _delivery("e", 5, 0)])
    clock = Clock()
    dying, survivor = _consumer(app, "dying", clock), _consumer(app, "survivor", clock)
    taken = await _claim(app, dying)
    assert sorted(_who(item[2]) for item in taken) == [("d", 10), ("e", 5)]
    assert await _claim(app, survivor) == []  # "d"'s next waits for its first
    clock.at += LEASE + timedelta(seconds=1)  # the holder died: its leases ran out
    again = await _claim(app, survivor)
    assert sorted((item[0], item[1]) for item in again) == \
        sorted((item[0], 2) for item in taken)  # the same rows, a second attempt
    await _finish(app, again)
    [last] = await _claim(app, survivor)
    assert _who(last[2]) == ("d", 20)
    await _finish(app, [last])
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(WhatsAppInbox.status, WhatsAppInbox.sender))).all()
    assert sorted(rows) == [("done", None)] * 3  # handled rows keep no sender


async def test_statuses_wait_for_nobody_and_a_failed_attempt_holds_its_user_back(
        app: App) -> None:
    statuses = json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"statuses": [{"id": "wamid.x", "status": "read"}]}}]}]})
    async with app.engine.sessionmaker() as db, db.begin():
        await queue.store(db, [_delivery("f", 1, 0), _delivery("f", 2, 1), statuses, statuses])
    clock = Clock()
    consumer = _consumer(app, "one", clock)
    taken = await _claim(app, consumer)
    assert [json.loads(item[2]).get("entry")[0]["changes"][0]["value"].keys()
            for item in taken] == [{"messages"}, {"statuses"}, {"statuses"}]
    async with app.engine.sessionmaker() as db, db.begin():
        await queue.INBOX.retry(db, [(taken[0][0], 1, "boom")], clock())
    await _finish(app, taken[1:])
    assert await _claim(app, consumer) == []  # "f"'s second waits for the first's retry
    clock.at += queue.INBOX.backoff_after(1) + timedelta(seconds=1)
    [retried] = await _claim(app, consumer)
    assert retried[0] == taken[0][0]
