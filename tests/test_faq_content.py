"""The knowledge base's content and its evaluation set keep the shared format:
bot/content/faq.yaml (the entries), faq.{kk,ru,en}.yaml (their words) and
tests/fixtures/faq_eval/{kk,ru,en}.yaml (questions written apart from the examples).

Read with PyYAML only, so the content is checked before any matcher exists."""

from __future__ import annotations

import re
import string
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import CONTENT_DIR, LANGUAGES
from bot.content import load_content
from bot.content.facts import fill
from bot.core.i18n import Translations
from handlers.facts_text import counted

EVAL_DIR = Path(__file__).parent / "fixtures" / "faq_eval"
GLOSSARY = Path(__file__).parent.parent / "locales" / "glossary.yaml"

TOPICS = {"kandas", "documents", "apply", "procedure_2026", "support", "quota", "citizenship",
          "ata_zholy", "projects", "forums", "tickets", "privacy", "bot"}
FLOWS = {"eligibility", "documents", "forums", "my_forums", "projects", "numbers", "handover",
         "privacy", "language", "menu", "none"}
PERSONAL = {None, "subsidy", "my_forum"}
ID = re.compile(r"^[a-z0-9_]+$")
# Ids the matcher's side relies on, with the meaning both sides agreed.
NAMED = {"kandas_who": None, "kandas_how": None, "documents_list": None,
          "subsidy_amount": "subsidy", "my_forum_when": "my_forum", "bot_privacy": None}

MIN_ENTRIES = 60
MIN_EXAMPLES = 5
MIN_QUESTIONS = 60
MIN_OFF_TOPIC = 30
QUESTION_LIMIT = 60
ANSWER_LIMIT = 700
# The evaluation set asks about most entries, in every language.
MIN_COVERAGE = 0.7


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as source:
        return yaml.safe_load(source)


@cache
def index() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = _load(CONTENT_DIR / "faq.yaml")["entries"]
    return entries


@cache
def words(language: str) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = _load(CONTENT_DIR / f"faq.{language}.yaml")
    return data


@cache
def evaluation(language: str) -> dict[str, Any]:
    data: dict[str, Any] = _load(EVAL_DIR / f"{language}.yaml")
    return data


@cache
def fact_table() -> Any:
    return load_content().facts


def ids() -> list[str]:
    return [entry["id"] for entry in index()]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def normal(text: str) -> str:
    return " ".join(text.lower().split())


def test_entries_are_well_formed() -> None:
    entries = index()
    assert len(entries) >= MIN_ENTRIES
    assert len(set(ids())) == len(ids()), "ids must be unique"
    fact_ids = {fact.id for fact in fact_table().facts}
    for entry in entries:
        assert set(entry) == {"id", "topic", "flow", "facts", "related", "personal"}, entry
        assert ID.match(entry["id"]), entry["id"]
        assert entry["topic"] in TOPICS, entry["id"]
        assert entry["flow"] in FLOWS, entry["id"]
        assert entry["personal"] in PERSONAL, entry["id"]
        assert set(entry["facts"]) <= fact_ids, (entry["id"], set(entry["facts"]) - fact_ids)
        assert len(entry["related"]) <= 3, entry["id"]
        assert set(entry["related"]) <= set(ids()), entry["id"]
        assert entry["id"] not in entry["related"], entry["id"]


