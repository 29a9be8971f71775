"""The database out of reach, told once: not a traceback per failed update.

`is_outage(error)` says whether an error means the database cannot be reached or is
not taking writes for now (connection refused or dropped, a lock held too long, a
timeout), as opposed to a fault in a step. What failed for that reason is not lost:
a Telegram update is answered 503 and delivered again, a queued row stays queued.

`OUTAGE` is the process's one account of it. Each failure is reported to it with
where it happened; it logs one WARNING when an outage starts (per kind of failure),
one line every `SUMMARY_EVERY` seconds with the counts while it lasts, and one line
when the database answers again. Neither SQL nor bound parameters are ever logged:
only the exception's class.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from sqlalchemy import exc

log = logging.getLogger(__name__)

SUMMARY_EVERY = 10.0  # seconds between two lines while an outage lasts


def is_outage(error: BaseException) -> bool:
    """True for an error of reaching the database rather than of what was asked of it."""
    if isinstance(error, exc.DBAPIError):
        return (error.connection_invalidated
                or isinstance(error, exc.OperationalError | exc.InterfaceError))
    return isinstance(error, exc.TimeoutError | exc.DisconnectionError | OSError
                      | TimeoutError)


def kind_of(error: BaseException) -> str:
    """The failure's kind, free of SQL and parameters: the driver's exception class."""
    cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig else error
    return type(cause).__name__


class Outage:
    def __init__(self, summary_every: float = SUMMARY_EVERY) -> None:
        self.summary_every = summary_every
        self.since: float | None = None  # monotonic time of the first failure
        self.total = 0
        self._pending: Counter[str] = Counter()  # failures since the last line
        self._last_line = 0.0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, where: str, error: BaseException) -> None:
        """A failure for want of the database, at `where` ("telegram update",
        "reminders", ...)."""
        now = time.monotonic()
        key = f"{where}: {kind_of(error)}"
        self.total += 1
        if self.since is None:
            self.since = self._last_line = now
            log.warning("database unavailable (%s); what fails for it is retried later", key)
            return
        self._pending[key] += 1
        if now - self._last_line >= self.summary_every:
            self._summary(now)

    def recovered(self) -> None:
        """Something just worked on the database: the outage, if any, is over."""
        if self.since is None:
            return
        now = time.monotonic()
        if self._pending:
            self._summary(now)
        log.warning("database available again after %.1f s; %d failures meanwhile",
                    now - self.since, self.total)
        self.since = None
        self.total = 0

    def _summary(self, now: float) -> None:
        counts = ", ".join(f"{key} ×{count}" for key, count in sorted(self._pending.items()))
        log.warning("database still unavailable after %.1f s: %s",
                    now - (self.since or now), counts)
        self._pending.clear()
        self._last_line = now


# The process's one account of the database's outages.
OUTAGE = Outage()
