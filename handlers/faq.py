"""Typed questions: text written where no step waits for typed input (the menu, an
information screen, after a result) is a question for the knowledge base
(bot/content/faq*.yaml, matched by bot/services/knowledge.py), in any of the languages,
answered in the user's.

- A confident match: the answer with its figures filled and one line of sources, a
  button to the flow it belongs to, up to two related questions and the menu. Two
  answers use the user's own data: `subsidy` (from the last eligibility check) and
  `my_forum` (from the forum registrations); without it, the general answer.
- Not confident: up to three likely questions as buttons and "Ask a coordinator",
  which shows the typed question to confirm before it joins the handover
  (handlers/handover.py).
- Nothing worth offering: what the bot can help with, the menu, "Ask a coordinator".

Questions without a confident answer are counted without who asked
(bot/services/unanswered.py); coordinators list them with /unanswered. The global
"text" fallback is here: states that wait for text have their own steps and keep it.
"""

from __future__ import annotations

from bot.clock import now
from bot.content.faq import FaqEntry
from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from bot.services import eligibility as eligibility_service
from bot.services import forums as forum_service
from bot.services import handover, unanswered
from bot.services.knowledge import KnowledgeBase, Match
from handlers import forums as forum_flow
from handlers import handover as handover_flow
from handlers import menu
from handlers.common import (
    PAGE_SIZE,
    menu_button,
    page_note,
    page_row,
    refuse_unless_coordinator,
    show_menu,
)
from handlers.eligibility import plan_section
from handlers.facts_text import fill, sources
from handlers.payloads import (
    ELIGIBILITY,
    FAQ,
    FORUMS,
    HANDOVER,
    LANGUAGE,
    NUMBERS,
    PRIVACY,
    PROJECTS,
    AskAbout,
    AskCoordinator,
    Checklist,
    Eligibility,
    FaqEntryPress,
    ForumList,
    LanguageScreen,
    MyData,
    MyRegistrations,
    Numbers,
    Projects,
    SendToCoordinator,
    Unanswered,
)

router = Router("faq")

ASKED = "faq:asked"  # the likely questions are shown; data: the typed question
RELATED_SHOWN = 2
LABEL_LIMIT = 60


def _flow_button(ctx: Context, entry: FaqEntry) -> Choice | None:
    """The button to the flow an entry belongs to."""
    match entry.flow:
        case "eligibility":
            return ELIGIBILITY.choice(ctx._("🧭 Check my eligibility"), Eligibility())
        case "documents":
            return ELIGIBILITY.choice(ctx._("📄 My documents"), Checklist())
        case "forums":
            return FORUMS.choice(ctx._("📅 Register for a forum"), ForumList())
        case "my_forums":
            return FORUMS.choice(ctx._("🎟 My registrations"), MyRegistrations())
        case "projects":
            return PROJECTS.choice(ctx._("🤝 Support projects"), Projects())
        case "numbers":
            return NUMBERS.choice(ctx._("📊 Kazakhs abroad in numbers"), Numbers())
        case "privacy":
            return PRIVACY.choice(ctx._("🔒 My data"), MyData())
        case "language":
            return LANGUAGE.choice(ctx._("🌐 Language"), LanguageScreen())
        case "handover" if handover.available(ctx.settings):
            return HANDOVER.choice(ctx._("💬 Ask a coordinator"), AskCoordinator())
    return None


def _question_button(ctx: Context, entry_id: str) -> Choice:
    label = ctx.content.faq.words(entry_id, ctx.language).question
    return FAQ.choice(f"❓ {label}"[:LABEL_LIMIT], FaqEntryPress(entry_id))


def answer_text(ctx: Context, entry: FaqEntry) -> str:
    """An entry's answer in the user's language, its figures filled, with its sources."""
    words = ctx.content.faq.words(entry.id, ctx.language)
    text = f"❓ {words.question}\n\n{fill(ctx, words.answer.strip())}"
    if entry.facts:
        text += f"\n\n{sources(ctx, entry.facts)}"
    return text


async def show_entry(ctx: Context, entry: FaqEntry) -> None:
    ctx.reset()
    buttons: list[Choice] = []
    lead = None
    if entry.personal == "subsidy":
        check = await eligibility_service.last_result(ctx.db, ctx.user.id)
        if check is not None and check.verdict != "not_eligible":
            lead = "\n\n".join([ctx._("From your last eligibility check:"),
                                plan_section(ctx, check, "support")])
    elif entry.personal == "my_forum" and await forum_service.has_registrations(
            ctx.db, ctx.user.id):
        await forum_flow.show_mine(ctx)
        return
    flow = _flow_button(ctx, entry)
    if flow is not None:
        buttons.append(flow)
    buttons += [_question_button(ctx, other) for other in entry.related[:RELATED_SHOWN]]
    ctx.say(lead or answer_text(ctx, entry), *buttons, menu_button(ctx))


