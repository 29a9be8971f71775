"""Typed questions end to end, on Telegram (both modes, against the fake Bot API), on
WhatsApp (the fake Graph API) and in the terminal: a question answered, an unsure one
offered to a coordinator and relayed to the coordinators' chat, off-topic text not
answered, and text typed while the registration waits for a name or a phone taken as
that input."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App, build_app
from bot.channels.console import ConsoleChannel
from bot.db.models import HandoverMessage
from bot.services import knowledge
from tests.conftest import make_settings
from tests.fakes.graph_api import FakeGraphAPI, WhatsAppUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.forum_helpers import make_forum
from tests.telegram_harness import RunningBot, assert_clean, one, running_bot
from tests.test_handover import GROUP, LEAD, WA_SECRET, desk_settings, group, wa_step

USER = 611
ANSWERED = "how do i get kandas status"  # kandas_how
UNSURE = "kandas documents please"
OFF_TOPIC = "what is the weather tomorrow in almaty"
NAME_LIKE_A_QUESTION = "Kandas Documents"


def entry_title(app: App, entry_id: str, language: str = "en") -> str:
    return f"❓ {app.content.faq.words(entry_id, language).question}"


async def forum_id(app: App) -> int:
    async with app.engine.sessionmaker() as db, db.begin():
        return (await make_forum(db)).id


async def copied_to_group(api: FakeTelegramAPI, text: str) -> bool:
    await api.wait_for(lambda: any(text in (m.text or "") for m in group(api)), 5,
                       "the question's copy in the coordinators' chat")
    return True


# ---- Telegram --------------------------------------------------------------------------------


async def test_typed_questions_on_telegram(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]], telegram_mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode,
                           **desk_settings()) as bot:
        await bot.say(USER, "/start", language_code="en", first_name="Dana")

        answer = one(await bot.say(USER, ANSWERED))
        assert answer.text.startswith(entry_title(bot.app, "kandas_how"))
        assert answer.callback_data[0] == "el" and answer.callback_data[-1] == "menu"

        off = one(await bot.say(USER, OFF_TOPIC))
        assert "only help with" in off.text
        assert off.callback_data == ["faq:ask", "menu"]
        assert not any(OFF_TOPIC in (m.text or "") for m in group(api))

        monkeypatch.setattr(knowledge.KnowledgeBase.of(bot.app.content), "confident", 1.01)
        unsure = one(await bot.say(USER, UNSURE))
        assert "not sure I understood" in unsure.text
        assert unsure.callback_data[-2:] == ["faq:ask", "menu"]
        confirm = one(await bot.press(USER, "faq:ask"))
        assert f"«{UNSURE}»" in confirm.text
        sent = one(await bot.press(USER, "faq:send"))
        assert "#1" in sent.text
        assert await copied_to_group(api, UNSURE)
        monkeypatch.undo()

        await registration_takes_typed_input(bot, USER)
    assert_clean(api)


async def registration_takes_typed_input(bot: RunningBot, user: int) -> None:
    """A question-like name and a phone, typed while the registration waits for them."""
    forum = await forum_id(bot.app)
    await bot.say(user, "/menu")
    await bot.press(user, "fo")
    await bot.press(user, f"fo:v:{forum}")
    name_prompt = (await bot.press(user, f"fo:r:{forum}"))[-1]
    assert "full name" in name_prompt.text
    country = one(await bot.say(user, NAME_LIKE_A_QUESTION))
    assert "Which country" in country.text and "❓" not in country.text
    await bot.say(user, "Germany")
    await bot.say(user, "Berlin")
    await bot.say(user, "-")
    phone_prompt = one(await bot.press(user, "rg:sector:trade"))
    assert "phone number" in phone_prompt.text
    replies = await bot.say(user, "+49 151 12345678")
    assert "e-mail" in replies[-1].text
    assert not any("❓" in reply.text for reply in replies)


# ---- WhatsApp --------------------------------------------------------------------------------


async def test_typed_questions_on_whatsapp(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    user = WhatsAppUser("77015550011", "KZ.4000000000000000011", "Dana")
    async with FakeGraphAPI() as graph, running_bot(
        database_url, api, handled, **desk_settings(
            whatsapp_token=graph.token, whatsapp_phone_number_id=graph.phone_number_id,
            whatsapp_app_secret=WA_SECRET, whatsapp_verify_token="verify",
            whatsapp_api_url=graph.url, whatsapp_api_version=graph.version,
            whatsapp_rate=10_000.0)) as bot:
        sent = await wa_step(bot, graph, user, user.text("Hello"))
        await wa_step(bot, graph, user, user.choose(sent[-1], "lang:en"))

        answer = (await wa_step(bot, graph, user, user.text(ANSWERED)))[-1]
        assert answer.body.startswith(entry_title(bot.app, "kandas_how"))
        assert "el" in {choice[0] for choice in answer.choices}

        off = (await wa_step(bot, graph, user, user.text(OFF_TOPIC)))[-1]
        assert "only help with" in off.body
        assert {choice[0] for choice in off.choices} == {"faq:ask", "menu"}

        monkeypatch.setattr(knowledge.KnowledgeBase.of(bot.app.content), "confident", 1.01)
        unsure = (await wa_step(bot, graph, user, user.text(UNSURE)))[-1]
        assert "not sure I understood" in unsure.body
        confirm = (await wa_step(bot, graph, user, user.choose(unsure, "faq:ask")))[-1]
        assert f"«{UNSURE}»" in confirm.body
        done = (await wa_step(bot, graph, user, user.choose(confirm, "faq:send")))[-1]
        assert "#1" in done.body
        assert await copied_to_group(api, UNSURE)
        monkeypatch.undo()

        # The registration waits for a name: a name that reads like a question is a name.
        forum = await forum_id(bot.app)
        menu = (await wa_step(bot, graph, user, user.text("/menu")))[-1]
        listing = (await wa_step(bot, graph, user, user.choose(menu, "fo")))[-1]
        view = (await wa_step(bot, graph, user, user.choose(listing, f"fo:v:{forum}")))[-1]
        prompt = (await wa_step(bot, graph, user, user.choose(view, f"fo:r:{forum}"),
                                count=2))[-1]
        assert "full name" in prompt.body
        country = (await wa_step(bot, graph, user, user.text(NAME_LIKE_A_QUESTION)))[-1]
        assert "Which country" in country.body and "❓" not in country.body


# ---- the terminal ---------------------------------------------------------------------------


async def test_typed_questions_in_the_terminal(database_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    app = await build_app(make_settings(database_url, coordinator_chat_id=GROUP,
                                        bot_token="1:x"))
    try:
        await forum_id(app)  # an open forum to register for

        async def chat(*lines: str) -> str:
            out = io.StringIO()
            await ConsoleChannel(app.engine, "term", language="en",
                                 stdin=io.StringIO("\n".join([*lines, ""])), stdout=out).run()
            return out.getvalue()

        text = await chat(ANSWERED, OFF_TOPIC)
        assert entry_title(app, "kandas_how") in text
        assert "only help with" in text

        monkeypatch.setattr(knowledge.KnowledgeBase.of(app.content), "confident", 1.01)
        offered = len(knowledge.KnowledgeBase.of(app.content).ask(UNSURE).matches)
        text = await chat(UNSURE, str(offered + 1), "1")  # "Ask a coordinator", "Send"
        assert f"«{UNSURE}»" in text and "#1" in text
        monkeypatch.undo()
        async with app.engine.sessionmaker() as db:
            relayed = (await db.execute(select(HandoverMessage.text))).scalars().all()
        assert relayed == [UNSURE]  # the desk copies it into the coordinators' chat

        # /menu, "Business forums", the forum, "Register", then a name like a question.
        text = await chat("/menu", "2", "1", "1", NAME_LIKE_A_QUESTION)
        assert text.index("full name") < text.index("Which country")
        assert "not sure" not in text and "only help with" not in text
    finally:
        await app.close()
