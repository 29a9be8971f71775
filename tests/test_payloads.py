"""Typed button payloads: building refuses what could not be sent or read back, parsing
refuses what a button never carried, and a refused press is a stale one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

import pytest

from bot.core.inbound import whole_number
from bot.core.payloads import ID_MAX, MAX_BYTES, Codec, Id, Range
from handlers import payloads as p
from tests.conftest import Chat

codec = Codec("tst")


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@codec.kind()
@dataclass(frozen=True)
class Entry:
    page: int | None = None


@codec.kind("v")
@dataclass(frozen=True)
class View:
    item: Id


@codec.kind("pick")
@dataclass(frozen=True)
class Pick:
    colour: Colour
    size: Literal["s", "m"]
    count: Annotated[int, Range(1, 12)]


@codec.kind("pick:all")
@dataclass(frozen=True)
class PickAll:
    pass


@codec.kind("n")
@dataclass(frozen=True)
class Note:
    text: str


def test_build_and_parse_round_trip() -> None:
    for value, payload in ((Entry(), "tst"), (Entry(3), "tst:3"), (View(12), "tst:v:12"),
                           (Pick(Colour.RED, "m", 12), "tst:pick:red:m:12"),
                           (PickAll(), "tst:pick:all"), (Note("a:b:c"), "tst:n:a:b:c")):
        assert codec.build(value) == payload
        assert codec.parse(payload) == value
    parsed = codec.parse("tst:pick:blue:s:1")
    assert isinstance(parsed, Pick) and parsed.colour is Colour.BLUE


def test_ids_and_numbers_are_ascii_digits_in_range() -> None:
    assert codec.parse(f"tst:v:{ID_MAX}") == View(ID_MAX)
    for payload in ("tst:v:0", f"tst:v:{ID_MAX + 1}", "tst:v:²", "tst:v:١٢", "tst:v:-1",
                    "tst:v:+1", "tst:v:012", "tst:v: 1", "tst:v:1.0", "tst:v:",
                    "tst:pick:red:m:13", "tst:pick:red:m:0"):
        assert codec.parse(payload) is None, payload
    assert whole_number("²") is None and whole_number("42") == 42 and whole_number("") is None


def test_malformed_payloads_are_refused() -> None:
    for payload in ("tst:zzz:1", "tst:v", "tst:v:1:2", "tst:pick:green:m:1",
                    "tst:pick:red:xl:1", "tst:pick:red:m", "tst:n", "tst::", "tst:v::1",
                    "other:v:1", "tstx", "", "tst:n:\x00"):
        assert codec.parse(payload) is None, payload


def test_building_refuses_what_could_not_be_sent_or_read_back() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        codec.build(Note("ж" * 40))
    assert len(codec.build(Note("x" * (MAX_BYTES - len("tst:n:"))))) == MAX_BYTES
    for value in (View(0), View(ID_MAX + 1), Note(""), Pick(Colour.RED, "xl", 1),  # type: ignore[arg-type]
                  Pick(Colour.RED, "s", 13)):
        with pytest.raises(ValueError):
            codec.build(value)
    ambiguous = Codec("amb")

    @ambiguous.kind()
    @dataclass(frozen=True)
    class Free:
        text: str

    @ambiguous.kind("v")
    @dataclass(frozen=True)
    class Tagged:
        pass

    assert ambiguous.build(Free("w")) == "amb:w"
    with pytest.raises(ValueError, match="read back"):
        ambiguous.build(Free("v"))  # it would read as Tagged()
    with pytest.raises(ValueError, match="no button"):
        p.FORUMS.build(View(1))


def test_declarations_are_checked() -> None:
    other = Codec("chk")
    with pytest.raises(TypeError):
        @other.kind("f")
        @dataclass(frozen=True)
        class Floating:
            value: float

    with pytest.raises(TypeError):
        @other.kind("o")
        @dataclass(frozen=True)
        class OptionalFirst:
            first: int | None
            second: int

    with pytest.raises(ValueError):
        @other.kind()
        @dataclass(frozen=True)
        class One:
            pass

        @other.kind()
        @dataclass(frozen=True)
        class Again:
            pass
    with pytest.raises(ValueError):
        Codec("a:b")
    with pytest.raises(TypeError, match="frozen"):  # built payloads are kept by button
        @other.kind("m")
        @dataclass
        class Mutable:
            value: int


def test_a_built_payload_is_kept_and_a_refused_one_refused_again() -> None:
    first = codec.build(View(5))
    assert codec.build(View(5)) is first and codec.parse(first) == View(5)
    for _ in range(2):
        with pytest.raises(ValueError):
            codec.build(View(0))


def test_the_flows_payloads_keep_their_wire_format() -> None:
    assert p.FORUMS.build(p.CancelConfirmed(7)) == "fo:xx:7"
    assert p.PRIVACY.build(p.ForgetConfirmed()) == "pv:forget:yes"
    assert p.ELIGIBILITY.parse("el:t:member_id_copy:2") == p.ToggleDocument("member_id_copy:2")
    assert p.ADMIN.parse("ad:cx!:3") == p.CancelForum(3)
    assert p.BROADCASTS.parse("bc:t:l:ru") == p.ToggleLanguage("ru")
    assert p.PROJECTS.parse("prj:bereke") == p.Projects("bereke")
    assert p.HANDOVER.build(p.AskCoordinator()) == "ho"
    assert p.HANDOVER.build(p.ReplyToAnswer()) == "ho:reply"
    assert p.DESK.build(p.CloseQuestion(12)) == "hd:close:12"
    assert p.COORDINATORS.build(p.CoordinatorList()) == "co"
    assert p.COORDINATORS.build(p.AddCoordinator()) == "co:add"
    assert p.COORDINATORS.parse("co:rm:123456789") == p.RemoveCoordinator(123456789)


def test_questions_and_coordinators_refuse_malformed_payloads() -> None:
    for payload in ("ho:x", "hd:close", "hd:close:0", "hd:close:x", "hd:open:1", "co:rm",
                    "co:rm:0", f"co:rm:{2**52}", "co:rm:-5", "co:x"):
        codec = {"ho": p.HANDOVER, "hd": p.DESK, "co": p.COORDINATORS}[payload[:2]]
        assert codec.parse(payload) is None, payload
    with pytest.raises(ValueError):
        p.COORDINATORS.build(p.RemoveCoordinator(0))


async def test_a_refused_payload_is_a_stale_press(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    for payload in ("fo:v:²", "fo:v:0", f"fo:v:{ID_MAX + 1}", "num:1", "menu:x", "ho:x",
                    "co:rm:x"):
        await chat.press(payload)
        assert "older message and no longer works" in chat.texts(), payload
    # A flow's own stale fallback: the registration asks its current step again.
    await chat.press("rg:sector:x:y")
    assert "registration is no longer open" in chat.texts()


async def test_a_refused_language_button_asks_for_the_language(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:xx")
    assert chat.payloads()[:3] == ["lang:kk", "lang:ru", "lang:en"]
