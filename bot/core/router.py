"""Registration of flow steps: commands, button payloads, text in a state, fallbacks;
and of notices, the messages flows compose for other parts of the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from bot.core.events import Place
from bot.core.payloads import Codec

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
# Fallbacks a flow may take over for its own states (by state prefix).
STATE_SCOPED = ("text", "unsupported", "contact")


class Router:
    """Maps what a user did to the step that answers it.

    - commands: `/start`, `/menu`, ... (also words on channels without commands)
    - buttons: by payload prefix, the part before the first `:`; a prefix given as a
      `Codec` has its payloads parsed before the step runs (`ctx.press`), and a payload
      the codec refuses goes to the "stale" fallback instead
    - states: free text while the session is in that state; `files=True` also takes
      photos and documents (EventKind.FILE) there, which go to "unsupported" elsewhere
    - fallbacks: stale buttons, unexpected text, unsupported input, unknown
      commands, and a user who has not chosen a language yet. A flow may register
      its own for its scope: `fallback("stale", button=codec)` for its refused or
      unknown presses, `fallback("text", state="rg:")` (also "unsupported",
      "contact") for input while the session's state starts with that prefix. The
      longest matching scope wins; the global fallback answers everywhere else.
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
        self.codecs: dict[str, Codec] = {}
        self.states: dict[str, Handler] = {}
        self.file_states: dict[str, Handler] = {}
        self.fallbacks: dict[str, Handler] = {}
        self.group_commands: dict[str, Handler] = {}
        self.group_buttons: dict[str, Handler] = {}
        self.group_replies: dict[str, Handler] = {}  # at most one, under "reply"
        self.notices: dict[str, Composer] = {}
        # (kind, scope) -> handler; the scope is a payload prefix for "stale", a state
        # prefix for the others.
        self.scoped: dict[tuple[str, str], Handler] = {}

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

    def button(self, *prefixes: str | Codec, places: Collection[Place] = PRIVATE
               ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for item in prefixes:
                prefix = item.prefix if isinstance(item, Codec) else item
                if ":" in prefix:
                    raise ValueError("a button prefix has no ':'")
                if Place.PRIVATE in places:
                    self._add(self.buttons, prefix, handler, "button")
                if Place.COORDINATORS in places:
                    self._add(self.group_buttons, prefix, handler, "group button")
                if isinstance(item, Codec):
                    self.codecs[prefix] = item
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

    def fallback(self, kind: str, *, state: str | None = None,
                 button: str | Codec | None = None) -> Callable[[Handler], Handler]:
        if kind not in FALLBACKS:
            raise ValueError(f"unknown fallback {kind!r}")
        if button is not None and kind != "stale":
            raise ValueError("only the 'stale' fallback is scoped by button")
        if state is not None and kind not in STATE_SCOPED:
            raise ValueError(f"the {kind!r} fallback is not scoped by state")
        scope = button.prefix if isinstance(button, Codec) else button if button else state

        def register(handler: Handler) -> Handler:
            if scope is None:
                self._add(self.fallbacks, kind, handler, "fallback")
            elif (kind, scope) in self.scoped:
                raise ValueError(f"fallback {kind!r} for {scope!r} is registered twice")
            else:
                self.scoped[(kind, scope)] = handler
            return handler

        return register

    def fallback_for(self, kind: str, *, state: str | None = None,
                     prefix: str | None = None) -> Handler:
        """The fallback that answers here: a flow's own for this state or payload
        prefix if one is registered, else the global one."""
        if kind == "stale" and prefix is not None:
            handler = self.scoped.get((kind, prefix))
            if handler is not None:
                return handler
        elif state is not None:
            matches = [scope for (scoped, scope) in self.scoped
                       if scoped == kind and state.startswith(scope)]
            if matches:
                return self.scoped[(kind, max(matches, key=len))]
        return self.fallbacks[kind]

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
            self.codecs.update(other.codecs)
            for scoped, handler in other.scoped.items():
                if scoped in self.scoped:
                    raise ValueError(f"fallback {scoped!r} is registered twice")
                self.scoped[scoped] = handler
        return self

    def check_complete(self) -> None:
        missing = [kind for kind in FALLBACKS if kind not in self.fallbacks]
        if missing:
            raise ValueError(f"router {self.name!r} lacks fallbacks: {', '.join(missing)}")
