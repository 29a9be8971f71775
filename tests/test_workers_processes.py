"""Several `python -m bot run` processes on one PostgreSQL database, started by the test
against the fake Bot API: the leader's takeover, SIGTERM, the single-process SQLite.
The PostgreSQL tests are skipped without TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.models import WorkerLease
from tests.conftest import POSTGRES_URL
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_harness import TOKEN, free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="TEST_POSTGRES_URL is not set")


async def start_bot(database_url: str, api: FakeTelegramAPI, cwd: Path,
                    **env: str) -> asyncio.subprocess.Process:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("BOT_", "TELEGRAM_", "WHATSAPP_", "REDIS_"))}
    environment.update({"DATABASE_URL": database_url, "BOT_TOKEN": TOKEN,
                        "TELEGRAM_API_URL": api.url, "HTTP_PORT": str(free_port()),
                        "LOG_LEVEL": "INFO", "PYTHONPATH": str(PROJECT_DIR), **env})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=cwd, env=environment,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)


async def stop_all(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def leader_pid(database_url: str) -> int | None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            owner = (await connection.execute(select(WorkerLease.owner).where(
                WorkerLease.name == "leader"))).scalar_one_or_none()
    except Exception:  # not migrated yet
        return None
    finally:
        await engine.dispose()
    return int(owner.split(":")[-1].split("/")[0]) if owner else None


async def wait_for(probe, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    return None


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN) as fake:
        yield fake


@pytest.fixture
async def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes need PostgreSQL")
    return database_url


@needs_postgres
async def test_the_leader_is_taken_over_within_15_s_and_sigterm_exits_within_10_s(
        postgres_url: str, api: FakeTelegramAPI, tmp_path: Path) -> None:
    processes = [await start_bot(postgres_url, api, tmp_path) for _ in range(2)]
    try:
        first = await wait_for(lambda: leader_pid(postgres_url), 60)
        assert first in {process.pid for process in processes}
        await asyncio.sleep(1)  # the other one is up and trying too
        assert await leader_pid(postgres_url) == first
        leader = next(process for process in processes if process.pid == first)
        other = next(process for process in processes if process.pid != first)
        polls = len(api.calls_to("getUpdates"))
        leader.kill()  # SIGKILL: no release, the lease must expire
        killed_at = time.monotonic()
        await leader.wait()

        async def taken_over() -> bool:
            return await leader_pid(postgres_url) == other.pid

        assert await wait_for(taken_over, 20)
        took = time.monotonic() - killed_at
        assert took <= 15, f"takeover took {took:.1f} s"
        # The new leader polls.
        assert await wait_for(
            lambda: asyncio.sleep(0, len(api.calls_to("getUpdates")) > polls), 10)

        other.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        _, errors = await asyncio.wait_for(other.communicate(), 15)
        took = time.monotonic() - asked
        assert other.returncode == 0, errors.decode()[-2000:]
        assert took <= 10, f"SIGTERM to exit took {took:.1f} s"
        # A stopping leader gives the lease back.
        assert await leader_pid(postgres_url) is None
    finally:
        await stop_all(processes)


async def test_a_second_process_on_the_same_sqlite_file_says_so_and_stops(
        api: FakeTelegramAPI, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    first = await start_bot(url, api, tmp_path)
    try:
        assert await wait_for(lambda: asyncio.sleep(0, bool(api.calls_to("getUpdates"))), 60)
        second = await start_bot(url, api, tmp_path)
        _, errors = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1
        assert "SQLite serves one process" in errors.decode()
        assert first.returncode is None  # the first one serves on
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), 15)
        assert first.returncode == 0
    finally:
        await stop_all([first])


@needs_postgres
async def test_a_killed_processs_deliveries_are_finished_by_the_other_none_twice(
        tmp_path: Path) -> None:
    from bench.scale import Database, run

    database = Database(POSTGRES_URL)
    try:
        # Two whole bot processes on an announcement to 400 (a strict fake Bot API at
        # 100/s); one SIGKILLed at 30 %: its claims are taken over within 15 s.
        result = await run(database, 400, 2, 100.0, 0.9, None, (0.3,), tmp_path)
    finally:
        await database.drop_all()
    assert result.never_attempted == 0
    [kill] = result.kills
    assert result.duplicates <= kill["in_flight_everywhere"]
    assert result.blocked_match
    # What the survivor needs alone (at 90/s) plus the takeover's 15 s, with margin.
    assert result.seconds <= 400 / 90 + 15 + 10


@needs_postgres
async def test_sigterm_mid_announcement_gives_back_its_rows_and_exits_within_10_s(
        tmp_path: Path) -> None:
    from bench.scale import Database, run

    database = Database(POSTGRES_URL)
    try:
        result = await run(database, 300, 2, 100.0, 0.9, None, (0.3,), tmp_path,
                           how=signal.SIGTERM)
    finally:
        await database.drop_all()
    [stop] = result.kills
    assert stop["exit_code"] == 0
    assert stop["exit_s"] <= 10
    assert result.never_attempted == 0 and result.duplicates == 0
    # Given back, not left to expire: no 15 s takeover in the time taken.
    assert result.seconds <= 300 / 90 + 10


@needs_postgres
async def test_two_processes_handle_one_user_s_waiting_deliveries_in_meta_s_order(
        postgres_url: str, api: FakeTelegramAPI, tmp_path: Path) -> None:
    """Deliveries waiting in the inbox (stored by processes that stopped), each user's
    stored out of order: two processes claiming side by side start each user's in the
    order of Meta's timestamps."""
    import random

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from bench.scale import migrate
    from bot.channels import whatsapp_inbox_queue as queue
    from bot.core.engine import update_key
    from bot.db.models import WhatsAppInbox, WhatsAppProcessed
    from tests.fakes.graph_api import FakeGraphAPI, WhatsAppUser, encode

    await migrate(postgres_url)
    users = [WhatsAppUser(f"7701000{number:04d}", None) for number in range(6)]
    sent: dict[str, int] = {}  # wamid -> Meta's timestamp
    bodies: list[str] = []
    for user in users:
        for step, text in enumerate(("Сәлем", "/menu", "/help", "/menu")):
            delivery = user.text(text)
            message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
            message["timestamp"] = str(1_700_000_000 + step)
            sent[message["id"]] = 1_700_000_000 + step
            bodies.append(encode(delivery).decode())
    random.Random(15).shuffle(bodies)
    engine = create_async_engine(postgres_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as db, db.begin():
            await queue.store(db, bodies)
        async with FakeGraphAPI() as graph:
            whatsapp = {"WHATSAPP_TOKEN": graph.token,
                        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
                        "WHATSAPP_APP_SECRET": "order-secret",
                        "WHATSAPP_VERIFY_TOKEN": "order-verify",
                        "WHATSAPP_API_URL": graph.url,
                        "WHATSAPP_API_VERSION": graph.version}
            processes = [await start_bot(postgres_url, api, tmp_path, **whatsapp)
                         for _ in range(2)]
            try:
                async def all_done() -> bool:
                    async with sessions() as db:
                        statuses = (await db.execute(select(WhatsAppInbox.status))).scalars()
                        return all(status == "done" for status in statuses)

                assert await wait_for(all_done, 120)
            finally:
                await stop_all(processes)
        async with sessions() as db:
            started = dict((await db.execute(
                select(WhatsAppProcessed.key, WhatsAppProcessed.created_at))).all())
    finally:
        await engine.dispose()
    for user in users:
        mine = sorted((wamid for wamid in sent if wamid in _wamids_of(bodies, user.wa_id)),
                      key=lambda wamid: started[update_key("whatsapp", f"m:{wamid}")])
        assert [sent[wamid] for wamid in mine] == sorted(sent[wamid] for wamid in mine)


def _wamids_of(bodies: list[str], wa_id: str | None) -> set[str]:
    import json

    found = set()
    for body in bodies:
        message = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
        if message["from"] == wa_id:
            found.add(message["id"])
    return found
