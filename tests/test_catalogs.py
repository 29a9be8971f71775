"""The three catalogs stay complete: nothing untranslated, fuzzy or obsolete, and the
placeholders agree between languages. The catalogs also match the source code. The
catalogs derived for Kazakh's other scripts (kk-Latn, kk-Arab) hold every entry, with
its placeholders, and no Cyrillic letter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import LANGUAGES, LOCALES, LOCALES_DIR, PROJECT_DIR
from bot.core import scripts
from bot.core.i18n import Translations, compile_catalogs, derive_catalog

PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (LOCALES_DIR / language / "LC_MESSAGES" / "bot.po").open("rb") as source:
        return read_po(source, locale=language)


def extracted_ids(tmp_path: Path) -> set[str]:
    template = tmp_path / "bot.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
         "-k", "_", "-k", "N_", "-k", "ngettext:1,2", "--no-location", "-o", str(template),
         "bot", "handlers"],
        cwd=PROJECT_DIR, check=True, capture_output=True,
    )
    with template.open("rb") as source:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(source) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_not_fuzzy(language: str) -> None:
    problems = []
    for message in catalog(language):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"untranslated: {message.id!r}")
    assert not problems, "\n".join(problems)


def translations(messages):  # type: ignore[no-untyped-def]
    """(id, placeholders of the source, each translated string) of every entry."""
    for message in messages:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        yield message.id, sorted(PLACEHOLDER.findall(ids[-1])), strings


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_are_the_same_as_in_the_source(language: str) -> None:
    problems = []
    for message_id, expected, strings in translations(catalog(language)):
        for string in strings:
            if sorted(PLACEHOLDER.findall(string)) != expected:
                problems.append(f"{message_id!r}: {string!r}")
    assert not problems, "\n".join(problems)


def test_catalogs_hold_exactly_the_strings_of_the_code(tmp_path: Path) -> None:
    in_code = extracted_ids(tmp_path)
    for language in LANGUAGES:
        in_catalog = {m.id if isinstance(m.id, str) else m.id[0]
                      for m in catalog(language) if m.id}
        assert in_code - in_catalog == set(), f"{language}: missing, run `make catalogs`"
        assert in_catalog - in_code == set(), f"{language}: obsolete, run `make catalogs`"


def test_catalogs_compile_and_load(tmp_path: Path) -> None:
    for language in LANGUAGES:
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / "bot.po").write_bytes((LOCALES_DIR / language / "LC_MESSAGES" /
                                         "bot.po").read_bytes())
    written = compile_catalogs(tmp_path)
    assert len(written) == len(LOCALES)  # the three, and the two derived from Kazakh
    assert compile_catalogs(tmp_path) == []  # up to date: nothing rewritten
    translations = Translations(tmp_path)
    assert translations["ru"]._("Main menu") != "Main menu"
    assert translations["kk"]._("Main menu") != translations["ru"]._("Main menu")
    assert translations["kk-Latn"]._("Main menu") == "Basty mäzır"
    assert translations["kk-Arab"]._("Main menu") == "باستى ٴمازىر"
    kazakh = tmp_path / "kk" / "LC_MESSAGES" / "bot.po"
    kazakh.touch()  # a newer Kazakh catalog: the derived ones follow
    later = compile_catalogs(tmp_path)
    assert {path.parent.parent.name for path in later} == {"kk", *scripts.DERIVED}


@pytest.mark.parametrize("locale", scripts.DERIVED)
def test_derived_catalogs_are_complete_and_in_their_script(locale: str) -> None:
    script = scripts.writer(locale)
    assert script is not None
    derived = derive_catalog(LOCALES_DIR / "kk" / "LC_MESSAGES" / "bot.po", script)
    kazakh = {m.id: m for m in catalog("kk") if m.id}
    problems = []
    for message_id, expected, strings in translations(derived):
        for string in strings:
            if not string.strip():
                problems.append(f"untranslated: {message_id!r}")
            if sorted(PLACEHOLDER.findall(string)) != expected:
                problems.append(f"placeholders: {message_id!r}: {string!r}")
            if scripts.HAS_CYRILLIC.search(string):
                problems.append(f"Cyrillic left: {message_id!r}: {string!r}")
            if not scripts.balanced(string):
                problems.append(f"isolates: {message_id!r}: {string!r}")
    assert {m.id for m in derived if m.id} == set(kazakh)
    assert not problems, "\n".join(problems[:20])
