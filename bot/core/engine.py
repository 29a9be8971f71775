"""The dispatcher of flows: load the user's session, run the step, store the session."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from bot import clock
from bot.config import Settings
from bot.content import Content
from bot.core import metrics
from bot.core.context import Context, UserView
from bot.core.events import Event, EventKind, Identity, LanguageChosen, Place
from bot.core.i18n import Translations, pick_language
from bot.core.notify import Notifier
from bot.core.replies import Choice, Reply
from bot.core.router import Router
from bot.db.dialect import first_row, insert_for, track_writes, wrote
from bot.db.models import ChatSession, Coordinator, HandledUpdate, User
from bot.db.outage import OUTAGE, is_outage

log = logging.getLogger(__name__)

# The role check (bot/services/roles.py, given by bot/app.py): (who, has a
# `coordinators` row) -> is a coordinator.
RoleCheck = Callable[[Identity, bool], bool]
# `users.last_seen_at` is written at most this often, not on every update.
_SEEN_PRECISION = timedelta(minutes=5)
# How often a step is re-run when another worker changed the same session meanwhile.
_MAX_ATTEMPTS = 10
# Commands that work before a language is chosen; every other one asks for it first.
_BEFORE_LANGUAGE_COMMANDS = frozenset({"start", "language", "lang"})


# The statements of the hot path, built once.
_LOAD = (
    select(User.id, User.language, User.display_name, User.last_seen_at,
           User.unreachable_since, ChatSession.state, ChatSession.data, ChatSession.version,
           ChatSession.last_update,
           Coordinator.user_id.label("coordinator"),
           exists().where(HandledUpdate.key == bindparam("update_key")).label("seen"))
    .outerjoin(ChatSession, ChatSession.user_id == User.id)
    .outerjoin(Coordinator, Coordinator.user_id == User.id)
    .where(User.channel == bindparam("channel"), User.external_id == bindparam("external_id"))
)
# The writes return what they wrote (`first_row`: one trip to SQLite's thread; no row
# back means another worker changed the session first).
_INSERT_SESSION = insert(ChatSession).values(
    user_id=bindparam("b_user"), state=bindparam("b_state"), data=bindparam("b_data"),
    version=1, updated_at=bindparam("b_now"), last_update=bindparam("b_last"),
).returning(ChatSession.version)
_UPDATE_SESSION = (
    update(ChatSession)
    .where(ChatSession.user_id == bindparam("b_user"),
           ChatSession.version == bindparam("b_version"))
    .values(state=bindparam("b_state"), data=bindparam("b_data"),
            version=ChatSession.version + 1, updated_at=bindparam("b_now"),
            last_update=bindparam("b_last"))
    .returning(ChatSession.version)
)

# The update's id stored with a step, per database kind (`_mark_handled`).
_MARK: dict[str, Any] = {}


class _StepSession(Session):
    """The ORM session of a step (`ctx.db`), on the step's connection. The step begins no
    transaction until it needs one (a step that only reads commits nothing); a session
    used by the step begins it on the connection first, so the session joins it and
    its flush is part of the step's one transaction, which the engine commits."""


@event.listens_for(_StepSession, "after_transaction_create")
def _join_step(session: Session, transaction: SessionTransaction) -> None:
    connection = session.bind
    if transaction.parent is None and isinstance(connection, Connection) \
            and not connection.in_transaction():
        connection.begin()


class Unavailable(Exception):
    """The database could not be reached: nothing of the step was stored, no reply was
    made. The channel has the update delivered again (Telegram: a 503 to the webhook,
    the polling offset kept; WhatsApp: the inbox row stays queued)."""


class _Duplicate(Exception):
    """A delivery of the same update stored its step first (another worker): this one is
    rolled back and answers nothing."""


class _SessionChanged(Exception):
    """Another worker stored this session first: the step is rolled back and re-run."""


class _UserLocks:
    """One asyncio lock per user, so one user's updates are handled in order."""

    def __init__(self, size: int = 10_000) -> None:
        self._locks: OrderedDict[Identity, asyncio.Lock] = OrderedDict()
        self._size = size

    def get(self, identity: Identity) -> asyncio.Lock:
        lock = self._locks.get(identity)
        if lock is None:
            lock = self._locks[identity] = asyncio.Lock()
            if len(self._locks) > self._size:
                for key, old in list(self._locks.items())[: len(self._locks) - self._size]:
                    if not old.locked():
                        del self._locks[key]
        else:
            self._locks.move_to_end(identity)
        return lock


