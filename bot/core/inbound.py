"""What comes from outside, read once at the edge: whole numbers and text.

- `whole_number`: ASCII digits only, at most `MAX_DIGITS` of them, else None.
  `str.isdigit` also takes '²', '①' and other digits that `int` refuses, and `int`
  refuses strings of over 4,300 digits: neither may reach `int` from user input.
- `clean`: text as every database stores it: NUL and the other C0 control characters
  removed (newline and tab kept; PostgreSQL refuses NUL in text), lone surrogates
  (which cannot be written as UTF-8) replaced by U+FFFD, and cut to a length.

Every `Event` is built of cleaned text (bot/core/events.py); a channel cleans what it
stores itself before there is an event (a WhatsApp profile name, say).
"""

from __future__ import annotations

import re

# The largest number read: what fits every integer column (BIGINT), 19 digits.
MAX_NUMBER = 2**63 - 1
MAX_DIGITS = len(str(MAX_NUMBER))

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def whole_number(raw: str, *, low: int = 0, high: int = MAX_NUMBER) -> int | None:
    """The non-negative whole number `raw` is written as in ASCII digits (surrounding
    whitespace allowed), within `low..high`; None for anything else."""
    raw = raw.strip()
    if not raw or len(raw) > MAX_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    number = int(raw)
    return number if low <= number <= high else None


def clean(text: str, limit: int | None = None) -> str:
    """`text` without control characters (but newline and tab), without lone
    surrogates, and at most `limit` characters long."""
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate; pairs written as two are joined
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = _CONTROLS.sub("", text)
    return text if limit is None else text[:limit]


def clean_optional(text: str | None, limit: int | None = None) -> str | None:
    """`clean`, keeping None; and None for what is empty once cleaned."""
    return (clean(text, limit) or None) if text is not None else None
