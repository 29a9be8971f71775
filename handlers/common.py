"""Pieces of screens that several flows share."""

from __future__ import annotations

import logging

from bot.core.context import Context
from bot.core.replies import Choice
from bot.services import handover

log = logging.getLogger(__name__)

ASKING = "language"

LANGUAGE_NAMES: dict[str, str] = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def menu_button(ctx: Context) -> Choice:
    return Choice(ctx._("⬅️ Main menu"), "menu")


def main_menu_rows(ctx: Context) -> list[Choice]:
    tools = [Choice(ctx._("🛠 Coordinator tools"), "ad")] if ctx.user.is_coordinator else []
    # Questions to a human, only where the coordinators' chat is configured.
    ask = [Choice(ctx._("💬 Ask a coordinator"), "ho")] if handover.available(ctx.settings) \
        else []
    return [
        Choice(ctx._("🧭 Can I return as a kandas?"), "el"),
        Choice(ctx._("📅 Business forums"), "fo"),
        Choice(ctx._("🤝 Support projects"), "prj"),
        Choice(ctx._("📊 Kazakhs abroad in numbers"), "num"),
        Choice(ctx._("⚙️ Settings"), "set"),
        *ask,
        Choice(ctx._("❓ Help"), "help"),
        *tools,
    ]


def show_menu(ctx: Context, lead: str | None = None) -> None:
    """The main menu; `lead` is a short line said before it."""
    ctx.reset()
    text = ctx._("Main menu. What would you like to know?")
    if lead:
        text = f"{lead}\n\n{text}"
    ctx.say(text, *main_menu_rows(ctx))


def language_rows() -> list[Choice]:
    return [Choice(name, f"lang:{code}") for code, name in LANGUAGE_NAMES.items()]


def ask_language(ctx: Context) -> None:
    ctx.goto(ASKING)
    # Shown before a language is known, so it speaks all three.
    if ctx.user.language is None:
        ctx.say("Тілді таңдаңыз · Выберите язык · Choose your language", language_rows())
    else:
        ctx.say("Тілді таңдаңыз · Выберите язык · Choose your language", language_rows(),
                menu_button(ctx))


def refuse_unless_coordinator(ctx: Context) -> bool:
    """True (and a refusal said, the attempt logged) when the user is no coordinator."""
    if ctx.user.is_coordinator:
        return False
    log.warning("user %s (%s) tried a coordinator action: %s", ctx.user.id, ctx.user.channel,
                ctx.event.payload or ctx.event.text[:40])
    show_menu(ctx, ctx._("This is for the Fund's coordinators only."))
    return True
