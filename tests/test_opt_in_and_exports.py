"""WhatsApp's `start` turning announcements back on in the flow's own step, and the
sections of `/mydata` registered by the parts that keep data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

import handlers.language
from bot import clock
from bot.app import App
from bot.channels.whatsapp_events import event_for
from bot.channels.whatsapp_updates import Incoming
from bot.core.events import Event, EventKind, Identity
from bot.db.models import User
from bot.services import privacy
from tests.conftest import Chat


async def _announcements(app: App, external_id: str) -> bool:
    async with app.engine.sessionmaker() as db:
        return bool((await db.execute(select(User.announcements).where(
            User.external_id == external_id))).scalar_one())


def _typed(text: str) -> Incoming:
    return Incoming(wamid="wamid.1", user_id="KZ.1", wa_id="77011234567", name=None,
                    timestamp=clock.now(), type="text", text=text)


def test_whatsapp_start_words_are_opt_in_commands() -> None:
    identity = Identity("whatsapp", "KZ.1")
    for text in ("start", "Старт", "бастау", "/start"):
        event = event_for(identity, _typed(text))
        assert (event.kind, event.command, event.opt_in) == (EventKind.COMMAND, "start", True)
    for text in ("stop", "menu", "/help", "hello"):
        assert not event_for(identity, _typed(text)).opt_in


async def test_start_turns_announcements_on_only_when_the_channel_says_so(app: App) -> None:
    chat = Chat(app, user="77", channel="whatsapp")
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.text("/stop")
    assert "no more announcements" in chat.texts()
    assert not await _announcements(app, "77")
    await chat.text("/start")  # a plain /start (Telegram's) leaves them off
    assert not await _announcements(app, "77")
    replies = await app.engine.handle(Event(chat.identity, EventKind.COMMAND, text="start",
                                            command="start", opt_in=True))
    assert "Hello" in "\n".join(reply.text for reply in replies)
    assert await _announcements(app, "77")


async def test_opting_in_is_part_of_the_step(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(app, user="78", channel="whatsapp")
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.text("/stop")

    def broken(_ctx: Any) -> None:
        raise RuntimeError("the step fails after opting in")

    monkeypatch.setattr(handlers.language, "greet", broken)
    replies = await app.engine.handle(Event(chat.identity, EventKind.COMMAND, text="start",
                                            command="start", opt_in=True))
    assert "something went wrong" in replies[0].text
    assert not await _announcements(app, "78")  # nothing of the failed step was kept


async def test_my_data_sections_keep_their_order(app: App) -> None:
    assert list(privacy.EXPORTERS) == ["profile", "conversation", "eligibility_checks",
                                       "forum_registrations", "announcements", "whatsapp",
                                       "questions_to_coordinators"]
    chat = Chat(app, user="79", channel="whatsapp")
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.text("/mydata")
    attachment = chat.last[0].attachment
    assert attachment is not None
    exported = json.loads(attachment.data)
    assert list(exported) == list(privacy.EXPORTERS)
    assert exported["whatsapp"] == {"business_scoped_user_id": None, "phone": None,
                                    "profile_name": None, "last_message_at": None,
                                    "messages_sent_to_you": []}


def test_register_exporter_places_and_replaces_sections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sections: dict[str, privacy.Exporter] = {}
    monkeypatch.setattr(privacy, "EXPORTERS", sections)

    async def one(_db: Any, _user_id: int) -> int:
        return 1

    async def two(_db: Any, _user_id: int) -> int:
        return 2

    privacy.register_exporter("a", one)
    privacy.register_exporter("c", one)
    privacy.register_exporter("b", one, before="c")
    privacy.register_exporter("d", one, before="missing")  # at the end
    privacy.register_exporter("b", two, before="a")  # registered again: stays, replaced
    assert list(sections) == ["a", "b", "c", "d"]
    assert sections["b"] is two
