"""Kandas eligibility: the questionnaire's logic, the verdict, the plan's figures, the
document checklist, and the stored results. No chat formatting here."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import LANGUAGES
from bot.clock import now
from bot.content.eligibility import Question, Rules
from bot.content.facts import FactTable
from bot.core import scripts
from bot.db.dialect import first_entity, session_row, update_in_one_trip
from bot.db.models import CheckStatus, EligibilityCheck, User
from bot.services.knowledge import fold

Answers = dict[str, Any]


# ---- the questionnaire ----------------------------------------------------------


def _holds(when: dict[str, list[str]], answers: Answers) -> bool:
    return all(str(answers.get(qid)) in values for qid, values in when.items())


def applicable(question: Question, answers: Answers) -> bool:
    if not _holds(question.when, answers):
        return False
    for qid, least in question.when_min.items():
        value = answers.get(qid)
        if not isinstance(value, int) or value < least:
            return False
    return True


def effective_answers(path: list[str], answers: Answers) -> Answers:
    """Only the answers on the path count: a changed answer can make others moot."""
    return {qid: answers[qid] for qid in path if qid in answers}


def next_question(rules: Rules, path: list[str], answers: Answers) -> Question | None:
    """The first question not yet on the path that the answers so far make worth asking."""
    current = effective_answers(path, answers)
    for question in rules.questions:
        if question.id not in path and applicable(question, current):
            return question
    return None


def valid_answer(question: Question, value: Any) -> bool:
    if question.kind == "choice":
        return value in question.answers
    if question.kind == "number":
        return isinstance(value, int) and question.min <= value <= question.max
    return isinstance(value, str) and value in Locale("en").territories


@dataclass(frozen=True)
class Outcome:
    verdict: str
    reasons: list[str]
    routes: list[str]
    notes: list[str]


def evaluate(rules: Rules, answers: Answers) -> Outcome:
    for rule in rules.verdicts:
        if _holds(rule.when, answers):
            break
    notes = [note.note for note in rules.notes if _holds(note.when, answers)]
    return Outcome(rule.verdict, list(rule.reasons), list(rule.routes), notes)


def family_members(answers: Answers) -> int:
    value = answers.get("family_size", 0)
    return value if isinstance(value, int) else 0


def checklist_items(rules: Rules, answers: Answers) -> list[str]:
    """Document ids for this user: the applicant's, then each family member's
    (`member_id_copy:2` is the second member's)."""
    documents = rules.documents
    items = list(documents.applicant)
    items.append(documents.commission_instead if answers.get("nationality_document") == "no"
                 else documents.nationality_document)
    for number in range(1, family_members(answers) + 1):
        items += [f"{item}:{number}" for item in documents.each_member]
    return items


@dataclass(frozen=True)
class Support:
    people: int
    per_member_mrp: float
    per_member: float
    relocation: float
    rent_min: float
    rent_max: float
    months: int


def support(rules: Rules, facts: FactTable, people: int) -> Support:
    """One-time relocation subsidy per family member, monthly rent range per family,
    in tenge computed from the MRP of the facts table."""
    ids = rules.support
    mrp = facts.value(ids.mrp)
    per_member_mrp = facts.value(ids.relocation_mrp)
    return Support(
        people=people,
        per_member_mrp=per_member_mrp,
        per_member=per_member_mrp * mrp,
        relocation=per_member_mrp * mrp * people,
        rent_min=facts.value(ids.rent_mrp_min) * mrp,
        rent_max=facts.value(ids.rent_mrp_max) * mrp,
        months=int(facts.value(ids.rent_months)),
    )


def subsidy_people(answers: Answers) -> int | None:
    """How many people the relocation subsidy is computed for, or None when the facts
    cannot say. The subsidy is per family member; it belongs to kandas, and family
    members who are not Kazakh get no kandas status. The facts do not say whether they
    count, so a family that is not all Kazakh gets no family total."""
    members = family_members(answers)
    if members == 0:
        return 1
    if answers.get("family_kazakh") == "all":
        return 1 + members
    return None


# ---- countries typed by name ------------------------------------------------------


def _normal(text: str) -> str:
    """A name in the one spelling typed text is compared in (`fold`): any script."""
    return fold(text)


@lru_cache(maxsize=4)
def _country_names(aliases: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, str]:
    names: dict[str, str] = {}
    for language in LANGUAGES:
        for code, name in Locale.parse(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(_normal(name), code)
    for code, spellings in aliases:
        for spelling in spellings:
            names[_normal(spelling)] = code
    return names


def match_country(rules: Rules, text: str) -> str | None:
    """A country's ISO code from a name typed in kk, ru or en, forgiving small typos."""
    typed = _normal(text)
    if not typed:
        return None
    aliases = tuple((code, tuple(spellings)) for code, spellings in
                    sorted(rules.country_aliases.items()))
    names = _country_names(aliases)
    if typed in names:
        return names[typed]
    if len(typed) == 2 and typed.upper() in Locale("en").territories:
        return typed.upper()
    cutoff = 0.75 if len(typed) > 5 else 0.8
    close = difflib.get_close_matches(typed, list(names), n=1, cutoff=cutoff)
    return names[close[0]] if close else None


def country_name(code: str, language: str) -> str:
    """A country's name in the reader's language (and script)."""
    name = str(Locale.parse(scripts.source(language)).territories.get(code, code))
    return scripts.write(name, language)


# ---- stored checks -------------------------------------------------------------------


# Read at most steps of the questionnaire, so built once (a statement reused with its
# parameters skips SQLAlchemy's building and cache-key work).
_DRAFT = (select(EligibilityCheck)
          .where(EligibilityCheck.user_id == bindparam("user_id"),
                 EligibilityCheck.status == CheckStatus.DRAFT)
          .order_by(EligibilityCheck.id.desc()).limit(1))
_LAST_RESULT = (select(EligibilityCheck)
                .where(EligibilityCheck.user_id == bindparam("user_id"),
                       EligibilityCheck.status == CheckStatus.DONE)
                .order_by(EligibilityCheck.completed_at.desc(), EligibilityCheck.id.desc())
                .limit(1))


# An answer, a step back, the result and a ticked document change a check's own columns:
# written in one trip at the end of the step (`store_changes`).
update_in_one_trip(EligibilityCheck)


async def draft(db: AsyncSession, user_id: int) -> EligibilityCheck | None:
    return await first_entity(db, _DRAFT, {"user_id": user_id})


async def last_result(db: AsyncSession, user_id: int) -> EligibilityCheck | None:
    return await first_entity(db, _LAST_RESULT, {"user_id": user_id})


async def start(db: AsyncSession, user_id: int, rules: Rules) -> EligibilityCheck:
    """A fresh questionnaire; an unfinished one is dropped."""
    old = await draft(db, user_id)
    if old is not None:
        await db.delete(old)
    check = EligibilityCheck(user_id=user_id, rules_version=rules.version,
                             status=CheckStatus.DRAFT,
                             answers={}, path=[], checklist={}, started_at=now(),
                             updated_at=now())
    db.add(check)
    await db.flush()
    return check


def answer(check: EligibilityCheck, question: Question, value: Any) -> None:
    check.answers = {**check.answers, question.id: value}
    check.path = [*check.path, question.id]
    check.updated_at = now()


def back(check: EligibilityCheck) -> str | None:
    """Step back to the last answered question; its answer is kept as a suggestion."""
    if not check.path:
        return None
    *rest, last = check.path
    check.path = rest
    check.updated_at = now()
    return last


# Written when a questionnaire ends and with a forum registration, so built once; a row
# that has the country already is left alone.
_REMEMBER_COUNTRY = (
    update(User)
    .where(User.id == bindparam("user_id"), User.country.is_distinct_from(bindparam("b_country")))
    .values(country=bindparam("b_country"))
    .returning(User.id))


async def remember_country(db: AsyncSession, user_id: int, country: str | None) -> None:
    """The user's country of residence, for announcements to chosen countries."""
    if country:
        await session_row(db, _REMEMBER_COUNTRY, {"user_id": user_id, "b_country": country})


def finish(check: EligibilityCheck, rules: Rules) -> Outcome:
    answers = effective_answers(check.path, check.answers)
    outcome = evaluate(rules, answers)
    check.answers = answers
    check.status = CheckStatus.DONE
    check.verdict = outcome.verdict
    check.country = answers.get("country")
    check.family_size = family_members(answers)
    check.rules_version = rules.version
    check.checklist = {item: False for item in checklist_items(rules, answers)}
    check.completed_at = check.updated_at = now()
    return outcome


def toggle(check: EligibilityCheck, item: str) -> bool:
    """Tick or untick a document; False when the item is not on this checklist."""
    if item not in check.checklist:
        return False
    check.checklist = {**check.checklist, item: not check.checklist[item]}
    check.updated_at = now()
    return True


def progress(check: EligibilityCheck) -> tuple[int, int]:
    return sum(1 for ready in check.checklist.values() if ready), len(check.checklist)
