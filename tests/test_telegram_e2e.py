"""End to end on Telegram: the real bot (build_app + serve) against a fake Bot API.

Each test starts the whole bot (HTTP server, Telegram channel, scheduler) the way
`python -m bot run` does, with TELEGRAM_API_URL pointing at tests.fakes.telegram_api,
and drives it only through Telegram updates and HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from bot import LANGUAGES
from bot.channels.telegram import TelegramChannel
from bot.content.facts import fill
from bot.core.events import Identity
from bot.core.replies import Choice, Reply
from handlers.facts_text import counted
from tests.fakes.telegram_api import SECRET_HEADER, TEXT_LIMIT, FakeTelegramAPI
from tests.language import assert_language
from tests.telegram_harness import (
    MENU,
    SECRET,
    RunningBot,
    assert_clean,
    check,
    is_language_choice,
    is_menu,
    one,
    running_bot,
    squash,
    user_row,
)

COMMANDS = ["start", "menu", "language", "help", "cancel"]
NAMES = {"kk": "Әсел", "ru": "Айгерим", "en": "Aigerim"}
STALE = "That button is from an older message and no longer works. Here is the menu."
UNSUPPORTED = ("I can only read text and buttons for now. Please choose an item from the "
               "menu.")


# ---- first contact ----------------------------------------------------------------------


async def test_start_with_a_known_language_goes_straight_to_the_menu(bot: RunningBot) -> None:
    for user, language in enumerate(LANGUAGES, start=101):
        reply = check(one(await bot.say(user, "/start", language_code=language,
                                        first_name=NAMES[language])), language)
        assert reply.method == "sendMessage"
        assert is_menu(reply)
        assert NAMES[language] in reply.text
        assert bot._(language, "Main menu. What would you like to know?") in reply.text
        assert (await user_row(bot.app, user)).language == language
    assert_clean(bot.api)


@pytest.mark.parametrize("hint", ["de", None])
async def test_start_with_another_or_no_language_offers_the_three(
    bot: RunningBot, hint: str | None
) -> None:
    reply = one(await bot.say(201, "/start", language_code=hint, first_name="Дана"))
    assert is_language_choice(reply)
    assert reply.labels == ["Қазақша (кирилл)", "Русский", "English", "Qazaqşa (latyn)",
                            "قازاقشا (توتە)"]
    for words in ("Тілді таңдаңыз", "Выберите язык", "Choose your language"):
        assert words in reply.text
    reply = check(one(await bot.press(201, "lang:ru")), "ru")
    assert is_menu(reply)
    assert "Дана" in reply.text
    assert (await user_row(bot.app, 201)).language == "ru"
    assert_clean(bot.api)


# ---- the whole menu ----------------------------------------------------------------------


async def visit_and_return(bot: RunningBot, user: int, data: str, language: str) -> None:
    """Press an item this suite has no specific checks for: a reply wholly in the
    language, with buttons; then /menu brings the menu back."""
    reply = check(one(await bot.press(user, data)), language)
    assert reply.text.strip() and reply.buttons, data
    assert is_menu(check(one(await bot.say(user, "/menu")), language))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_walk_every_menu_item_and_back(bot: RunningBot, language: str) -> None:
    user = 300
    done = lambda code: bot._(code, "Done: I will speak English with you.")  # noqa: E731
    menu = check(one(await bot.say(user, "/start", language_code=language,
                                   first_name=NAMES[language])), language)
    assert is_menu(menu)
    for data in menu.callback_data:  # items added after this suite was written
        if data not in MENU:
            await visit_and_return(bot, user, data, language)

    # Support projects: the list, every project, back to the list, back to the menu.
    listing = check(one(await bot.press(user, "prj")), language)
    projects = bot.app.content.projects
    assert listing.callback_data == [f"prj:{p.id}" for p in projects] + ["menu"]
    for project in projects:
        assert project.text[language].title in listing.text
        page = check(one(await bot.press(user, f"prj:{project.id}")), language)
        assert page.text.startswith(project.text[language].title)
        body = fill(project.text[language].body, bot.app.content.facts.values(
            language, counted(bot.app.translations[language])))  # figures named by id
        assert squash(body) in squash(page.text)
        assert page.callback_data == ["prj", "menu"]
        assert check(one(await bot.press(user, "prj")), language).text == listing.text
    assert is_menu(check(one(await bot.press(user, "menu")), language))

    # Numbers, with every figure's source link.
    numbers = check(one(await bot.press(user, "num")), language)
    assert bot.app.content.numbers[language].title in numbers.text
    for line in bot.app.content.number_lines:
        source = bot.app.content.facts.sources[bot.app.content.facts.fact(line).source]
        assert source.url is None or source.url in numbers.text
    assert numbers.callback_data == ["menu"]
    assert is_menu(check(one(await bot.press(user, "menu")), language))

    # Settings -> change language -> another language -> and back with /language.
    settings = check(one(await bot.press(user, "set")), language)
    assert {"language", "menu"} <= set(settings.callback_data)
    choice = one(await bot.press(user, "language"))
    assert is_language_choice(choice)
    other = next(code for code in LANGUAGES if code != language)
    changed = check(one(await bot.press(user, f"lang:{other}")), other)
    assert is_menu(changed)
    assert done(other) in changed.text
    assert (await user_row(bot.app, user)).language == other
    choice = one(await bot.say(user, "/language"))
    assert is_language_choice(choice)
    back = check(one(await bot.press(user, f"lang:{language}")), language)
    assert is_menu(back)
    assert done(language) in back.text
    assert (await user_row(bot.app, user)).language == language
    settings = check(one(await bot.press(user, "set")), language)
    for data in settings.callback_data:
        if data not in ("language", "menu"):
            await visit_and_return(bot, user, data, language)
            await bot.press(user, "set")
    assert is_menu(check(one(await bot.press(user, "menu")), language))

    # Help, then the main menu.
    help_reply = check(one(await bot.press(user, "help")), language)
    for command in COMMANDS:
        assert f"/{command}" in help_reply.text
    assert "menu" in help_reply.callback_data
    assert is_menu(check(one(await bot.press(user, "menu")), language))

    assert len([q for q in bot.api.callback_queries.values() if q.user_id == user]) >= 19
    assert_clean(bot.api)


async def test_commands_are_registered_in_every_language(bot: RunningBot) -> None:
    calls = bot.api.calls_to("setMyCommands", ok=True)
    by_language = {call.params.get("language_code"): call.params["commands"] for call in calls}
    assert set(by_language) == {"kk", "ru", "en", None}
    described: dict[str, list[str]] = {}
    for language in LANGUAGES:
        commands = by_language[language]
        names = [c["command"] for c in commands]
        assert [name for name in names if name in COMMANDS] == COMMANDS
        described[language] = [c["description"] for c in commands]
        assert_language("\n".join(described[language]), language)
    assert len({tuple(descriptions) for descriptions in described.values()}) == 3
    default = bot.app.settings.default_locale
    assert [c["description"] for c in by_language[None]] == described[default]
    assert bot.api.commands[("default", "")] == by_language[None]
    assert_clean(bot.api)


# ---- commands from any state, old buttons, other kinds of messages -----------------------


async def test_global_commands_work_from_any_state(bot: RunningBot) -> None:
    user, language = 400, "ru"
    _ = lambda message: bot._(language, message)  # noqa: E731
    last = one(await bot.say(user, "/start", language_code=language))
    screens: list[list[str]] = [
        ["prj"], ["prj", "prj:bereke"], ["num"], ["set"], ["help"], ["set", "language"],
    ]
    for path in screens:
        for command in ("/menu", "/help", "/cancel", "/language"):
            if not is_menu(last):
                await bot.say(user, "/menu")
            for data in path:
                await bot.press(user, data)
            last = reply = one(await bot.say(user, command))
            where = f"{command} after {path}"
            if command == "/language":
                assert is_language_choice(reply), where
                continue
            check(reply, language)
            if command == "/help":
                assert "/cancel" in reply.text, where
                assert "menu" in reply.callback_data, where
                continue
            assert is_menu(reply), where
            if command == "/cancel":
                assert (_("Nothing to cancel.") in reply.text
                        or _("Cancelled. Nothing was saved.") in reply.text), where
    assert_clean(bot.api)


async def test_commands_before_a_language_is_chosen(bot: RunningBot) -> None:
    user = 450
    default = bot.app.settings.default_locale
    reply = one(await bot.say(user, "/start", language_code="de", first_name="Дана"))
    assert is_language_choice(reply)
    for command in ("/help", "/cancel", "/language", "hello", "/nonsense"):
        reply = one(await bot.say(user, command))
        assert is_language_choice(reply), command
    # /menu: the question again, or the menu in the default language.
    reply = one(await bot.say(user, "/menu"))
    assert is_language_choice(reply) or is_menu(check(reply, default))
    # Stickers and buttons too: never silence.
    assert is_language_choice(one(await bot.after(user, bot.api.send_sticker(user))))
    reply = one(await bot.press(user, "lang:kk"))
    assert is_menu(check(reply, "kk"))
    assert_clean(bot.api)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_old_or_unknown_buttons_get_a_note_and_the_menu(
    bot: RunningBot, language: str
) -> None:
    user = 500
    first = one(await bot.say(user, "/start", language_code=language))
    await bot.press(user, "prj")
    for data, old in (("prj:nonexistent", True), ("zzz", False), ("zzz:1:2", False)):
        await bot.say(user, "/menu")
        # On the first message, several messages back, or on the newest one.
        message_id = first.message_id if old else None
        reply = check(one(await bot.after(
            user, bot.api.press_data(user, data, message_id=message_id))), language)
        assert is_menu(reply), data
        assert bot._(language, STALE) in reply.text, data
    # A button of a message several screens back still does what it says.
    reply = check(one(await bot.press(user, "num")), language)
    assert reply.callback_data == ["menu"]
    assert_clean(bot.api)


async def test_stickers_and_photos_get_a_hint_and_the_menu(bot: RunningBot) -> None:
    await bot.say(601, "/start", language_code="kk")
    await bot.say(602, "/start", language_code="en")
    reply = check(one(await bot.after(601, bot.api.send_sticker(601))), "kk")
    assert bot._("kk", UNSUPPORTED) in reply.text
    assert is_menu(reply)
    reply = check(one(await bot.after(602, bot.api.send_photo(602, caption="look"))), "en")
    assert bot._("en", UNSUPPORTED) in reply.text
    assert is_menu(reply)
    # Before any language: the question, not silence.
    reply = one(await bot.after(603, bot.api.send_sticker(603, language_code=None)))
    assert is_language_choice(reply)
    assert_clean(bot.api)


# ---- Telegram refusing ---------------------------------------------------------------------


async def test_flood_control_waits_and_the_message_still_arrives(bot: RunningBot) -> None:
    bot.api.fail_next("sendMessage", 1, error_code=429, retry_after=1)
    reply = check(one(await bot.say(701, "/start", language_code="en")), "en")
    assert is_menu(reply)
    attempts = bot.api.calls_to("sendMessage", chat_id=701)
    assert [call.status for call in attempts] == [429, 200]
    assert attempts[0].response["parameters"] == {"retry_after": 1}
    assert attempts[1].params["text"] == attempts[0].params["text"]
    assert attempts[1].at - attempts[0].at >= 0.9
    assert_clean(bot.api)


async def test_flood_control_on_a_button_press(bot: RunningBot) -> None:
    await bot.say(702, "/start", language_code="en")
    webhook = bot.app.settings.telegram_mode == "webhook"
    if not webhook:  # a webhook's press is answered in the reply: no request to refuse
        bot.api.fail_next("answerCallbackQuery", 1, retry_after=1)
    bot.api.fail_next("editMessageText", 1, retry_after=1)
    mark = bot.api.mark()
    reply = check(one(await bot.press(702, "prj")), "en")
    assert "prj:bereke" in reply.callback_data
    answers = bot.api.calls_to("answerCallbackQuery", mark)
    if webhook:
        assert [call.status for call in answers] == [200]
        assert bot.api.webhook_calls == answers
    else:
        assert [call.status for call in answers] == [429, 200]
    assert [call.status for call in bot.api.calls_to("editMessageText", mark)] == [429, 200]
    assert_clean(bot.api)


async def test_blocked_user_is_marked_unreachable(bot: RunningBot) -> None:
    bot.api.fail_next("sendMessage", 1, error_code=403)
    mark = bot.api.mark()
    assert await bot.say(801, "/start", language_code="ru") == []
    assert [call.status for call in bot.api.calls_to("sendMessage", mark)] == [403]
    row = await user_row(bot.app, 801)
    assert row is not None and row.unreachable_since is not None
    # Nothing crashed: the bot still answers everyone, the same user too.
    assert is_menu(one(await bot.say(802, "/start", language_code="en")))
    assert is_menu(one(await bot.say(801, "/menu")))
    assert not bot.task.done()
    assert_clean(bot.api)


# ---- long replies ------------------------------------------------------------------------


def long_body() -> str:
    sentence = "Это очень подробное описание проекта для соотечественников за рубежом. "
    paragraphs = [sentence * 20 for _ in range(3)]
    paragraphs.insert(1, sentence * 75)  # one paragraph longer than a message
    return "\n\n".join(p.strip() for p in paragraphs)


async def test_a_long_reply_is_split_with_the_keyboard_under_the_last_part(
    bot: RunningBot,
) -> None:
    project = bot.app.content.projects[0]
    body = long_body()
    assert 8500 < len(body) < 9800
    project.text["ru"] = project.text["ru"].model_copy(update={"body": body})

    await bot.say(901, "/start", language_code="ru")
    await bot.press(901, "prj")
    parts = await bot.press(901, f"prj:{project.id}")
    assert len(parts) >= 3
    assert all(part.method == "sendMessage" for part in parts)
    assert all(0 < len(part.text) <= TEXT_LIMIT for part in parts)
    assert all(part.keyboard == [] for part in parts[:-1])
    assert parts[-1].callback_data == ["prj", "menu"]
    for part in parts:
        check(part, "ru")
    assert squash(body) in squash(" ".join(part.text for part in parts))
    assert_clean(bot.api)


async def test_render_splits_any_long_reply(bot: RunningBot) -> None:
    channel = TelegramChannel(bot.app.engine, bot.app.settings, bot.app.translations)
    bot.api.user(950)
    text = "\n".join(f"Строка номер {n}: " + "слово " * 30 for n in range(60))
    assert 2 * TEXT_LIMIT < len(text) < 3 * TEXT_LIMIT
    reply = Reply(text, ((Choice("Меню", "menu"),),))
    try:
        await channel.render(Identity("telegram", "950"), 950, [reply], edit=None)
    finally:
        await channel.bot.session.close()
    parts = bot.api.replies(950)
    assert len(parts) == 3
    assert all(len(part.text) <= TEXT_LIMIT for part in parts)
    assert [part.callback_data for part in parts] == [[], [], ["menu"]]
    assert squash(" ".join(part.text for part in parts)) == squash(text)
    assert_clean(bot.api)


# ---- webhook -------------------------------------------------------------------------------


def update_for(user: int, text: str) -> dict[str, Any]:
    return {"update_id": 1000 + user, "message": {
        "message_id": 1, "date": 1_700_000_000, "text": text,
        "chat": {"id": user, "type": "private", "first_name": "Eve"},
        "from": {"id": user, "is_bot": False, "first_name": "Eve", "language_code": "en"},
    }}


async def test_webhook_mode(database_url: str, api: FakeTelegramAPI,
                            handled: set[tuple[Any, ...]]) -> None:
    async with running_bot(database_url, api, handled, telegram_mode="webhook") as bot:
        hook = one(api.calls_to("setWebhook"))
        assert hook.ok
        assert hook.params["url"] == f"{bot.base_url}/telegram/webhook"
        assert hook.params["secret_token"] == SECRET
        assert set(hook.params["allowed_updates"]) >= {"message", "callback_query"}

        url = f"{bot.base_url}/telegram/webhook"
        async with aiohttp.ClientSession() as http:
            for user, headers in ((1001, {}), (1002, {SECRET_HEADER: "x"}),
                                  (1003, {SECRET_HEADER: SECRET + "x"}),
                                  (1004, {SECRET_HEADER: SECRET.upper()})):
                api.user(user)
                async with http.post(url, json=update_for(user, "/start"),
                                     headers=headers) as response:
                    assert response.status == 401, headers

        # The fake delivers with the secret it was given, as Telegram does.
        reply = check(one(await bot.say(1005, "/start", language_code="en")), "en")
        assert is_menu(reply)
        assert api.deliveries[-1][1] == 200
        reply = check(one(await bot.press(1005, "help")), "en")
        assert "/help" in reply.text
        # The press was answered in the reply to the webhook, with no request of its own.
        answer = one(api.calls_to("answerCallbackQuery"))
        assert api.webhook_calls == [answer] and answer.ok
        for user in (1001, 1002, 1003, 1004):
            assert api.replies(user) == []
            assert await user_row(bot.app, user) is None
        assert api.calls_to("getUpdates") == []
    assert_clean(api)


async def test_webhook_endpoint_refuses_everything_in_polling_mode(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]) -> None:
    async with running_bot(database_url, api, handled, telegram_mode="polling") as bot:
        url = f"{bot.base_url}/telegram/webhook"
        bot.api.user(1101)
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: SECRET}, {SECRET_HEADER: ""}):
                async with http.post(url, json=update_for(1101, "/start"),
                                     headers=headers) as response:
                    assert response.status == 401
        # The polling side works meanwhile, and nothing reached user 1101.
        assert is_menu(one(await bot.say(1102, "/start", language_code="kk")))
        assert bot.api.replies(1101) == []
        assert await user_row(bot.app, 1101) is None
        assert_clean(bot.api)


async def test_a_webhook_update_is_handled_within_its_request(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]) -> None:
    async with running_bot(database_url, api, handled, telegram_mode="webhook") as bot:
        url = f"{bot.base_url}/telegram/webhook"
        api.user(1201)
        async with aiohttp.ClientSession() as http:
            for body in (b"not json", b'{"message": "no update_id"}', b"[1, 2]"):
                async with http.post(url, data=body, headers={
                        SECRET_HEADER: SECRET, "Content-Type": "application/json"}) as response:
                    assert response.status == 400, body
            assert api.replies(1201) == []
            # 200 once the reply is sent, not before.
            async with http.post(url, json=update_for(1201, "/start"),
                                 headers={SECRET_HEADER: SECRET}) as response:
                assert response.status == 200
                assert is_menu(check(one(api.replies(1201)), "en"))
        assert_clean(api)


def failures() -> float:
    return REGISTRY.get_sample_value(
        "bot_errors_total", {"channel": "telegram", "where": "update"}) or 0.0


async def test_an_update_that_fails_outside_a_step_is_counted_and_delivered_again(
        bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine answers a failed step itself; a failure after it (here: sending the
    reply) goes to the dispatcher's error handler in both modes. The webhook answers 500,
    so Telegram delivers the update again; polling logs it and goes on."""
    render = TelegramChannel.render
    calls: list[Any] = []

    async def render_once_broken(self: TelegramChannel, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("the reply could not be built")
        return await render(self, *args, **kwargs)

    monkeypatch.setattr(TelegramChannel, "render", render_once_broken)
    webhook = bot.app.settings.telegram_mode == "webhook"
    before = failures()
    replies = await bot.say(1301, "/start", language_code="en")
    assert failures() == before + 1
    if webhook:
        assert [status for _, status in bot.api.deliveries[-2:]] == [500, 200]
        assert is_menu(one(replies))  # the second delivery
    else:
        assert replies == []
    menu = one(await bot.say(1301, "/menu"))
    assert is_menu(menu)
    # A button press that fails is answered all the same (exactly once: `press` checks).
    calls.clear()
    replies = await bot.press(1301, "help")
    assert failures() == before + 2
    if webhook:
        assert [status for _, status in bot.api.deliveries[-2:]] == [500, 200]
        assert "/help" in one(replies).text
    else:
        assert replies == []
    assert_clean(bot.api)


async def test_stopping_lets_the_webhook_updates_in_hand_finish(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    render = TelegramChannel.render
    rendering = asyncio.Event()

    async def slow_render(self: TelegramChannel, *args: Any, **kwargs: Any) -> Any:
        rendering.set()
        await asyncio.sleep(0.3)
        return await render(self, *args, **kwargs)

    monkeypatch.setattr(TelegramChannel, "render", slow_render)
    api.user(1401, language_code="en")
    async with running_bot(database_url, api, handled, telegram_mode="webhook"):
        delivery = asyncio.create_task(api.send_text(1401, "/start"))
        await rendering.wait()
    # The bot has stopped; the update it had in hand was finished and acknowledged.
    await delivery
    assert api.deliveries[-1][1] == 200
    assert is_menu(check(one(api.replies(1401)), "en"))
    assert_clean(api)


async def test_a_serving_process_keeps_what_it_loaded_out_of_full_collections(
        database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]) -> None:
    """Once started, what the process loaded to serve is frozen out of the garbage
    collector's full passes (`App.settle`); when serving stops it is collected as usual."""
    import gc

    assert gc.get_freeze_count() == 0
    async with running_bot(database_url, api, handled) as bot:
        for _ in range(100):  # settled once the start-up work is done
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 10_000
        assert is_menu(check(one(await bot.say(1006, "/start", language_code="en")), "en"))
    assert gc.get_freeze_count() == 0


def test_settling_collects_then_freezes_and_unsettling_thaws() -> None:
    import gc

    from bot.app import App

    garbage: list[object] = []
    garbage.append(garbage)  # a cycle only a collection frees
    del garbage
    assert gc.get_freeze_count() == 0
    App.settle()
    try:
        assert gc.get_freeze_count() > 10_000
        assert gc.get_count()[0] < 50  # a collection ran just before the freeze
    finally:
        App.unsettle()
    assert gc.get_freeze_count() == 0
