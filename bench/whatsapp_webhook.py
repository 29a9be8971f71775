"""WhatsApp webhook benchmark: signed posts per second and time until the reply.

    python -m bench.whatsapp_webhook [--updates N] [--users U] [--rate R] [--database-url URL]

Everything runs in this process and talks over 127.0.0.1 only:

- the fake Graph API of the tests (tests/fakes/graph_api.py), which checks every payload
  against WhatsApp's limits and notes when each message arrives;
- the real bot: build_app + WhatsAppChannel + make_web_app on a real TCP port, a
  temporary SQLite database (or --database-url), the inbox worker running;
- a load generator of simulated users who post signed deliveries (Meta's escaped JSON
  and X-Hub-Signature-256): first contact, the language button, menu rows, typed
  command words. A user has at most one message in flight; its reply is the first
  message the fake API gets for that user after the POST.

Measured: acknowledge throughput (signed posts answered 200 per second, the worker
running), handled messages per second in a closed loop (users at full speed), and
p50/p99 from the POST to the reply at the fake API, both in that closed loop (queueing
included) and at a fixed open-loop arrival rate. Results are printed; the process does
not fail on a target. Everything shares one process and one CPU core: the load
generator and the fake API take their part of it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, TCPConnector, web

from bot.app import build_app
from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp_inbox import SIGNATURE_HEADER
from bot.config import Settings
from bot.web.app import make_web_app
from tests.fakes.graph_api import FakeGraphAPI, WhatsAppUser, encode, sign

HOST = "127.0.0.1"
SECRET = "bench-app-secret-0123456789"
VERIFY = "bench-verify-token"
LANGUAGES = ("kk", "ru", "en")

# What a simulated user does after choosing a language, in a loop.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("row", "prj"),
    ("row", "prj:bereke"),
    ("row", "menu"),
    ("row", "num"),
    ("row", "menu"),
    ("row", "set"),
    ("row", "menu"),
    ("text", "help"),
    ("text", "мәзір"),
    ("text", "Сәлеметсіз бе! Что здесь есть?"),
)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Load:
    def __init__(self, api: FakeGraphAPI, url: str, session: ClientSession) -> None:
        self.api = api
        self.url = url
        self.session = session
        self.latencies: list[float] = []
        self.lost = 0

    async def post(self, payload: dict[str, Any]) -> int:
        body = encode(payload)
        async with self.session.post(self.url, data=body, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(body, SECRET),
        }) as response:
            await response.read()
            return response.status

    async def exchange(self, user: WhatsAppUser, payload: dict[str, Any],
                       measure: bool = True) -> None:
        before = len(self.api.messages_to(user.recipient))
        started = time.perf_counter()
        status = await self.post(payload)
        assert status == 200, status
        try:
            sent = await self.api.wait_messages(user.recipient, before + 1, seconds=10)
        except AssertionError:
            self.lost += 1
            return
        if measure:
            self.latencies.append(sent[before].at - started)

    async def setup(self, number: int) -> WhatsAppUser:
        language = LANGUAGES[number % 3]
        user = WhatsAppUser(f"4900{number:09d}", f"DE.{number:019d}", f"User {number}")
        await self.exchange(user, user.text("hello"), measure=False)
        await self.exchange(user, user.button(f"lang:{language}", language), measure=False)
        return user

    async def step(self, user: WhatsAppUser, index: int, measure: bool = True) -> None:
        kind, value = SCRIPT[index % len(SCRIPT)]
        payload = user.list_pick(value) if kind == "row" else user.text(value)
        await self.exchange(user, payload, measure)

    async def closed(self, user: WhatsAppUser, steps: int) -> None:
        for index in range(steps):
            await self.step(user, index)

    async def open(self, users: list[WhatsAppUser], rate: float, count: int) -> int:
        """Fixed arrival rate; a user with a message in flight is skipped."""
        idle = deque((user, 0) for user in users)
        tasks: list[asyncio.Task[None]] = []
        skipped = 0

        async def one(user: WhatsAppUser, index: int) -> None:
            await self.step(user, index)
            idle.append((user, index + 1))

        started = time.perf_counter()
        for number in range(count):
            delay = started + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not idle:
                skipped += 1
                continue
            user, index = idle.popleft()
            tasks.append(asyncio.create_task(one(user, index)))
        await asyncio.gather(*tasks)
        return skipped


async def main(arguments: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as directory:
        database_url = arguments.database_url or \
            f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        async with FakeGraphAPI() as api:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=database_url, whatsapp_token=api.token,
                whatsapp_phone_number_id=api.phone_number_id, whatsapp_app_secret=SECRET,
                whatsapp_verify_token=VERIFY, whatsapp_api_url=api.url,
                whatsapp_api_version=api.version, whatsapp_rate=arguments.rate,
            )
            app = await build_app(settings)
            channel = WhatsAppChannel(app.engine, settings, app.translations,
                                      workers=arguments.workers)
            runner = web.AppRunner(make_web_app(app.db, None, channel), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, HOST, 0)
            await site.start()
            port = runner.addresses[0][1]
            url = f"http://{HOST}:{port}/whatsapp/webhook"
            await channel.start()
            app.settle()  # as `python -m bot run` does once it has started
            try:
                async with ClientSession(connector=TCPConnector(limit=256)) as session:
                    load = Load(api, url, session)
                    # 1. Acknowledge throughput: signed posts, answered 200, per second.
                    ack_users = [WhatsAppUser(f"4911{n:09d}", f"DE.9{n:018d}", "Ack")
                                 for n in range(arguments.updates)]
                    started = time.perf_counter()
                    statuses = await asyncio.gather(*(
                        load.post(user.text("hello")) for user in ack_users))
                    ack_seconds = time.perf_counter() - started
                    assert set(statuses) == {200}, set(statuses)
                    await channel.drain(120)
                    # 2. Closed loop: users with one message in flight each, full speed.
                    users = list(await asyncio.gather(*(
                        load.setup(n) for n in range(arguments.users))))
                    await asyncio.sleep(0.5)  # the greetings' later messages
                    steps = max(1, arguments.updates // arguments.users)
                    started = time.perf_counter()
                    await asyncio.gather(*(load.closed(user, steps) for user in users))
                    loop_seconds = time.perf_counter() - started
                    closed_latencies, load.latencies = load.latencies, []
                    # 3. Open loop: a fixed arrival rate, latency without queueing.
                    skipped = await load.open(users, arguments.open_rate,
                                              arguments.open_updates)
            finally:
                app.unsettle()
                await channel.stop()
                await runner.cleanup()
                await app.close()
            handled = arguments.users * steps
            print(f"database: {database_url.split(':', 1)[0]}, users: {arguments.users}, "
                  f"WHATSAPP_RATE: {arguments.rate:g}/s, workers: {arguments.workers}")
            print(f"acknowledge: {arguments.updates} signed posts in {ack_seconds:.2f}s = "
                  f"{arguments.updates / ack_seconds:.0f} posts/s (stored, then 200)")
            print(f"closed loop: {handled} messages in {loop_seconds:.2f}s = "
                  f"{handled / loop_seconds:.0f} handled/s")
            for title, values in (("closed loop", closed_latencies),
                                  (f"open loop at {arguments.open_rate:g}/s", load.latencies)):
                lat = [v * 1000 for v in values]
                print(f"{title}, POST to reply at the fake Graph API: "
                      f"p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
                      f"mean {statistics.fmean(lat):.1f} ms ({len(lat)} measured)")
            print(f"lost (no reply within 10 s): {load.lost}; open loop skipped "
                  f"(user busy): {skipped}")
            print(f"payload violations at the fake API: {len(api.violations)}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.whatsapp_webhook")
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="WHATSAPP_RATE for the run (the default 60/s would be the "
                             "bottleneck, as in production)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--open-rate", type=float, default=20.0,
                        help="messages per second in the open-loop phase")
    parser.add_argument("--open-updates", type=int, default=300)
    parser.add_argument("--database-url", default="")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
