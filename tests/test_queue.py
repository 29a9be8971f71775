"""The durable queue (`bot.db.queue`) on a table of its own, on SQLite and PostgreSQL:
exclusive claims, leases taken over and renewed, retries with backoff, giving up,
release on stop, rows written already claimed; and the dialect helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot import clock
from bot.db.dialect import insert_for, is_postgresql, skip_locked
from bot.db.engine import create_engine, session_factory
from bot.db.models import ID_TYPE, QueueColumns
from bot.db.queue import Consumer, Queue


class JobBase(DeclarativeBase):
    pass


class Job(QueueColumns, JobBase):
    __tablename__ = "queue_test_jobs"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    name: Mapped[str] = mapped_column(String(32))


JOBS: Queue[Job] = Queue(Job, pending="pending", claimed="working", failed="failed",
                         max_attempts=3, backoff=timedelta(seconds=10))


@dataclass
class Db:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(JobBase.metadata.create_all)
    try:
        yield Db(engine, session_factory(engine))
    finally:
        await engine.dispose()


async def add_jobs(db: Db, count: int, **values: Any) -> list[int]:
    async with db.sessionmaker() as session, session.begin():
        jobs = [Job(name=f"job {number}", **values) for number in range(count)]
        session.add_all(jobs)
        await session.flush()
        return [job.id for job in jobs]


async def jobs(db: Db) -> dict[int, Job]:
    async with db.sessionmaker() as session:
        return {job.id: job for job in (await session.execute(select(Job))).scalars()}


async def claim(db: Db, owner: str, now: datetime, limit: int = 10,
                queue: Queue[Job] = JOBS) -> list[int]:
    async with db.sessionmaker() as session, session.begin():
        return [row[0] for row in await queue.claim(session, owner, now, limit)]


async def test_two_claimers_on_separate_connections_never_take_the_same_row(
        db: Db, database_url: str) -> None:
    ids = await add_jobs(db, 120)
    names = {job_id: f"job {number}" for number, job_id in enumerate(ids)}
    other = create_engine(database_url)  # a second pool: another connection for sure
    makers = {"a": db.sessionmaker, "b": session_factory(other)}
    now = clock.now()

    async def claimer(owner: str) -> list[int]:
        taken: list[int] = []
        while True:
            async with makers[owner]() as session, session.begin():
                rows = await JOBS.claim(session, owner, now, 7, Job.name)
                await asyncio.sleep(0.005)  # hold the claim's locks a moment
            if not rows:
                return taken
            assert all(row[2] == names[row[0]] for row in rows)  # the columns asked for
            taken += [row[0] for row in rows]

    try:
        one, two = await asyncio.gather(claimer("a"), claimer("b"))
    finally:
        await other.dispose()
    assert sorted(one + two) == ids
    assert not set(one) & set(two)
    stored = await jobs(db)
    assert {job.attempts for job in stored.values()} == {1}
    assert {job.lease_owner for job_id, job in stored.items() if job_id in one} <= {"a"}


async def test_an_expired_lease_is_taken_over_by_another_owner_only(db: Db) -> None:
    [job_id] = await add_jobs(db, 1)
    now = clock.now()
    assert await claim(db, "dead", now) == [job_id]
    assert await claim(db, "alive", now + timedelta(seconds=5)) == []
    # The owner itself never takes its own row again: it still holds it.
    assert await claim(db, "dead", now + timedelta(seconds=20)) == []
    assert await claim(db, "alive", now + timedelta(seconds=11)) == [job_id]
    job = (await jobs(db))[job_id]
    assert (job.status, job.attempts, job.lease_owner) == ("working", 2, "alive")
    assert job.lease_expires_at == now + timedelta(seconds=21)


async def test_a_held_lease_is_renewed_while_the_work_runs(db: Db) -> None:
    ids = await add_jobs(db, 3)
    short = replace(JOBS, lease=timedelta(seconds=1))  # renewed every third of a second
    async with Consumer(short, db.sessionmaker, "worker") as consumer:
        async with db.sessionmaker() as session, session.begin():
            assert [row[0] for row in await consumer.claim(session, 10)] == ids
        assert consumer.held == set(ids)
        for _ in range(5):  # well past the lease: the heartbeat keeps it
            await asyncio.sleep(0.5)
            assert await claim(db, "other", clock.now(), queue=short) == []
        async with db.sessionmaker() as session, session.begin():
            await short.finish(session, ids[:1], "done")
        consumer.drop(ids[:1])
        assert consumer.held == set(ids[1:])
    # Leaving releases what is still held: pending again, the attempt not counted.
    stored = await jobs(db)
    assert stored[ids[0]].status == "done" and stored[ids[0]].lease_owner is None
    assert [(stored[i].status, stored[i].attempts, stored[i].lease_owner) for i in ids[1:]] \
        == [("pending", 0, None)] * 2
    assert await claim(db, "other", clock.now(), queue=short) == ids[1:]


async def test_a_dead_consumers_rows_are_taken_over_within_one_lease(db: Db) -> None:
    ids = await add_jobs(db, 2)
    short = replace(JOBS, lease=timedelta(seconds=0.3))
    dead = Consumer(short, db.sessionmaker, "dead")  # never renews: its process is gone
    async with db.sessionmaker() as session, session.begin():
        await dead.claim(session, 10)
    assert await claim(db, "alive", clock.now(), queue=short) == []
    await asyncio.sleep(0.4)
    assert await claim(db, "alive", clock.now(), queue=short) == ids


async def test_retries_back_off_and_give_up_after_max_attempts_with_the_reason(
        db: Db) -> None:
    [job_id] = await add_jobs(db, 1)
    now = clock.now()
    waits = []
    for attempt in (1, 2, 3):
        [claimed] = await claim(db, "w", now)
        assert claimed == job_id
        async with db.sessionmaker() as session, session.begin():
            gave_up = await JOBS.retry(session, [(job_id, attempt, f"timeout {attempt}")], now,
                                       gave_up=None if attempt < 3 else "gave up after retries")
        job = (await jobs(db))[job_id]
        if attempt < 3:
            assert gave_up == []
            assert (job.status, job.last_error) == ("pending", f"timeout {attempt}")
            assert job.next_attempt_at is not None and job.lease_owner is None
            waits.append(job.next_attempt_at - now)
            assert await claim(db, "w", job.next_attempt_at - timedelta(seconds=1)) == []
            now = job.next_attempt_at
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]
    assert gave_up == [job_id]
    assert (job.status, job.attempts, job.last_error) == ("failed", 3, "gave up after retries")
    assert await claim(db, "w", now + timedelta(days=1)) == []


async def test_give_up_and_finish_record_their_reason_and_values(db: Db) -> None:
    ids = await add_jobs(db, 4)
    now = clock.now()
    assert await claim(db, "w", now, limit=3) == ids[:3]
    async with db.sessionmaker() as session, session.begin():
        await JOBS.give_up(session, [(ids[0], "x" * 900)])
        await JOBS.finish(session, [{"id": ids[1], "name": "renamed"}], "done", last_error=None)
        await JOBS.finish(session, [ids[2], ids[3]], "done")  # the fourth was never claimed
    stored = await jobs(db)
    assert stored[ids[0]].status == "failed" and stored[ids[0]].last_error == "x" * 500
    assert (stored[ids[1]].status, stored[ids[1]].name) == ("done", "renamed")
    assert stored[ids[2]].status == "done" and stored[ids[2]].lease_expires_at is None
    assert stored[ids[3]].status == "pending"


async def test_rows_written_already_claimed_are_handed_over_without_a_claim(db: Db) -> None:
    """The shape of a webhook inbox: the process that stores a row handles it itself;
    the poller (any process) takes only what nobody holds."""
    short = replace(JOBS, lease=timedelta(seconds=1))
    async with Consumer(short, db.sessionmaker, "webhook") as consumer:
        async with db.sessionmaker() as session, session.begin():
            job = Job(name="delivery", **consumer.claimed())
            session.add(job)
            await session.flush()
            consumer.hold([job.id])
        await add_jobs(db, 1)  # stored while no worker ran
        await asyncio.sleep(1.5)  # past the first lease: renewed meanwhile
        # A poller elsewhere takes the unclaimed row, not the held one.
        polled = await claim(db, "poller", clock.now(), queue=short)
        assert job.id not in polled and len(polled) == 1
        async with db.sessionmaker() as session, session.begin():
            await short.finish(session, [job.id], "done")
    assert (await jobs(db))[job.id].status == "done"


async def test_stopping_with_an_error_releases_the_held_rows(db: Db) -> None:
    ids = await add_jobs(db, 3)
    with pytest.raises(asyncio.CancelledError):
        async with Consumer(JOBS, db.sessionmaker, "stopping") as consumer:
            async with db.sessionmaker() as session, session.begin():
                await consumer.claim(session, 10)
            raise asyncio.CancelledError  # shutdown while the rows wait
    stored = await jobs(db)
    assert {(job.status, job.attempts, job.lease_owner) for job in stored.values()} == {
        ("pending", 0, None)}
    assert await claim(db, "next", clock.now()) == ids


async def test_the_dialect_helpers(db: Db) -> None:
    [first] = await add_jobs(db, 1)
    async with db.sessionmaker() as session:
        postgres = is_postgresql(session)
        assert postgres == (db.engine.dialect.name == "postgresql")
        assert insert_for(session) is (postgresql.insert if postgres else sqlite.insert)
        query = skip_locked(session, select(Job.id), of=Job)
        sql = str(query.compile(dialect=db.engine.dialect))
        assert ("FOR UPDATE OF queue_test_jobs SKIP LOCKED" in sql) == postgres
        assert "FOR UPDATE" in sql or not postgres
        # An upsert that skips a duplicate, on either database.
        async with session.begin():
            await session.execute(insert_for(session)(Job).values(id=first, name="dup")
                                  .on_conflict_do_nothing())
            names = (await session.execute(select(Job.name))).scalars().all()
        assert names == ["job 0"]
    async with db.engine.connect() as connection:  # a connection answers the same
        assert is_postgresql(connection) == postgres
        assert insert_for(connection) is insert_for(session)
