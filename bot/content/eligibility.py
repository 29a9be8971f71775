"""Schema of the kandas eligibility rules (eligibility.yaml) and their words
(eligibility.<lang>.yaml). Checked at start-up; problems name the file and the key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot import LANGUAGES
from bot.content.facts import FactTable, placeholders, unknown_placeholders


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


class Support(_Strict):
    """The facts (ids in facts.yaml) the plan's support section computes with."""

    quota: str
    mrp: str
    relocation_mrp: str
    rent_mrp_min: str
    rent_mrp_max: str
    rent_months: str


PlanSection = Literal["where", "documents", "support", "citizenship"]
PLAN_SECTIONS: tuple[PlanSection, ...] = ("where", "documents", "support", "citizenship")


class Rules(_Strict):
    version: str = Field(min_length=1, max_length=32)
    effective_from: str  # a fact with the date the rules hold from
    questions: list[Question] = Field(min_length=1)
    verdicts: list[VerdictRule] = Field(min_length=1)
    notes: list[NoteRule] = Field(default_factory=list)
    country_buttons: list[str]
    one_window_countries: list[str]
    country_aliases: dict[str, list[str]] = Field(default_factory=dict)
    documents: Documents
    support: Support
    plan_sources: dict[PlanSection, list[str]]

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
    choose: str
    # the sections' titles, also their buttons (a WhatsApp list row holds 24 characters)
    where: str = Field(max_length=22)
    documents: str = Field(max_length=22)
    support: str = Field(max_length=22)
    citizenship: str = Field(max_length=22)
    summary_where: str
    summary_documents: str
    summary_support: str
    summary_citizenship: str
    portal: str
    egov: str
    embassy: str
    one_window: str
    service_center: str
    pilot: str
    processing: str
    validity: str
    documents_members: str
    checklist_hint: str
    quota: str
    subsidy: str
    subsidy_alone: str
    subsidy_family: str
    subsidy_unclear: str
    rent: str
    support_more: str
    quota_service: str
    citizenship_text: str


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


# Placeholders the plan's texts must use besides the facts' (computed when shown).
# Counts come with their noun (`people`: "3 people") and sums of money with their
# currency sign, as the language writes them (bot/core/formats.py); so do the facts'
# own figures (`{processing_days}`: "30 working days", `{mrp_2026}`: "4 325 ₸").
PLAN_PLACEHOLDERS: dict[str, set[str]] = {
    "summary_documents": {"done", "total"}, "documents_members": {"members"},
    "subsidy": {"relocation_member"}, "subsidy_family": {"members", "people", "total"},
    "rent": {"rent_min", "rent_max"}, "quota": {"regions"},
}


def check_rules(rules: Rules, facts: FactTable, path: Path) -> list[str]:
    """The facts the rules name are in the table."""
    known = {fact.id for fact in facts.facts}
    named = {"effective_from": [rules.effective_from]}
    named |= {f"support.{key}": [value] for key, value in rules.support.model_dump().items()}
    named |= {f"plan_sources.{key}": ids for key, ids in rules.plan_sources.items()}
    problems = [f"{path}: {key}: {fid!r} is not in facts.yaml"
                for key, ids in named.items() for fid in ids if fid not in known]
    if rules.effective_from in known and facts.fact(rules.effective_from).as_of.day is None:
        problems.append(f"{path}: effective_from: {rules.effective_from!r} has no day")
    missing = [s for s in PLAN_SECTIONS if s not in rules.plan_sources]
    problems += [f"{path}: plan_sources.{s}: is missing" for s in missing]
    return problems


def check_words(rules: Rules, facts: FactTable, words: Words, path: Path) -> list[str]:
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
    quota = next((f for f in facts.facts if f.id == rules.support.quota), None)
    need("regions", list(quota.parts) if quota else [], words.regions)
    for key in docs.each_member:
        text = words.documents.get(key, "{n}")
        if placeholders(text) != {"n"}:
            problems.append(f"{path}: documents.{key}: must contain {{n}} and nothing else")
    keys = facts.keys()
    texts = {f"plan.{key}": value for key, value in words.plan.model_dump().items()}
    for section in ("verdicts", "reasons", "routes", "notes"):
        texts |= {f"{section}.{key}": value for key, value in getattr(words, section).items()}
    for key, text in texts.items():
        extra = PLAN_PLACEHOLDERS.get(key.removeprefix("plan."), set())
        unknown = unknown_placeholders(text, keys, extra)
        if unknown:
            problems.append(f"{path}: {key}: placeholders not in facts.yaml: {sorted(unknown)}")
        if not extra <= placeholders(text):
            problems.append(f"{path}: {key}: must use {sorted(extra)}")
    if not words.intro.strip():
        problems.append(f"{path}: intro: must not be empty")
    return problems


class EligibilityContent:
    def __init__(self, rules: Rules, words: dict[str, Words], facts: FactTable) -> None:
        self.rules = rules
        self.words = words
        self.facts = facts


def load_eligibility(directory: Path, facts: FactTable, read_yaml,  # type: ignore[no-untyped-def]
                     explain) -> EligibilityContent:
    from bot.content import ContentError

    rules_path = directory / "eligibility.yaml"
    try:
        rules = Rules.model_validate(read_yaml(rules_path))
    except ValidationError as error:
        raise explain(rules_path, error) from error
    problems = check_rules(rules, facts, rules_path)
    if problems:
        raise ContentError("\n".join(problems))
    words: dict[str, Words] = {}
    for language in LANGUAGES:
        path = directory / f"eligibility.{language}.yaml"
        try:
            words[language] = Words.model_validate(read_yaml(path))
        except ValidationError as error:
            raise explain(path, error) from error
        problems = check_words(rules, facts, words[language], path)
        if problems:
            raise ContentError("\n".join(problems))
    return EligibilityContent(rules, words, facts)
