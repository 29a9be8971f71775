"""`python -m bot run`: HTTP server, channels and the scheduler, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import clock
from bot.app import App
from bot.channels.broadcast_senders import TelegramBroadcaster, WhatsAppBroadcaster
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_desk import CoordinatorDesk
from bot.core import metrics
from bot.core.notify import STATUS_WAIT, Notifier
from bot.core.replies import Reply
from bot.db.leader import Leadership, Lease, SingleProcessLock, worker_name
from bot.db.models import Broadcast, User
from bot.db.outage import OUTAGE, is_outage
from bot.services import broadcasts, dashboard_auth, forums, reminders, unanswered
from bot.web.app import make_web_app

if TYPE_CHECKING:
    from bot.channels.whatsapp import WhatsAppChannel

log = logging.getLogger(__name__)

# Update ids are kept this long (Telegram keeps an unconfirmed update for a day).
HANDLED_UPDATES_KEPT = timedelta(days=2)
# SIGTERM to exit: what is left of it for the sender to finish its requests in flight,
# the HTTP server its requests, the polling loop its updates.
SHUTDOWN = {"broadcasts": 3.0, "http": 3.0, "polling": 2.0}


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
    # Claimed up to the next look and each sent when due, so no reminder waits for it.
    tally = await reminders.run_due(
        app.engine.sessionmaker, notifier, make_compose(app), worker, clock.now(),
        ahead=timedelta(seconds=app.settings.reminder_interval_seconds))
    if tally:
        log.info("reminders: %s", tally)


async def purge_forum_data(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        purged = await forums.purge(db, clock.now(), app.settings.forum_data_retention_days)
    if purged:
        log.info("removed attendees' personal data of %d past forums", purged)


async def purge_unanswered(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        purged = await unanswered.purge(db, clock.now(), app.settings.faq_unanswered_days)
    if purged:
        log.info("removed %d unanswered questions past their retention", purged)


async def purge_dashboard(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        await dashboard_auth.purge(db, clock.now())


def make_broadcast_sender(app: App, telegram: TelegramChannel | None,
                          whatsapp: WhatsAppChannel | None, worker: str) -> broadcasts.Sender:
    """Announcements through each platform's shared limiter, behind replies to users."""
    platforms: dict[str, broadcasts.Platform] = {}
    fetch_file = None
    if telegram is not None:
        platforms["telegram"] = TelegramBroadcaster(
            telegram.bot, telegram.limiter, paid=app.settings.telegram_paid_broadcast)

        async def fetch_file(ref: str) -> bytes:
            assert telegram is not None
            data = await telegram.bot.download(ref)
            return data.read() if data is not None else b""
    if whatsapp is not None:
        platforms["whatsapp"] = WhatsAppBroadcaster(whatsapp)
    return broadcasts.Sender(app.engine.sessionmaker, platforms, worker,
                             default_language=app.settings.default_locale,
                             batch=max(20, min(2000, int(2 * app.settings.telegram_rate))),
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


async def forget_handled_updates(app: App) -> None:
    await app.engine.forget_handled_updates(HANDLED_UPDATES_KEPT)


def guarded(name: str, job: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[None]]:
    """A scheduled job whose failure for want of the database is counted by the outage
    account (one line, not a traceback every run; its work waits in the database for
    the next run); any other failure is logged with its traceback; one cancelled as
    the process stops ends quietly."""

    @functools.wraps(job)
    async def run(*args: Any) -> None:
        try:
            await job(*args)
        except asyncio.CancelledError:
            # The process is stopping and its remaining tasks are cancelled (a look
            # waiting for its reminders' due times): what the job held went back in
            # line as it unwound, so it ends quietly, not as a failure.
            log.info("job %s stopped with the process", name)
            return
        except Exception as error:
            if not is_outage(error):
                log.exception("job %s failed", name)
                return
            OUTAGE.failed(name, error)
            return
        OUTAGE.recovered()

    return run


def leader_only(leading: Callable[[], bool],
                job: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[None]]:
    """A singleton job: it runs in the leader only (the others skip their turn)."""

    @functools.wraps(job)
    async def run(*args: Any) -> None:
        if leading():
            await job(*args)

    return run


# The scheduler's singletons (`leader_only`): everything else is shared through the
# durable queue and runs in every process.
SINGLETONS = ("expire_sessions", "purge_forum_data", "forget_handled_updates",
              "purge_unanswered", "purge_dashboard", "handover_resend")


def make_scheduler(app: App, notifier: Notifier, worker: str = "",
                   leading: Callable[[], bool] = lambda: True) -> AsyncIOScheduler:
    """APScheduler is the clock: the jobs' work is recorded in the database."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    worker = worker or f"worker:{os.getpid()}"
    common = {"coalesce": True, "max_instances": 1}

    def add(job: Callable[..., Awaitable[None]], name: str, **options: Any) -> Job:
        if name in SINGLETONS:
            job = leader_only(leading, job)
        return scheduler.add_job(guarded(name, job), "interval", id=name,
                                 **{**common, **options})

    add(refresh_user_gauge, "user_gauge", minutes=1, args=[app])
    add(expire_sessions, "expire_sessions", hours=6, args=[app])
    # A look sends the reminders due until the next one, so it ends as the next begins.
    add(send_reminders, "reminders", seconds=app.settings.reminder_interval_seconds,
        args=[app, notifier, worker], next_run_time=clock.now(), max_instances=2)
    add(purge_forum_data, "purge_forum_data", hours=12, args=[app],
        next_run_time=clock.now())
    add(forget_handled_updates, "forget_handled_updates", hours=1, args=[app])
    add(purge_unanswered, "purge_unanswered", hours=12, args=[app], next_run_time=clock.now())
    add(purge_dashboard, "purge_dashboard", hours=1, args=[app])
    return scheduler


async def serve(app: App, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` (or SIGINT / SIGTERM): then claim nothing more, give back what
    is claimed, and be gone within 10 s. On PostgreSQL several processes may serve
    together (one of them the leader, `bot.db.leader`); on SQLite one only."""
    settings = app.settings
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    single = SingleProcessLock(settings.database_url)
    single.acquire()  # AlreadyRunning: a second process on the same SQLite file
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    worker = worker_name()

    telegram = TelegramChannel(app.engine, settings, app.translations, budget=app.budget) \
        if settings.telegram_enabled else None
    whatsapp: WhatsAppChannel | None = None
    if settings.whatsapp_enabled:  # its modules are loaded only where it is used
        from bot.channels.whatsapp import WhatsAppChannel

        whatsapp = WhatsAppChannel(app.engine, settings, app.translations, budget=app.budget)
    runner = web.AppRunner(make_web_app(app.db, telegram, whatsapp, app.engine),
                           access_log=None, shutdown_timeout=SHUTDOWN["http"])
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("http: listening on %s:%s (worker %s)", settings.http_host, settings.http_port,
             worker)
    if settings.dashboard_enabled:
        log.info("dashboard: %s (a coordinator sends /dashboard to the bot for a link)",
                 settings.dashboard_url)

    notifier = app.engine.notifier  # the flows' follow-ups send through it too
    if telegram is not None:
        notifier.register("telegram", telegram.push)
    if whatsapp is not None:
        notifier.register("whatsapp", whatsapp.push, status_wait=STATUS_WAIT)
        notifier.register_files("whatsapp", whatsapp.client.download_media)
    if telegram is not None and settings.coordinator_chat_id is not None:
        telegram.desk = CoordinatorDesk(telegram, notifier)  # questions to coordinators
        notifier.register_files("telegram", telegram.desk.download)

    async def gain() -> None:
        if telegram is not None:
            await telegram.lead()
            # The dashboard as a Mini App for coordinators (https only); new coordinators
            # get it when a process next becomes the leader.
            if settings.dashboard_enabled:  # the dashboard's modules only where it is on
                from bot.web.dashboard.menu import set_menu_buttons

                await set_menu_buttons(telegram.bot, app.engine)
        for name in SINGLETONS:  # a new leader does its jobs' overdue work at once
            job = scheduler.get_job(name)
            if job is not None and scheduler.running:
                job.modify(next_run_time=clock.now())

    async def lose() -> None:
        if telegram is not None:
            await telegram.step_down(SHUTDOWN["polling"])

    shared = app.db.dialect.name == "postgresql"
    leadership = Leadership(Lease(app.engine.sessionmaker, worker) if shared else None,
                            gain, lose)
    scheduler = make_scheduler(app, notifier, worker, lambda: leadership.leading)
    if telegram is not None and telegram.desk is not None:
        scheduler.add_job(guarded("handover_resend",
                                  leader_only(lambda: leadership.leading,
                                              telegram.desk.resend_pending)),
                          "interval", minutes=1, id="handover_resend",
                          next_run_time=clock.now(), coalesce=True, max_instances=1)
    broadcast_sender = make_broadcast_sender(app, telegram, whatsapp, worker)
    broadcast_job = scheduler.add_job(
        guarded("broadcasts", send_broadcasts), "interval", seconds=5, id="broadcasts",
        args=[app, broadcast_sender, notifier], next_run_time=clock.now(),
        coalesce=True, max_instances=1)

    async def wake_broadcasts(_signal: broadcasts.Scheduled) -> None:
        # "Send now" starts at once (a running sender picks it up by itself).
        with contextlib.suppress(Exception):
            broadcast_job.modify(next_run_time=clock.now())

    app.engine.subscribe(broadcasts.Scheduled, wake_broadcasts)
    try:
        if telegram is not None:
            await telegram.start(lead=False)
        if whatsapp is not None:
            await whatsapp.start()
        # The channels are up (a wrong token has stopped us by now): start the clock.
        scheduler.start()
        await leadership.start()
        await refresh_user_gauge(app)
        app.settle()
        await stop.wait()
    finally:
        log.info("stopping")
        app.unsettle()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if scheduler.running:
            scheduler.shutdown(wait=False)
        # Unsent claimed rows go back to pending; requests in flight are recorded.
        await broadcast_sender.stop(SHUTDOWN["broadcasts"])
        await leadership.stop()  # polling stops; the lease is free for another process
        # The HTTP server first: it waits for the webhook requests being handled, which
        # still send through Telegram's session.
        await runner.cleanup()
        if telegram is not None:
            await telegram.stop(SHUTDOWN["polling"])
        if whatsapp is not None:
            await whatsapp.stop()
        single.release()
