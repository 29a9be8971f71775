"""Is a reply wholly in one language? `assert_language(text, "ru")` says why not.

- English: no Cyrillic letters.
- Russian: no Kazakh-specific letters (әғқңөұүһі), no English words.
- Kazakh: no English words.
- Every language: no word that mixes Latin and Cyrillic letters, and no string (of 12
  characters or more) of another language's catalog (locales/*/LC_MESSAGES/bot.po) or
  content file (bot/content/<lang>.yaml) that differs from this language's own version
  of the same entry.

An "English word" is a run of 4 or more Latin letters; URLs, bot commands (/help), time
zone names (Europe/Berlin), acronyms of up to 5 capitals (XLSX) and the proper names in
ALLOWED_NAMES are not counted.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALES_DIR = ROOT / "locales"
CONTENT_DIR = ROOT / "bot" / "content"
LANGUAGES = ("kk", "ru", "en")
MIN_FOREIGN = 12

ALLOWED_NAMES = (
    "Qazaq House", "Otandastar", "Turakty Auyly", "Bereke", "Bolashakka bagdar", "Abay",
    "Atameken", "oq.gov.kz", "enbek.gov.kz", "egov.kz", "migration.enbek.kz",
)

_CYRILLIC = re.compile(r"[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
_KAZAKH_ONLY = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]+(?:@\w+)?")
# IANA time zone names (Europe/Berlin) are typed as they are, in every language.
_TIME_ZONE = re.compile(r"\b(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|"
                        r"Pacific|Etc)/[A-Za-z_]+(?:/[A-Za-z_]+)?")
_NAMES = re.compile("|".join(re.escape(name) for name in
                             sorted(ALLOWED_NAMES, key=len, reverse=True)), re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _effective(message_id: str, translation: str, fuzzy: bool) -> str:
    # What gettext shows: the msgid when the msgstr is empty or fuzzy (not compiled).
    return translation if translation and not fuzzy else message_id


@cache
def catalog_strings(language: str) -> dict[str, tuple[str, ...]]:
    """msgid -> what the user sees in `language` (several strings for plural forms)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / "bot.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    strings: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        fuzzy = message.fuzzy
        if isinstance(message.id, (list, tuple)):
            translations = message.string if isinstance(message.string, (list, tuple)) else ()
            ids = list(message.id)
            shown = [_effective(ids[min(i, len(ids) - 1)], t, fuzzy)
                     for i, t in enumerate(translations)] or ids
            strings[f"po:{ids[0]}"] = tuple(shown)
        else:
            strings[f"po:{message.id}"] = (_effective(message.id, message.string or "", fuzzy),)
    return strings


def _flatten(value: object, path: str, into: dict[str, tuple[str, ...]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{path}.{key}", into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", into)
    elif isinstance(value, str):
        into[path] = (value,)


@cache
def content_strings(language: str) -> dict[str, tuple[str, ...]]:
    """content path -> the text of that entry in `language`."""
    path = CONTENT_DIR / f"{language}.yaml"
    strings: dict[str, tuple[str, ...]] = {}
    if path.exists():
        with path.open(encoding="utf-8") as source:
            _flatten(yaml.safe_load(source), "content", strings)
    return strings


@cache
def _strings(language: str) -> dict[str, tuple[str, ...]]:
    return {**catalog_strings(language), **content_strings(language)}


def _fragments(text: str) -> list[str]:
    """The parts of a string that appear literally in a reply: between placeholders,
    line by line."""
    parts: list[str] = []
    for piece in _PLACEHOLDER.split(text):
        for line in piece.splitlines():
            line = line.strip(" \t•:;,.!?()\"'«»—-")
            if len(line) >= MIN_FOREIGN:
                parts.append(line)
    return parts


def foreign_strings(text: str, language: str) -> list[str]:
    """Strings of another language's catalog or content found in `text`."""
    own = _strings(language)
    found: list[str] = []
    seen: set[str] = set()
    for other in LANGUAGES:
        if other == language:
            continue
        for key, shown in _strings(other).items():
            mine = "\n".join(own.get(key, ()))
            for string in shown:
                for fragment in _fragments(string):
                    if not _NAMES.sub("", fragment).strip(" \t.,:;!?()\"'«»—-"):
                        continue  # only allowed names, the same in every language
                    if fragment in text and fragment not in mine and fragment not in seen:
                        seen.add(fragment)
                        found.append(f"{other}:{key}: {fragment!r}")
    return found


def _without_exempt(text: str) -> str:
    text = _URL.sub(" ", text)
    text = _TIME_ZONE.sub(" ", text)
    text = _NAMES.sub(" ", text)
    return _COMMAND.sub(" ", text)


def language_problems(text: str, language: str) -> list[str]:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    problems: list[str] = []
    if not text.strip():
        problems.append("the text is empty")
    words = _WORD.findall(_without_exempt(text))
    mixed = sorted({w for w in words if _CYRILLIC.search(w) and _LATIN_WORD.search(w)})
    if mixed:
        problems.append(f"words mixing Latin and Cyrillic letters: {mixed}")
    if language == "en":
        cyrillic = sorted({w for w in words if _CYRILLIC.search(w)})
        if cyrillic:
            problems.append(f"Cyrillic in an English reply: {cyrillic}")
    else:
        english = sorted({w for w in words  # acronyms such as XLSX are not words
                          if len(w) >= 4 and _LATIN_WORD.fullmatch(w)
                          and not (w.isupper() and len(w) <= 5)})
        if english:
            problems.append(f"English words in a {language} reply: {english}")
    if language == "ru":
        kazakh = sorted({w for w in words if _KAZAKH_ONLY.search(w)})
        if kazakh:
            problems.append(f"Kazakh letters in a Russian reply: {kazakh}")
    problems += [f"string of another language: {found}"
                 for found in foreign_strings(text, language)]
    return problems


def assert_language(text: str, lang: str) -> None:
    """Fail unless `text` is wholly in `lang` (kk, ru or en)."""
    problems = language_problems(text, lang)
    if problems:
        shown = text if len(text) <= 1500 else text[:1500] + "…"
        raise AssertionError(f"reply is not wholly in {lang!r}:\n  - "
                             + "\n  - ".join(problems) + f"\n--- text ---\n{shown}")


def assert_no_cyrillic(text: str, allowed: set[str] | frozenset[str] = frozenset()) -> None:
    """Kazakh in Latin or tote: no Cyrillic letter left, but in the `allowed` strings
    (the names of the languages, each in its own script)."""
    for item in sorted(allowed, key=len, reverse=True):
        text = text.replace(item, " ")
    left = [word for word in _WORD.findall(text) if _CYRILLIC.search(word)]
    assert not left, f"Cyrillic left: {left[:10]} in {text[:300]!r}"
