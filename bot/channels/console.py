"""The terminal channel: the same flows, numbered choices, scriptable through stdin."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.core import metrics
from bot.core.engine import Engine, Unavailable
from bot.core.events import Event, EventKind, Identity
from bot.core.inbound import whole_number
from bot.core.replies import Choice, Reply

CHANNEL = "console"


def render(replies: list[Reply]) -> tuple[str, list[Choice]]:
    """Replies as terminal text; choices are numbered across all replies."""
    lines: list[str] = []
    choices: list[Choice] = []
    for reply in replies:
        lines.append(reply.text)
        if reply.attachment is not None:
            attachment = reply.attachment
            lines.append(f"📎 {attachment.filename} ({len(attachment.data)} bytes)")
            if attachment.is_text:
                lines.append(attachment.data.decode("utf-8", errors="replace"))
        for choice in reply.flat_choices:
            choices.append(choice)
            suffix = f" ({choice.url})" if choice.url else ""
            lines.append(f"  [{len(choices)}] {choice.label}{suffix}")
        lines.append("")
    return "\n".join(lines), choices


class ConsoleChannel:
    def __init__(self, engine: Engine, user: str = "local", *, language: str | None = None,
                 stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.engine = engine
        self.identity = Identity(CHANNEL, user)
        self.language = language
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._choices: list[Choice] = []

    def event_for(self, line: str) -> Event:
        stripped = line.strip()
        number = whole_number(stripped, low=1, high=len(self._choices))
        if number is not None and not self._choices[number - 1].url:
            choice = self._choices[number - 1]
            return Event(self.identity, EventKind.BUTTON, text=choice.label,
                         payload=choice.payload)
        return Event.from_text(self.identity, stripped)

    async def send(self, event: Event) -> None:
        try:
            replies = await self.engine.handle(event)
        except Unavailable:  # nobody delivers a typed line again: say so
            replies = await self.engine.apology(event)
        text, choices = render(replies)
        if replies:
            self._choices = choices
        metrics.REPLIES.labels(CHANNEL).inc(len(replies))
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def run(self) -> None:
        if self.language:
            await self.engine.set_language(self.identity, self.language)
        loop = asyncio.get_running_loop()
        if self.stdin.isatty():
            await self.send(Event.from_text(self.identity, "/start"))
        while True:
            if self.stdin.isatty():
                self.stdout.write("> ")
                self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                return
            if not line.strip():
                continue
            await self.send(self.event_for(line))
