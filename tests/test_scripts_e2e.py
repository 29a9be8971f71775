"""End to end in Kazakh's Latin and tote scripts: the terminal (`--lang`, DEFAULT_LOCALE),
Telegram through the fake Bot API and WhatsApp through the fake Graph API; a forum
registration with its ticket and calendar file; typed answers in either script."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from icalendar import Calendar

from bot import PROJECT_DIR
from bot.app import App
from bot.core import scripts
from tests.conftest import Chat
from tests.fakes.graph_api import WhatsAppUser
from tests.fakes.telegram_api import ApiCall
from tests.forum_helpers import make_forum
from tests.language import assert_no_cyrillic as no_cyrillic
from tests.telegram_harness import RunningBot, assert_clean, is_menu, one, user_row
from tests.test_handover import LEAD, desk, group, in_group  # noqa: F401  (the desk)
from tests.test_whatsapp_webhook import WA, make_wa

MENU = {"kk-Latn": "Basty mäzır. Ne bılgıñız keledı?",
        "kk-Arab": "باستى ٴمازىر. نە بىلگىڭىز كەلەدى؟"}


def run_chat(database_url: str, script: str, *args: str,
             **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8",
                   **env}
    environment.pop("BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", "chat", *args], input=script,
                          text=True, capture_output=True, cwd=PROJECT_DIR,
                          env=environment, timeout=60)


@pytest.mark.parametrize("locale", scripts.DERIVED)
def test_terminal_with_the_lang_option(database_url: str, locale: str) -> None:
    result = run_chat(database_url, "/start\n3\n", "--user", locale, "--lang", locale)
    assert result.returncode == 0, result.stderr
    assert MENU[locale] in result.stdout
    no_cyrillic(result.stdout.replace("Кандас болу", ""))


def test_terminal_with_default_locale_and_a_script_chosen_by_number(database_url: str) -> None:
    result = run_chat(database_url, "/start\n", "--user", "d", DEFAULT_LOCALE="kk-Arab")
    assert result.returncode == 0, result.stderr
    assert "[5] قازاقشا (توتە)" in result.stdout  # the choice: its name in its script
    chosen = run_chat(database_url, "4\n", "--user", "d")
    assert MENU["kk-Latn"] in chosen.stdout


@pytest.mark.parametrize("locale", scripts.DERIVED)
async def test_telegram(bot: RunningBot, locale: str) -> None:
    user = 700
    reply = one(await bot.say(user, "/start", language_code="kk", first_name="Әсел"))
    assert is_menu(reply)  # Telegram's `kk`: Kazakh in Cyrillic first
    await bot.say(user, "/language")
    reply = one(await bot.press(user, f"lang:{locale}"))
    assert (await user_row(bot.app, user)).language == locale
    assert MENU[locale] in reply.text
    for data in ("prj", "num", "set", "help"):
        shown = one(await bot.press(user, data))
        no_cyrillic("\n".join([shown.text, *shown.labels]), allowed={"Қазақша (кирилл)"})
        if locale == scripts.ARABIC:
            assert scripts.balanced(shown.text)
        one(await bot.say(user, "/menu"))
    assert_clean(bot.api)


# "Main menu", the description of /menu, as a reader of the script reads it.
MENU_COMMAND = {"kk-Latn": "Basty mäzır", "kk-Arab": "باستى ٴمازىر"}


def chat_lists(bot: RunningBot, user: int, since: int) -> list[ApiCall]:
    """The requests about the user's chat's own command list since `since`."""
    return [call for call in bot.api.calls[since:]
            if call.method in ("setMyCommands", "deleteMyCommands")
            and (call.params.get("scope") or {}).get("chat_id") == user]


async def chosen(bot: RunningBot, user: int, locale: str) -> list[ApiCall]:
    """The user picks `locale` in /language: the chat's command list requests it made."""
    await bot.say(user, "/language")
    mark = bot.api.mark()
    await bot.press(user, f"lang:{locale}")
    return chat_lists(bot, user, mark)


