"""The WhatsApp inbox on the durable queue (`bot.db.queue`): rows stored already held by
the worker that handles them, claimed by the poller only when nobody holds them, taken
over after a dead process's lease, retried after a failure and given up after five
attempts with the reason, purged once handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.channels import whatsapp_inbox_queue as queue
from bot.channels.whatsapp_inbox import Inbox
from bot.clock import now
from bot.db.models import WhatsAppInbox
from bot.db.queue import LEASE


class Clock:
    def __init__(self) -> None:
        self.at = now()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class Worker:
    """The `process` of an inbox: records what it is given, fails on demand."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, dict[str, Any]]] = []
        self.failing = False

    async def __call__(self, inbox_id: int, body: dict[str, Any]) -> bool:
        self.seen.append((inbox_id, body))
        if self.failing:
            raise RuntimeError("boom")
        return False


async def _rows(app: App) -> list[tuple[int, str, int, str]]:
    async with app.engine.sessionmaker() as db:
        result = await db.execute(select(WhatsAppInbox.id, WhatsAppInbox.status,
                                         WhatsAppInbox.attempts, WhatsAppInbox.body)
                                  .order_by(WhatsAppInbox.id))
        return [(row[0], row[1], row[2], row[3]) for row in result]


def _inbox(app: App, worker: Worker, clock: Clock, poll_interval: float = 0.05) -> Inbox:
    return Inbox(app.engine.sessionmaker, worker, app_secret=None, verify_token=None,
                 workers=2, poll_interval=poll_interval, clock=clock)


@pytest.fixture
async def clock() -> AsyncIterator[Clock]:
    yield Clock()


async def test_rows_stored_claimed_are_held_and_the_poller_takes_only_the_others(
        app: App, clock: Clock) -> None:
    sessions = app.engine.sessionmaker
    inbox = _inbox(app, Worker(), clock)
    async with sessions() as db, db.begin():
        stored = await queue.store(db, ['"a"', '"b"'])
        held = await queue.store(db, ['"c"'], inbox.consumer.claimed())
    inbox.consumer.hold(item[0] for item in held)
    assert [item[1:] for item in stored + held] == [(0, '"a"'), (0, '"b"'), (1, '"c"')]
    other = _inbox(app, Worker(), clock)
    async with sessions() as db, db.begin():
        claimed = await queue.claim(db, other.consumer, 10)
    assert claimed == [(row_id, 1, body) for row_id, _, body in stored]  # "c" is held
    async with sessions() as db, db.begin():
        assert await queue.claim(db, inbox.consumer, 10) == []
    # Renewed by their holders, no lease runs out.
    clock.advance(LEASE * 2 / 3)
    await inbox.consumer.renew()
    await other.consumer.renew()
    clock.advance(LEASE * 2 / 3)
    async with sessions() as db, db.begin():
        assert await queue.claim(db, inbox.consumer, 10) == []
        assert await queue.claim(db, other.consumer, 10) == []
    assert [row[1:3] for row in await _rows(app)] == [("working", 1)] * 3


async def test_a_dead_process_s_rows_are_taken_over_after_the_lease(
        app: App, clock: Clock) -> None:
    sessions = app.engine.sessionmaker
    dead, alive = Worker(), Worker()
    crashed = _inbox(app, dead, clock)
    async with sessions() as db, db.begin():
        [(row_id, _, _)] = await queue.store(db, ['{"n": 1}'], crashed.consumer.claimed())
    crashed.consumer.hold([row_id])  # and then the process dies: no renewal, no release
    survivor = _inbox(app, alive, clock)
    await survivor.drain(1)
    assert alive.seen == []
    clock.advance(LEASE + timedelta(seconds=1))
    await survivor.drain(1)
    assert alive.seen == [(row_id, {"n": 1})]
    assert await _rows(app) == [(row_id, "done", 2, "")]


