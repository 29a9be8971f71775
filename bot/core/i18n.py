"""Interface words: gettext catalogs under locales/, compiled with Babel.

`.mo` files are build products: they are compiled from the `.po` files whenever a
`.po` file is newer (at start-up and by `make catalogs`), never edited by hand. The
catalogs of Kazakh's other scripts (`kk-Latn`, `kk-Arab`) have no `.po` of their own:
their `.mo` is written from the Kazakh Cyrillic `.po`, every translation transliterated
(bot/core/scripts.py), whenever that `.po`, the exceptions list or the rules are newer.
"""

from __future__ import annotations

import gettext
import os
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import LOCALES, LOCALES_DIR
from bot.core import formats, scripts
from bot.core.replies import Choice, Reply

DOMAIN = "bot"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def _write_mo(mo_path: Path, catalog: Catalog) -> None:
    mo_path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary file per process: processes starting together (several workers,
    # the test suite's) may compile the same catalog at once.
    temporary = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as target:
        write_mo(target, catalog, use_fuzzy=False)
    temporary.replace(mo_path)


def _newer(target: Path, *sources: Path) -> bool:
    """True when `target` exists and is at least as new as every source that exists."""
    if not target.exists():
        return False
    made = target.stat().st_mtime
    return all(made >= path.stat().st_mtime for path in sources if path.exists())


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every `.po` whose `.mo` is missing or older, and derive the catalogs of
    Kazakh's other scripts from the Kazakh one. Returns what was written."""
    written: list[Path] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if _newer(mo_path, po_path):
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        _write_mo(mo_path, catalog)
        written.append(mo_path)
    kazakh = locales_dir / scripts.CYRILLIC / "LC_MESSAGES" / f"{DOMAIN}.po"
    for locale in scripts.DERIVED:
        script = scripts.writer(locale)
        assert script is not None
        mo_path = locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        rules = (Path(scripts.__file__), scripts.SCRIPTS_DIR / f"{locale}.yaml")
        if not kazakh.exists() or _newer(mo_path, kazakh, *rules):
            continue
        _write_mo(mo_path, derive_catalog(kazakh, script))
        written.append(mo_path)
    return written


def derive_catalog(po_path: Path, script: scripts.Script) -> Catalog:
    """The Kazakh catalog with every translation in another script."""
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=scripts.CYRILLIC)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.string, str):
            message.string = script.write(message.string)
        elif message.string:
            message.string = tuple(script.write(text) for text in message.string)
    return catalog


@dataclass(frozen=True)
class Translator:
    """The interface words of one language."""

    locale: str
    catalog: gettext.NullTranslations

    def _(self, message: str) -> str:
        return self.catalog.gettext(message)

    gettext = _

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.catalog.ngettext(singular, plural, count)

    def number(self, value: float) -> str:
        """More formats (money, counts, dates) are in bot/core/formats.py."""
        return formats.number(value, self.locale)

    def write(self, text: str) -> str:
        """Any text shown to this reader (a name, a forum's title, content) in the
        locale's script: Kazakh Cyrillic becomes Latin or tote; unchanged elsewhere."""
        return scripts.write(text, self.locale)

    def reply(self, reply: Reply) -> Reply:
        """A reply whose text and button labels are in the locale's script."""
        if self.locale not in scripts.DERIVED:
            return reply
        return Reply(
            text=self.write(reply.text),
            choices=tuple(tuple(Choice(self.write(choice.label), choice.payload, choice.url)
                                for choice in row) for row in reply.choices),
            attachment=reply.attachment,
            ask_contact=self.write(reply.ask_contact) if reply.ask_contact else None)


class Translations:
    """All languages, loaded once."""

    def __init__(self, locales_dir: Path = LOCALES_DIR) -> None:
        compile_catalogs(locales_dir)
        self._translators: dict[str, Translator] = {}
        for language in LOCALES:
            mo_path = locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
            if not mo_path.exists():
                po_path = mo_path.with_suffix(".po")
                raise RuntimeError(f"missing catalog for {language!r}: {po_path}")
            with mo_path.open("rb") as source:
                catalog = gettext.GNUTranslations(source)
            self._translators[language] = Translator(language, catalog)

    def __getitem__(self, language: str) -> Translator:
        return self._translators[language]

    def get(self, language: str | None, default: str) -> Translator:
        return self._translators.get(language or default) or self._translators[default]


# Platform codes of Kazakh by region or script: Kazakhs of China read tote, those of
# Turkey Latin.
_KAZAKH_HINTS = {"kk-latn": "kk-Latn", "kk-tr": "kk-Latn", "kk-arab": "kk-Arab",
                 "kk-cn": "kk-Arab"}


def pick_language(hint: str | None) -> str | None:
    """Map a platform or typed language code (`ru`, `kk`, `en-GB`, `kz`, `kk-Latn`,
    `kk_Arab`) to a locale we speak."""
    if not hint:
        return None
    full = hint.replace("_", "-").lower()
    if full.startswith(("kk-", "kz-")):
        found = _KAZAKH_HINTS.get("kk-" + full[3:].split("-", 1)[0])
        if found:
            return found
    code = full.split("-", 1)[0]
    if code == "kz":
        code = "kk"
    return code if code in LOCALES else None
