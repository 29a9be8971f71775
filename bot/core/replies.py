"""What the flows answer: channel-neutral replies that each channel renders."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Choice:
    """A button: a localized label and a short payload (at most 64 bytes)."""

    label: str
    payload: str
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.label.strip():
            raise ValueError("a choice needs a label")
        if len(self.payload.encode()) > 64:
            raise ValueError(f"payload too long: {self.payload!r}")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a reply: a data export, a ticket, a calendar entry, a list.
    `ref` is the platform's own id of a file it holds already (a Telegram file_id): it
    is sent by that id, `data` unused; `mime` image/jpeg or image/png shows a photo."""

    filename: str
    data: bytes
    mime: str = "application/octet-stream"
    ref: str | None = None

    @property
    def is_text(self) -> bool:
        return self.mime.startswith("text/") or self.mime == "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: text, optionally rows of choices and a file."""

    text: str
    choices: tuple[tuple[Choice, ...], ...] = field(default=())
    attachment: Attachment | None = None
    # A button that shares the user's phone number, where the platform has one
    # (Telegram); elsewhere the text asks the user to type it.
    ask_contact: str | None = None

    @property
    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]


def rows(*items: Choice | list[Choice] | tuple[Choice, ...]) -> tuple[tuple[Choice, ...], ...]:
    """Build keyboard rows: a Choice alone is a row of one, a list is a row of several,
    an empty list no row."""
    result: list[tuple[Choice, ...]] = []
    for item in items:
        if isinstance(item, Choice):
            result.append((item,))
        elif item:
            result.append(tuple(item))
    return tuple(result)


def split_text(text: str, limit: int) -> list[str]:
    """Split text into chunks of at most `limit` characters, preferring paragraph,
    then line, then word boundaries."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            position = window.rfind(separator)
            if position > limit // 3:
                cut = position
                break
        if cut <= 0:
            cut = limit
            chunks.append(rest[:cut])
            rest = rest[cut:]
        else:
            chunks.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks
