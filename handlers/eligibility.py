"""The repatriation guide: can I come back as a kandas, and what do I do?

A short questionnaire (rules and order from bot/content/eligibility.yaml), a verdict
with its reasons, a personal plan with figures, and a document checklist. Answers
are stored as the user goes, so leaving and coming back (or a restart) continues
where they stopped.

Buttons: `ELIGIBILITY` in handlers/payloads.py (the entry, an answer, back, start over,
the result, the plan, the checklist, a document ticked).
"""

from __future__ import annotations

from bot.content.eligibility import PLAN_SECTIONS, EligibilityContent, PlanSection, Question, Words
from bot.core import formats
from bot.core.context import Context
from bot.core.inbound import whole_number
from bot.core.replies import Choice
from bot.core.router import Router
from bot.db.models import EligibilityCheck
from bot.services import eligibility as service
from bot.services.knowledge import fold
from handlers.common import menu_button, show_menu
from handlers.facts_text import fill, named, people, sources
from handlers.payloads import (
    ELIGIBILITY,
    Answer,
    Back,
    Checklist,
    Eligibility,
    Plan,
    Result,
    StartOver,
    ToggleDocument,
)

router = Router("eligibility")

ANSWERING = "eligibility"

# Typed answers that mean "yes" / "no" in any of the three languages.
_YES = {fold(word) for word in ("yes", "y", "да", "иә", "ия", "иа", "ok", "әрине", "конечно")}
_NO = {fold(word) for word in ("no", "n", "нет", "жоқ", "жок")}


def _content(ctx: Context) -> EligibilityContent:
    return ctx.content.eligibility


def _words(ctx: Context) -> Words:
    return _content(ctx).words[ctx.language]


def _label(ctx: Context, question: Question, answer: str) -> str:
    return _words(ctx).questions[question.id].answers[answer]


# ---- asking -------------------------------------------------------------------------


def _ask(ctx: Context, check: EligibilityCheck, lead: str | None = None) -> None:
    rules = _content(ctx).rules
    question = service.next_question(rules, check.path, check.answers)
    if question is None:  # pragma: no cover - finishing happens right after an answer
        raise RuntimeError("a finished questionnaire was asked again")
    words = _words(ctx)
    ctx.goto(ANSWERING)
    number = len(check.path) + 1
    lines = [ctx._("Question {number}").format(number=number), words.questions[question.id].text]
    if lead:
        lines.insert(0, lead + "\n")
    previous = check.answers.get(question.id)
    if previous is not None:
        lines.append(ctx._("Your earlier answer: {answer}").format(
            answer=_answer_text(ctx, question, previous)))
    choices: list[Choice | list[Choice]] = []
    if question.kind == "choice":
        choices += [Choice(_label(ctx, question, a), _answer(question, a))
                    for a in question.answers]
    elif question.kind == "number":
        buttons = [Choice(str(n), _answer(question, str(n))) for n in question.buttons]
        choices += [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    else:
        buttons = [Choice(service.country_name(code, ctx.language), _answer(question, code))
                   for code in rules.country_buttons]
        choices += [buttons[i:i + 3] for i in range(0, len(buttons), 3)]
    navigation = [Choice(ctx._("↩️ Back"), ELIGIBILITY.build(Back()))] if check.path else []
    navigation.append(Choice(ctx._("🔄 Start over"), ELIGIBILITY.build(StartOver())))
    choices.append(navigation)
    choices.append(menu_button(ctx))
    ctx.say("\n".join(lines), *choices)


def _answer(question: Question, value: str) -> str:
    return ELIGIBILITY.build(Answer(question.id, value))


def _answer_text(ctx: Context, question: Question, value: object) -> str:
    if question.kind == "choice":
        return _label(ctx, question, str(value))
    if question.kind == "country":
        return service.country_name(str(value), ctx.language)
    return str(value)


async def _take(ctx: Context, check: EligibilityCheck, question: Question, value: object,
                lead: str | None = None) -> None:
    service.answer(check, question, value)
    if service.next_question(_content(ctx).rules, check.path, check.answers) is None:
        await _finish(ctx, check)
        return
    _ask(ctx, check, lead=lead)


async def _finish(ctx: Context, check: EligibilityCheck) -> None:
    service.finish(check, _content(ctx).rules)
    await service.remember_country(ctx.db, ctx.user.id, check.country)
    _show_result(ctx, check)


# ---- the result, the plan, the checklist ----------------------------------------------


def _result_buttons(ctx: Context, check: EligibilityCheck) -> list[Choice]:
    buttons: list[Choice] = []
    if check.verdict != "not_eligible":
        done, total = service.progress(check)
        buttons.append(Choice(ctx._("📝 My plan"), ELIGIBILITY.build(Plan())))
        buttons.append(Choice(ctx._("📋 Documents: {done} of {total}").format(
            done=done, total=total), ELIGIBILITY.build(Checklist())))
    buttons.append(Choice(ctx._("🔄 Check again"), ELIGIBILITY.build(StartOver())))
    buttons.append(menu_button(ctx))
    return buttons


def _show_result(ctx: Context, check: EligibilityCheck) -> None:
    rules = _content(ctx).rules
    words = _words(ctx)
    outcome = service.evaluate(rules, check.answers)
    ctx.reset()
    checked = formats.date(check.completed_at or check.updated_at, ctx.language)
    reasons = [f"• {fill(ctx, words.reasons[reason])}" for reason in outcome.reasons]
    routes = [f"• {fill(ctx, words.routes[route])}" for route in outcome.routes]
    lines = [words.verdicts[outcome.verdict], ""]
    if outcome.verdict == "not_eligible":
        # The routes that remain come first; the verdict's words lead into them.
        lines += [*routes, "", ctx._("Why:"), *reasons]
    else:
        lines += reasons
        if routes:
            lines += ["", ctx._("What you can do:"), *routes]
    if outcome.notes:
        lines.append("")
        lines += [f"ℹ️ {words.notes[note]}" for note in outcome.notes]
    lines += ["", ctx._("Checked on {date}.").format(date=checked)]
    ctx.say("\n".join(lines), *_result_buttons(ctx, check))


# ---- the plan: a short summary, and a section per button --------------------------------

_SECTION_MARKS: dict[PlanSection, str] = {
    "where": "📍", "documents": "📄", "support": "🏡", "citizenship": "🪪"}


def _sections(check: EligibilityCheck) -> list[PlanSection]:
    """The plan's sections for this result: support only for a quota region."""
    return [section for section in PLAN_SECTIONS
            if section != "support" or check.answers.get("quota") in ("yes", "unsure")]


def plan_summary(ctx: Context, check: EligibilityCheck) -> str:
    words = _words(ctx)
    plan = words.plan
    done, total = service.progress(check)
    sections = _sections(check)
    lines = [f"📝 {plan.title}", "", words.verdicts[check.verdict or "eligible"], "",
             plan.summary_where, plan.summary_documents.format(done=done, total=total)]
    if "support" in sections:
        lines.append(plan.summary_support)
    lines += [plan.summary_citizenship, "", plan.choose]
    return "\n".join(lines)


Section = tuple[list[str], dict[str, object]]  # the texts, and what they compute


def plan_section(ctx: Context, check: EligibilityCheck, section: PlanSection) -> str:
    """One section of the plan, ending with the one line of its sources."""
    plan = _words(ctx).plan
    title = f"{_SECTION_MARKS[section]} {getattr(plan, section)}"
    if section == "documents":
        title += f" ({len(check.checklist)})"
    build = {"where": _where, "documents": _documents, "support": _support,
             "citizenship": _citizenship}[section]
    texts, computed = build(ctx, check)
    facts = [*_content(ctx).rules.plan_sources[section], *named(ctx, *texts)]
    body = "\n".join(fill(ctx, text, **computed) for text in texts)
    return f"{title}\n\n{body}\n\n{sources(ctx, facts)}"


def _where(ctx: Context, check: EligibilityCheck) -> Section:
    plan = _words(ctx).plan
    rules = _content(ctx).rules
    places = [plan.portal]
    if check.country in rules.one_window_countries:
        places.append(plan.one_window)
    elif check.country != "KZ":
        places.append(plan.embassy)
    places += [plan.service_center, plan.egov]
    return [*(f"• {place}" for place in places), "", "🆕 " + plan.pilot, "",
            f"⏳ {plan.processing} {plan.validity}"], {}


def _documents(ctx: Context, check: EligibilityCheck) -> Section:
    plan = _words(ctx).plan
    texts = [f"• {_document_name(ctx, item)}" for item in check.checklist if ":" not in item]
    members = check.family_size or 0
    if members:
        texts.append("• " + plan.documents_members)
    return [*texts, "", plan.checklist_hint], {"members": members}


def _support(ctx: Context, check: EligibilityCheck) -> Section:
    words = _words(ctx)
    plan = words.plan
    content = _content(ctx)
    language = ctx.language
    quota = content.facts.fact(content.rules.support.quota)
    moving = service.subsidy_people(check.answers)
    amounts = service.support(content.rules, content.facts, moving or 1)
    whom = {None: plan.subsidy_unclear, 1: plan.subsidy_alone}.get(moving, plan.subsidy_family)
    regions = ", ".join(f"{words.regions[region]} {formats.count(seats, language)}"
                        for region, seats in quota.parts.items())
    rent_min, rent_max = formats.money_range(amounts.rent_min, amounts.rent_max, language)
    texts = [
        plan.quota,
        "",
        f"💰 {plan.subsidy} {whom}",
        "🏠 " + plan.rent,
        "",
        plan.support_more,
        plan.quota_service,
    ]
    return texts, {"regions": regions,
                   "relocation_member": formats.money(amounts.per_member, language),
                   "members": formats.number((moving or 1) - 1, language),
                   "people": people(ctx.t, moving or 1),
                   "total": formats.money(amounts.relocation, language),
                   "rent_min": rent_min, "rent_max": rent_max}


def _citizenship(ctx: Context, check: EligibilityCheck) -> Section:
    return [_words(ctx).plan.citizenship_text.strip()], {}


def _document_name(ctx: Context, item: str) -> str:
    key, _, number = item.partition(":")
    name = _words(ctx).documents[key]
    return name.format(n=number) if number else name


def _show_checklist(ctx: Context, check: EligibilityCheck) -> None:
    ctx.reset()
    done, total = service.progress(check)
    lines = [ctx._("📋 Your documents: {done} of {total} ready").format(done=done, total=total),
             ctx._("Press a number to mark a document as ready, or to unmark it."), ""]
    buttons: list[Choice] = []
    for number, (item, ready) in enumerate(check.checklist.items(), 1):
        mark = "✅" if ready else "⬜"
        lines.append(f"{mark} {number}. {_document_name(ctx, item)}")
        buttons.append(Choice(f"{mark} {number}", ELIGIBILITY.build(ToggleDocument(item))))
    rows: list[Choice | list[Choice]] = [buttons[i:i + 4] for i in range(0, len(buttons), 4)]
    rows.append([Choice(ctx._("📝 My plan"), ELIGIBILITY.build(Plan())),
                 Choice(ctx._("⬅️ Result"), ELIGIBILITY.build(Result()))])
    rows.append(menu_button(ctx))
    ctx.say("\n".join(lines), *rows)


def _show_plan(ctx: Context, check: EligibilityCheck, section: PlanSection | None) -> None:
    ctx.reset()
    plan = _words(ctx).plan
    if section is None:
        buttons = [Choice(f"{_SECTION_MARKS[s]} {getattr(plan, s)}",
                          ELIGIBILITY.build(Plan(s))) for s in _sections(check)]
        ctx.say(plan_summary(ctx, check), *buttons,
                Choice(ctx._("⬅️ Result"), ELIGIBILITY.build(Result())), menu_button(ctx))
        return
    back = Choice(ctx._("⬅️ My plan"), ELIGIBILITY.build(Plan()))
    if section == "documents":
        done, total = service.progress(check)
        ctx.say(plan_section(ctx, check, section), Choice(
            ctx._("📋 Documents: {done} of {total}").format(done=done, total=total),
            ELIGIBILITY.build(Checklist())), back, menu_button(ctx))
        return
    ctx.say(plan_section(ctx, check, section), back, menu_button(ctx))


# ---- entry points ---------------------------------------------------------------------


async def _begin(ctx: Context) -> None:
    check = await service.start(ctx.db, ctx.user.id, _content(ctx).rules)
    _ask(ctx, check, lead=_words(ctx).intro.strip())


@router.button(ELIGIBILITY)
async def eligibility(ctx: Context) -> None:
    press = ctx.press
    if isinstance(press, StartOver):
        await _begin(ctx)
        return
    if isinstance(press, Answer | Back | Eligibility):
        current = await service.draft(ctx.db, ctx.user.id)
        if current is not None:
            await _continue(ctx, current, press)
            return
    result = await service.last_result(ctx.db, ctx.user.id)
    if result is None:
        await _begin(ctx)
        return
    open_plan = result.verdict != "not_eligible"
    if isinstance(press, Plan) and open_plan:
        _show_plan(ctx, result, press.section)
    elif isinstance(press, Checklist) and open_plan:
        _show_checklist(ctx, result)
    elif isinstance(press, ToggleDocument) and open_plan:
        service.toggle(result, press.item)
        _show_checklist(ctx, result)
    else:
        # The result, the entry, or a button from an older questionnaire that has ended.
        _show_result(ctx, result)


@router.fallback("stale", button=ELIGIBILITY)
async def older_button(ctx: Context) -> None:
    """A questionnaire button this version no longer reads: the open question again,
    else the last result."""
    current = await service.draft(ctx.db, ctx.user.id)
    if current is not None:
        _ask(ctx, current, lead=ctx._("That button belongs to an earlier question. "
                                      "Here is where we are:"))
        return
    result = await service.last_result(ctx.db, ctx.user.id)
    if result is None:
        await _begin(ctx)
        return
    _show_result(ctx, result)


async def _continue(ctx: Context, check: EligibilityCheck,
                    press: Answer | Back | Eligibility) -> None:
    rules = _content(ctx).rules
    if isinstance(press, Back):
        service.back(check)
        _ask(ctx, check)
        return
    if isinstance(press, Answer):
        question = service.next_question(rules, check.path, check.answers)
        if question is not None and question.id == press.question:
            value: object = press.value
            if question.kind == "number":
                value = whole_number(press.value)
            if service.valid_answer(question, value):
                await _take(ctx, check, question, value)
                return
        # A button from an earlier question: show the question that is open now.
        _ask(ctx, check, lead=ctx._("That button belongs to an earlier question. "
                                    "Here is where we are:"))
        return
    _ask(ctx, check, lead=ctx._("Welcome back! Let's continue where you stopped."))


@router.state(ANSWERING)
async def typed(ctx: Context) -> None:
    """An answer typed where a button was expected."""
    rules = _content(ctx).rules
    check = await service.draft(ctx.db, ctx.user.id)
    if check is None:
        show_menu(ctx)
        return
    question = service.next_question(rules, check.path, check.answers)
    if question is None:  # pragma: no cover - a finished draft is never left open
        await _finish(ctx, check)
        return
    text = ctx.event.text.strip()
    value: object | None = None
    if question.kind == "country":
        value = service.match_country(rules, text)
        if value is None:
            _ask(ctx, check, lead=ctx._("I could not find a country called \"{text}\". "
                                        "Please check the spelling or choose a button.")
                 .format(text=text[:60]))
            return
    elif question.kind == "number":
        value = whole_number(text)
        if value is None or not service.valid_answer(question, value):
            _ask(ctx, check, lead=ctx._("Please type a number from {low} to {high}.").format(
                low=question.min, high=question.max))
            return
    else:
        value = _typed_choice(ctx, question, text)
        if value is None:
            _ask(ctx, check, lead=ctx._("Please choose one of the buttons below."))
            return
    lead = None
    if question.kind == "country":
        lead = ctx._("Country: {country}").format(
            country=service.country_name(str(value), ctx.language))
    await _take(ctx, check, question, value, lead=lead)


def _typed_choice(ctx: Context, question: Question, text: str) -> str | None:
    """The answer typed instead of pressed: its number, its label or yes/no, in any
    script (compared as `fold` writes them)."""
    number = whole_number(text.strip(" .!"))
    if number is not None and 1 <= number <= len(question.answers):
        return question.answers[number - 1]
    typed = fold(text)
    for answer in question.answers:
        if typed == fold(_label(ctx, question, answer)):
            return answer
    if typed in _YES and "yes" in question.answers:
        return "yes"
    if typed in _NO and "no" in question.answers:
        return "no"
    return None
