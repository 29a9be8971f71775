"""What the bot logged with a traceback: a step that raised is answered with an apology,
so the log (not the reply) is where a failure shows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Exceptions(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@contextmanager
def exceptions_logged() -> Iterator[list[logging.LogRecord]]:
    """The records logged with an exception (`log.exception`) inside the block."""
    handler = _Exceptions()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


def describe(records: list[logging.LogRecord]) -> str:
    return "\n".join(f"{record.getMessage()}: {record.exc_info[1]!r}" for record in records
                     if record.exc_info)
