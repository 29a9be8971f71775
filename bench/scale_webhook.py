"""Telegram webhook load spread over 1, 2 and 3 bot processes on one PostgreSQL.

    python -m bench.scale_webhook
    python -m bench.scale_webhook --rate 60 --updates 3000 --processes 1,3
    python -m bench.scale_webhook --redis-url redis://127.0.0.1:6379/0   # limits in Redis

For each N: a fresh PostgreSQL database (created here, migrated, dropped after), N whole
`python -m bot run` processes in webhook mode (bench/scale.py's harness) and the fake
Bot API of bench/telegram_webhook.py. Users do what users do (bench.telegram_webhook's
SCRIPT: /start, the menus, typed text, the eligibility questionnaire with its
checklist), one update in flight per user, at a fixed offered load (open loop), each
update posted to the next process in turn (round robin, as a reverse proxy would).

Printed for each N: the updates handled per second at that load, the CPU time of all
the bot processes together per update (utime + stime from /proc/<pid>/stat), and
p50/p99 from the POST to the reply reaching the fake API; also the processes' CPU when
idle (leases, heartbeats, pollers), measured before the load. The baseline is N = 1 in
the same run: CPU per update stays **flat** when CPU/update(N) ÷ CPU/update(1) ≤ 1.15
(PASS, else MISS), i.e. no coordination cost that grows with the number of processes.
The machine's load average is printed with the results; the process does not fail on a
missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, TCPConnector

from bench.scale import (
    Database,
    arguments,
    environment,
    free_port,
    migrate,
    start_bots,
    stop_bots,
)
from bench.telegram_webhook import (
    BOT_TOKEN,
    HOST,
    SECRET,
    WEBHOOK_PATH,
    FakeTelegram,
    Load,
    OpenLoop,
    Result,
    _proc_cpu,
)

FLAT = 1.15  # CPU per update with N processes at most this times one process's
IDLE_SECONDS = 5.0


class Cluster:
    """N `python -m bot run` processes behind one round-robin: each `url` asked for is
    the next process's webhook."""

    name = "bot"
    token = BOT_TOKEN

    def __init__(self, count: int, database_url: str, api_base: str, redis_url: str | None,
                 logs: Path) -> None:
        self.count = count
        self.database_url = database_url
        self.api_base = api_base
        self.redis_url = redis_url
        self.logs = logs
        self.processes: list[asyncio.subprocess.Process] = []
        self.ports: list[int] = []
        self._turn: itertools.cycle[str] = itertools.cycle([])

    @property
    def url(self) -> str:
        return next(self._turn)

    def cpu(self) -> float:
        """CPU seconds of all the bot processes so far."""
        return sum(_proc_cpu(process.pid) for process in self.processes)

    async def start(self) -> None:
        # The processes' own cost is measured, not Telegram's ~30 messages/s.
        env = environment(self.database_url, self.api_base, 1_000_000, self.redis_url,
                          f"n{self.count}")
        env.update({"BOT_TOKEN": BOT_TOKEN, "TELEGRAM_MODE": "webhook",
                    "TELEGRAM_WEBHOOK_URL": "https://bench.invalid" + WEBHOOK_PATH,
                    "TELEGRAM_WEBHOOK_SECRET": SECRET, "HTTP_HOST": HOST})
        self.ports = [free_port() for _ in range(self.count)]
        self.processes = await start_bots(env, self.count, self.logs, f"n{self.count}",
                                          self.ports)
        self._turn = itertools.cycle(
            [f"http://{HOST}:{port}{WEBHOOK_PATH}" for port in self.ports])
        await self._ready()

    async def _ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        async with ClientSession(timeout=ClientTimeout(total=2)) as http:
            for port in self.ports:
                while True:
                    if any(process.returncode is not None for process in self.processes):
                        raise RuntimeError(f"a bot process stopped: see {self.logs}")
                    try:
                        async with http.get(f"http://{HOST}:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    except OSError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the bot processes did not start: see {self.logs}")
                    await asyncio.sleep(0.2)

    async def stop(self) -> None:
        await stop_bots(self.processes)


