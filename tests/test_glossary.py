"""One word per thing: every msgstr of the catalogs and every text of the content files
uses the glossary's term (locales/glossary.yaml), none of its wrong variants; sums of
money and percentages are written the one way each language writes them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import yaml
from babel.messages.pofile import read_po

from bot import CONTENT_DIR, LANGUAGES, LOCALES_DIR

GLOSSARY = LOCALES_DIR / "glossary.yaml"

# Percent as each language writes it (CLDR, bot/core/formats.py `percent`).
PERCENT = {"kk": re.compile(r"\d%"), "ru": re.compile(r"\d[ \u00a0]%"), "en": re.compile(r"\d%")}
ANY_PERCENT = re.compile(r"\d\s*%")
# A currency written next to a placeholder: the formatter adds the sign itself.
MONEY_BY_HAND = re.compile(r"\}\s*(₸|KZT|тенге|теңге|tenge)|(₸|KZT)\s*\{")


@cache
def glossary() -> dict[str, Any]:
    with GLOSSARY.open(encoding="utf-8") as source:
        data: dict[str, Any] = yaml.safe_load(source)
    return data


def _walk(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


@cache
def texts(language: str) -> tuple[tuple[str, str], ...]:
    """(where, text) for every msgstr and every content text in `language`."""
    found: list[tuple[str, str]] = []
    with (LOCALES_DIR / language / "LC_MESSAGES" / "bot.po").open("rb") as source:
        for message in read_po(source, locale=language):
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            found += [(f"bot.po {ids[0]!r}", string) for string in strings]
    for name in (f"{language}.yaml", f"eligibility.{language}.yaml", f"faq.{language}.yaml"):
        path = CONTENT_DIR / name
        with path.open(encoding="utf-8") as source:
            found += [(f"{name}{where}", text) for where, text in _walk(yaml.safe_load(source), "")
                      # the knowledge base's examples are typed as people type, variants too
                      if ".examples[" not in where]
    return tuple(found)


def wrong_variants(language: str) -> list[tuple[str, str, re.Pattern[str]]]:
    variants = []
    for section in ("terms", "phrases"):
        for concept, entry in glossary()[section].items():
            for item in entry.get("wrong", {}).get(language, []):
                variants.append((concept, item["why"], re.compile(item["pattern"])))
    return variants


def refused(language: str) -> list[str]:
    problems = []
    for concept, why, pattern in wrong_variants(language):
        for where, text in texts(language):
            match = pattern.search(text)
            if match:
                problems.append(f"{where}: {match.group(0)!r} ({concept}: {why})")
    return problems


def test_the_glossary_is_complete_and_its_patterns_compile() -> None:
    data = glossary()
    assert set(data) == {"terms", "phrases"}
    for concept, entry in data["terms"].items():
        assert set(entry["term"]) == set(LANGUAGES), concept
        assert all(entry["term"].values()), concept
        for language, items in entry.get("wrong", {}).items():
            assert language in LANGUAGES, (concept, language)
            for item in items:
                assert item["why"].strip(), (concept, item)
                pattern = re.compile(item["pattern"])
                # A wrong variant never refuses the term itself.
                for term in entry["term"][language].split(" / "):
                    assert not pattern.search(term), (concept, item["pattern"], term)
    for concept, entry in data["phrases"].items():
        for language, items in entry["wrong"].items():
            assert language in LANGUAGES, (concept, language)
            assert all(re.compile(item["pattern"]) and item["why"].strip() for item in items)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogs_and_content_use_the_glossary_terms(language: str) -> None:
    problems = refused(language)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_glossary_term_is_in_use(language: str) -> None:
    """The glossary describes the texts: each term appears in them."""
    everything = "\n".join(text for _, text in texts(language)).casefold()
    missing = [f"{concept}: {part}" for concept, entry in glossary()["terms"].items()
               for part in entry["term"][language].split(" / ")
               if part.casefold() not in everything]
    assert not missing, missing


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_percent_style_per_language(language: str) -> None:
    problems = []
    for where, text in texts(language):
        for match in ANY_PERCENT.finditer(text):
            if not PERCENT[language].fullmatch(match.group(0)):
                problems.append(f"{where}: {match.group(0)!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_sums_of_money_get_their_sign_from_the_formatter(language: str) -> None:
    problems = [f"{where}: {text!r}" for where, text in texts(language)
                if MONEY_BY_HAND.search(text)]
    assert not problems, "\n".join(problems)


def test_a_wrong_variant_is_found() -> None:
    """The scan itself: a text with a refused word is reported, with the reason."""
    _concept, why, pattern = next(v for v in wrong_variants("kk") if v[0] == "button")
    assert pattern.search("Төмендегі түймені басыңыз") and "батырма" in why
    assert not pattern.search("Төмендегі батырманы басыңыз")
