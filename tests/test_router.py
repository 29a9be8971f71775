"""Fallbacks a flow scopes to its own states or buttons, before the global ones."""

from __future__ import annotations

import pytest

from bot.core.context import Context
from bot.core.events import Event, EventKind
from bot.core.payloads import Codec
from bot.core.router import FALLBACKS, Router
from tests.conftest import Chat


async def _global(ctx: Context) -> None: ...
async def _flow_text(ctx: Context) -> None: ...
async def _step_text(ctx: Context) -> None: ...
async def _flow_stale(ctx: Context) -> None: ...


def _router() -> Router:
    root = Router("root")
    for kind in FALLBACKS:
        root.fallback(kind)(_global)
    flow = Router("flow")
    flow.fallback("text", state="fl:")(_flow_text)
    flow.fallback("text", state="fl:ask")(_step_text)
    flow.fallback("stale", button=Codec("fl"))(_flow_stale)
    root.include(flow)
    root.check_complete()
    return root


def test_the_longest_matching_scope_answers_else_the_global_fallback() -> None:
    router = _router()
    assert router.fallback_for("text", state="fl:ask") is _step_text
    assert router.fallback_for("text", state="fl:other") is _flow_text
    assert router.fallback_for("text", state="elsewhere") is _global
    assert router.fallback_for("text", state=None) is _global
    assert router.fallback_for("unsupported", state="fl:ask") is _global
    assert router.fallback_for("stale", prefix="fl") is _flow_stale
    assert router.fallback_for("stale", prefix="zz") is _global


def test_scopes_are_checked_when_registered() -> None:
    router = _router()
    with pytest.raises(ValueError):
        router.fallback("stale", state="fl:")
    with pytest.raises(ValueError):
        router.fallback("text", button="fl")
    with pytest.raises(ValueError):
        router.fallback("no_language", state="fl:")
    with pytest.raises(ValueError):
        Router("other").include(_router(), _router())  # the same scope twice


async def test_a_shared_phone_outside_the_registration_gets_the_menu(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    await chat._send(Event(chat.identity, EventKind.CONTACT, phone="+4915112345678"))
    assert "I can only read text and buttons" in chat.texts()
    assert "menu" not in chat.payloads() and "fo" in chat.payloads()  # the menu itself
