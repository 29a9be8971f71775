"""Button payloads, typed: a flow declares its buttons as small dataclasses on one
`Codec`, which builds the payload strings and reads them back.

    buttons = Codec("fo")

    @buttons.kind("v")
    @dataclass(frozen=True)
    class View:
        forum: Id

    buttons.build(View(12))       # "fo:v:12"
    buttons.parse("fo:v:12")      # View(forum=12)
    buttons.parse("fo:v:²")       # None: the flow's "stale" fallback answers

The wire format is `<prefix>[:<tag>][:<field>...]`. A tag may itself hold `:`
(`pv:forget:yes`); the longest declared tag wins, and a kind with the empty tag takes
payloads whose next part is no tag (`prj:<project>`). Fields are `int` (ASCII digits,
0..2^63-1), `Id` (1..2^63-1), `Annotated[int, Range(low, high)]`, `str` (printable,
non-empty; only the last field may hold `:`), a `Literal` of strings or a `StrEnum`;
trailing fields may be optional (`... | None = None`). Building a payload over
`MAX_BYTES` (Telegram's `callback_data` limit; WhatsApp allows 200 characters) or a
field the parser would refuse raises `ValueError` at once.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from bot.core.inbound import MAX_NUMBER, whole_number
from bot.core.replies import Choice

MAX_BYTES = 64
# Payloads each codec keeps built (a few screens' worth for every flow).
BUILT_KEPT = 4096
ID_MAX = MAX_NUMBER


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds of an `int` field: `Annotated[int, Range(1, 12)]`."""

    low: int
    high: int


Id = Annotated[int, Range(1, ID_MAX)]  # a database id

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: str  # int, str, choice
    optional: bool
    low: int = 0
    high: int = ID_MAX
    choices: tuple[str, ...] = ()
    enum: type[StrEnum] | None = None

    def decode(self, raw: str, last: bool) -> object:
        if raw == "" or not raw.isprintable():
            raise ValueError(raw)
        if self.kind == "int":
            # ASCII digits only ('²'.isdigit() is true), in canonical form.
            number = whole_number(raw, low=self.low, high=self.high)
            if number is None or str(number) != raw:
                raise ValueError(raw)
            return number
        if not last and ":" in raw:
            raise ValueError(raw)
        if self.kind == "choice" and raw not in self.choices:
            raise ValueError(raw)
        return self.enum(raw) if self.enum is not None else raw

    def encode(self, value: object, last: bool) -> str:
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{self.name} must be an int, not {value!r}")
            raw = str(value)
        elif isinstance(value, str):
            raw = str(value.value) if isinstance(value, StrEnum) else value
        else:
            raise ValueError(f"{self.name} must be a str, not {value!r}")
        self.decode(raw, last)  # what would not read back is refused now
        return raw


def _field(name: str, hint: Any, has_default: bool) -> _Field:
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        members = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(members) != 1 or len(get_args(hint)) != 2 or not has_default:
            raise TypeError(f"field {name}: only `X | None = None` may be optional")
        hint, optional = members[0], True
    low, high = 0, ID_MAX
    if get_origin(hint) is Annotated:
        hint, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Range):
                low, high = max(low, extra.low), min(high, extra.high)
    if hint is int:
        return _Field(name, "int", optional, low, high)
    if hint is str:
        return _Field(name, "str", optional)
    if get_origin(hint) is Literal:
        values = get_args(hint)
        if not all(isinstance(value, str) for value in values):
            raise TypeError(f"field {name}: a Literal of strings only")
        return _Field(name, "choice", optional, choices=tuple(values))
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return _Field(name, "choice", optional, choices=tuple(m.value for m in hint),
                      enum=hint)
    raise TypeError(f"field {name}: unsupported type {hint!r}")


@dataclass(frozen=True, slots=True)
class _Kind:
    tag: str
    cls: type
    fields: tuple[_Field, ...]

    def decode(self, parts: list[str]) -> object:
        required = sum(1 for field in self.fields if not field.optional)
        if self.fields and len(parts) > len(self.fields):
            # The last field takes the rest, `:` included.
            parts = [*parts[:len(self.fields) - 1], ":".join(parts[len(self.fields) - 1:])]
        if not required <= len(parts) <= len(self.fields):
            raise ValueError(parts)
        values = {field.name: field.decode(raw, index == len(self.fields) - 1)
                  for index, (field, raw) in enumerate(zip(self.fields, parts, strict=False))}
        return self.cls(**values)


