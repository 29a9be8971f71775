"""`python -m bot run`: HTTP server, channels and the scheduler, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.core import metrics
from bot.web.app import make_web_app

log = logging.getLogger(__name__)


async def refresh_user_gauge(app: App) -> None:
    for channel, count in (await app.engine.user_counts()).items():
        metrics.USERS.labels(channel).set(count)


async def expire_sessions(app: App) -> None:
    removed = await app.engine.expire_idle_sessions(
        timedelta(days=app.settings.session_idle_days))
    if removed:
        log.info("forgot %d idle sessions", removed)


def make_scheduler(app: App) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(refresh_user_gauge, "interval", minutes=1, args=[app],
                      id="user_gauge", coalesce=True, max_instances=1)
    scheduler.add_job(expire_sessions, "interval", hours=6, args=[app],
                      id="expire_sessions", coalesce=True, max_instances=1)
    return scheduler


async def serve(app: App, stop: asyncio.Event | None = None) -> None:
    settings = app.settings
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    telegram = TelegramChannel(app.engine, settings, app.translations) \
        if settings.telegram_enabled else None
    runner = web.AppRunner(make_web_app(app.db, telegram), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("http: listening on %s:%s", settings.http_host, settings.http_port)

    scheduler = make_scheduler(app)
    scheduler.start()
    await refresh_user_gauge(app)
    try:
        if telegram is not None:
            await telegram.start()
        await stop.wait()
    finally:
        log.info("stopping")
        scheduler.shutdown(wait=False)
        if telegram is not None:
            await telegram.stop()
        await runner.cleanup()