class Engine:
    """Runs one event through the flows and returns the replies."""

    def __init__(
        self,
        router: Router,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        content: Content,
        translations: Translations,
        *,
        is_coordinator: RoleCheck,
        notifier: Notifier | None = None,
    ) -> None:
        router.check_complete()
        self.router = router
        self.sessionmaker = sessionmaker
        self.database: AsyncEngine = sessionmaker.kw["bind"]
        # Steps' sessions: as the app's, on the step's connection (`_StepSession`).
        self._step_sessions = async_sessionmaker(
            **{**sessionmaker.kw, "sync_session_class": _StepSession})
        track_writes(self.database)
        self.settings = settings
        self.content = content
        self.translations = translations
        self.is_coordinator = is_coordinator
        # The channels' senders and fetchers, for flows' follow-ups and the scheduler.
        self.notifier = notifier or Notifier()
        self._locks = _UserLocks()
        self.bot_username: str | None = None
        self._subscribers: dict[type, list[Callable[[Any], Awaitable[None]]]] = {}

    def subscribe(self, kind: type, handler: Callable[[Any], Awaitable[None]]) -> None:
        """Run `handler(signal)` for every signal of this type a step emits (`ctx.emit`),
        after the step's transaction is committed."""
        self._subscribers.setdefault(kind, []).append(handler)

    async def publish(self, *signals: object) -> None:
        """Signals from outside a step (the dashboard), to the same subscribers, after
        the caller's transaction is committed."""
        await self._publish(list(signals))

    async def _publish(self, signals: list[object]) -> None:
        for signal in signals:
            handlers = self._subscribers.get(type(signal), [])
            if not handlers:
                log.warning("no subscriber for %s", type(signal).__name__)
            for handler in handlers:
                try:
                    await handler(signal)
                except Exception:
                    metrics.ERRORS.labels("engine", "signal").inc()
                    log.exception("subscriber of %s failed", type(signal).__name__)

    async def handle(self, event: Event) -> list[Reply]:
        started = time.perf_counter()
        channel = event.identity.channel
        metrics.UPDATES.labels(channel, event.kind.value).inc()
        try:
            async with self._locks.get(event.identity):
                if event.place is not Place.PRIVATE:
                    replies = await self._handle_in_group(event)
                    OUTAGE.recovered()
                    return replies
                for attempt in range(_MAX_ATTEMPTS):
                    found = await self._handle_once(event)
                    if found is not None:
                        OUTAGE.recovered()
                        return found
                    # Another worker got there first: step aside a little, then re-run.
                    await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
                log.warning("%s: session kept changing; giving up", channel)
                return await self.apology(event)
        except Exception as error:
            if is_outage(error):
                OUTAGE.failed(f"{channel} update", error)
                raise Unavailable from error
            metrics.ERRORS.labels(channel, "handle").inc()
            log.exception("failed to handle a %s on %s", event.kind, channel)
            return await self.apology(event)
        finally:
            metrics.HANDLING.labels(channel).observe(time.perf_counter() - started)

    async def apology(self, event: Event) -> list[Reply]:
        """A step failed: nothing of it was stored; say so in the user's language."""
        language: str | None = None
        try:
            if event.place is Place.PRIVATE:  # the coordinators' chat speaks DEFAULT_LOCALE
                async with self.sessionmaker() as db:
                    language = (await db.execute(
                        select(User.language).where(
                            User.channel == event.identity.channel,
                            User.external_id == event.identity.external_id)
                    )).scalar_one_or_none()
        except Exception:  # the database itself may be what failed
            log.warning("could not read the language of a %s user", event.identity.channel)
        t = self.translations.get(language or pick_language(event.language_hint),
                                  self.settings.default_locale)
        return [t.reply(Reply(
            text=t._("Sorry, something went wrong on my side and I could not finish that. "
                     "Please try again in a minute."),
            choices=((Choice(t._("⬅️ Main menu"), "menu"),),),
        ))]

    async def _handle_once(self, event: Event) -> list[Reply] | None:
        """One attempt: None when another worker changed the session meanwhile.

        The hot path is one joined SELECT (user, session, coordinator role) and at most
        one write per table, as prepared Core statements on one connection; nothing is
        written when nothing changed, and an ORM session is opened only for a step that
        uses `ctx.db`, on the same transaction."""
        identity = event.identity
        key = _load_key(event)
        ctx: Context | None = None
        try:
            # No transaction is begun here: the read takes none (`first_row`), a write
            # begins one, and it is committed below; a step that only reads commits
            # nothing, and closing the connection rolls back whatever a failure left.
            async with self.database.connect() as connection:
                wrote(connection, reset=True)
                row = await first_row(connection, _LOAD, key)
                if row is not None and row.seen:
                    return self._handled_before(event)
                if row is not None and _is_late(event, row.last_update):
                    await self._mark_handled(connection, event)
                    await connection.commit()
                    return self._late(event)
                is_new = row is None
                if row is None:
                    await self._insert_user(connection, event)
                    row = await first_row(connection, _LOAD, key)
                    assert row is not None
                now = clock.now()
                user = UserView(row.id, identity.channel, identity.external_id, row.language,
                                row.display_name, is_new,
                                self.is_coordinator(identity, row.coordinator is not None))
                original_data = row.data or {}
                ctx = self._context(event, user, row.state, copy.deepcopy(original_data),
                                    connection)
                await self.dispatch(ctx)
                await ctx.close_session()
                if ctx.forget_user:
                    await self._mark_handled(connection, event)
                    await connection.execute(delete(User).where(User.id == user.id))
                    await connection.commit()
                    # The user is gone: none of the step's follow-ups or signals, but a
                    # channel forgets the language it showed them words outside it in.
                    ctx.followups = []
                    ctx.signals = self._language_signal(event, row.language, None, is_new)
                else:
                    ctx.signals += self._language_signal(
                        event, row.language, user.language, is_new)
                    changes: dict[str, Any] = {}
                    if user.language != row.language:
                        changes["language"] = user.language
                    name = _clip(event.display_name)
                    if name and name != row.display_name:
                        changes["display_name"] = name
                    if row.unreachable_since is not None:
                        changes["unreachable_since"] = None
                    if is_new or now - row.last_seen_at > _SEEN_PRECISION:
                        changes["last_seen_at"] = now
                    if changes:
                        await connection.execute(
                            update(User).where(User.id == user.id).values(**changes))
                    values = {"b_user": user.id, "b_state": ctx.state, "b_data": ctx.data,
                              "b_now": now, "b_last": _newest(row.last_update, event.sequence)}
                    stores = row.version is None or ctx.state != row.state \
                        or ctx.data != original_data
                    if stores or changes or wrote(connection):
                        await self._mark_handled(connection, event)
                    if stores:
                        if row.version is None:
                            await first_row(connection, _INSERT_SESSION, values)
                        elif await first_row(connection, _UPDATE_SESSION,
                                             {**values, "b_version": row.version}) is None:
                            raise _SessionChanged
                    if connection.in_transaction():
                        await connection.commit()
        except _SessionChanged:
            return None
        except _Duplicate:
            return self._handled_before(event)
        finally:
            if ctx is not None:
                await ctx.close_session(flush=False)  # only left open when the step failed
        return await self._after_commit(ctx)

    def _language_signal(self, event: Event, before: str | None, after: str | None,
                         is_new: bool) -> list[object]:
        """`LanguageChosen` for this step, when a channel listens: the user's language
        chosen, changed or forgotten, or a known user with a language started again (a
        channel sets again what it may have lost). Nothing for a step that leaves the
        language alone, so a channel is not asked on every update."""
        if LanguageChosen not in self._subscribers:  # none of this deployment's channels
            return []
        restarted = (not is_new and after is not None and event.kind is EventKind.COMMAND
                     and event.command == "start")
        if before == after and not restarted:
            return []
        return [LanguageChosen(event.identity, after, before, event.language_hint)]

    async def _handle_in_group(self, event: Event) -> list[Reply]:
        """A step in the coordinators' group chat: the sender's row and role are read,
        but no session is read or stored and nothing of the user is written, so the
        coordinator's private conversation goes on undisturbed; someone without a row
        gets none (id 0), as the group is no conversation with the bot."""
        identity = event.identity
        ctx: Context | None = None
        try:
            async with self.database.connect() as connection:
                wrote(connection, reset=True)
                row = await first_row(connection, _LOAD, _load_key(event))
                if row is not None and row.seen:
                    return self._handled_before(event)
                listed = row is not None and row.coordinator is not None
                user = UserView(row.id if row else 0, identity.channel, identity.external_id,
                                row.language if row else None,
                                _clip(event.display_name) or (row.display_name if row else None),
                                False, self.is_coordinator(identity, listed))
                ctx = self._context(event, user, None, {}, connection)
                await self.dispatch(ctx)
                await ctx.close_session()
                if wrote(connection) and row is not None:
                    await self._mark_handled(connection, event)
                if connection.in_transaction():
                    await connection.commit()
        except _Duplicate:
            return self._handled_before(event)
        finally:
            if ctx is not None:
                await ctx.close_session(flush=False)  # only left open when the step failed
        return await self._after_commit(ctx)

    @staticmethod
    async def _mark_handled(connection: AsyncConnection, event: Event) -> None:
        """Store the update's id with a step that writes (one that only shows something
        may run again: it changes nothing). A delivery of the same update on another
        worker may have stored it meanwhile: then this step is rolled back."""
        if event.update_id is None:
            return
        statement = _MARK.get(connection.dialect.name)
        if statement is None:  # built once per database kind: building costs more than running
            statement = _MARK[connection.dialect.name] = (
                insert_for(connection)(HandledUpdate)
                .values(key=bindparam("h_key"), handled_at=bindparam("h_at"))
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(HandledUpdate.key))
        if await first_row(connection, statement, {
                "h_key": update_key(event.identity.channel, event.update_id),
                "h_at": clock.now()}) is None:
            raise _Duplicate

    @staticmethod
    def _late(event: Event) -> list[Reply]:
        """An update older than one whose step is stored already: delivered again after
        the user's next update was handled (its first delivery was not acknowledged).
        Running it now would apply an older message or press to newer state, so it is
        recorded as handled and answers nothing: the user has moved on, and what they
        see is the newer step's answer."""
        log.info("a %s update arrived after a newer one of the same user; not run",
                 event.identity.channel)
        return []

    @staticmethod
    def _handled_before(event: Event) -> list[Reply]:
        log.info("a %s update was handled before; not again", event.identity.channel)
        return []

    async def unmark_update(self, channel: str, update_id: str) -> None:
        """An update whose step was stored but whose handling failed after it (sending
        the replies): the platform's next delivery of it runs the step again."""
        async with self.database.begin() as connection:
            await connection.execute(
                delete(HandledUpdate).where(HandledUpdate.key == update_key(channel, update_id)))

    async def forget_handled_updates(self, keep: timedelta) -> int:
        """Update ids older than any platform delivers again."""
        async with self.database.begin() as connection:
            result = await connection.execute(
                delete(HandledUpdate).where(HandledUpdate.handled_at < clock.now() - keep))
        return int(result.rowcount or 0)

    def _context(self, event: Event, user: UserView, state: str | None, data: dict[str, Any],
                 connection: AsyncConnection) -> Context:
        """What a step sees; its ORM session, if it opens one, joins the step's transaction
        on `connection`."""
        return Context(event=event, user=user, state=state, data=data, settings=self.settings,
                       content=self.content, translations=self.translations,
                       open_session=partial(self._step_sessions, bind=connection),
                       bot_username=self.bot_username, notifier=self.notifier)

    async def _after_commit(self, ctx: Context) -> list[Reply]:
        """Once the step is stored: its follow-ups, then its signals; then its replies."""
        await self._follow_up(ctx)
        if ctx.signals:
            await self._publish(ctx.signals)
        return ctx.replies

    async def _follow_up(self, ctx: Context) -> None:
        """The step's follow-ups (`ctx.after`), once it is stored: each with a database
        session of its own, committed after it."""
        ctx.stored = True
        ctx.open_session = self.sessionmaker
        for work in ctx.followups:
            try:
                await work(ctx)
                await ctx.close_session()
            except Exception:
                metrics.ERRORS.labels(ctx.event.identity.channel, "followup").inc()
                log.exception("a follow-up of a step of user %s failed", ctx.user.id)
                await ctx.close_session(flush=False)

    def compose(self, notice: str, language: str | None, /, **data: Any) -> list[Reply]:
        """A notice of the flows (`Router.notice`) in `language` (or DEFAULT_LOCALE)."""
        t = self.translations.get(language, self.settings.default_locale)
        return [t.reply(reply) for reply in self.router.notices[notice](t, **data)]

    async def _insert_user(self, connection: AsyncConnection, event: Event) -> None:
        identity = event.identity
        statement = insert_for(connection)(User)
        now = clock.now()
        await connection.execute(
            statement.values(channel=identity.channel, external_id=identity.external_id,
                             display_name=_clip(event.display_name), created_at=now,
                             last_seen_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "external_id"]))


    async def dispatch(self, ctx: Context) -> None:
        router = self.router
        event = ctx.event
        if event.place is not Place.PRIVATE:
            await self._dispatch_in_group(ctx)
            return
        if event.kind is EventKind.COMMAND:
            handler = router.commands.get(event.command, router.fallbacks["unknown_command"])
            if ctx.user.language is None and event.command not in _BEFORE_LANGUAGE_COMMANDS:
                handler = router.fallbacks["no_language"]
            await handler(ctx)
            return
        if event.kind is EventKind.BUTTON:
            prefix = event.payload.split(":", 1)[0]
            found = router.buttons.get(prefix)
            codec = router.codecs.get(prefix)
            if found is not None and codec is not None:
                ctx.press = codec.parse(event.payload)
                if ctx.press is None:  # malformed, out of range, or from an older version
                    found = None
            await (found or router.fallback_for("stale", prefix=prefix))(ctx)
            return
        if event.kind is EventKind.TEXT and ctx.state in router.states:
            await router.states[ctx.state](ctx)
            return
        if event.kind is EventKind.FILE and ctx.state in router.file_states:
            await router.file_states[ctx.state](ctx)
            return
        if ctx.user.language is None:
            await router.fallbacks["no_language"](ctx)
            return
        kind = {EventKind.TEXT: "text", EventKind.CONTACT: "contact"}.get(event.kind,
                                                                         "unsupported")
        await router.fallback_for(kind, state=ctx.state)(ctx)

    async def _dispatch_in_group(self, ctx: Context) -> None:
        """Only what flows registered for the coordinators' chat; the rest is left alone
        (the coordinators talking among themselves)."""
        router, event = self.router, ctx.event
        handler: Callable[[Context], Awaitable[None]] | None = None
        if event.kind is EventKind.COMMAND:
            handler = router.group_commands.get(event.command)
        elif event.kind is EventKind.BUTTON:
            prefix = event.payload.split(":", 1)[0]
            handler = router.group_buttons.get(prefix)
            codec = router.codecs.get(prefix)
            if handler is not None and codec is not None:
                ctx.press = codec.parse(event.payload)
                if ctx.press is None:  # malformed or from an older version: left alone
                    handler = None
        elif event.reply_to is not None:
            handler = router.group_replies.get("reply")
        if handler is not None:
            await handler(ctx)

    async def set_language(self, identity: Identity, language: str) -> None:
        """Preset a user's language (the terminal's `--lang`)."""
        async with self._locks.get(identity), self.database.begin() as connection:
            await self._insert_user(connection, Event(identity, EventKind.COMMAND))
            await connection.execute(update(User).where(
                User.channel == identity.channel, User.external_id == identity.external_id
            ).values(language=language))

    async def mark_unreachable(self, identity: Identity) -> None:
        """The platform says the user blocked the bot: stop counting them as reachable."""
        async with self.sessionmaker() as db, db.begin():
            await db.execute(
                update(User)
                .where(User.channel == identity.channel,
                       User.external_id == identity.external_id,
                       User.unreachable_since.is_(None))
                .values(unreachable_since=clock.now())
            )

    async def user_counts(self) -> dict[str, int]:
        async with self.sessionmaker() as db:
            result = await db.execute(
                select(User.channel, func.count()).group_by(User.channel)
            )
            return {channel: count for channel, count in result.all()}

    async def expire_idle_sessions(self, idle: timedelta) -> int:
        """Forget half-finished steps of sessions idle longer than `idle`."""
        cutoff = clock.now() - idle
        async with self.sessionmaker() as db, db.begin():
            result = await db.execute(
                delete(ChatSession).where(ChatSession.updated_at < cutoff)
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _load_key(event: Event) -> dict[str, str]:
    """The parameters of `_LOAD`: who, and the digest of the update's id (empty when the
    channel gives none, which matches no row)."""
    identity = event.identity
    return {"channel": identity.channel, "external_id": identity.external_id,
            "update_key": update_key(identity.channel, event.update_id)
            if event.update_id is not None else ""}


def _is_late(event: Event, last: int | None) -> bool:
    """The event comes before the newest update whose step stored the session."""
    return event.sequence is not None and last is not None and event.sequence < last


def _newest(last: int | None, sequence: int | None) -> int | None:
    if sequence is None:
        return last
    return sequence if last is None else max(last, sequence)


def update_key(channel: str, update_id: str) -> str:
    """What `handled_updates` keeps of an update's id: a digest, of fixed length and
    telling nothing (a WhatsApp message id can carry the sender's number)."""
    return hashlib.sha256(f"{channel}:{update_id}".encode()).hexdigest()


def _clip(value: str | None, limit: int = 128) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:limit] or None