class Codec:
    """The buttons of one flow: payloads starting with `prefix` (see the module's doc)."""

    def __init__(self, prefix: str) -> None:
        if not prefix or ":" in prefix or not prefix.isascii():
            raise ValueError(f"bad payload prefix {prefix!r}")
        self.prefix = prefix
        self._by_tag: dict[str, _Kind] = {}
        self._by_type: dict[type, _Kind] = {}
        # Payloads built, by button: a screen builds the same buttons for everyone, and
        # building checks each payload by reading it back.
        self._built: dict[object, str] = {}

    def kind(self, tag: str = "") -> Callable[[type[T]], type[T]]:
        """Declare a dataclass as one kind of button of this flow."""

        def register(cls: type[T]) -> type[T]:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} is not a dataclass")
            if cls.__hash__ is None:
                raise TypeError(f"{cls.__name__}: a button is a frozen dataclass")
            if tag in self._by_tag:
                raise ValueError(f"payload tag {self.prefix}:{tag} is declared twice")
            if any(part == "" for part in tag.split(":")) and tag != "":
                raise ValueError(f"bad payload tag {tag!r}")
            hints = typing.get_type_hints(cls, include_extras=True)
            fields: list[_Field] = []
            for item in dataclasses.fields(cls):
                has_default = item.default is not dataclasses.MISSING
                fields.append(_field(item.name, hints[item.name], has_default))
            optional = [field.optional for field in fields]
            if optional != sorted(optional):
                raise TypeError(f"{cls.__name__}: optional fields come last")
            kind = _Kind(tag, cls, tuple(fields))
            self._by_tag[tag] = kind
            self._by_type[cls] = kind
            return cls

        return register

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags of the kinds declared (`""` for the kind without one)."""
        return tuple(self._by_tag)

    def build(self, value: object) -> str:
        """The payload of a button; ValueError when it could not be sent or read back."""
        built = self._built.get(value)
        if built is None:
            built = self._build(value)
            if len(self._built) >= BUILT_KEPT:
                self._built.clear()
            self._built[value] = built
        return built

    def _build(self, value: object) -> str:
        kind = self._by_type.get(type(value))
        if kind is None:
            raise ValueError(f"{type(value).__name__} is no button of {self.prefix!r}")
        parts = [self.prefix, *([kind.tag] if kind.tag else [])]
        last = len(kind.fields) - 1
        missing = False
        for index, field in enumerate(kind.fields):
            item = getattr(value, field.name)
            if item is None:
                if not field.optional:
                    raise ValueError(f"{field.name} is required")
                missing = True
                continue
            if missing:
                raise ValueError(f"{field.name} is set after an optional field left out")
            parts.append(field.encode(item, index == last))
        payload = ":".join(parts)
        if len(payload.encode()) > MAX_BYTES:
            raise ValueError(f"payload over {MAX_BYTES} bytes: {payload!r}")
        if self.parse(payload) != value:  # e.g. a field that reads as another kind's tag
            raise ValueError(f"payload {payload!r} would not read back as {value!r}")
        return payload

    def choice(self, label: str, press: object) -> Choice:
        """A button: `FORUMS.choice(ctx._("Register"), Register(forum.id))`."""
        return Choice(label, self.build(press))

    def parse(self, payload: str) -> object | None:
        """The button a payload stands for; None when it is not one of this flow's, or
        malformed, or out of range (a button from an older version, or forged)."""
        head, _, rest = payload.partition(":")
        if head != self.prefix:
            return None
        parts = rest.split(":") if rest else []
        if rest and "" in parts:
            return None
        for end in range(len(parts), 0, -1):
            kind = self._by_tag.get(":".join(parts[:end]))
            if kind is not None:
                return self._decode(kind, parts[end:])
        kind = self._by_tag.get("")
        return self._decode(kind, parts) if kind is not None else None

    @staticmethod
    def _decode(kind: _Kind, parts: list[str]) -> object | None:
        try:
            return kind.decode(parts)
        except ValueError:
            return None