@dataclass
class Measured:
    processes: int
    result: Result
    idle_cpu_per_s: float  # CPU seconds per second of all the processes, before the load

    @property
    def cpu_ms(self) -> float:
        return self.result.cpu_ms


async def measure(args: argparse.Namespace, processes: int, database: Database,
                  logs: Path) -> Measured:
    url = await database.create()
    await migrate(url)
    sink = FakeTelegram()
    await sink.start()
    cluster = Cluster(processes, url, sink.base, args.redis_url, logs)
    try:
        await cluster.start()
        await asyncio.sleep(1.0)  # the leader's start (setWebhook, commands) is over
        cpu = cluster.cpu()
        await asyncio.sleep(IDLE_SECONDS)
        idle = (cluster.cpu() - cpu) / IDLE_SECONDS
        connector = TCPConnector(limit=0, force_close=False)
        async with ClientSession(connector=connector,
                                 timeout=ClientTimeout(total=30)) as http:
            load = Load(sink, http)
            # A few users go through the whole script, each of their updates at the next
            # process: every process has run every step (its first-time costs, such as
            # a language's catalogs and formats, paid) before anything is measured.
            warm = OpenLoop(load, cluster, args.warmup_users, args.rate, args.warmup)
            await warm.run(args.warmup)
            phase = OpenLoop(load, cluster, args.users, args.rate, args.updates)
            await phase.run(args.updates)
    finally:
        await cluster.stop()
        await sink.stop()
    return Measured(processes, phase.result, idle)


def report(measured: list[Measured], rate: float) -> None:
    base = measured[0].cpu_ms if measured else math.nan
    print(f"\noffered {rate:.0f} updates/s · load average now "
          f"{' / '.join(f'{value:.2f}' for value in os.getloadavg())} (1 / 5 / 15 min)")
    print("| processes | handled/s | lost + errors | CPU ms/update (all processes) | "
          "idle CPU % | p50 ms | p99 ms | CPU/update ÷ N=1 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in measured:
        result = row.result
        ratio = row.cpu_ms / base if base else math.nan
        print(f"| {row.processes} | {result.rate:.1f} | {result.lost + result.errors} | "
              f"{row.cpu_ms:.2f} | {row.idle_cpu_per_s * 100:.1f} | "
              f"{result.percentile(50):.1f} | {result.percentile(99):.1f} | {ratio:.3f} |")
    for row in measured[1:]:
        ratio = row.cpu_ms / base
        print(f"N={row.processes}: CPU per update {ratio:.3f} × one process's "
              f"({'PASS' if ratio <= FLAT else 'MISS'}, flat means ≤ {FLAT})")


async def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--processes", default="1,2,3", help="comma-separated counts")
    parser.add_argument("--rate", type=float, default=30.0, help="offered updates/s")
    parser.add_argument("--updates", type=int, default=1800, help="measured per count")
    parser.add_argument("--warmup", type=int, default=600,
                        help="updates before the measurement, of --warmup-users users")
    parser.add_argument("--warmup-users", type=int, default=12)
    parser.add_argument("--users", type=int, default=400)
    args = parser.parse_args()
    counts = [int(part) for part in args.processes.split(",") if part]
    logs = Path(tempfile.mkdtemp(prefix="bench-scale-webhook-"))
    print(f"webhook spread: {counts} processes on PostgreSQL, {args.rate:.0f} updates/s "
          f"offered, {args.updates:,} measured ({args.users} users) after {args.warmup} "
          f"updates of {args.warmup_users} users' warm-up; shared limits in "
          f"{'Redis' if args.redis_url else 'PostgreSQL'}; "
          f"load average {os.getloadavg()[0]:.2f}; logs in {logs}")
    database = Database(args.database_url)
    measured: list[Measured] = []
    try:
        for count in counts:
            row = await measure(args, count, database, logs)
            measured.append(row)
            print(f"N={count}: {row.result.rate:.1f}/s, {row.cpu_ms:.2f} CPU ms/update, "
                  f"p99 {row.result.percentile(99):.1f} ms, load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
    finally:
        await database.drop_all()
    report(measured, args.rate)


if __name__ == "__main__":
    asyncio.run(main())
