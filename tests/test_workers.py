"""Several processes on one database, in one process: the leader's lease, the SQLite
lock, the singleton jobs. (tests/test_workers_processes.py starts real processes.)"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import now
from bot.db.leader import AlreadyRunning, Leadership, Lease, SingleProcessLock
from bot.runner import SINGLETONS, guarded, leader_only, make_scheduler


async def test_one_owner_holds_the_lease_until_it_expires_or_is_released(app: App) -> None:
    maker = app.engine.sessionmaker
    clock = [now()]
    first = Lease(maker, "a", ttl=timedelta(seconds=9), clock=lambda: clock[0])
    second = Lease(maker, "b", ttl=timedelta(seconds=9), clock=lambda: clock[0])
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.acquire()  # renewed
    clock[0] += timedelta(seconds=8)
    assert not await second.acquire()
    assert await first.acquire()  # renewed at +8 s: good until +17 s
    clock[0] += timedelta(seconds=10)
    assert await second.acquire()  # expired: taken over
    assert not await first.acquire()
    assert await second.holder() == "b"
    await second.release()
    assert await first.holder() is None
    assert await first.acquire()


async def test_leadership_moves_to_the_other_process_when_the_leader_stops(app: App) -> None:
    maker = app.engine.sessionmaker
    events: list[str] = []

    def leadership(name: str) -> Leadership:
        async def gain() -> None:
            events.append(f"{name}+")

        async def lose() -> None:
            events.append(f"{name}-")

        return Leadership(Lease(maker, name, ttl=timedelta(seconds=0.6)), gain, lose)

    a, b = leadership("a"), leadership("b")
    await a.start()
    await b.start()
    try:
        await asyncio.sleep(0.5)
        assert (a.leading, b.leading) == (True, False)
        await a.stop()  # releases: b leads at its next try
        for _ in range(40):
            if b.leading:
                break
            await asyncio.sleep(0.05)
        assert b.leading
        assert events == ["a+", "a-", "b+"]
    finally:
        await b.stop()


async def test_a_leader_that_cannot_renew_steps_down_before_its_lease_ends(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    maker = app.engine.sessionmaker
    lease = Lease(maker, "a", ttl=timedelta(seconds=0.6))
    lost = asyncio.Event()
    lost_at: list[float] = []

    async def nothing() -> None:
        pass

    async def lose() -> None:
        lost_at.append(time.monotonic())
        lost.set()

    leadership = Leadership(lease, nothing, lose)
    await leadership.start()
    assert leadership.leading
    renewed = leadership._renewed

    async def broken() -> bool:
        raise ConnectionRefusedError("database gone")

    monkeypatch.setattr(lease, "acquire", broken)
    await asyncio.wait_for(lost.wait(), 2)
    # Stepped down while the lease it took last was still running.
    assert lost_at[0] - renewed < 0.6
    assert not leadership.leading
    await leadership.stop()


def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    first = SingleProcessLock(url)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match="SQLite serves one process"):
            SingleProcessLock(url).acquire()
    finally:
        first.release()
    again = SingleProcessLock(url)
    again.acquire()  # free once the first one stopped
    again.release()
    SingleProcessLock("postgresql+asyncpg://x@localhost/y").acquire()  # nothing to lock


async def test_singleton_jobs_run_in_the_leader_only(app: App) -> None:
    ran: list[int] = []

    async def job() -> None:
        ran.append(1)

    leading = [False]
    wrapped = leader_only(lambda: leading[0], job)
    await wrapped()
    leading[0] = True
    await wrapped()
    assert ran == [1]
    scheduler = make_scheduler(app, app.engine.notifier, "w", lambda: False)
    names = {job.id for job in scheduler.get_jobs()}
    assert {"reminders", "purge_forum_data", "expire_sessions"} <= names
    assert "reminders" not in SINGLETONS and "purge_forum_data" in SINGLETONS


async def test_a_job_cancelled_as_the_process_stops_ends_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    started = asyncio.Event()

    async def waits_for_its_due_time() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(guarded("reminders", waits_for_its_due_time)())
    await started.wait()
    task.cancel()
    with caplog.at_level("INFO", logger="bot.runner"):
        assert await task is None  # not raised: the scheduler logs no failure
    assert "job reminders stopped with the process" in caplog.text
    assert not any(record.levelname == "ERROR" for record in caplog.records)
