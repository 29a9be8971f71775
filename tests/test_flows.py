"""Flows through the channel-neutral core: no network, real database."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.events import EventKind
from bot.db.models import ChatSession, User
from tests.conftest import Chat

LANGUAGE_CHOICES = ["lang:kk", "lang:ru", "lang:en", "lang:kk-Latn", "lang:kk-Arab"]
MENU = ["el", "fo", "prj", "num", "set", "help"]


async def test_first_contact_without_hint_asks_the_language(chat: Chat) -> None:
    await chat.text("/start")
    assert chat.payloads() == LANGUAGE_CHOICES
    assert "Choose your language" in chat.texts()


async def test_language_hint_from_the_platform_skips_the_question(app) -> None:
    chat = Chat(app, "u2", language_hint="ru-RU", name="Айгерим")
    await chat.text("/start")
    assert chat.payloads() == MENU
    assert "Айгерим" in chat.texts()
    assert "Главное меню" in chat.texts()


async def test_unknown_hint_asks_the_language(app) -> None:
    chat = Chat(app, "u3", language_hint="de")
    await chat.text("/start")
    assert chat.payloads() == LANGUAGE_CHOICES


async def test_choosing_a_language_greets_and_stores_it(app, chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    assert chat.payloads() == MENU
    assert "Hello" in chat.texts()
    async with app.engine.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.external_id == "u1"))).scalar_one()
    assert user.language == "en"


async def test_language_typed_instead_of_pressed(chat: Chat) -> None:
    await chat.text("/start")
    await chat.text("Русский")
    assert chat.payloads() == MENU
    assert "Главное меню" in chat.texts()


async def test_nonsense_while_asking_language_asks_again(chat: Chat) -> None:
    await chat.text("/start")
    await chat.text("blah")
    assert chat.payloads() == LANGUAGE_CHOICES


async def test_language_command_changes_the_language_any_time(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.press("prj")
    await chat.text("/language")
    assert chat.payloads() == [*LANGUAGE_CHOICES, "menu"]  # a way back, in English
    assert "⬅️ Main menu" in [c.label for r in chat.last for c in r.flat_choices]
    await chat.press("lang:kk")
    assert "Басты мәзір" in chat.texts()
    assert chat.payloads() == MENU


async def test_every_project_opens_in_every_language(app, chat: Chat) -> None:
    await chat.text("/start")
    for language in ("kk", "ru", "en"):
        await chat.press(f"lang:{language}")
        await chat.press("prj")
        project_buttons = [p for p in chat.payloads() if p.startswith("prj:")]
        assert len(project_buttons) == len(app.content.projects) == 4
        for payload in project_buttons:
            await chat.press(payload)
            project = app.content.project(payload.split(":")[1])
            assert project is not None
            assert project.text[language].title in chat.texts()
            assert chat.payloads() == ["prj", "menu"]


async def test_numbers_show_every_figure_with_date_and_source(app, chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.press("num")
    text = chat.texts()
    assert text.count("📎") == len({app.content.facts.fact(line).source
                                    for line in app.content.number_lines})
    assert "Over 5 million ethnic Kazakhs" in text and "experts' estimate" in text
    assert "1,164,800" in text and "16,805 people received" in text
    assert "Otandastar Fund, https://oq.gov.kz (as of 2021)" in text
    assert "China" in text and "1.9" not in text  # no source for that estimate


async def test_numbers_are_formatted_for_the_language(app, chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:ru")
    await chat.press("num")
    assert "более 5\xa0млн этнических казахов" in chat.texts()
    assert "1\xa0164\xa0800" in chat.texts()
    kazakh = Chat(app, "kk-numbers", language_hint="kk")
    await kazakh.text("/start")
    await kazakh.press("num")
    assert "кемінде 5 миллион этникалық қазақ" in kazakh.texts()
    assert "2025 жылы 16\xa0805 адам кандас мәртебесін алды" in kazakh.texts()
    assert "(44,5%)" in kazakh.texts() and "(44,5\xa0%)" in chat.texts()
    assert "https://oq.gov.kz (2021 жылғы жағдай бойынша)" in kazakh.texts()


async def test_settings_show_the_language_and_lead_back(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:ru")
    await chat.press("set")
    assert "Русский" in chat.texts()
    assert chat.payloads() == ["language", "set:ann", "pv", "menu"]
    await chat.press("language")
    assert chat.payloads() == [*LANGUAGE_CHOICES, "menu"]


async def test_help_lists_the_commands(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.text("/help")
    for command in ("/start", "/menu", "/language", "/help", "/cancel"):
        assert command in chat.texts()
    assert chat.payloads() == ["menu"]


async def test_cancel_in_the_middle_of_a_step_goes_to_the_menu(app, chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    await chat.text("/language")
    await chat.text("/cancel")
    assert chat.payloads() == MENU
    assert "Cancelled" in chat.texts()
    async with app.engine.sessionmaker() as db:
        session = (await db.execute(select(ChatSession))).scalar_one()
    assert session.state is None


async def test_stale_buttons_get_a_note_and_the_menu(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    for payload in ("zzz", "prj:no-such-project", "lang:xx", ""):
        await chat.press(payload)
        assert chat.last, payload
        shown = chat.payloads()
        assert set(MENU) <= set(shown) or shown[:len(LANGUAGE_CHOICES)] == LANGUAGE_CHOICES


async def test_unexpected_text_and_unsupported_input_get_a_hint(chat: Chat) -> None:
    await chat.text("/start")
    await chat.press("lang:en")
    # Keys mashed: nothing the knowledge base has. ("what is this?", question words
    # only, comes close enough to entries to get likely questions instead.)
    await chat.text("asdf qwerty")
    assert "only help with" in chat.texts()
    assert chat.payloads() == ["menu"]
    await chat.send(EventKind.UNSUPPORTED)
    assert "only read text" in chat.texts()
    assert chat.payloads() == MENU
    await chat.text("/nosuchcommand")
    assert "do not know that command" in chat.texts()


async def test_before_a_language_everything_asks_for_it(chat: Chat) -> None:
    for action in ("hello", "/help", "/menu", "/whatever"):
        await chat.text(action)
        assert chat.payloads() == LANGUAGE_CHOICES, action
    await chat.send(EventKind.UNSUPPORTED)
    assert chat.payloads() == LANGUAGE_CHOICES


async def test_users_are_separate_per_channel(app) -> None:
    telegram = Chat(app, "42", channel="telegram", language_hint="en")
    console = Chat(app, "42", channel="console")
    await telegram.text("/start")
    await console.text("/start")
    assert telegram.payloads() == MENU
    assert console.payloads() == LANGUAGE_CHOICES


async def test_a_failing_step_apologises_in_the_users_language_and_stores_nothing(
    app, chat: Chat, monkeypatch
) -> None:
    await chat.text("/start")
    await chat.press("lang:ru")

    async def broken(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.goto("half-done")
        raise RuntimeError("boom")

    monkeypatch.setitem(app.engine.router.buttons, "num", broken)
    await chat.press("num")
    assert "Извините" in chat.texts()
    assert chat.payloads() == ["menu"]
    async with app.engine.sessionmaker() as db:
        session = (await db.execute(select(ChatSession))).scalar_one()
    assert session.state is None
    await chat.press("menu")
    assert chat.payloads() == MENU
