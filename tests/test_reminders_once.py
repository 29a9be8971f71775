"""A reminder is sent once: its intent is committed before the push and the
platform's message id recorded after it; one whose process died after the intent is
resolved by WhatsApp's status (sent again only when none came in time) and, on
Telegram, which cannot tell, sent again and noted so."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot import clock
from bot.app import App
from bot.core.notify import STATUS_WAIT, Notifier, Pushed, PushResult
from bot.core.replies import Reply
from bot.db.models import Registration, Reminder, User
from bot.db.queue import Consumer, Intents
from bot.services import forums, reminders
from tests.fakes.graph_api import WhatsAppUser, webhook
from tests.forum_helpers import DETAILS, OFFSETS, make_forum, make_user
from tests.test_whatsapp_webhook import WA, make_wa

WEEK = 7 * 24 * 60  # the offset of the first reminder, in minutes


class Channel:
    """A channel's sender: records what it is asked to send, and whether the reminder's
    intent was already committed when the push began."""

    def __init__(self, app: App, result: PushResult = PushResult.SENT) -> None:
        self.app = app
        self.result = result
        self.sent: list[str] = []
        self.intent_seen: list[bool] = []

    async def __call__(self, external_id: str, replies: list[Reply], kind: str) -> Pushed:
        async with self.app.engine.sessionmaker() as db:  # another connection
            attempted = (await db.execute(
                select(Reminder.attempted_at).where(Reminder.status == "sending",
                                                    Reminder.registration_id.in_(mine(external_id))))
            ).scalar_one()
        self.intent_seen.append(attempted is not None)
        self.sent.append(external_id)
        if self.result is not PushResult.SENT:
            return Pushed(self.result)
        return Pushed(self.result, (f"wamid.{external_id}",))


def mine(external_id: str):  # type: ignore[no-untyped-def]
    return (select(Registration.id).join(User, User.id == Registration.user_id)
            .where(User.external_id == external_id).scalar_subquery())


def compose(due: reminders.Due, now: datetime) -> list[Reply]:
    return [Reply(f"{due.reminder.kind} {due.reminder.offset_minutes}")]


async def forum_with(app: App, channel: str, people: list[str]) -> datetime:
    """People of `channel` registered for a forum; the time its first reminder is due."""
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db, capacity=len(people))
        for person in people:
            user = await make_user(db, person, channel=channel)
            await forums.register(db, forum.id, user.id, DETAILS, clock.now(), OFFSETS)
    return forum.starts_at.replace(tzinfo=clock.now().tzinfo) - timedelta(days=6)


async def crash(app: App, people: list[str], due: datetime) -> datetime:
    """The first reminders of `people` were claimed by a process that committed their
    intent and died before the result; the intent's time."""
    attempted = due - timedelta(seconds=2)
    async with app.engine.sessionmaker() as db, db.begin():
        await db.execute(update(Reminder).where(
            Reminder.offset_minutes == WEEK,
            Reminder.registration_id.in_(select(Registration.id).join(User).where(
                User.external_id.in_(people)))).values(
            status="sending", attempts=1, lease_owner="dead/abc",
            lease_expires_at=due - timedelta(seconds=1), attempted_at=attempted))
    return attempted


async def first_reminders(app: App) -> dict[str, Reminder]:
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(User.external_id, Reminder)
                                 .join(Registration, Registration.id == Reminder.registration_id)
                                 .join(User, User.id == Registration.user_id)
                                 .where(Reminder.offset_minutes == WEEK))).all()
    return {external_id: reminder for external_id, reminder in rows}


async def run(app: App, notifier: Notifier, now: datetime) -> dict[str, int]:
    return await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w", now)


async def lost_on_whatsapp(app: App) -> tuple[datetime, datetime, Channel, Notifier]:
    """Two people's first reminders due on WhatsApp, the second's lost in a crash after
    its intent; the first run sends the first only. (Due, intent, channel, notifier.)"""
    due = await forum_with(app, "whatsapp", ["7701", "7702"])
    attempted = await crash(app, ["7702"], due)
    channel, notifier = Channel(app), Notifier()
    notifier.register("whatsapp", channel, status_wait=STATUS_WAIT)
    assert await run(app, notifier, due) == {"sent": 1, "pending": 1}
    assert channel.sent == ["7701"]
    return due, attempted, channel, notifier


