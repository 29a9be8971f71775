"""What a flow step sees and does: the event, the user, the session, the words."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.events import Event, InboundFile, Place
from bot.core.notify import Notifier, PushResult
from bot.core.replies import Attachment, Choice, Reply, rows
from bot.db.dialect import store_changes

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Settings
    from bot.content import Content
    from bot.core.i18n import Translations, Translator


@dataclass
class UserView:
    """The user as flows see it; changes are written back after the step (not after a
    step in the coordinators' chat, which leaves the user's row and session alone).
    `id` is 0 for someone in the coordinators' chat who never wrote to the bot: no row
    is made for them there."""

    id: int
    channel: str
    external_id: str
    language: str | None
    display_name: str | None
    is_new: bool = False
    is_coordinator: bool = False


@dataclass
class Context:
    event: Event
    user: UserView
    state: str | None
    data: dict[str, Any]
    settings: Settings
    content: Content
    translations: Translations
    # Opens the step's ORM session on the step's own transaction (see `db`).
    open_session: Callable[[], AsyncSession] = field(repr=False)
    replies: list[Reply] = field(default_factory=list)
    forget_user: bool = False
    # The Telegram bot's @username once known (for deep links in tickets).
    bot_username: str | None = None
    # Signals for other parts of the bot, handed to their subscribers once the step's
    # transaction is committed (never for a step that is rolled back or re-run).
    signals: list[object] = field(default_factory=list)
    # Messages to other users and downloads go through the channels' senders and
    # fetchers, in follow-ups (`after`).
    notifier: Notifier = field(default_factory=Notifier, repr=False)
    followups: list[Callable[[Context], Awaitable[None]]] = field(default_factory=list,
                                                                  repr=False)
    # True once the step's transaction is over (while its follow-ups run).
    stored: bool = False
    # A button press read by its flow's codec (`bot.core.payloads`): one of the flow's
    # payload dataclasses; None for anything but a press.
    press: object = None
    _session: AsyncSession | None = field(default=None, init=False, repr=False)
    # Whether the step opened its ORM session (it may have written through it).
    opened_db: bool = field(default=False, init=False, repr=False)

    @property
    def db(self) -> AsyncSession:
        """The step's ORM session, opened on first use: most steps never need one."""
        if self._session is None:
            self._session = self.open_session()
            self.opened_db = True
        return self._session

    async def close_session(self, *, flush: bool = True) -> None:
        """Flush what the step's session holds into the step's transaction (unless the
        step failed), and close it. The engine commits or rolls back the transaction."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            # The step's session is on the step's connection and joins its transaction,
            # which the engine commits (with whatever the session executed): committing
            # the session only flushes it, so a session with nothing added, changed or
            # deleted skips it (it would begin the step's transaction to commit nothing).
            # A session of its own (a follow-up's) commits what it executed.
            joined = isinstance(session.bind, AsyncConnection)
            if flush and joined:
                await store_changes(session)  # the hot path's objects in one trip each
            if flush and (session.new or session.dirty or session.deleted
                          or (session.in_transaction() and not joined)):
                await session.commit()
        finally:
            await session.close()

    @property
    def in_coordinators_chat(self) -> bool:
        return self.event.place is Place.COORDINATORS

    @property
    def t(self) -> Translator:
        """The user's language; the coordinators' chat speaks DEFAULT_LOCALE."""
        language = None if self.in_coordinators_chat else self.user.language
        return self.translations.get(language, self.settings.default_locale)

    @property
    def language(self) -> str:
        return self.t.locale

    def _(self, message: str) -> str:
        return self.t._(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.t.ngettext(singular, plural, count)

    def say(self, text: str, *choice_rows: Choice | list[Choice] | tuple[Choice, ...],
            attachment: Attachment | None = None, ask_contact: str | None = None,
            as_written: bool = False) -> None:
        """Answer with a message, in the user's script (Kazakh in Latin or tote is
        written from the Cyrillic here); `as_written` keeps it as it is (the choice of
        language, which names each language in its own script)."""
        reply = Reply(text=text, choices=rows(*choice_rows), attachment=attachment,
                      ask_contact=ask_contact)
        self.replies.append(reply if as_written else self.t.reply(reply))

    def goto(self, state: str | None, **data: Any) -> None:
        """Move to a state; keyword arguments are merged into the session data."""
        self.state = state
        self.data.update(data)

    def reset(self) -> None:
        self.state = None
        self.data.clear()

    def set_language(self, language: str) -> None:
        self.user.language = language

    def emit(self, signal: object) -> None:
        """Tell a subscriber (`Engine.subscribe`) something after this step is stored."""
        self.signals.append(signal)

    def after(self, work: Callable[[Context], Awaitable[None]]) -> None:
        """Run `work(ctx)` once this step is stored and the database is free again: for
        what waits on the network (a message to another user, a download) and what the
        step's reply reports. There `ctx.db` is a session of its own, committed after
        the work, and `ctx.say` adds to the step's replies."""
        self.followups.append(work)

    async def deliver(self, channel: str, external_id: str, replies: list[Reply]
                      ) -> PushResult:
        """Send a message to a user now (a follow-up only, see `after`)."""
        if not self.stored:
            raise RuntimeError("deliver() waits on the network: call it in ctx.after()")
        return (await self.notifier.push(channel, external_id, replies, "notice")).result

    async def fetch_file(self, file: InboundFile) -> Attachment | None:
        """The bytes of a file this event carries (a follow-up only, see `after`)."""
        if not self.stored:
            raise RuntimeError("fetch_file() waits on the network: call it in ctx.after()")
        fetched = await self.notifier.fetch(self.event.identity.channel, file.ref)
        if fetched is None:
            return None
        data, mime = fetched
        default = ("photo.jpg", "image/jpeg") if file.kind == "photo" else ("document", mime)
        return Attachment(file.name or default[0], data, file.mime or default[1])

    def forget(self) -> None:
        """Delete the user and everything stored about them once this step ends."""
        self.forget_user = True
