"""Registration of flow steps: commands, button payloads, text in a state, fallbacks;
and of notices, the messages flows compose for other parts of the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from bot.core.events import Place

if TYPE_CHECKING:
    from bot.core.context import Context
    from bot.core.replies import Reply

Handler = Callable[["Context"], Awaitable[None]]
# A notice: (the words of a language, data) -> the messages; see `Router.notice`.
Composer = Callable[..., "list[Reply]"]

PRIVATE = (Place.PRIVATE,)
IN_GROUP = (Place.COORDINATORS,)
EVERYWHERE = (Place.PRIVATE, Place.COORDINATORS)

FALLBACKS = ("stale", "text", "unsupported", "unknown_command", "no_language", "contact")


class Router:
    """Maps what a user did to the step that answers it.

    - commands: `/start`, `/menu`, ... (also words on channels without commands)
    - buttons: by payload prefix, the part before the first `:`
    - states: free text while the session is in that state; `files=True` also takes
      photos and documents (EventKind.FILE) there, which go to "unsupported" elsewhere
    - fallbacks: stale buttons, unexpected text, unsupported input, unknown
      commands, and a user who has not chosen a language yet
    - in the coordinators' group chat (`Place.COORDINATORS`) only what is registered
      for it: commands and buttons with `places=`, and one step for a message written
      there as a reply to another (`group_reply`); anything else there is left alone
    - notices: messages a flow composes for the bot to send outside a step (a
      reminder, a report, a question's copy in the coordinators' chat), by name,
      for `Engine.compose`; channels and the runner reach the flows' words only so
    """

    def __init__(self, name: str = "root") -> None:
        self.name = name
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.states: dict[str, Handler] = {}
        self.file_states: dict[str, Handler] = {}
        self.fallbacks: dict[str, Handler] = {}
        self.group_commands: dict[str, Handler] = {}
        self.group_buttons: dict[str, Handler] = {}
        self.group_replies: dict[str, Handler] = {}  # at most one, under "reply"
        self.notices: dict[str, Composer] = {}

    @staticmethod
    def _add(table: dict[str, Any], key: str, handler: Any, kind: str) -> None:
        if key in table:
            raise ValueError(f"{kind} {key!r} is registered twice")
        table[key] = handler

    def command(self, *names: str, places: Collection[Place] = PRIVATE
                ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                if Place.PRIVATE in places:
                    self._add(self.commands, name, handler, "command")
                if Place.COORDINATORS in places:
                    self._add(self.group_commands, name, handler, "group command")
            return handler

        return register

    def button(self, *prefixes: str, places: Collection[Place] = PRIVATE
               ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for prefix in prefixes:
                if ":" in prefix:
                    raise ValueError("a button prefix has no ':'")
                if Place.PRIVATE in places:
                    self._add(self.buttons, prefix, handler, "button")
                if Place.COORDINATORS in places:
                    self._add(self.group_buttons, prefix, handler, "group button")
            return handler

        return register

    def group_reply(self) -> Callable[[Handler], Handler]:
        """The step for a message (text, a file, anything) written in the coordinators'
        chat as a reply to another message there (`ctx.event.reply_to`)."""

        def register(handler: Handler) -> Handler:
            self._add(self.group_replies, "reply", handler, "group reply")
            return handler

        return register

    def notice(self, name: str) -> Callable[[Composer], Composer]:
        """A message composed for others to send: `compose(t, **data) -> list[Reply]`,
        called through `Engine.compose(name, language, **data)`."""

        def register(composer: Composer) -> Composer:
            self._add(self.notices, name, composer, "notice")
            return composer

        return register

    def state(self, *names: str, files: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                self._add(self.states, name, handler, "state")
                if files:
                    self._add(self.file_states, name, handler, "file state")
            return handler

        return register

    def fallback(self, kind: str) -> Callable[[Handler], Handler]:
        if kind not in FALLBACKS:
            raise ValueError(f"unknown fallback {kind!r}")

        def register(handler: Handler) -> Handler:
            self._add(self.fallbacks, kind, handler, "fallback")
            return handler

        return register

    def include(self, *others: Router) -> Router:
        for other in others:
            for table, theirs, kind in (
                (self.commands, other.commands, "command"),
                (self.buttons, other.buttons, "button"),
                (self.states, other.states, "state"),
                (self.file_states, other.file_states, "file state"),
                (self.fallbacks, other.fallbacks, "fallback"),
                (self.group_commands, other.group_commands, "group command"),
                (self.group_buttons, other.group_buttons, "group button"),
                (self.group_replies, other.group_replies, "group reply"),
            ):
                for key, handler in theirs.items():
                    self._add(table, key, handler, kind)
            for name, composer in other.notices.items():
                self._add(self.notices, name, composer, "notice")
        return self

    def check_complete(self) -> None:
        missing = [kind for kind in FALLBACKS if kind not in self.fallbacks]
        if missing:
            raise ValueError(f"router {self.name!r} lacks fallbacks: {', '.join(missing)}")
