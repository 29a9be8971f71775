"""Kazakh in the scripts its readers use: Cyrillic (the source of every text), the Latin
alphabet of 2021 (`kk-Latn`) and the Arabic-based tote (`kk-Arab`).

Pure functions over strings; the exceptions lists (locales/scripts/<locale>.yaml) are
read once by `writer`.

**Latin** (`kk-Latn`): the alphabet approved by the Government of Kazakhstan on
28 January 2021 (resolution amending decree No. 637 of 26 October 2017), as tabulated
in Wikipedia, "Kazakh alphabets", section "Latin script" (2021 column), with the
letters of Russian loanwords as written there: ц ts, ч ch, щ şş, ё io, ю iu, я ia,
э e, ъ and ь left out. И and Й are both `i` (capital `İ`), І is `ı` (capital `I`).

**Tote** (`kk-Arab`): the Kazakh Arabic alphabet of Xinjiang (Baitursynov's reform,
table in Wikipedia, "Kazakh alphabets", section "Arabic script", and the Turkish
Wikipedia's "Kazak alfabesi" correspondence table). The front (soft) vowels ә, ө,
ү, і are written as their back pairs ا و ۇ ى, and the word is marked once, before
its first letter, by the high hamza U+0674 ٴ; the mark is left out when the word has
ك (к), گ (г) or ە (е), which are only found in front words (K. Rakhim, Unicode
mailing list, 10 July 2001, "Re: compatibility characters in Arabic block"), and when
it has a back vowel (а, ы, ұ), as in the tote edition of Egemen Qazaqstan
(ar.egemen.kz), the source of the test pairs; ий, ия, ию are written ي, يا, يۋ there. Commas,
question marks and semicolons are the Arabic ones (، ؟ ؛). Tote is written right to
left: every run of digits and Latin letters (numbers, links, commands, brand names)
is wrapped in a left-to-right isolate (LRI … PDI), so that Telegram and WhatsApp keep
its order inside the Arabic line.

What is never transliterated: web links, e-mail addresses, /commands, {placeholders}
and %(name)s fields, HTML tags, and the words of the exceptions list (loanwords and
names whose rule-made spelling is wrong) in the exceptions' own spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CYRILLIC = "kk"
LATIN = "kk-Latn"
ARABIC = "kk-Arab"
DERIVED: tuple[str, ...] = (LATIN, ARABIC)

LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"
HAMZA = "\u0674"  # ARABIC LETTER HIGH HAMZA

_CYRILLIC_LETTER = "а-яёәғқңөұүһіА-ЯЁӘҒҚҢӨҰҮҺІ"
_CYRILLIC_WORD = re.compile(f"[{_CYRILLIC_LETTER}]+")
HAS_CYRILLIC = re.compile(f"[{_CYRILLIC_LETTER}]")

# Spans that stay as they are, in order of precedence.
_PROTECTED = re.compile(
    r"(?P<link>(?:https?://|www\.|t\.me/|wa\.me/)[^\s<>]*[^\s<>.,;:!?)»\"'،؛؟])"
    r"|(?P<mail>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<tag></?[a-zA-Z][^<>]*>)"
    r"|(?P<field>\{[^{}]*\}|%\([a-z_]+\)[sdf]|%[sd])"
    r"|(?P<command>(?<![\w/])/[a-z][a-z_]*)"
)

# --- Latin, 2021 ----------------------------------------------------------------------

_LATIN_LOWER: dict[str, str] = {
    "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e",
    "ё": "io", "ж": "j", "з": "z", "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l",
    "м": "m", "н": "n", "ң": "ñ", "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ұ": "ū", "ү": "ü", "ф": "f", "х": "h", "һ": "h", "ц": "ts",
    "ч": "ch", "ш": "ş", "щ": "şş", "ъ": "", "ы": "y", "і": "ı", "ь": "", "э": "e",
    "ю": "iu", "я": "ia",
}
# Capitals: the dotted and dotless i are a pair of their own (İ i, I ı).
_LATIN_UPPER: dict[str, str] = {
    letter.upper(): value.upper() for letter, value in _LATIN_LOWER.items()
} | {"И": "İ", "Й": "İ", "І": "I", "Ё": "İO", "Ю": "İU", "Я": "İA"}


def _latin_word(word: str) -> str:
    """One Cyrillic word in the 2021 Latin letters, keeping its case: `Қазақстан`
    `Qazaqstan`, `ҚАЗАҚ` `QAZAQ`, `Шымкент` `Şymkent`, `Чехия` `Chehiia`."""
    capitals = sum(1 for ch in word if ch.isupper())
    all_caps = capitals > 1 and capitals == sum(1 for ch in word if ch.isalpha())
    out: list[str] = []
    for ch in word:
        if ch.isupper():
            value = _LATIN_UPPER.get(ch, ch)
            if not all_caps and len(value) > 1:
                value = value[0] + value[1:].lower()  # Ч Ch, Ш Ş, Я İa
            out.append(value)
        else:
            out.append(_LATIN_LOWER.get(ch, ch))
    return "".join(out)


# --- Tote -----------------------------------------------------------------------------

_ARABIC_LETTERS: dict[str, str] = {
    "а": "ا", "ә": "ا", "б": "ب", "в": "ۆ", "г": "گ", "ғ": "ع", "д": "د", "е": "ە",
    "ё": "يو", "ж": "ج", "з": "ز", "и": "ي", "й": "ي", "к": "ك", "қ": "ق", "л": "ل",
    "м": "م", "н": "ن", "ң": "ڭ", "о": "و", "ө": "و", "п": "پ", "р": "ر", "с": "س",
    "т": "ت", "у": "ۋ", "ұ": "ۇ", "ү": "ۇ", "ф": "ف", "х": "ح", "һ": "ھ", "ц": "تس",
    "ч": "چ", "ш": "ش", "щ": "شش", "ъ": "", "ы": "ى", "і": "ى", "ь": "", "э": "ە",
    "ю": "يۋ", "я": "يا",
}
# Letter pairs written as one: ий, ия and ию of loanwords (`этимологиялық`
# ەتيمولوگيالىق, `территориясынан` تەرريتورياسىنان in Egemen Qazaqstan's tote edition).
_ARABIC_PAIRS: dict[str, str] = {"ий": "ي", "ия": "يا", "ию": "يۋ"}
_SOFT = frozenset("әөүі")
_HARD_FRONT = frozenset("екгэ")  # their letters (ە ك گ) already mark a front word
# A back vowel makes the word no front word: no hamza (`әпсаналарға` اپسانالارعا,
# `білімпаздықты` بىلىمپازدىقتى, as Egemen Qazaqstan's tote edition writes them).
_BACK = frozenset("аыұя")
# A comma, question mark or semicolon, but not the decimal comma of `1,5`.
_PUNCTUATION = re.compile(r"(?<![0-9]),|,(?![0-9])|[?;]")
_ARABIC_PUNCTUATION = {",": "،", "?": "؟", ";": "؛"}


def _arabic_word(word: str) -> str:
    """One Cyrillic word in tote: `бір` `ٴبىر`, `кітап` `كىتاپ`, `Қазақ` `قازاق`."""
    lower = word.lower()
    out: list[str] = []
    i = 0
    while i < len(lower):
        pair = _ARABIC_PAIRS.get(lower[i:i + 2])
        if pair is not None:
            out.append(pair)
            i += 2
            continue
        out.append(_ARABIC_LETTERS.get(lower[i], lower[i]))
        i += 1
    letters = set(lower)
    front = letters & _SOFT and not letters & (_HARD_FRONT | _BACK)
    hamza = HAMZA if front else ""
    return hamza + "".join(out)


# Runs that read left to right inside a tote line: Latin letters and digits, with the
# marks that join them (`10:00`, `1 211 000 ₸`, `+7 701`, `Qazaq House`, `e-Gov`).
_LTR = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LTR_RUN = re.compile(
    rf"(?:[+\-\u2212](?=[0-9]))?[{_LTR}]"
    rf"(?:[{_LTR}.,:/@%&+=#?~\-\u2011\u2013'\u2019 \u00a0\u202f_₸$€]*[{_LTR}%₸])?")
_OPENERS = frozenset((LRI, FSI, "\u2067"))


def isolate(text: str) -> str:
    """Wrap each left-to-right run of a right-to-left text in LRI … PDI (a {field} in
    FSI … PDI: what fills it may be either way), leaving what is already isolated as it
    is: applied twice, it changes nothing more."""
    out: list[str] = []
    depth = 0
    position = 0
    while position < len(text):
        ch = text[position]
        if ch in _OPENERS:
            depth += 1
        elif ch == PDI:
            depth = max(0, depth - 1)
        elif depth == 0:
            span = _PROTECTED.match(text, position) or _LTR_RUN.match(text, position)
            if span is not None:
                kind = span.lastgroup if span.re is _PROTECTED else None
                if kind == "tag":
                    out.append(span.group())
                else:
                    opener = FSI if kind == "field" else LRI
                    out.append(f"{opener}{span.group()}{PDI}")
                position = span.end()
                continue
        out.append(ch)
        position += 1
    return "".join(out)


def balanced(text: str) -> bool:
    """Every isolate (LRI, RLI, FSI) is closed by its PDI, and no PDI is left over."""
    depth = 0
    for ch in text:
        if ch in (LRI, FSI, "\u2067"):
            depth += 1
        elif ch == PDI:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# --- Writing a text -------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """How one derived locale writes Kazakh Cyrillic text."""

    locale: str
    word: Callable[[str], str]
    exceptions: Mapping[str, str] = field(default_factory=dict)  # lower-case Cyrillic
    right_to_left: bool = False

    def write(self, text: str) -> str:
        """The text in this script; links, addresses, commands, fields, tags and the
        exceptions' words as they are."""
        if not text:
            return text
        written = text
        if HAS_CYRILLIC.search(text) is not None:
            out: list[str] = []
            position = 0
            for match in _PROTECTED.finditer(text):
                out.append(self._words(text[position:match.start()]))
                out.append(match.group())
                position = match.end()
            out.append(self._words(text[position:]))
            written = "".join(out)
        return isolate(written) if self.right_to_left else written

    def _words(self, text: str) -> str:
        if not text:
            return text
        written = _CYRILLIC_WORD.sub(lambda match: self._word(match.group()), text)
        if self.right_to_left:
            written = _PUNCTUATION.sub(lambda m: _ARABIC_PUNCTUATION[m.group()], written)
        return written

    def _word(self, word: str) -> str:
        lower = word.lower()
        # The longest exception the word starts with: a name, or a loanword's stem with
        # the word's own ending after it.
        for length in range(len(lower), 1, -1):
            spelled = self.exceptions.get(lower[:length])
            if spelled is not None:
                if word[:1].isupper() and spelled.islower():
                    spelled = spelled[:1].upper() + spelled[1:]
                rest = word[length:]
                return spelled + (self.word(rest) if rest else "")
        return self.word(word)


SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "locales" / "scripts"


def read_exceptions(path: Path) -> dict[str, str]:
    """An exceptions list: `Cyrillic: spelling` lines of a YAML mapping (the simple
    subset this file uses is read without a YAML library)."""
    exceptions: dict[str, str] = {}
    if not path.exists():
        return exceptions
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = (part.strip().strip("\"'") for part in line.split(":", 1))
        if key and value:
            exceptions[key.lower()] = value
    return exceptions


@cache
def writer(locale: str, scripts_dir: Path = SCRIPTS_DIR) -> Script | None:
    """The script of a derived locale, with its exceptions list; None for a locale
    written as its catalog is (kk, ru, en)."""
    if locale == LATIN:
        return Script(LATIN, _latin_word, read_exceptions(scripts_dir / f"{LATIN}.yaml"))
    if locale == ARABIC:
        return Script(ARABIC, _arabic_word, read_exceptions(scripts_dir / f"{ARABIC}.yaml"),
                      right_to_left=True)
    return None


def write(text: str, locale: str) -> str:
    """`text` (Kazakh Cyrillic, or any text a Kazakh reader is shown) in the script of
    `locale`; unchanged for a locale that is no derived script."""
    script = writer(locale)
    return text if script is None else script.write(text)


def source(locale: str) -> str:
    """The locale whose words a locale shows: `kk` for kk-Latn and kk-Arab."""
    return CYRILLIC if locale in DERIVED else locale


def pick(texts: Mapping[str, str], locale: str) -> str | None:
    """A text stored per language (a forum's title, an announcement) for a reader of
    `locale`: its own, or its source language's written in its script."""
    text = texts.get(locale) or texts.get(source(locale))
    return write(text, locale) if text else None