def test_the_named_ids_exist_with_their_meaning() -> None:
    by_id = {entry["id"]: entry for entry in index()}
    for entry_id, personal in NAMED.items():
        assert entry_id in by_id, entry_id
        assert by_id[entry_id]["personal"] == personal, entry_id
    assert [e["id"] for e in index() if e["personal"]] == ["subsidy_amount", "my_forum_when"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_has_its_words(language: str) -> None:
    data = words(language)
    assert set(data) == set(ids()), set(data) ^ set(ids())
    for entry_id, item in data.items():
        assert set(item) == {"question", "answer", "examples"}, entry_id
        assert 0 < len(item["question"].strip()) <= QUESTION_LIMIT, entry_id
        assert item["answer"].strip(), entry_id
        examples = item["examples"]
        assert len(examples) >= MIN_EXAMPLES, entry_id
        assert all(isinstance(e, str) and e.strip() for e in examples), entry_id
        assert len({normal(e) for e in examples}) == len(examples), entry_id


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_name_the_listed_facts(language: str) -> None:
    """A figure is only a placeholder; every fact it names is in the entry's `facts`,
    and every listed fact is named (so the source line matches the answer)."""
    table = fact_table()
    keys = table.keys()
    fact_ids = {fact.id for fact in table.facts}
    for entry in index():
        answer = words(language)[entry["id"]]["answer"]
        names = placeholders(answer)
        assert names <= keys, (entry["id"], names - keys)
        named = {name.split(".")[0] for name in names} & fact_ids
        assert named == set(entry["facts"]), (entry["id"], named ^ set(entry["facts"]))
        # Steps of a numbered list are not figures.
        typed = re.sub(r"(?m)^\s*\d+\.\s", "", re.sub(r"\{[^}]*\}", "", answer))
        assert not re.search(r"\d", typed), (entry["id"], "a figure typed by hand")
        assert not placeholders(words(language)[entry["id"]]["question"]), entry["id"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_answers_fit_once_filled(language: str) -> None:
    values = fact_table().values(language, counted(Translations()[language]))
    for entry_id, item in words(language).items():
        filled = fill(item["answer"], values).strip()
        assert len(filled) <= ANSWER_LIMIT, (entry_id, len(filled))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_glossary_wrong_variants_are_not_used(language: str) -> None:
    glossary = _load(GLOSSARY)
    patterns = [re.compile(item["pattern"])
                for section in ("terms", "phrases")
                for entry in glossary[section].values()
                for item in entry.get("wrong", {}).get(language, [])]
    problems = []
    for entry_id, item in words(language).items():
        for text in [item["question"], item["answer"], *item["examples"]]:
            problems += [f"{entry_id}: {p.pattern!r} in {text!r}" for p in patterns
                         if p.search(text)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_evaluation_set(language: str) -> None:
    data = evaluation(language)
    assert set(data) == {"questions", "off_topic"}
    questions = data["questions"]
    assert len(questions) >= MIN_QUESTIONS
    assert len(data["off_topic"]) >= MIN_OFF_TOPIC
    known = set(ids())
    for item in questions:
        assert set(item) == {"q", "id"}, item
        assert item["id"] in known, item
    asked = {item["id"] for item in questions}
    assert len(asked) >= MIN_COVERAGE * len(known), sorted(known - asked)
    everything = [normal(item["q"]) for item in questions] + \
        [normal(text) for text in data["off_topic"]]
    assert len(set(everything)) == len(everything), "a question is there twice"


@pytest.mark.parametrize("language", LANGUAGES)
def test_evaluation_questions_are_not_the_examples(language: str) -> None:
    """Written apart: no question is one of the examples, in any language's file."""
    examples = {normal(e) for lang in LANGUAGES for item in words(lang).values()
                for e in item["examples"]}
    data = evaluation(language)
    copied = [q for q in [item["q"] for item in data["questions"]] + data["off_topic"]
              if normal(q) in examples]
    assert not copied, copied


# A phrasing at least this close to an evaluation question (difflib's ratio of the two
# texts in the matcher's one spelling) is a near-copy of it: the evaluation would
# measure the phrasing, not the matcher.
NEAR_COPY = 0.9


def evaluation_texts() -> list[str]:
    """Every question and off-topic text of the evaluation set and its held-out part."""
    texts: list[str] = []
    for directory in (EVAL_DIR, EVAL_DIR / "holdout"):
        for language in LANGUAGES:
            data = _load(directory / f"{language}.yaml")
            texts += [item["q"] for item in data["questions"]] + data["off_topic"]
    return texts


def test_no_phrasing_is_a_near_copy_of_an_evaluation_question() -> None:
    """The examples and the texts about what the base does not answer (faq.outside.yaml)
    are written apart from the evaluation set, not as variants of its questions."""
    from bot.services.knowledge import fold

    outside = _load(CONTENT_DIR / "faq.outside.yaml")
    phrasings = {fold(text) for language in LANGUAGES for item in words(language).values()
                 for text in item["examples"]}
    phrasings |= {fold(text) for subject in outside.values() for language in LANGUAGES
                  for text in subject[language]}
    close = []
    for question in {fold(text) for text in evaluation_texts()}:
        matcher = SequenceMatcher(None, b=question, autojunk=False)
        for phrasing in phrasings:
            matcher.set_seq1(phrasing)
            if matcher.real_quick_ratio() >= NEAR_COPY and matcher.quick_ratio() >= NEAR_COPY \
                    and matcher.ratio() >= NEAR_COPY:
                close.append((question, phrasing))
    assert not close, close


def test_the_held_out_set() -> None:
    """Kept like the evaluation set, smaller: labelled with known entries, no text twice."""
    known = set(ids())
    for language in LANGUAGES:
        data = _load(EVAL_DIR / "holdout" / f"{language}.yaml")
        assert set(data) == {"questions", "off_topic"}
        assert len(data["questions"]) >= 20 and len(data["off_topic"]) >= 10
        assert all(item["id"] in known for item in data["questions"]), language
        texts = [normal(item["q"]) for item in data["questions"]] + \
            [normal(text) for text in data["off_topic"]]
        assert len(set(texts)) == len(texts), language
