"""Several bot processes on one PostgreSQL: an announcement against a strict fake Bot API.

    python -m bench.scale --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python -m bench.scale --recipients 3000          # smaller (20,000 at 30/s: ~12 min a run)
    python -m bench.scale --redis-url redis://127.0.0.1:6379/0   # the limit in Redis

`--processes` (3) whole `python -m bot run` processes, started here, share one database
(each run a fresh one, dropped after) and one limit (Redis with `--redis-url`, else
PostgreSQL's table). The fake Bot API (bench/fake_bot_api.py) allows 30 messages/s in
any sliding second and 1/s per chat, answers 429 beyond (every 429 is one we caused)
and 403 for 2 % of the chats. Runs:

1. an announcement to N recipients: achieved ÷ allowed rate (target ≥ 0.95), 429s
   (target 0), messages sent twice (0), recipients never attempted (0);
2. the same with one process SIGKILLed at 30 % and another at 60 %: none lost,
   duplicates at most the requests in flight at the kills, and the time taken against
   what the survivors need plus 15 s (the takeover).

The baseline of each ratio is the limit itself, in the same run: the fake's count of
accepted requests per second against the 30/s it allows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.broadcast import FIRST_CHAT, prepare
from bench.fake_bot_api import FakeBotAPI, blocked
from bot.db.models import Broadcast, BroadcastDelivery, User
from bot.db.shared_limit import budget_for

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH"
# How many nice steps the fake runs ahead of the bots while it counts (`steady`).
PRIORITY = 10


def count_in_logs(logs: Path, prefix: str, words: str) -> int:
    return sum(path.read_text(errors="replace").count(words)
               for path in logs.glob(f"{prefix}-bot-*.log"))


@contextlib.contextmanager
def steady() -> Iterator[None]:
    """While this process (the fake Bot API's) counts arrivals: no garbage collection
    (a collection over its records of every request held the requests back, then
    stamped them together, a burst the senders did not cause), and, where allowed, a
    higher CPU priority than the bots, started before at the usual one. Telegram's
    servers do not share the bots' CPU: on one machine the fake stamps a request when
    its own turn on the CPU comes, and a fake kept waiting would stamp several late
    and together. The bots, PostgreSQL and Redis keep their priority."""
    gc.collect()
    gc.disable()
    usual = os.getpriority(os.PRIO_PROCESS, 0)
    raised = False
    try:
        os.setpriority(os.PRIO_PROCESS, 0, usual - PRIORITY)
        raised = True
    except PermissionError:
        print("the fake runs at the bots' priority (raising it is not allowed here)")
    try:
        yield
    finally:
        gc.enable()
        if raised:
            os.setpriority(os.PRIO_PROCESS, 0, usual)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Result:
    recipients: int
    processes: int
    allowed: float
    rate: float  # BROADCAST_RATE
    achieved: float
    seconds: float
    too_many: int
    too_many_chat: int
    duplicates: int
    never_attempted: int
    blocked_match: bool
    unknown: int  # rows taken again with an intent and no result (sent again)
    kills: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    pace: float = 1.0  # the shared bucket's pace at the end (slower after 429s)
    dropped: int = 0  # shared turns dropped as too old by the processes still running


class Database:
    def __init__(self, url: str) -> None:
        self.base = make_url(url)
        self.names: list[str] = []

    async def _admin(self, sql: str) -> None:
        admin = create_async_engine(self.base, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(sql))
        await admin.dispose()

    async def create(self) -> str:
        name = f"bench_scale_{uuid.uuid4().hex[:8]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.base.set(database=name).render_as_string(hide_password=False)

    async def drop_all(self) -> None:
        for name in self.names:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(url: str, api_url: str, rate: float, redis_url: str | None,
                prefix: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BOT_", "TELEGRAM_", "WHATSAPP_", "REDIS_"))}
    env.update({"DATABASE_URL": url, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
                "BROADCAST_RATE": str(rate), "LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT)})
    if redis_url:
        env["REDIS_URL"] = redis_url
    # Each run its own bucket: the token's bot id is the key.
    env["BOT_TOKEN"] = f"{prefix}:BENCH"
    return env


async def migrate(url: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate", cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)})
    assert await child.wait() == 0, "migrations failed"


async def start_bots(env: dict[str, str], processes: int, logs: Path, prefix: str,
                     ports: list[int] | None = None) -> list[asyncio.subprocess.Process]:
    """`processes` whole `python -m bot run` processes, each logging to a file of `logs`
    and serving HTTP on its port of `ports` (free ones when not given)."""
    bots = []
    for number in range(processes):
        log = (logs / f"{prefix}-bot-{number}.log").open("wb")
        port = ports[number] if ports is not None else free_port()
        bots.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT,
            env={**env, "HTTP_PORT": str(port)}, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log))
    return bots


async def dropped_turns(ports: list[int]) -> int:
    """Shared turns the running processes dropped as too old to use (their /metrics;
    bot.core.ratelimit.FRESH)."""
    total = 0.0
    async with ClientSession() as session:
        for port in ports:
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    for line in (await response.text()).splitlines():
                        if line.startswith("bot_rate_turns_dropped_total{"):
                            total += float(line.rsplit(" ", 1)[1])
            except ClientError:
                pass  # a process killed by the run
    return int(total)


async def stop_bots(bots: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM to the ones still running; SIGKILL to any not gone within 15 s."""
    for bot in bots:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
    for bot in bots:
        try:
            await asyncio.wait_for(bot.wait(), 15)
        except TimeoutError:
            bot.kill()
            await bot.wait()


async def run(database: Database, recipients: int, processes: int, allowed: float,
              headroom: float, redis_url: str | None, kills: tuple[float, ...],
              logs: Path, how: signal.Signals = signal.SIGKILL) -> Result:
    """`kills`: when (shares of the recipients attempted) to stop one more process,
    with `how` (SIGKILL, or SIGTERM: a graceful stop, its time to exit noted)."""
    url = await database.create()
    await migrate(url)
    await prepare(url, recipients, create=False)
    api = FakeBotAPI(allowed)
    await api.start()
    prefix = str(int(time.time() * 1000) % 10**9)
    env = environment(url, api.url, allowed * headroom, redis_url, prefix)
    engine = create_async_engine(url)
    started = time.monotonic()
    killed: list[dict[str, Any]] = []

    def tried() -> int:
        return sum(api.delivered.values()) + sum(api.forbidden.values())

    ports = [free_port() for _ in range(processes)]
    bots = await start_bots(env, processes, logs, prefix, ports)
    try:
        with steady():  # the fake counts arrivals
            pending_kills = sorted(kills)
            while True:
                await asyncio.sleep(0.05)
                if pending_kills and tried() >= recipients * pending_kills[0]:
                    victim = bots[len(killed)]
                    async with engine.connect() as connection:
                        in_flight = (await connection.execute(
                            select(func.count()).select_from(BroadcastDelivery).where(
                                BroadcastDelivery.status == "sending",
                                BroadcastDelivery.attempted_at.is_not(None),
                                BroadcastDelivery.message_id.is_(None)))).scalar_one()
                    victim.send_signal(how)
                    asked = time.monotonic()
                    await victim.wait()
                    killed.append({"at": pending_kills.pop(0), "attempted": tried(),
                                   "in_flight_everywhere": in_flight, "signal": how.name,
                                   "exit_s": round(time.monotonic() - asked, 2),
                                   "exit_code": victim.returncode,
                                   "after_s": round(time.monotonic() - started, 1)})
                async with engine.connect() as connection:
                    done = (await connection.execute(select(Broadcast.status))).scalar_one()
                if done == "done":
                    break
                if all(bot.returncode is not None for bot in bots):
                    raise RuntimeError(f"every bot process stopped: see {logs}")
        wall = time.monotonic() - started
        async with engine.connect() as connection:
            marked = {int(chat) for chat, in (await connection.execute(
                select(User.external_id).where(User.unreachable_since.is_not(None)))).all()}
        budget = budget_for(redis_url, engine)
        assert budget is not None
        pace = await budget.pace(f"telegram:{prefix}")
        await budget.close()
        dropped = await dropped_turns(ports)
    finally:
        await stop_bots(bots)
        await engine.dispose()
        await api.close()
    unknown = count_in_logs(logs, prefix, "sent again, may go twice")
    chats = {FIRST_CHAT + i for i in range(recipients)}
    attempted = set(api.delivered) | set(api.forbidden)
    times = api.accepted_times
    seconds = times[-1] - times[0] if len(times) > 1 else 0.0
    return Result(
        recipients=recipients, processes=processes, allowed=allowed, rate=allowed * headroom,
        achieved=(len(times) - 1) / seconds if seconds else 0.0, seconds=seconds,
        too_many=api.too_many, too_many_chat=api.too_many_chat,
        duplicates=sum(n - 1 for n in api.delivered.values() if n > 1)
        + sum(n - 1 for n in api.forbidden.values() if n > 1),
        never_attempted=len(chats - attempted),
        blocked_match=marked == {chat for chat in chats if blocked(chat)},
        unknown=unknown, kills=killed, wall=wall, pace=pace, dropped=dropped)


def show(title: str, result: Result, target: float | None) -> None:
    ratio = result.achieved / result.allowed
    print(f"\n== {title}")
    print(f"{result.recipients:,} recipients, {result.processes} processes · "
          f"{result.seconds:.1f} s of sending ({result.wall:.1f} s from the start) · "
          f"429 answers {result.too_many} ({result.too_many_chat} of them per chat); "
          f"the shared pace at the end {result.pace:.3f} of BROADCAST_RATE; "
          f"{result.dropped} shared turns dropped as too old")
    mark = "" if target is None else f"  ({'PASS' if ratio >= target else 'MISS'}, " \
                                     f"target ≥ {target})"
    print(f"achieved {result.achieved:.2f}/s of {result.allowed:.0f}/s allowed: "
          f"ratio {ratio:.3f}{mark}")
    print(f"sent twice {result.duplicates} · never attempted {result.never_attempted} · "
          f"taken again with an intent, sent again {result.unknown} · blocked users marked "
          f"{'= the 403 set' if result.blocked_match else 'DIFFER from the 403 set'}")
    for kill in result.kills:
        print(f"{kill['signal']} at {kill['at']:.0%} ({kill['attempted']:,} attempted, "
              f"exited in {kill['exit_s']} s, "
              f"{kill['after_s']} s): {kill['in_flight_everywhere']} rows with an intent and "
              f"no result in all processes (waiting for their turn or in flight: the "
              f"most that may go twice)")
    if result.kills:
        # The survivors send at BROADCAST_RATE: what they need for every message at
        # that rate, plus the takeover's 15 s.
        alone = result.recipients / result.rate
        need = alone + 15
        print(f"finished in {result.seconds:.1f} s of sending; the survivors need "
              f"{alone:.1f} s at BROADCAST_RATE ({result.rate:.1f}/s), plus 15 s: "
              f"{need:.1f} s ({'PASS' if result.seconds <= need else 'MISS'})")


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The command line of a bench on PostgreSQL: its database server, and Redis for
    the shared limits (else PostgreSQL's table)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=None)
    return parser


async def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=30.0, help="allowed messages/s")
    parser.add_argument("--headroom", type=float, default=0.97,
                        help="BROADCAST_RATE as a share of the allowed rate")
    parser.add_argument("--skip", default="", help="comma-separated runs to skip: 1,2")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    database = Database(args.database_url)
    logs = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    print(f"scale benchmark: {args.processes} processes, {args.recipients:,} recipients at "
          f"{args.rate:.0f}/s allowed (BROADCAST_RATE {args.rate * args.headroom:.1f}); "
          f"shared limit in {'Redis' if args.redis_url else 'PostgreSQL'}; "
          f"load {os.getloadavg()[0]:.2f}; logs in {logs}")
    started = time.monotonic()
    try:
        if "1" not in skip:
            show("1. one announcement, every process sending",
                 await run(database, args.recipients, args.processes, args.rate,
                           args.headroom, args.redis_url, (), logs), 0.95)
        if "2" not in skip:
            show("2. one process SIGKILLed at 30 %, another at 60 %",
                 await run(database, args.recipients, args.processes, args.rate,
                           args.headroom, args.redis_url, (0.3, 0.6), logs), None)
    finally:
        await database.drop_all()
    print(f"\ntotal {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
