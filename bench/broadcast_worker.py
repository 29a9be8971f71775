"""The broadcast sender as its own process (started, and killed, by bench/broadcast.py):
the real `broadcasts.Sender` with the real `TelegramBroadcaster` and one
`PriorityLimiter`, until the running broadcasts are done. Prints one JSON line with
its peak resident memory at the end."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.channels.broadcast_senders import TelegramBroadcaster
from bot.channels.telegram_session import BotApiSession
from bot.core.ratelimit import PriorityLimiter
from bot.db.engine import create_engine, session_factory
from bot.db.models import Broadcast
from bot.services.broadcasts import Sender

TOKEN = "123456:BENCH"


async def main() -> None:
    from aiogram import Bot  # after bot.channels, as in the bot: types built when used
    from aiogram.client.telegram import TelegramAPIServer

    baseline = peak_kb()  # after the imports
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--lease", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # The bot's own engine (one SQLite connection) and Bot API session.
    engine = create_engine(args.database_url)
    sessionmaker = session_factory(engine)
    session = BotApiSession(api=TelegramAPIServer.from_base(args.api_url))
    bot = Bot(TOKEN, session=session)
    # A quarter of a token of slack absorbs the event loop's timer lateness; with the
    # rate 1 % under the server's, no second can hold more than the server allows.
    limiter = PriorityLimiter(args.rate, burst=1.25)
    sender = Sender(sessionmaker, {"telegram": TelegramBroadcaster(bot, limiter)},
                    f"bench:{os.getpid()}", batch=max(20, min(500, int(args.rate * 2))),
                    concurrency=args.concurrency, lease=timedelta(seconds=args.lease),
                    backoff=1.0)
    try:
        while True:
            await sender.run_once()
            async with sessionmaker() as db:
                running = (await db.execute(select(Broadcast.id).where(
                    Broadcast.status.in_(("scheduled", "sending"))))).first()
            if running is None:
                break
            await asyncio.sleep(0.2)  # rows of a dead sender wait for their lease to expire
    finally:
        await bot.session.close()
        await engine.dispose()
    print(json.dumps({"peak_rss_mb": round(peak_kb() / 1024, 1),
                      "imports_mb": round(baseline / 1024, 1)}), flush=True)


def peak_kb() -> int:
    """This process's peak resident memory: VmHWM (ru_maxrss on Linux may keep the
    peak of the parent it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    asyncio.run(main())