async def test_the_intent_is_committed_before_the_push_the_id_after(app: App) -> None:
    due = await forum_with(app, "telegram", ["1", "2"])
    channel, notifier = Channel(app), Notifier()
    notifier.register("telegram", channel)
    assert await run(app, notifier, due) == {"sent": 2}
    assert sorted(channel.sent) == ["1", "2"] and channel.intent_seen == [True, True]
    stored = await first_reminders(app)
    assert {person: (row.status, row.message_id) for person, row in stored.items()} == {
        "1": ("sent", "wamid.1"), "2": ("sent", "wamid.2")}
    assert all(row.attempted_at is not None for row in stored.values())


async def test_a_reminder_claimed_ahead_is_sent_when_it_is_due_not_before(app: App) -> None:
    await forum_with(app, "telegram", ["1", "2"])
    due = (await first_reminders(app))["1"].due_at
    channel, notifier = Channel(app), Notifier()
    pushed: list[float] = []

    async def timed(external_id: str, replies: list[Reply], kind: str) -> Pushed:
        pushed.append(time.monotonic())
        return await channel(external_id, replies, kind)

    notifier.register("telegram", timed)
    # Due after the look's horizon: left for a later look, not claimed.
    assert await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                   due - timedelta(seconds=2), ahead=timedelta(seconds=1)) == {}
    assert {row.status for row in (await first_reminders(app)).values()} == {"pending"}
    # Due within it: claimed at once, sent when due (0.3 s after the look began).
    started = time.monotonic()
    assert await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                   due - timedelta(seconds=0.3),
                                   ahead=timedelta(seconds=1)) == {"sent": 2}
    assert sorted(channel.sent) == ["1", "2"]
    assert all(at - started >= 0.29 for at in pushed)
    stored = await first_reminders(app)
    assert all(row.status == "sent" and row.sent_at is not None and row.sent_at >= due
               for row in stored.values())


async def test_a_row_taken_over_while_its_process_stalled_is_left_to_the_other(
        app: App) -> None:
    """A process whose lease ran out (its heartbeat late on a busy machine) and whose row
    another process took over meanwhile finds out when it writes the intent: it sends
    nothing and leaves the row, its claim and its intent to the other."""
    await forum_with(app, "telegram", ["1", "2"])
    due = (await first_reminders(app))["1"].due_at
    sessionmaker = app.engine.sessionmaker
    stalled = Consumer(reminders.REMINDERS, sessionmaker, "stalled", lambda: due)
    async with sessionmaker() as db, db.begin():
        claimed = {row[0] for row in await stalled.claim(db, 10)}
    ids = {person: row.id for person, row in (await first_reminders(app)).items()}
    assert claimed >= set(ids.values())
    later = due + timedelta(minutes=1)
    async with sessionmaker() as db, db.begin():  # the other process took "2" over
        await db.execute(update(Reminder).where(Reminder.id == ids["2"]).values(
            lease_owner="other/abc", lease_expires_at=later))
    channel, notifier = Channel(app), Notifier()
    notifier.register("telegram", channel)
    intents = Intents(reminders.REMINDERS, sessionmaker)
    assert await reminders.deliver(sessionmaker, notifier, compose, ids["2"], due, intents,
                                   stalled.owner) == reminders.TAKEN_OVER
    assert await reminders.deliver(sessionmaker, notifier, compose, ids["1"], due, intents,
                                   stalled.owner) == "sent"
    assert channel.sent == ["1"]
    await stalled.release()  # stopping: what it still holds goes back, not the other's
    stored = await first_reminders(app)
    assert (stored["2"].status, stored["2"].lease_owner, stored["2"].attempted_at) == (
        "sending", "other/abc", None)
    assert stored["1"].status == "sent"


async def test_a_failed_push_clears_the_intent_and_is_sent_again(app: App) -> None:
    due = await forum_with(app, "telegram", ["1"])
    failing, notifier = Channel(app, PushResult.FAILED), Notifier()
    notifier.register("telegram", failing)
    assert await run(app, notifier, due) == {"pending": 1}
    row = (await first_reminders(app))["1"]
    assert (row.status, row.attempted_at) == ("pending", None)  # nothing went out
    channel, notifier = Channel(app), Notifier()
    notifier.register("telegram", channel)
    assert await run(app, notifier, due + timedelta(minutes=5)) == {"sent": 1}
    assert channel.sent == ["1"]


