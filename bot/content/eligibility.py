"""Schema of the kandas eligibility rules (eligibility.yaml) and their words
(eligibility.<lang>.yaml). Checked at start-up; problems name the file and the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from bot import LANGUAGES

_PLACEHOLDER = re.compile(r"\{(\w*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Conditions = dict[str, list[str]]


class Question(_Strict):
    id: str
    kind: Literal["choice", "country", "number"]
    answers: list[str] = Field(default_factory=list)
    when: Conditions = Field(default_factory=dict)
    when_min: dict[str, int] = Field(default_factory=dict)
    min: int = 0
    max: int = 15
    buttons: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _answers_fit_the_kind(self) -> Question:
        if self.kind == "choice" and len(self.answers) < 2:
            raise ValueError("a choice question needs at least two answers")
        if self.kind != "choice" and self.answers:
            raise ValueError("only choice questions list answers")
        if any(not self.min <= b <= self.max for b in self.buttons):
            raise ValueError("buttons must lie between min and max")
        return self


class VerdictRule(_Strict):
    when: Conditions
    verdict: Literal["eligible", "not_eligible", "needs_checking"]
    reasons: list[str] = Field(min_length=1)
    routes: list[str]


class NoteRule(_Strict):
    when: Conditions
    note: str


class Documents(_Strict):
    applicant: list[str] = Field(min_length=1)
    nationality_document: str
    commission_instead: str
    each_member: list[str]


class RuleFigure(_Strict):
    value: float
    year: int | None = None
    as_of: date
    source_url: HttpUrl


class Figures(_Strict):
    mrp: RuleFigure
    relocation_mrp_per_member: RuleFigure
    rent_mrp_min: RuleFigure
    rent_mrp_max: RuleFigure
    rent_months: RuleFigure
    processing_working_days: RuleFigure


class Quota(_Strict):
    year: int
    as_of: date
    source_url: HttpUrl
    regions: dict[str, int] = Field(min_length=1)


class Links(_Strict):
    portal: HttpUrl
    egov: HttpUrl
    fund: HttpUrl


class Rules(_Strict):
    version: str = Field(min_length=1, max_length=32)
    effective_date: date
    questions: list[Question] = Field(min_length=1)
    verdicts: list[VerdictRule] = Field(min_length=1)
    notes: list[NoteRule] = Field(default_factory=list)
    country_buttons: list[str]
    one_window_countries: list[str]
    country_aliases: dict[str, list[str]] = Field(default_factory=dict)
    documents: Documents
    figures: Figures
    quota: Quota
    links: Links

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        by_id = {q.id: q for q in self.questions}
        for position, question in enumerate(self.questions):
            for earlier in [*question.when, *question.when_min]:
                if earlier not in ids[:position]:
                    raise ValueError(f"questions.{question.id}: `when` names {earlier!r}, "
                                     "which is not asked before it")
        rules: list[VerdictRule | NoteRule] = [*self.verdicts, *self.notes]
        for rule in rules:
            for qid, values in rule.when.items():
                if qid not in by_id:
                    raise ValueError(f"a rule names the unknown question {qid!r}")
                known = by_id[qid].answers
                if known and set(values) - set(known):
                    raise ValueError(f"a rule names unknown answers of {qid!r}: {values}")
        if self.verdicts[-1].when:
            raise ValueError("the last verdict rule must have an empty `when`")
        territories = Locale("en").territories
        codes = {*self.country_buttons, *self.one_window_countries, *self.country_aliases}
        unknown = sorted(code for code in codes if code not in territories)
        if unknown:
            raise ValueError(f"unknown country codes: {unknown}")
        return self

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)


class QuestionWords(_Strict):
    text: str
    answers: dict[str, str] = Field(default_factory=dict)


class PlanWords(_Strict):
    title: str
    where: str
    portal: str
    egov: str
    embassy: str
    one_window: str
    service_center: str
    documents: str
    processing: str
    validity: str
    support: str
    support_amounts: str
    support_more: str
    mrp: str
    citizenship: str
    figures_note: str


class Words(_Strict):
    intro: str
    questions: dict[str, QuestionWords]
    verdicts: dict[str, str]
    reasons: dict[str, str]
    routes: dict[str, str]
    notes: dict[str, str]
    documents: dict[str, str]
    regions: dict[str, str]
    plan: PlanWords


# Placeholders each text may (and must) use. Counts come with their noun (`people`,
# `total`: "3 people"; `days`: "30 working days"; `months`: "12 months") and sums of
# money with their currency sign, as the language writes them (bot/core/formats.py).
PLAN_PLACEHOLDERS: dict[str, set[str]] = {
    "portal": {"url"}, "egov": {"url"}, "documents": {"count"}, "processing": {"days"},
    "support": {"year", "total"},
    "support_amounts": {"people", "relocation", "per_member", "rent_min", "rent_max", "months"},
    "mrp": {"value", "year"}, "figures_note": {"date", "url"},
}


def check_words(rules: Rules, words: Words, path: Path) -> list[str]:
    """Everything the rules name has words, with the right placeholders."""
    problems: list[str] = []

    def need(section: str, keys: list[str], table: Mapping[str, object]) -> None:
        for key in keys:
            if key not in table:
                problems.append(f"{path}: {section}.{key}: is missing")

    need("questions", [q.id for q in rules.questions], words.questions)
    for question in rules.questions:
        qwords = words.questions.get(question.id)
        if qwords is not None:
            need(f"questions.{question.id}.answers", question.answers, qwords.answers)
    need("verdicts", ["eligible", "not_eligible", "needs_checking"], words.verdicts)
    need("reasons", sorted({r for v in rules.verdicts for r in v.reasons}), words.reasons)
    need("routes", sorted({r for v in rules.verdicts for r in v.routes}), words.routes)
    need("notes", [n.note for n in rules.notes], words.notes)
    docs = rules.documents
    need("documents", [*docs.applicant, docs.nationality_document, docs.commission_instead,
                       *docs.each_member], words.documents)
    need("regions", list(rules.quota.regions), words.regions)
    for key in docs.each_member:
        text = words.documents.get(key, "{n}")
        if set(_PLACEHOLDER.findall(text)) != {"n"}:
            problems.append(f"{path}: documents.{key}: must contain {{n}} and nothing else")
    for key, expected in PLAN_PLACEHOLDERS.items():
        found = set(_PLACEHOLDER.findall(getattr(words.plan, key)))
        if found != expected:
            problems.append(f"{path}: plan.{key}: placeholders {sorted(found)}, "
                            f"expected {sorted(expected)}")
    for section in ("intro",):
        if not getattr(words, section).strip():
            problems.append(f"{path}: {section}: must not be empty")
    return problems


class EligibilityContent:
    def __init__(self, rules: Rules, words: dict[str, Words]) -> None:
        self.rules = rules
        self.words = words


def load_eligibility(directory: Path, read_yaml, explain) -> EligibilityContent:  # type: ignore[no-untyped-def]
    from bot.content import ContentError

    rules_path = directory / "eligibility.yaml"
    try:
        rules = Rules.model_validate(read_yaml(rules_path))
    except ValidationError as error:
        raise explain(rules_path, error) from error
    words: dict[str, Words] = {}
    for language in LANGUAGES:
        path = directory / f"eligibility.{language}.yaml"
        try:
            words[language] = Words.model_validate(read_yaml(path))
        except ValidationError as error:
            raise explain(path, error) from error
        problems = check_words(rules, words[language], path)
        if problems:
            raise ContentError("\n".join(problems))
    return EligibilityContent(rules, words)
