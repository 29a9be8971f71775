"""Schema of the knowledge base: the entries (faq.yaml, language-neutral) and their words
(faq.<lang>.yaml). Checked at start-up; problems name the file and the key.

An entry names the flow its button leads to, the facts its answer's placeholders use
(so a figure lives in one place, facts.yaml), up to three related entries, and whether
its answer is personal (from the user's last eligibility check or registrations). Each
language has every entry: a short question (also a button label), the answer (at most
`ANSWER_LIMIT` characters once its figures are filled) and at least five phrasings as
people type them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from bot import LANGUAGES
from bot.content.facts import (
    FactTable,
    Unit,
    fact_ids,
    fill,
    not_blank,
    unknown_placeholders,
)
from bot.core import formats

ANSWER_LIMIT = 700
QUESTION_LIMIT = 60
MIN_EXAMPLES = 5
_ID = re.compile(r"^[a-z0-9_]+$")
T = TypeVar("T")

Topic = Literal["kandas", "documents", "apply", "procedure_2026", "support", "quota",
                "citizenship", "ata_zholy", "projects", "forums", "tickets", "privacy", "bot"]
Flow = Literal["eligibility", "documents", "forums", "my_forums", "projects", "numbers",
               "handover", "privacy", "language", "menu", "none"]
Personal = Literal["subsidy", "my_forum"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaqEntry(_Strict):
    id: str = Field(max_length=50)  # a button's payload carries it (64 bytes in all)
    topic: Topic
    flow: Flow
    facts: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list, max_length=3)
    personal: Personal | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("ids are lower-case letters, digits and _")
        return value


class FaqFile(_Strict):
    entries: list[FaqEntry] = Field(min_length=1)


class FaqWords(_Strict):
    question: str = Field(max_length=QUESTION_LIMIT)
    answer: str
    examples: list[str] = Field(min_length=MIN_EXAMPLES)

    _check = field_validator("question", "answer")(not_blank)

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: list[str]) -> list[str]:
        if any(not str(example).strip() for example in value):
            raise ValueError("an example must not be empty")
        return [str(example).strip() for example in value]


_FILE: TypeAdapter[FaqFile] = TypeAdapter(FaqFile)
_WORDS: TypeAdapter[dict[str, FaqWords]] = TypeAdapter(dict[str, FaqWords])


class OutsideSubject(_Strict):
    """One subject of faq.outside.yaml: what people type about it, in every language."""

    kk: list[str] = Field(min_length=1)
    ru: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    @field_validator("kk", "ru", "en")
    @classmethod
    def _texts(cls, value: list[str]) -> list[str]:
        return [not_blank(str(text)) for text in value]


# faq.outside.yaml: subjects the knowledge base does not answer (the weather, prices,
# other countries' visas...); a question closer to one of them than to any entry is
# not answered.
_OUTSIDE: TypeAdapter[dict[str, OutsideSubject]] = TypeAdapter(dict[str, OutsideSubject])


# faq.synonyms.yaml: the term the content uses -> words people type for it.
_SYNONYMS: TypeAdapter[dict[str, list[str]]] = TypeAdapter(dict[str, list[str]])
_ONE_WORD = re.compile(r"^\w+$")


def check_synonyms(synonyms: dict[str, list[str]], path: Path) -> list[str]:
    """Each synonym one word, listed once, and no term empty."""
    problems = [f"{path}: {term!r}: the term is empty" for term in synonyms if not term.strip()]
    seen: set[str] = set()
    for term, words in synonyms.items():
        for word in words:
            if not _ONE_WORD.match(str(word)):
                problems.append(f"{path}: {term}: {word!r} is not one word")
            elif str(word).casefold() in seen:
                problems.append(f"{path}: {term}: {word!r} is listed twice")
            seen.add(str(word).casefold())
    return problems


@dataclass(frozen=True)
class FaqContent:
    entries: dict[str, FaqEntry]  # in the file's order
    texts: dict[str, dict[str, FaqWords]]  # language -> entry id -> words
    # subject the base does not answer -> language -> what people type about it
    outside: dict[str, dict[str, tuple[str, ...]]]
    # term the content uses -> words people type for it (faq.synonyms.yaml)
    synonyms: dict[str, tuple[str, ...]]

    def words(self, entry_id: str, language: str) -> FaqWords:
        return self.texts[language][entry_id]


def check_entries(faq: FaqFile, facts: FactTable, path: Path) -> list[str]:
    """Ids unique, related entries and facts known."""
    problems: list[str] = []
    ids = [entry.id for entry in faq.entries]
    problems += [f"{path}: entries: {entry_id!r} is listed twice"
                 for entry_id in sorted({i for i in ids if ids.count(i) > 1})]
    known_facts = {fact.id for fact in facts.facts}
    for entry in faq.entries:
        problems += [f"{path}: {entry.id}.related: {other!r} is no entry"
                     for other in entry.related if other not in ids]
        if entry.id in entry.related:
            problems.append(f"{path}: {entry.id}.related: names itself")
        problems += [f"{path}: {entry.id}.facts: {fact!r} is not in facts.yaml"
                     for fact in entry.facts if fact not in known_facts]
    return problems


def _longest_noun(language: str) -> Callable[[Unit, float], str]:
    """Counts with a noun as long as any the catalogs give, to measure a filled answer."""

    def write(_unit: Unit, value: float) -> str:
        return f"{formats.count(value, language)} {'x' * 16}"

    return write


def check_words(faq: FaqFile, facts: FactTable, words: dict[str, FaqWords], language: str,
                path: Path) -> list[str]:
    """Every entry has words, the answer's placeholders are the entry's facts, and the
    filled answer fits."""
    problems: list[str] = []
    ids = [entry.id for entry in faq.entries]
    problems += [f"{path}: {entry_id}: is missing" for entry_id in ids if entry_id not in words]
    problems += [f"{path}: {entry_id}: not listed in faq.yaml"
                 for entry_id in words if entry_id not in ids]
    keys = facts.keys()
    values = facts.values(language, _longest_noun(language))
    for entry in faq.entries:
        text = words.get(entry.id)
        if text is None:
            continue
        unknown = unknown_placeholders(text.answer, keys)
        if unknown:
            problems.append(f"{path}: {entry.id}.answer: placeholders not in facts.yaml: "
                            f"{sorted(unknown)}")
            continue
        undeclared = [fid for fid in fact_ids(text.answer, facts) if fid not in entry.facts]
        if undeclared:
            problems.append(f"{path}: {entry.id}.answer: uses facts not listed in the "
                            f"entry's `facts` (faq.yaml): {undeclared}")
        filled = fill(text.answer, values)
        if len(filled) > ANSWER_LIMIT:
            problems.append(f"{path}: {entry.id}.answer: {len(filled)} characters once "
                            f"filled, more than {ANSWER_LIMIT}")
    return problems


def load_faq(directory: Path, facts: FactTable, read_yaml: Callable[[Path], Any],
             explain: Callable[[Path, ValidationError], Exception]) -> FaqContent:
    from bot.content import ContentError

    def read(name: str, adapter: TypeAdapter[T]) -> T:
        """A file validated against its schema."""
        try:
            return adapter.validate_python(read_yaml(directory / name))
        except ValidationError as error:
            raise explain(directory / name, error) from error

    def stop_on(problems: list[str]) -> None:
        if problems:
            raise ContentError("\n".join(problems))

    faq = read("faq.yaml", _FILE)
    stop_on(check_entries(faq, facts, directory / "faq.yaml"))
    texts: dict[str, dict[str, FaqWords]] = {}
    for language in LANGUAGES:
        name = f"faq.{language}.yaml"
        texts[language] = read(name, _WORDS)
        stop_on(check_words(faq, facts, texts[language], language, directory / name))
    outside = read("faq.outside.yaml", _OUTSIDE)
    synonyms = read("faq.synonyms.yaml", _SYNONYMS)
    stop_on(check_synonyms(synonyms, directory / "faq.synonyms.yaml"))
    return FaqContent(entries={entry.id: entry for entry in faq.entries}, texts=texts,
                      outside={subject: {language: tuple(getattr(texts, language))
                                         for language in LANGUAGES}
                               for subject, texts in outside.items()},
                      synonyms={term: tuple(words) for term, words in synonyms.items()})

