"""Pieces of screens that several flows share."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.core.context import Context
from bot.core.payloads import Codec
from bot.core.replies import Choice
from bot.db.paging import Page
from bot.services import handover
from handlers.payloads import (
    ADMIN,
    ELIGIBILITY,
    FORUMS,
    HANDOVER,
    HELP,
    LANG,
    MENU,
    NUMBERS,
    PROJECTS,
    SETTINGS,
    AdminForums,
    AskCoordinator,
    Eligibility,
    ForumList,
    Help,
    Lang,
    Menu,
    Numbers,
    Projects,
    SettingsScreen,
)

log = logging.getLogger(__name__)

ASKING = "language"

# Each language by its own name, Kazakh in each of its scripts; the first three keep the
# numbers people type in the terminal (1 Kazakh, 2 Russian, 3 English).
LANGUAGE_NAMES: dict[str, str] = {
    "kk": "Қазақша (кирилл)", "ru": "Русский", "en": "English",
    "kk-Latn": "Qazaqşa (latyn)", "kk-Arab": "قازاقشا (توتە)",
}

# Items on one page of a long list: with Previous, Next and up to four more buttons (the
# coordinators' list has the most) a screen stays within WhatsApp's 10 list rows, and
# four forum cards within about one phone screen and one WhatsApp message body.
PAGE_SIZE = 4


def menu_button(ctx: Context) -> Choice:
    return Choice(ctx._("⬅️ Main menu"), MENU.build(Menu()))


def main_menu_rows(ctx: Context) -> list[Choice]:
    tools = [Choice(ctx._("🛠 Coordinator tools"), ADMIN.build(AdminForums()))] \
        if ctx.user.is_coordinator else []
    # Questions to a human, only where the coordinators' chat is configured.
    ask = [HANDOVER.choice(ctx._("💬 Ask a coordinator"), AskCoordinator())] \
        if handover.available(ctx.settings) else []
    return [
        Choice(ctx._("🧭 Can I return as a kandas?"), ELIGIBILITY.build(Eligibility())),
        Choice(ctx._("📅 Business forums"), FORUMS.build(ForumList())),
        Choice(ctx._("🤝 Support projects"), PROJECTS.build(Projects())),
        Choice(ctx._("📊 Kazakhs abroad in numbers"), NUMBERS.build(Numbers())),
        Choice(ctx._("⚙️ Settings"), SETTINGS.build(SettingsScreen())),
        *ask,
        Choice(ctx._("❓ Help"), HELP.build(Help())),
        *tools,
    ]


def page_row(ctx: Context, page: Page, codec: Codec, press: Callable[[int], object]
             ) -> list[Choice]:
    """Previous and Next for a long list, as far as there are such pages; `press` makes
    the button of a page number."""
    row: list[Choice] = []
    if page.previous is not None:
        row.append(codec.choice(ctx._("◀️ Previous"), press(page.previous)))
    if page.next is not None:
        row.append(codec.choice(ctx._("Next ▶️"), press(page.next)))
    return row


def page_note(ctx: Context, page: Page) -> str:
    """`Page 2 of 7` when there is more than one page, else nothing."""
    if page.count < 2:
        return ""
    return ctx._("Page {number} of {count}").format(number=page.number + 1, count=page.count)


def show_menu(ctx: Context, lead: str | None = None) -> None:
    """The main menu; `lead` is a short line said before it."""
    ctx.reset()
    text = ctx._("Main menu. What would you like to know?")
    if lead:
        text = f"{lead}\n\n{text}"
    ctx.say(text, *main_menu_rows(ctx))


def language_rows() -> list[Choice]:
    return [Choice(name, LANG.build(Lang(code)))  # type: ignore[arg-type]
            for code, name in LANGUAGE_NAMES.items()]


def ask_language(ctx: Context) -> None:
    ctx.goto(ASKING)
    # Shown before a language is known, so it speaks all three, and names each language
    # in its own script: kept as written whatever the user's script.
    if ctx.user.language is None:
        ctx.say("Тілді таңдаңыз · Выберите язык · Choose your language", language_rows(),
                as_written=True)
    else:
        ctx.say("Тілді таңдаңыз · Выберите язык · Choose your language", language_rows(),
                menu_button(ctx), as_written=True)


def show_stale(ctx: Context) -> None:
    """A button from an older message that no longer works: a note and the menu."""
    show_menu(ctx, ctx._("That button is from an older message and no longer works. "
                         "Here is the menu."))


def attempted(ctx: Context) -> str:
    """What a refused attempt was, for the log: the button or the command, never the
    words (they may hold a name or a phone number)."""
    event = ctx.event
    return event.payload or (f"/{event.command}" if event.command else event.kind.value)


def refuse_unless_coordinator(ctx: Context) -> bool:
    """True (and a refusal said, the attempt logged) when the user is no coordinator."""
    if ctx.user.is_coordinator:
        return False
    log.warning("user %s (%s) tried a coordinator action: %s", ctx.user.id, ctx.user.channel,
                attempted(ctx))
    show_menu(ctx, ctx._("This is for the Fund's coordinators only."))
    return True