@pytest.mark.parametrize("locale", scripts.DERIVED)
async def test_telegram_command_list_in_the_chosen_script(bot: RunningBot, locale: str) -> None:
    user = 720
    mark = bot.api.mark()
    await bot.say(user, "/start", language_code="kk")
    assert chat_lists(bot, user, mark) == []  # the app's `kk` list speaks Kazakh already

    (call,) = await chosen(bot, user, locale)
    assert (call.method, call.ok) == ("setMyCommands", True)
    assert call.params["scope"] == {"type": "chat", "chat_id": user}
    assert "language_code" not in call.params
    commands = call.params["commands"]
    assert [c["command"] for c in commands] == [c["command"] for c in
                                                bot.api.commands[("default", "kk")]]
    described = {c["command"]: c["description"] for c in commands}
    assert described["menu"] == MENU_COMMAND[locale]
    no_cyrillic("\n".join(described.values()))
    assert bot.api.commands[(f"chat:{user}", "")] == commands

    mark = bot.api.mark()  # other steps leave the list alone
    await bot.say(user, "/menu")
    await bot.press(user, "help")
    await bot.say(user, "Сәлем")
    assert chat_lists(bot, user, mark) == []
    mark = bot.api.mark()  # starting again sets it again, in case it was lost
    await bot.say(user, "/start", language_code="kk")
    assert [call.params["commands"] for call in chat_lists(bot, user, mark)] == [commands]

    # English: the chat's own list in English, whatever the app's language
    (call,) = await chosen(bot, user, "en")
    assert call.method == "setMyCommands"
    described = {c["command"]: c["description"] for c in call.params["commands"]}
    assert described["menu"] == "Main menu"
    assert call.params["commands"] == bot.api.commands[("default", "en")]
    await bot.press(user, "menu")
    mark = bot.api.mark()  # the app speaks English: nothing to set again
    await bot.say(user, "/start", language_code="en")
    assert chat_lists(bot, user, mark) == []

    # Forgotten: the chat's own list goes, the app's language shows again
    await bot.say(user, "/forgetme")
    mark = bot.api.mark()
    await bot.press(user, "pv:forget:yes")
    (call,) = chat_lists(bot, user, mark)
    assert (call.method, call.ok) == ("deleteMyCommands", True)
    assert (f"chat:{user}", "") not in bot.api.commands
    assert_clean(bot.api)


async def test_telegram_a_new_user_whose_app_hints_a_script(bot: RunningBot) -> None:
    user = 721
    mark = bot.api.mark()
    await bot.say(user, "/start", language_code="kk-CN")  # Kazakh of China: tote
    assert (await user_row(bot.app, user)).language == "kk-Arab"
    (call,) = chat_lists(bot, user, mark)
    described = {c["command"]: c["description"] for c in call.params["commands"]}
    assert described["menu"] == MENU_COMMAND["kk-Arab"]
    assert_clean(bot.api)


async def test_telegram_command_list_not_set_the_conversation_goes_on(
        bot: RunningBot) -> None:
    user = 722
    await bot.say(user, "/start", language_code="ru")
    bot.api.fail_next("setMyCommands", error_code=400, description="Bad Request: chat not found")
    await bot.say(user, "/language")
    mark = bot.api.mark()
    reply = one(await bot.press(user, "lang:kk-Latn"))
    assert MENU["kk-Latn"] in reply.text
    assert (await user_row(bot.app, user)).language == "kk-Latn"
    (call,) = chat_lists(bot, user, mark)
    assert not call.ok
    assert (f"chat:{user}", "") not in bot.api.commands
    assert is_menu(one(await bot.say(user, "/menu")))
    assert_clean(bot.api)


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