async def test_a_failing_row_is_retried_after_a_backoff_and_given_up_after_five_attempts(
        app: App, clock: Clock) -> None:
    worker = Worker()
    worker.failing = True
    inbox = _inbox(app, worker, clock)
    async with app.engine.sessionmaker() as db, db.begin():
        [(row_id, _, _)] = await queue.store(db, ['"poison"'])
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        await inbox.drain(1)
        assert len(worker.seen) == attempt
        await inbox.drain(1)  # not again before its backoff is over
        assert len(worker.seen) == attempt
        clock.advance(queue.INBOX.backoff_after(attempt) + timedelta(seconds=1))
    await inbox.drain(1)
    assert len(worker.seen) == queue.MAX_ATTEMPTS
    async with app.engine.sessionmaker() as db:
        row = await db.get(WhatsAppInbox, row_id)
        assert row is not None
        assert (row.status, row.attempts, row.last_error) == \
            ("failed", queue.MAX_ATTEMPTS, "RuntimeError('boom')")
        assert row.lease_owner is None and row.lease_expires_at is None


async def test_a_row_whose_process_keeps_dying_is_given_up_with_its_reason(
        app: App, clock: Clock) -> None:
    sessions = app.engine.sessionmaker
    async with sessions() as db, db.begin():
        [(row_id, _, _)] = await queue.store(db, ['"deadly"'])
    for _ in range(queue.MAX_ATTEMPTS):
        dying = _inbox(app, Worker(), clock)
        async with sessions() as db, db.begin():
            assert await queue.claim(db, dying.consumer, 10) != []
        clock.advance(LEASE + timedelta(seconds=1))  # it died while handling the row
    last = _inbox(app, Worker(), clock)
    async with sessions() as db, db.begin():
        assert await queue.claim(db, last.consumer, 10) == []
    assert last.consumer.held == set()
    async with sessions() as db:
        row = await db.get(WhatsAppInbox, row_id)
        assert row is not None
        assert row.status == "failed" and row.last_error == "gave up after 5 attempts"


async def test_the_worker_runs_what_is_handed_over_without_a_claiming_query(
        app: App, clock: Clock) -> None:
    worker = Worker()
    inbox = _inbox(app, worker, clock, poll_interval=3600)
    claims: list[int] = []
    claim = inbox.consumer.claim

    async def counted(*args: Any) -> Any:
        rows = await claim(*args)
        claims.append(len(rows))
        return rows

    inbox.consumer.claim = counted  # type: ignore[method-assign]
    await inbox.start()
    try:
        for _ in range(100):
            if claims:
                break
            await asyncio.sleep(0.01)
        assert claims == [0]  # the poller's first look, before anything was stored
        await inbox._store('{"n": 1}')
        for _ in range(200):
            if worker.seen and not inbox.consumer.held:
                break
            await asyncio.sleep(0.01)
        assert [body for _, body in worker.seen] == [{"n": 1}]
        assert inbox.consumer.held == set()
        assert claims == [0]
    finally:
        await inbox.stop()
    assert [row[1:] for row in await _rows(app)] == [("done", 1, "")]
    # Stored while no worker runs: left for a poller, not claimed.
    await inbox._store('{"n": 2}')
    assert [row[1:] for row in await _rows(app)] == [("done", 1, ""), ("new", 0, '{"n": 2}')]


async def test_finished_rows_lose_their_bodies_and_are_purged_later(
        app: App, clock: Clock) -> None:
    sessions = app.engine.sessionmaker
    inbox = _inbox(app, Worker(), clock)
    async with sessions() as db, db.begin():
        [(done_id, _, _), (open_id, _, _)] = await queue.store(
            db, ["x", "y"], inbox.consumer.claimed())
    async with sessions() as db, db.begin():
        await queue.finish(db, done_id)
    assert await _rows(app) == [(done_id, "done", 1, ""), (open_id, "working", 1, "y")]
    async with sessions() as db, db.begin():
        await queue.purge(db, timedelta(days=14))
    assert len(await _rows(app)) == 2  # not old enough
    async with sessions() as db, db.begin():
        await queue.purge(db, timedelta(seconds=-1))
    assert await _rows(app) == [(open_id, "working", 1, "y")]
