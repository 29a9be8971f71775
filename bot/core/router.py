"""Registration of flow steps: commands, button payloads, text in a state, fallbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.context import Context

Handler = Callable[["Context"], Awaitable[None]]

FALLBACKS = ("stale", "text", "unsupported", "unknown_command", "no_language", "contact")


class Router:
    """Maps what a user did to the step that answers it.

    - commands: `/start`, `/menu`, ... (also words on channels without commands)
    - buttons: by payload prefix, the part before the first `:`
    - states: free text while the session is in that state; `files=True` also takes
      photos and documents (EventKind.FILE) there, which go to "unsupported" elsewhere
    - fallbacks: stale buttons, unexpected text, unsupported input, unknown
      commands, and a user who has not chosen a language yet
    """

    def __init__(self, name: str = "root") -> None:
        self.name = name
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.states: dict[str, Handler] = {}
        self.file_states: dict[str, Handler] = {}
        self.fallbacks: dict[str, Handler] = {}

    @staticmethod
    def _add(table: dict[str, Handler], key: str, handler: Handler, kind: str) -> None:
        if key in table:
            raise ValueError(f"{kind} {key!r} is registered twice")
        table[key] = handler

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                self._add(self.commands, name, handler, "command")
            return handler

        return register

    def button(self, *prefixes: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for prefix in prefixes:
                if ":" in prefix:
                    raise ValueError("a button prefix has no ':'")
                self._add(self.buttons, prefix, handler, "button")
            return handler

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
            ):
                for key, handler in theirs.items():
                    self._add(table, key, handler, kind)
        return self

    def check_complete(self) -> None:
        missing = [kind for kind in FALLBACKS if kind not in self.fallbacks]
        if missing:
            raise ValueError(f"router {self.name!r} lacks fallbacks: {', '.join(missing)}")