@pytest.mark.parametrize("locale", scripts.DERIVED)
async def test_whatsapp(wa: WA, locale: str) -> None:
    user = WhatsAppUser("4915112345678", "DE.4000000000000000009", "Aigerim")
    sent = await wa.say(user, user.text("Сәлем"))
    choice = sent[-1]
    assert choice.interactive["type"] == "list"  # five languages: a list
    sent = await wa.say(user, user.choose(choice, f"lang:{locale}"))
    assert any(MENU[locale] in message.body for message in sent)
    menu = sent[-1]
    for item in ("prj", "num", "help"):
        shown = await wa.say(user, user.choose(menu, item))
        for message in shown:
            no_cyrillic("\n".join([message.body, *(t for _, t in message.choices)]))
        # The menu word as a reader of this script types it.
        word = "mäzır" if locale == scripts.LATIN else "مازىر"
        sent = await wa.say(user, user.text(word))
        menu = sent[-1]
        assert {"prj", "num"} <= {row for row, _ in menu.choices}


async def test_a_forum_registration_ticket_and_typed_answers_in_tote(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db, capacity=5)
    chat = Chat(app, "tote", channel="console")
    await chat.text("/start")
    await chat.press("lang:kk-Arab")
    await chat.press(f"fo:r:{forum.id}")
    await chat.text("Aigerim Seitova")
    await chat.text("گەرمانيا")  # Germany, typed in tote
    await chat.text("Berlin")
    await chat.text("-")
    await chat.press("rg:sector:trade")
    await chat.text("+4915112345678")
    await chat.press("rg:skip")
    await chat.press("rg:agree")
    await chat.press("rg:go")
    files = [reply.attachment for reply in chat.last if reply.attachment]
    assert [f.mime for f in files] == ["image/png", "text/calendar"]
    event = next(iter(Calendar.from_ical(files[1].data).walk("VEVENT")))
    assert str(event["summary"]) == "بەرليندەگى ىسكەرلىك فورۋم"
    no_cyrillic(files[1].data.decode())
    for reply in chat.last:
        no_cyrillic(reply.text)
        assert scripts.balanced(reply.text)


async def test_yes_and_countries_typed_in_latin(app: App) -> None:
    chat = Chat(app, "latin", channel="console")
    await chat.text("/start")
    await chat.press("lang:kk-Latn")
    await chat.press("el")
    await chat.text("iä")  # yes, in Latin
    assert "2-sūraq" in chat.texts()
    await chat.text("iä")
    await chat.text("joq")  # no, in Latin
    await chat.text("iä")
    await chat.text("Qytai")  # China, in Latin
    assert "6-sūraq" in chat.texts()


@pytest.mark.parametrize(("typed", "locale"), [
    ("Qazaqşa (latyn)", "kk-Latn"), ("latyn", "kk-Latn"), ("kk-Latn", "kk-Latn"), ("4", "kk-Latn"),
    ("قازاقشا (توتە)", "kk-Arab"), ("төте", "kk-Arab"), ("kk_Arab", "kk-Arab"), ("5", "kk-Arab"),
])
async def test_a_script_typed_instead_of_pressed(app: App, typed: str, locale: str) -> None:
    chat = Chat(app, f"typed-{typed}", channel="console")
    await chat.text("/start")
    await chat.text(typed)
    assert MENU[locale] in chat.texts()


async def test_a_coordinators_answer_reaches_a_tote_reader_in_tote(
    desk: RunningBot,  # noqa: F811
) -> None:
    user = 710
    await desk.say(user, "/start", language_code="kk", first_name="Әсел")
    await desk.say(user, "/language")
    await desk.press(user, "lang:kk-Arab")
    await desk.press(user, "ho")
    one(await desk.say(user, "Құжаттарды қайда тапсырамын?"))
    copy = group(desk.api)[-1]
    mark = desk.api.mark()
    await in_group(desk, LEAD, "ХҚКО-ға барыңыз, 10:00-ден бастап.", reply_to=copy.message_id)
    answer = one(desk.api.replies(user, mark))
    assert "حقكو-عا بارىڭىز، ⁦10:00⁩-دەن باستاپ." in answer.text
    no_cyrillic("\n".join([answer.text, *answer.labels]))
    assert scripts.balanced(answer.text)
