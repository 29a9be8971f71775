"""A small client of the WhatsApp Cloud API (Graph API): messages and media.

Every call takes its turn from the phone number's `PriorityLimiter` (`WHATSAPP_RATE`
messages per second): replies to users at `INTERACTIVE` priority go ahead of broadcast
messages at `BROADCAST`. Throttling (`ErrorKind.THROTTLED`, e.g. 130429) pauses every
sender of the number and is retried with backoff, as are 5xx answers and network
errors; other errors are raised as `GraphError` (see `whatsapp_errors`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.whatsapp_errors import ErrorKind, GraphError, MetaError
from bot.core import metrics
from bot.core.ratelimit import INTERACTIVE, PriorityLimiter

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    mime_type: str
    filename: str


class GraphClient:
    def __init__(self, base_url: str, version: str, phone_number_id: str, token: str,
                 limiter: PriorityLimiter, *, attempts: int = 5, backoff: float = 0.5,
                 timeout: float = 20.0) -> None:
        self.api_root = f"{base_url.rstrip('/')}/v{version}"
        self.root = f"{self.api_root}/{phone_number_id}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self.limiter = limiter
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

    async def send_message(self, payload: dict[str, Any], priority: int = INTERACTIVE) -> str:
        """POST /messages; returns the new message's id (wamid)."""
        body = {"messaging_product": "whatsapp", **payload}
        answer = await self._request("messages", priority, json=body)
        messages = answer.get("messages") or [{}]
        return str(messages[0].get("id", ""))

    async def upload_media(self, media: MediaFile, priority: int = INTERACTIVE) -> str:
        """POST /media (QR tickets, .ics, CSV); returns the media id to send."""

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("messaging_product", "whatsapp")
            data.add_field("type", media.mime_type)
            data.add_field("file", media.data, filename=media.filename,
                           content_type=media.mime_type)
            return data

        answer = await self._request("media", priority, make_data=form)
        return str(answer["id"])

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """A file a user sent (its media id): GET /{media id} gives a short-lived URL,
        fetched with the same token. Returns the bytes and the MIME type."""
        await self.limiter.acquire(INTERACTIVE)
        try:
            async with self.session.get(f"{self.api_root}/{media_id}") as response:
                answer = await _json(response)
                if response.status >= 400:
                    raise GraphError(MetaError.from_answer(response.status, answer))
            async with self.session.get(str(answer["url"])) as response:
                if response.status >= 400:
                    raise GraphError(MetaError(None, "media download failed",
                                               status=response.status))
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError, KeyError) as problem:
            raise GraphError(MetaError.no_answer("media download failed", problem)) \
                from problem
        return data, str(answer.get("mime_type") or "application/octet-stream")

    async def _request(self, path: str, priority: int, *,
                       json: dict[str, Any] | None = None,
                       make_data: Any = None) -> dict[str, Any]:
        url = f"{self.root}/{path}"
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            await self.limiter.acquire(priority)
            try:
                async with self.session.post(
                    url, json=json, data=make_data() if make_data else None
                ) as response:
                    answer = await _json(response)
                    if response.status < 400:
                        return answer
                    error = MetaError.from_answer(response.status, answer)
            except (aiohttp.ClientError, TimeoutError) as network:
                metrics.ERRORS.labels(CHANNEL, "send").inc()
                if last:
                    raise GraphError(MetaError.no_answer("network error", network)) \
                        from network
                log.warning("whatsapp: %s (attempt %d)", network or type(network).__name__,
                            attempt + 1)
                await asyncio.sleep(self._delay(attempt))
                continue
            metrics.ERRORS.labels(CHANNEL, "send").inc()
            if not error.retryable or last:
                raise GraphError(error)
            delay = self._delay(attempt)
            if error.kind is ErrorKind.THROTTLED:
                self.limiter.pause(delay)  # every sender of the number waits
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