def _ask_button(ctx: Context) -> list[Choice]:
    """"Ask a coordinator" with the typed question, where questions to them work."""
    if not handover.available(ctx.settings):
        return []
    return [FAQ.choice(ctx._("💬 Ask a coordinator"), AskAbout())]


@router.fallback("text")
async def typed_question(ctx: Context) -> None:
    text = " ".join(ctx.event.text.split())
    if not text:
        show_menu(ctx, ctx._("Please type your question, or choose an item from the menu."))
        return
    found = KnowledgeBase.of(ctx.content, meaning=ctx.settings.faq_sentence_model).ask(text)
    entries = ctx.content.faq.entries
    if found.confident:
        await show_entry(ctx, entries[found.matches[0].entry_id])
        return
    await unanswered.record(ctx.db, text, ctx.language, now())
    ctx.reset()
    ctx.goto(ASKED, question=text[:handover_flow.TEXT_LIMIT])
    if found.matches:
        _offer(ctx, found.matches)
        return
    ask = _ask_button(ctx)
    ctx.say(ctx._("I can only help with returning to Kazakhstan as a kandas: the status, "
                  "documents, support, citizenship, the Fund's projects and business forums. "
                  "Choose an item from the menu, or ask a coordinator.") if ask else
            ctx._("I can only help with returning to Kazakhstan as a kandas: the status, "
                  "documents, support, citizenship, the Fund's projects and business forums. "
                  "Choose an item from the menu."),
            *ask, menu_button(ctx))


def _offer(ctx: Context, matches: list[Match]) -> None:
    ctx.say(ctx._("I am not sure I understood. Did you mean one of these?"),
            *[_question_button(ctx, match.entry_id) for match in matches],
            *_ask_button(ctx), menu_button(ctx))


@router.fallback("unsupported", state=ASKED)
async def unsupported_after_question(ctx: Context) -> None:
    """A photo or a sticker after the likely questions: no step waits, so the menu."""
    ctx.reset()
    await menu.unsupported(ctx)


@router.button(FAQ)
async def faq_button(ctx: Context) -> None:
    press = ctx.press
    if isinstance(press, FaqEntryPress):
        entry = ctx.content.faq.entries.get(press.entry)
        if entry is None:  # an entry the coordinators removed since
            show_menu(ctx, ctx._("That question is no longer in my list. Here is the menu."))
            return
        await show_entry(ctx, entry)
    elif isinstance(press, AskAbout | SendToCoordinator):
        await _to_coordinator(ctx, confirmed=isinstance(press, SendToCoordinator))
    elif isinstance(press, Unanswered):
        await show_unanswered(ctx, press.page or 0)


async def _to_coordinator(ctx: Context, confirmed: bool) -> None:
    """The typed question, shown to confirm, then to the coordinators; without one (the
    session moved on) the usual "Ask a coordinator"."""
    question = ctx.data.get("question") if ctx.state == ASKED else None
    if not isinstance(question, str) or not handover.available(ctx.settings):
        ctx.press = AskCoordinator()
        await handover_flow.ask(ctx)
        return
    if confirmed:
        await handover_flow.relay(ctx, question)
        return
    ctx.say(ctx._("Send this question to the Fund's coordinators? A person will read it and "
                  "answer here.") + f"\n\n«{question}»",
            FAQ.choice(ctx._("✅ Send"), SendToCoordinator()),
            HANDOVER.choice(ctx._("✏️ Write it differently"), AskCoordinator()),
            menu_button(ctx))


# ---- the coordinators' list ----------------------------------------------------------------


@router.command("unanswered")
async def unanswered_command(ctx: Context) -> None:
    await show_unanswered(ctx, 0)


async def show_unanswered(ctx: Context, page: int) -> None:
    if refuse_unless_coordinator(ctx):
        return
    ctx.reset()
    items, found = await unanswered.most_asked(ctx.db, page, PAGE_SIZE)
    if not items:
        ctx.say(ctx._("No unanswered questions: every typed question found its answer, or "
                      "the old ones have been deleted."), menu_button(ctx))
        return
    days = ctx.settings.faq_unanswered_days
    lines = [ctx._("Questions I had no sure answer for, the most asked first:")]
    for number, item in enumerate(items, start=found.offset + 1):
        asked = ctx.ngettext("asked {count} time", "asked {count} times", item.count).format(
            count=item.count)
        lines += ["", f"{number}. «{item.text}»",
                  f"   {item.language} · {asked} · {item.last_asked:%Y-%m-%d}"]
    if note := page_note(ctx, found):
        lines += ["", note]
    lines += ["", ctx.ngettext("Who asked is not kept; a question is deleted {days} day "
                               "after it was last asked.",
                               "Who asked is not kept; a question is deleted {days} days "
                               "after it was last asked.", days).format(days=days)]
    ctx.say("\n".join(lines),
            page_row(ctx, found, FAQ, lambda number: Unanswered(number)), menu_button(ctx))
