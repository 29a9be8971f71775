"""Broadcast benchmark: the real sender, in its own process, against a strict fake Bot API.

    python -m bench.broadcast            # as the issue says: 20,000 recipients at 30/s (~25 min)
    python -m bench.broadcast --quick    # 2,000 recipients at 30/s for the first two runs (~5 min)

Runs (each on a fresh temporary SQLite database, or `--database-url` PostgreSQL):

1. N recipients at 30 messages/s allowed (1/s per chat, 429 + retry_after beyond,
   403 for 2 % of the chats): achieved / allowed rate, messages sent twice, recipients
   never attempted, blocked users marked against the 403 set;
2. the same, with the sender killed (SIGKILL) halfway and started again: duplicates
   (at most the rows sent but not yet recorded at the kill), none lost;
3. 20,000 recipients at 1,000 messages/s allowed: where the engine becomes the limit;
4. 100,000 recipients at 1,000/s: the sender's peak resident memory against run 3's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.fake_bot_api import FakeBotAPI, blocked
from bot import clock
from bot.db.models import Base, Broadcast, BroadcastDelivery, User
from bot.services import broadcasts

FIRST_CHAT = 1_000_000  # chat ids FIRST_CHAT + i: every 50th (2 %) answers 403
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    recipients: int
    allowed: float
    achieved: float
    seconds: float
    duplicates: int
    never_attempted: int
    blocked_expected: int
    blocked_marked: int
    blocked_match: bool
    too_many: int
    peak_rss_mb: float | None
    imports_mb: float | None
    kill: dict[str, Any] | None = None


async def prepare(url: str, recipients: int, create: bool = True) -> None:
    """`recipients` Telegram users and an announcement to them all, started now (the
    tables made here, or, `create=False`, by the migrations already)."""
    engine = create_async_engine(url)
    if create:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = clock.now()
    async with maker() as db, db.begin():
        for start in range(0, recipients, 5000):
            await db.execute(insert(User), [
                {"channel": "telegram", "external_id": str(FIRST_CHAT + i), "language": "kk",
                 "created_at": now, "last_seen_at": now}
                for i in range(start, min(recipients, start + 5000))])
    async with maker() as db, db.begin():
        broadcast = await broadcasts.create(
            db, created_by=None, texts={"*": "Отандастар қорының жаңалығы: форум 1 желтоқсанда."},
            audience={})
        await broadcasts.schedule(db, broadcast.id, now)
        await broadcasts.start_due(db, now, "kk")
    await engine.dispose()


async def spawn(url: str, api: FakeBotAPI, rate: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.broadcast_worker", "--database-url", url,
        "--api-url", api.url, "--rate", str(rate), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)


async def finish(process: asyncio.subprocess.Process) -> tuple[float | None, float | None]:
    """The worker's peak resident memory, and what its imports alone took."""
    out, _ = await process.communicate()
    for line in out.decode().splitlines()[::-1]:
        if line.startswith("{"):
            numbers = json.loads(line)
            return float(numbers["peak_rss_mb"]), float(numbers["imports_mb"])
    return None, None


