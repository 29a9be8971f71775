"""Hostile input, generated: typed text and button payloads thrown at every state of
every flow (the states are read from the flows' router, so a new flow is covered too),
on Telegram (through the webhook) and on WhatsApp (signed deliveries through the inbox).

Each example puts one user in a state, sends one to three generated inputs, then asks
for the menu. It fails when anything logged an exception (a step that raised is
answered with an apology, so the log is where a failure shows), or when the menu did
not come back (the user would be stuck).

`HYPOTHESIS_PROFILE=fuzz` runs many more examples than the default profile;
`HYPOTHESIS_PROFILE=count` as many, without stopping at a failure: it prints how many
inputs were tried and how many exceptions were logged (the figures of the README)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from bot import LANGUAGES
from bot.app import App
from bot.clock import now
from bot.core.events import Identity
from bot.db.models import ChatSession, User
from tests.fakes.graph_api import WhatsAppUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.logged import describe, exceptions_logged
from tests.telegram_harness import RunningBot, running_bot
from tests.test_whatsapp_webhook import WA, make_wa

settings.register_profile(
    "default", max_examples=100, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(
    "fuzz", max_examples=1500, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile(
    "count", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "1500")), deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)

LEAD = 424242
# channel -> [inputs tried, exceptions logged, examples after which the menu did not come]
TALLY: dict[str, list[int]] = {}

# Strings that broke parsers before: digits `int` refuses, numbers longer than `int`
# reads (4,300 digits), ids past every column, NUL and other controls, lone surrogates.
NASTY = ["²", "①", "³", "٣", "¹²", "1²", "-1", "0", "00", "+5", " 7 ", "1_000", "1e9",
         "5" * 5000, "9" * 19, str(2**31), str(2**63), str(2**64), "\x00", "a\x00b",
         "\x1b[31m", "\u202e", "\ufeff", "\ud800", "x\udfff", "\U0001f600" * 300,
         "", " ", "\n\n", "/", "/start\x00", "/menu ²", "+7 701 234 5678\x00"]
NUMBERS = st.integers(min_value=-(2**70), max_value=2**70).map(str)


def texts(*, surrogates: bool) -> st.SearchStrategy[str]:
    alphabet = st.characters(codec=None) if surrogates else st.characters(
        blacklist_categories=("Cs",))
    return st.one_of(
        st.sampled_from([s for s in NASTY if surrogates or not _has_surrogate(s)]),
        NUMBERS,
        st.text(alphabet, max_size=40),
        st.text(alphabet, min_size=3000, max_size=5000),
        st.builds(lambda command, rest: f"/{command} {rest}",
                  st.sampled_from(["start", "menu", "cancel", "add", "remove", "help",
                                   "language", "mydata", "forgetme", "x"]),
                  st.text(alphabet, max_size=20)),
    )


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def payloads(app: App, limit: int) -> st.SearchStrategy[str]:
    """A codec's prefix, maybe one of its tags, then generated fields."""
    router = app.engine.router
    prefixes = sorted({*router.buttons, *router.group_buttons})
    tags = sorted({tag for codec in router.codecs.values() for tag in codec.tags} - {""})
    field = st.one_of(st.sampled_from(NASTY[:20]), NUMBERS, st.text(max_size=12),
                      st.sampled_from(tags))
    return st.builds(
        lambda prefix, parts: ":".join([prefix, *parts])[:limit],
        st.sampled_from(prefixes), st.lists(field, max_size=4))


def actions(app: App, *, surrogates: bool, limit: int) -> st.SearchStrategy[Any]:
    return st.lists(st.one_of(
        st.tuples(st.just("text"), texts(surrogates=surrogates)),
        st.tuples(st.just("press"), payloads(app, limit)),
        st.tuples(st.just("offered"), st.integers(min_value=0, max_value=20)),
    ), min_size=1, max_size=3)


def states(app: App) -> list[str | None]:
    return [None, *sorted(app.engine.router.states)]


