"""Interface words: gettext catalogs under locales/, compiled with Babel.

`.mo` files are build products: they are compiled from the `.po` files whenever a
`.po` file is newer (at start-up and by `make catalogs`), never edited by hand.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import LANGUAGES, LOCALES_DIR
from bot.core import formats

DOMAIN = "bot"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


def compile_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compile every `.po` whose `.mo` is missing or older. Returns what was written."""
    written: list[Path] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        temporary = mo_path.with_suffix(".mo.tmp")
        with temporary.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        temporary.replace(mo_path)
        written.append(mo_path)
    return written


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


class Translations:
    """All languages, loaded once."""

    def __init__(self, locales_dir: Path = LOCALES_DIR) -> None:
        compile_catalogs(locales_dir)
        self._translators: dict[str, Translator] = {}
        for language in LANGUAGES:
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


def pick_language(hint: str | None) -> str | None:
    """Map a platform language code (`ru`, `kk`, `en-GB`, `kz`) to one we speak."""
    if not hint:
        return None
    code = hint.replace("_", "-").split("-", 1)[0].lower()
    if code == "kz":
        code = "kk"
    return code if code in LANGUAGES else None
