"""A small client of the WhatsApp Cloud API (Graph API): messages and media.

One rate limiter for the phone number (`WHATSAPP_RATE` messages per second); retries
with backoff on throttling (130429, 131056, 4, 80007) and on 5xx or network errors;
other errors are raised as `GraphError` after one clear log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.core import metrics

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"

# Throttling: wait and try again.
RETRY_CODES = frozenset({4, 80007, 130429, 131056})
# The user is outside the 24-hour customer service window: send a template instead.
REENGAGEMENT = 131047
# The message could not be delivered to this user (not on WhatsApp, old app, ...).
UNDELIVERABLE = 131026


class GraphError(Exception):
    """An error answer of the Graph API."""

    def __init__(self, status: int, code: int | None, title: str, details: str = "") -> None:
        super().__init__(f"{status} {code}: {title} {details}".strip())
        self.status = status
        self.code = code
        self.title = title
        self.details = details

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 429 or self.code in RETRY_CODES


class RateLimiter:
    """At most `rate` calls per second, all callers together; `pause` stops everyone."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    mime_type: str
    filename: str


class GraphClient:
    def __init__(self, base_url: str, version: str, phone_number_id: str, token: str,
                 rate: float, *, attempts: int = 5, backoff: float = 0.5,
                 timeout: float = 20.0) -> None:
        self.api_root = f"{base_url.rstrip('/')}/v{version}"
        self.root = f"{self.api_root}/{phone_number_id}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self.limiter = RateLimiter(rate)
        self.attempts = attempts
        self.backoff = backoff
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send_message(self, payload: dict[str, Any]) -> str:
        """POST /messages; returns the new message's id (wamid)."""
        body = {"messaging_product": "whatsapp", **payload}
        answer = await self._request("messages", json=body)
        messages = answer.get("messages") or [{}]
        return str(messages[0].get("id", ""))

    async def upload_media(self, media: MediaFile) -> str:
        """POST /media (QR tickets, .ics, CSV); returns the media id to send."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("messaging_product", "whatsapp")
            data.add_field("type", media.mime_type)
            data.add_field("file", media.data, filename=media.filename,
                           content_type=media.mime_type)
            return data

        answer = await self._request("media", make_data=form)
        return str(answer["id"])

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """A file a user sent (its media id): GET /{media id} gives a short-lived URL,
        fetched with the same token. Returns the bytes and the MIME type."""
        await self.limiter.wait()
        try:
            async with self.session.get(f"{self.api_root}/{media_id}") as response:
                answer = await _json(response)
                if response.status >= 400:
                    raise _error(response.status, answer)
            async with self.session.get(str(answer["url"])) as response:
                if response.status >= 400:
                    raise GraphError(response.status, None, "media download failed")
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError, KeyError) as problem:
            raise GraphError(0, None, "media download failed", str(problem)) from problem
        return data, str(answer.get("mime_type") or "application/octet-stream")

    async def _request(self, path: str, *, json: dict[str, Any] | None = None,
                       make_data: Any = None) -> dict[str, Any]:
        url = f"{self.root}/{path}"
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            await self.limiter.wait()
            try:
                async with self.session.post(
                    url, json=json, data=make_data() if make_data else None
                ) as response:
                    answer = await _json(response)
                    if response.status < 400:
                        return answer
                    error = _error(response.status, answer)
            except (aiohttp.ClientError, TimeoutError) as network:
                metrics.ERRORS.labels(CHANNEL, "send").inc()
                if last:
                    raise GraphError(0, None, "network error", str(network)) from network
                log.warning("whatsapp: %s (attempt %d)", network or type(network).__name__,
                            attempt + 1)
                await asyncio.sleep(self._delay(attempt))
                continue
            metrics.ERRORS.labels(CHANNEL, "send").inc()
            if not error.retryable or last:
                raise error
            delay = self._delay(attempt)
            if error.code in RETRY_CODES or error.status == 429:
                self.limiter.pause(delay)
            log.warning("whatsapp: %s, retrying in %.2fs", error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, 30.0)


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        answer = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return answer if isinstance(answer, dict) else {}


def _error(status: int, answer: dict[str, Any]) -> GraphError:
    error = answer.get("error") or {}
    data = error.get("error_data") or {}
    code = error.get("code")
    return GraphError(
        status,
        int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        str(error.get("message") or error.get("title") or "error"),
        str(data.get("details") or ""),
    )
