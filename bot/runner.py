"""`python -m bot run`: HTTP server, channels and the scheduler, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from datetime import datetime, timedelta

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import clock
from bot.app import App
from bot.channels.broadcast_senders import TelegramBroadcaster, WhatsAppBroadcaster
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_desk import CoordinatorDesk
from bot.channels.whatsapp import WhatsAppChannel
from bot.core import metrics
from bot.core.notify import Notifier
from bot.core.replies import Reply
from bot.db.models import Broadcast, User
from bot.services import broadcasts, forums, reminders
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


def make_compose(app: App) -> reminders.Compose:
    def compose(due: reminders.Due, now: datetime) -> list[Reply]:
        return app.engine.compose("reminder", due.user.language, kind=due.reminder.kind,
                                  forum=due.forum, registration=due.registration, now=now)

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


def make_broadcast_sender(app: App, telegram: TelegramChannel | None,
                          whatsapp: WhatsAppChannel | None, worker: str) -> broadcasts.Sender:
    """Announcements through each platform's shared limiter, behind replies to users."""
    platforms: dict[str, broadcasts.Platform] = {}
    fetch_file = None
    if telegram is not None:
        platforms["telegram"] = TelegramBroadcaster(telegram.bot, telegram.limiter)

        async def fetch_file(ref: str) -> bytes:
            assert telegram is not None
            data = await telegram.bot.download(ref)
            return data.read() if data is not None else b""
    if whatsapp is not None:
        platforms["whatsapp"] = WhatsAppBroadcaster(whatsapp)
    return broadcasts.Sender(app.engine.sessionmaker, platforms, worker,
                             default_language=app.settings.default_locale,
                             batch=max(20, int(2 * app.settings.broadcast_rate)),
                             fetch_file=fetch_file)


async def send_broadcasts(app: App, sender: broadcasts.Sender, notifier: Notifier) -> None:
    """Start the broadcasts whose time has come, send what is due, report the finished
    ones to the coordinator who wrote them. The rows are the record."""
    await sender.start_due()
    tally = await sender.run_once()
    if tally:
        log.info("broadcasts: %s", tally)
    finished, sender.finished = sender.finished, []
    for broadcast_id in finished:
        async with app.engine.sessionmaker() as db:
            broadcast = await db.get(Broadcast, broadcast_id)
            author = await db.get(User, broadcast.created_by) \
                if broadcast is not None and broadcast.created_by is not None else None
            if broadcast is None or author is None:
                continue
            report = await broadcasts.report(db, broadcast, clock.now())
        await notifier.push(author.channel, author.external_id,
                            app.engine.compose("broadcast_sent", author.language,
                                               report=report), "notice")


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
                      next_run_time=clock.now(), **common)
    scheduler.add_job(purge_forum_data, "interval", hours=12, args=[app],
                      id="purge_forum_data", next_run_time=clock.now(), **common)
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

    notifier = app.engine.notifier  # the flows' follow-ups send through it too
    if telegram is not None:
        notifier.register("telegram", telegram.push)
    if whatsapp is not None:
        notifier.register("whatsapp", whatsapp.push)
        notifier.register_files("whatsapp", whatsapp.client.download_media)
    if telegram is not None and settings.coordinator_chat_id is not None:
        telegram.desk = CoordinatorDesk(telegram, notifier)  # questions to coordinators
        notifier.register_files("telegram", telegram.desk.download)
    scheduler = make_scheduler(app, notifier)
    if telegram is not None and telegram.desk is not None:
        scheduler.add_job(telegram.desk.resend_pending, "interval", minutes=1,
                          id="handover_resend", next_run_time=clock.now(),
                          coalesce=True, max_instances=1)
    broadcast_sender = make_broadcast_sender(app, telegram, whatsapp,
                                             f"{socket.gethostname()}:{os.getpid()}")
    broadcast_job = scheduler.add_job(
        send_broadcasts, "interval", seconds=5, id="broadcasts",
        args=[app, broadcast_sender, notifier], next_run_time=clock.now(),
        coalesce=True, max_instances=1)

    async def wake_broadcasts(_signal: broadcasts.Scheduled) -> None:
        # "Send now" starts at once (a running sender picks it up by itself).
        with contextlib.suppress(Exception):
            broadcast_job.modify(next_run_time=clock.now())

    app.engine.subscribe(broadcasts.Scheduled, wake_broadcasts)
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
        await broadcast_sender.stop()  # unsent claimed rows go back to pending
        # The HTTP server first: it waits for the webhook requests being handled, which
        # still send through Telegram's session.
        await runner.cleanup()
        if telegram is not None:
            await telegram.stop()
        if whatsapp is not None:
            await whatsapp.stop()
