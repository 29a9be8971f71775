"""The time helpers live in `bot.clock`; this name stays importable for the modules
that still use it."""

from __future__ import annotations

from bot.clock import as_utc, now

__all__ = ["as_utc", "now"]