async def run(url: str, recipients: int, rate: float, sender_rate: float,
              kill_at: float | None = None) -> Result:
    api = FakeBotAPI(rate)
    await api.start()
    await prepare(url, recipients)
    engine = create_async_engine(url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    kill: dict[str, Any] | None = None
    try:
        process = await spawn(url, api, sender_rate)
        if kill_at is not None:
            halfway = recipients * kill_at

            def tried() -> int:
                return sum(api.delivered.values()) + sum(api.forbidden.values())

            while tried() < halfway and process.returncode is None:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            await process.wait()
            async with maker() as db:
                sending = [chat for chat, in (await db.execute(
                    select(BroadcastDelivery.external_id)
                    .where(BroadcastDelivery.status == "sending"))).all()]
            sent_unrecorded = sum(1 for chat in sending if chat is not None and (
                api.delivered[int(chat)] or api.forbidden[int(chat)]))
            kill = {"claimed_at_kill": len(sending), "sent_not_recorded": sent_unrecorded,
                    "attempted_at_kill": len(set(api.delivered) | set(api.forbidden))}
            process = await spawn(url, api, sender_rate)
        peak, imports = await finish(process)
        async with maker() as db:
            marked = {int(chat) for chat, in (await db.execute(
                select(User.external_id).where(User.unreachable_since.is_not(None)))).all()}
            done = (await db.execute(select(func.count()).select_from(Broadcast)
                                     .where(Broadcast.status == "done"))).scalar_one()
        assert done == 1, "the broadcast did not finish"
    finally:
        await engine.dispose()
        await api.close()
    chats = {FIRST_CHAT + i for i in range(recipients)}
    expected = {chat for chat in chats if blocked(chat)}
    attempted = set(api.delivered) | set(api.forbidden)
    times = api.accepted_times
    seconds = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / seconds if seconds else 0.0
    return Result(
        recipients=recipients, allowed=rate, achieved=achieved, seconds=seconds,
        duplicates=sum(count - 1 for count in api.delivered.values() if count > 1)
        + sum(count - 1 for count in api.forbidden.values() if count > 1),
        never_attempted=len(chats - attempted), blocked_expected=len(expected),
        blocked_marked=len(marked), blocked_match=marked == expected, too_many=api.too_many,
        peak_rss_mb=peak, imports_mb=imports, kill=kill)


class Database:
    """A fresh database per run: a temporary SQLite file, or a PostgreSQL database."""

    def __init__(self, postgres: str | None) -> None:
        self.postgres = postgres
        self.directory = tempfile.TemporaryDirectory(prefix="bench-broadcast-")

    async def __call__(self, name: str) -> str:
        if not self.postgres:
            return f"sqlite+aiosqlite:///{Path(self.directory.name) / name}.db"
        base = make_url(self.postgres)
        database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{database}"'))
        await admin.dispose()
        return base.set(database=database).render_as_string(hide_password=False)


def show(title: str, result: Result, target_ratio: float | None = 0.95) -> None:
    ratio = result.achieved / result.allowed
    print(f"\n== {title}")
    print(f"recipients {result.recipients:,} · {result.seconds:.1f} s · 429 answers "
          f"{result.too_many} · sender peak RSS {result.peak_rss_mb} MB "
          f"({result.imports_mb} MB after its imports)")
    mark = "" if target_ratio is None else \
        f"  ({'PASS' if ratio >= target_ratio else 'MISS'}, target ≥ {target_ratio})"
    print(f"achieved rate {result.achieved:.1f}/s of {result.allowed:.0f}/s allowed: "
          f"ratio {ratio:.3f}{mark}")
    print(f"messages sent twice: {result.duplicates}    recipients never attempted: "
          f"{result.never_attempted}")
    print(f"blocked users marked: {result.blocked_marked} of {result.blocked_expected} "
          f"answered 403 ({'equal sets' if result.blocked_match else 'SETS DIFFER'})")
    if result.kill:
        k = result.kill
        print(f"killed (SIGKILL) after {k['attempted_at_kill']:,} attempted; rows claimed at "
              f"the kill {k['claimed_at_kill']}, of them already sent but not recorded "
              f"{k['sent_not_recorded']} (the most that may go twice)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 recipients for the two runs at 30/s")
    parser.add_argument("--recipients", type=int, default=None)
    parser.add_argument("--rate", type=float, default=30.0, help="allowed messages/s")
    parser.add_argument("--fast-rate", type=float, default=1000.0)
    parser.add_argument("--fast-recipients", type=int, default=20_000)
    parser.add_argument("--memory-recipients", type=int, default=100_000)
    parser.add_argument("--headroom", type=float, default=0.99,
                        help="BROADCAST_RATE as a share of the allowed rate")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_POSTGRES_URL"),
                        help="a PostgreSQL URL; each run creates its own database")
    parser.add_argument("--skip", default="", help="comma-separated runs to skip: 1,2,3,4")
    args = parser.parse_args()
    recipients = args.recipients or (2_000 if args.quick else 20_000)
    skip = set(args.skip.split(","))
    database = Database(args.database_url)
    print(f"broadcast benchmark: {recipients:,} recipients at {args.rate:.0f}/s allowed, "
          f"sender BROADCAST_RATE {args.rate * args.headroom:.1f}; "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}; load {os.getloadavg()[0]:.2f}")
    started = time.monotonic()
    fast: Result | None = None
    if "1" not in skip:
        show("1. rate limits kept", await run(await database("one"), recipients, args.rate,
                                              args.rate * args.headroom))
    if "2" not in skip:
        show("2. killed halfway and restarted",
             await run(await database("two"), recipients, args.rate,
                       args.rate * args.headroom, kill_at=0.5), target_ratio=None)
    if "3" not in skip:
        fast = await run(await database("three"), args.fast_recipients, args.fast_rate,
                         args.fast_rate)
        show(f"3. {args.fast_rate:.0f} messages/s allowed: the engine's own limit", fast, None)
    if "4" not in skip:
        memory = await run(await database("four"), args.memory_recipients, args.fast_rate,
                           args.fast_rate)
        show(f"4. memory with {args.memory_recipients:,} recipients", memory, None)
        if fast is not None:
            print(f"peak RSS: {fast.peak_rss_mb} MB at {fast.recipients:,} recipients, "
                  f"{memory.peak_rss_mb} MB at {memory.recipients:,}")
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
