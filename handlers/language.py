"""/start, the greeting and the choice of language."""

from __future__ import annotations

from typing import TypedDict, cast

from bot.core.context import Context
from bot.core.i18n import pick_language
from bot.core.router import Router
from bot.services import broadcasts
from handlers.common import ASKING, LANGUAGE_NAMES, ask_language, show_menu
from handlers.forums import check_in
from handlers.payloads import LANG, LANGUAGE, Lang

CHECK_IN_PREFIX = "ci_"

router = Router("language")


class LanguageSession(TypedDict, total=False):
    """The session data while the language is asked (`ctx.data`)."""

    greet: bool  # the first choice: greet after it, not just confirm


def _session(ctx: Context) -> LanguageSession:
    return cast(LanguageSession, ctx.data)


# What people type instead of pressing a language button.
_TYPED: dict[str, str] = {
    "1": "kk", "kk": "kk", "kz": "kk", "қазақша": "kk", "казакша": "kk", "қазақ": "kk",
    "kazakh": "kk", "qazaqsha": "kk", "қаз": "kk",
    "2": "ru", "ru": "ru", "русский": "ru", "рус": "ru", "russian": "ru", "орысша": "ru",
    "3": "en", "en": "en", "english": "en", "eng": "en", "ағылшынша": "en", "английский": "en",
    "4": "kk-Latn", "kk-latn": "kk-Latn", "qazaqşa": "kk-Latn", "latyn": "kk-Latn",
    "latyn qazaqşa": "kk-Latn", "латын": "kk-Latn", "latin": "kk-Latn",
    "5": "kk-Arab", "kk-arab": "kk-Arab", "قازاقشا": "kk-Arab", "توتە": "kk-Arab",
    "төте": "kk-Arab", "tote": "kk-Arab", "تٴوتە": "kk-Arab",
}


# A language's name as its button shows it, typed.
_NAMED = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}


def greet(ctx: Context) -> None:
    name = ctx.user.display_name
    if name:
        hello = ctx._("Hello, {name}! I am the assistant of the Otandastar Fund for Kazakhs "
                      "abroad.").format(name=name)
    else:
        hello = ctx._("Hello! I am the assistant of the Otandastar Fund for Kazakhs abroad.")
    about = ctx._("I can check whether you can return to Kazakhstan as a kandas and make "
                  "your plan, register you for business forums with compatriots, and tell "
                  "you about the Fund's support projects. Type /help at any time to see what "
                  "I can do.")
    show_menu(ctx, f"{hello}\n{about}")


@router.command("start")
async def start(ctx: Context) -> None:
    if ctx.event.opt_in:  # WhatsApp's `start`: announcements on again after `stop`
        await broadcasts.set_announcements(ctx.db, ctx.user.id, True)
    if ctx.event.args.startswith(CHECK_IN_PREFIX):
        # A ticket's QR code: the deep link `start=ci_<secret>`.
        if ctx.user.language is None:
            ctx.set_language(pick_language(ctx.event.language_hint)
                             or ctx.settings.default_locale)
        await check_in(ctx, ctx.event.args.removeprefix(CHECK_IN_PREFIX))
        return
    if ctx.user.language is None:
        hinted = pick_language(ctx.event.language_hint)
        if hinted is None:
            ask_language(ctx)
            _session(ctx)["greet"] = True
            return
        ctx.set_language(hinted)
    greet(ctx)


@router.command("language", "lang")
async def language_command(ctx: Context) -> None:
    ask_language(ctx)


@router.button(LANGUAGE)
async def language_button(ctx: Context) -> None:
    ask_language(ctx)


@router.fallback("no_language")
async def no_language(ctx: Context) -> None:
    ask_language(ctx)
    _session(ctx)["greet"] = True


async def _choose(ctx: Context, code: str) -> None:
    first_time = ctx.user.language is None or _session(ctx).get("greet", False)
    ctx.set_language(code)
    if first_time:
        greet(ctx)
        return
    show_menu(ctx, ctx._("Done: I will speak English with you."))


@router.button(LANG)
async def language_chosen(ctx: Context) -> None:
    assert isinstance(ctx.press, Lang)
    await _choose(ctx, ctx.press.code)


@router.fallback("stale", button=LANG)
async def unknown_language(ctx: Context) -> None:
    """A language button of an older version: ask again."""
    ask_language(ctx)


@router.state(ASKING)
async def language_typed(ctx: Context) -> None:
    typed = ctx.event.text.strip().lower().strip(".!")
    code = _TYPED.get(typed) or _NAMED.get(typed) or pick_language(typed)
    if code is None:
        ask_language(ctx)
        return
    await _choose(ctx, code)
