"""Meta's errors, read and classified in one place.

The Graph API answers a failed call with `{"error": {"message", "code", "error_subcode",
"error_data": {"details"}, ...}}`; webhooks carry `{"code", "title", "message",
"error_data": {"details"}}` in `errors` of a message, a status or the whole change.
Both become a `MetaError`, whose `kind` says what the bot does about it:

- `THROTTLED` (130429 rate limit, 131056 pair rate limit, 4 and 80007 app and account
  limits, HTTP 429): every sender of the phone number pauses, then the call is retried;
- `TEMPORARY` (HTTP 5xx, no answer at all): retried with backoff;
- `OUTSIDE_WINDOW` (131047): the user is outside the 24-hour customer service window,
  a message the bot starts goes again as its approved template;
- `UNDELIVERABLE` (131026): the user is marked unreachable;
- `PERMANENT`: anything else; given up after one clear log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.core import metrics
from bot.core.inbound import whole_number

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"

THROTTLING_CODES = frozenset({4, 80007, 130429, 131056})
REENGAGEMENT_CODE = 131047  # "Re-engagement message": outside the window
UNDELIVERABLE_CODE = 131026


class ErrorKind(StrEnum):
    THROTTLED = "throttled"
    TEMPORARY = "temporary"
    OUTSIDE_WINDOW = "outside_window"
    UNDELIVERABLE = "undeliverable"
    PERMANENT = "permanent"


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return whole_number(str(value))


@dataclass(frozen=True)
class MetaError:
    """One error of Meta's. `status` is the HTTP status of an API answer (0 when no answer
    came), None for an error a webhook reported."""

    code: int | None
    title: str
    details: str = ""
    subcode: int | None = None
    status: int | None = None

    @classmethod
    def parse(cls, raw: Any, status: int | None = None) -> MetaError:
        """An error object, from an API answer's `error` or a webhook's `errors`."""
        raw = raw if isinstance(raw, dict) else {}
        data = raw.get("error_data")
        data = data if isinstance(data, dict) else {}
        title = str(raw.get("title") or raw.get("message") or "error")
        message = str(raw.get("message") or "")
        details = str(data.get("details") or (message if message != title else ""))
        return cls(_number(raw.get("code")), title, details,
                   _number(raw.get("error_subcode")), status)

    @classmethod
    def from_answer(cls, status: int, answer: Any) -> MetaError:
        """The error of a failed API call from its HTTP status and (JSON) body."""
        error = answer.get("error") if isinstance(answer, dict) else None
        return cls.parse(error, status)

    @classmethod
    def no_answer(cls, title: str, problem: BaseException | str = "") -> MetaError:
        """A call that got no answer (network error, timeout)."""
        return cls(None, title, str(problem), status=0)

    @property
    def kind(self) -> ErrorKind:
        if self.code == REENGAGEMENT_CODE:
            return ErrorKind.OUTSIDE_WINDOW
        if self.code == UNDELIVERABLE_CODE:
            return ErrorKind.UNDELIVERABLE
        if self.code in THROTTLING_CODES or self.status == 429:
            return ErrorKind.THROTTLED
        if self.status is not None and (self.status == 0 or self.status >= 500):
            return ErrorKind.TEMPORARY
        return ErrorKind.PERMANENT

    @property
    def retryable(self) -> bool:
        return self.kind in (ErrorKind.THROTTLED, ErrorKind.TEMPORARY)

    def __str__(self) -> str:
        code = self.code if self.subcode is None else f"{self.code}/{self.subcode}"
        head = f"{self.status} {code}" if self.status is not None else str(code)
        return f"{head}: {self.title} {self.details}".strip()


class GraphError(Exception):
    """A call of the Graph API that failed (after its retries)."""

    def __init__(self, error: MetaError) -> None:
        super().__init__(str(error))
        self.error = error

    @property
    def kind(self) -> ErrorKind:
        return self.error.kind


def report(error: MetaError, message: str = "a message") -> None:
    """One log line (and the metric) for a message that could not be sent or delivered;
    `message` says which, without the user's phone number or id (nor the wamid, which
    holds the phone number)."""
    metrics.ERRORS.labels(CHANNEL, "delivery").inc()
    kind = error.kind
    if kind is ErrorKind.UNDELIVERABLE:
        log.error("whatsapp: %s is undeliverable (131026): the user may not be on "
                  "WhatsApp or use an old version; %s", message, error.details or error.title)
    elif kind is ErrorKind.OUTSIDE_WINDOW:
        log.warning("whatsapp: %s was outside the 24-hour window (131047)", message)
    else:
        log.error("whatsapp: %s failed (%s): %s", message, kind, error)