async def test_telegram_sends_an_unknown_outcome_again_and_notes_it(app: App) -> None:
    """Telegram cannot tell whether a request out at a crash went: the reminder is sent
    again (most such rows were still waiting for their turn from the limiter and never
    went out), once, and noted as sent again."""
    due = await forum_with(app, "telegram", ["1", "2"])
    await crash(app, ["2"], due)
    channel, notifier = Channel(app), Notifier()
    notifier.register("telegram", channel)
    assert await run(app, notifier, due) == {"sent": 2}
    assert sorted(channel.sent) == ["1", "2"]
    stored = await first_reminders(app)
    assert (stored["2"].status, stored["2"].last_error) == ("sent", reminders.AGAIN)
    assert stored["2"].message_id is not None
    assert (stored["1"].status, stored["1"].last_error) == ("sent", None)
    assert await run(app, notifier, due + STATUS_WAIT * 2) == {}
    assert sorted(channel.sent) == ["1", "2"]


async def test_whatsapp_waits_for_the_status_and_it_resolves_the_reminder(app: App) -> None:
    due, attempted, channel, notifier = await lost_on_whatsapp(app)
    waiting = (await first_reminders(app))["7702"]
    assert (waiting.status, waiting.next_attempt_at) == ("pending", attempted + STATUS_WAIT)
    assert waiting.attempted_at == attempted  # the intent stands
    # Not before the wait is over.
    assert await run(app, notifier, due + timedelta(seconds=30)) == {}
    async with app.engine.sessionmaker() as db, db.begin():
        # Another person's status resolves nothing of this one.
        await reminders.on_whatsapp_status(db, "wamid.OTHER", "delivered", "7799", clock.now())
    assert (await first_reminders(app))["7702"].status == "pending"
    # The status of a message of no record names the recipient: it went out.
    async with app.engine.sessionmaker() as db, db.begin():
        await reminders.on_whatsapp_status(db, "wamid.LOST", "delivered", "7702", clock.now())
    stored = await first_reminders(app)
    assert (stored["7702"].status, stored["7702"].message_id) == ("sent", "wamid.LOST")
    assert stored["7701"].message_id == "wamid.7701"  # already resolved: left alone
    assert await run(app, notifier, due + STATUS_WAIT * 2) == {}
    assert channel.sent == ["7701"]


async def test_whatsapp_sends_again_when_no_status_came_in_time(app: App) -> None:
    _due, attempted, channel, notifier = await lost_on_whatsapp(app)
    assert await run(app, notifier, attempted + STATUS_WAIT + timedelta(seconds=5)) == {"sent": 1}
    assert channel.sent == ["7701", "7702"] and channel.intent_seen == [True, True]
    stored = await first_reminders(app)
    assert (stored["7702"].status, stored["7702"].message_id) == ("sent", "wamid.7702")


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


async def test_the_status_webhook_resolves_a_lost_reminder(wa: WA) -> None:
    """Through the channel: Meta's status of a message the bot has no record of (the
    process died before recording it) resolves the reminder; it is not sent again."""
    user = WhatsAppUser("77015550021", "KZ.4000000000000000021", "Дана")
    await wa.deliver(user.text("сәлем"))
    await wa.deliver(user.button("lang:en", "English"))
    async with wa.app.engine.sessionmaker() as db, db.begin():
        person = (await db.execute(select(User).where(User.channel == "whatsapp"))).scalar_one()
        forum = await make_forum(db, capacity=1)
        await forums.register(db, forum.id, person.id, DETAILS, clock.now(), OFFSETS)
    due = forum.starts_at.replace(tzinfo=clock.now().tzinfo) - timedelta(days=6)
    await crash(wa.app, [person.external_id], due)
    await wa.deliver(webhook({"statuses": [{
        "id": "wamid.LOSTREMINDER", "status": "sent", "timestamp": "1795000100",
        "recipient_id": user.wa_id}]}))
    lost = (await first_reminders(wa.app))[person.external_id]
    assert (lost.status, lost.message_id) == ("sent", "wamid.LOSTREMINDER")
    notifier = Notifier()
    notifier.register("whatsapp", wa.channel.push, status_wait=STATUS_WAIT)
    mark = wa.api.mark()
    tally = await reminders.run_due(wa.app.engine.sessionmaker, notifier, compose, "w",
                                    due + STATUS_WAIT * 2)
    assert tally == {} and wa.api.messages_to(user.recipient, mark) == []
