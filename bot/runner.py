"""`python -m bot run`: HTTP server, channels and the scheduler, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from datetime import UTC, datetime, timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.core import metrics
from bot.core.notify import Notifier
from bot.core.replies import Reply
from bot.services import clock, forums, reminders
from bot.web.app import make_web_app
from handlers import forum_text

log = logging.getLogger(__name__)


async def refresh_user_gauge(app: App) -> None:
    for channel, count in (await app.engine.user_counts()).items():
        metrics.USERS.labels(channel).set(count)


async def expire_sessions(app: App) -> None:
    removed = await app.engine.expire_idle_sessions(
        timedelta(days=app.settings.session_idle_days))
    if removed:
        log.info("forgot %d idle sessions", removed)


def make_compose(app: App) -> reminders.Compose:
    def compose(due: reminders.Due, now: datetime) -> list[Reply]:
        t = app.translations.get(due.user.language, app.settings.default_locale)
        return [forum_text.reminder(due.reminder.kind, due.forum, due.registration, t, now)]

    return compose


async def send_reminders(app: App, notifier: Notifier, worker: str) -> None:
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, make_compose(app),
                                    worker, clock.now())
    if tally:
        log.info("reminders: %s", tally)


async def purge_forum_data(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        purged = await forums.purge(db, clock.now(), app.settings.forum_data_retention_days)
    if purged:
        log.info("removed attendees' personal data of %d past forums", purged)


def make_scheduler(app: App, notifier: Notifier) -> AsyncIOScheduler:
    """APScheduler is the clock: the jobs' work is recorded in the database."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    worker = f"{socket.gethostname()}:{os.getpid()}"
    common = {"coalesce": True, "max_instances": 1}
    scheduler.add_job(refresh_user_gauge, "interval", minutes=1, args=[app],
                      id="user_gauge", **common)
    scheduler.add_job(expire_sessions, "interval", hours=6, args=[app],
                      id="expire_sessions", **common)
    scheduler.add_job(send_reminders, "interval",
                      seconds=app.settings.reminder_interval_seconds,
                      args=[app, notifier, worker], id="reminders",
                      next_run_time=datetime.now(UTC), **common)
    scheduler.add_job(purge_forum_data, "interval", hours=12, args=[app],
                      id="purge_forum_data", next_run_time=datetime.now(UTC), **common)
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
    whatsapp = WhatsAppChannel(app.engine, settings, app.translations) \
        if settings.whatsapp_enabled else None
    runner = web.AppRunner(make_web_app(app.db, telegram, whatsapp), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("http: listening on %s:%s", settings.http_host, settings.http_port)

    notifier = Notifier()
    if telegram is not None:
        notifier.register("telegram", telegram.push)
    if whatsapp is not None:
        notifier.register("whatsapp", whatsapp.push)
    scheduler = make_scheduler(app, notifier)
    try:
        if telegram is not None:
            await telegram.start()
        if whatsapp is not None:
            await whatsapp.start()
        # The channels are up (a wrong token has stopped us by now): start the clock.
        scheduler.start()
        await refresh_user_gauge(app)
        await stop.wait()
    finally:
        log.info("stopping")
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        if telegram is not None:
            await telegram.stop()
        await runner.cleanup()
        if whatsapp is not None:
            await whatsapp.stop()