async def put_in_state(app: App, identity: Identity, language: str, state: str | None
                       ) -> None:
    """The user as left in `state`, with no session data (one that expired, or written
    by an older version)."""
    await app.engine.set_language(identity, language)
    async with app.engine.sessionmaker() as db, db.begin():
        user_id = (await db.execute(select(User.id).where(
            User.channel == identity.channel,
            User.external_id == identity.external_id))).scalar_one()
        await db.execute(delete(ChatSession).where(ChatSession.user_id == user_id))
        await db.execute(insert(ChatSession).values(
            user_id=user_id, state=state, data={}, version=1, updated_at=now()))


def report(channel: str, tried: int, failed: list[logging.LogRecord], menu: bool) -> None:
    """Counts the example (`TALLY`); fails it, unless counting, when an exception was
    logged or the menu did not come back."""
    tally = TALLY.setdefault(channel, [0, 0, 0])
    tally[0] += tried
    tally[1] += len(failed)
    tally[2] += not menu
    print(f"\nhostile input on {channel}: {tally[0]} tried, {tally[1]} exceptions, "
          f"{tally[2]} left without the menu")
    if PROFILE == "count":
        return
    assert menu, "the menu did not come back"
    assert not failed, describe(failed)


# ---- Telegram -----------------------------------------------------------------------------


@pytest.fixture
async def tg(database_url: str, api: FakeTelegramAPI, handled: set[Any]
             ) -> AsyncIterator[RunningBot]:
    async with running_bot(database_url, api, handled, telegram_mode="webhook",
                           admin_ids=str(LEAD)) as running:
        yield running


@given(data=st.data())
async def test_telegram_answers_hostile_input_in_every_state(tg: RunningBot,
                                                             data: st.DataObject) -> None:
    app = tg.app
    user = data.draw(st.sampled_from([LEAD, 5001]), label="user")
    state = data.draw(st.sampled_from(states(app)), label="state")
    language = data.draw(st.sampled_from(LANGUAGES), label="language")
    name = data.draw(st.one_of(st.just("Aigerim"), texts(surrogates=False)), label="name")
    steps = data.draw(actions(app, surrogates=False, limit=64), label="actions")
    await put_in_state(app, Identity("telegram", str(user)), language, state)
    tried = 0
    with exceptions_logged() as failed:
        for kind, value in steps:
            tried += 1
            if kind == "text":
                await tg.after(user, tg.api.send_text(user, value, first_name=name))
            elif kind == "press":
                await tg.after(user, tg.api.press_data(user, value))
            else:
                offered = [b["callback_data"] for m in tg.api.messages(user)[-1:]
                           for b in m.buttons if "callback_data" in b]
                if offered:
                    await tg.after(user, tg.api.press_data(user, offered[value % len(offered)]))
        menu = await tg.after(user, tg.api.send_text(user, "/menu", first_name=name))
    report("telegram", tried, failed, any(reply.callback_data for reply in menu))


# ---- WhatsApp -----------------------------------------------------------------------------


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


@given(data=st.data())
async def test_whatsapp_answers_hostile_input_in_every_state(wa: WA,
                                                             data: st.DataObject) -> None:
    app = wa.app
    state = data.draw(st.sampled_from(states(app)), label="state")
    language = data.draw(st.sampled_from(LANGUAGES), label="language")
    name = data.draw(st.one_of(st.just("Ерлан"), texts(surrogates=True)), label="name")
    steps = data.draw(actions(app, surrogates=True, limit=256), label="actions")
    person = WhatsAppUser("77017654321", "KZ.5000000000000000042", name)
    await put_in_state(app, Identity("whatsapp", person.user_id or ""), language, state)
    tried = 0
    with exceptions_logged() as failed:
        for kind, value in steps:
            tried += 1
            if kind == "text":
                await wa.say(person, person.text(value))
            elif kind == "press":
                await wa.say(person, person.button(value[:256]))
            else:
                last = wa.api.messages_to(person.recipient)[-1:]
                offered = [choice for sent in last for choice, _ in sent.choices]
                if offered:
                    await wa.say(person, person.button(offered[value % len(offered)]))
        menu = await wa.say(person, person.text("menu"))
    report("whatsapp", tried, failed, any(sent.choices for sent in menu))
