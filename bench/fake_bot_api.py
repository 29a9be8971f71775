"""A fake Telegram Bot API for the broadcast benchmark, strict about flood limits.

- at most `rate` accepted requests in any sliding second, all chats together, and at
  most one per second to the same chat: anything over gets 429 with `retry_after`;
- a fixed set of chats (every chat id divisible by 50: 2 %) answers 403, "bot was
  blocked by the user";
- every request is noted per chat, so the benchmark can count messages sent twice and
  recipients never attempted.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from aiohttp import web


def blocked(chat_id: int) -> bool:
    return chat_id % 50 == 0


class FakeBotAPI:
    def __init__(self, rate: float, per_chat: float = 1.0, retry_after: int = 1) -> None:
        self.rate = rate
        self.per_chat = per_chat
        self.retry_after = retry_after
        self.window: deque[float] = deque()
        self.last_to_chat: dict[int, float] = {}
        self.delivered: Counter[int] = Counter()  # 200s per chat
        self.forbidden: Counter[int] = Counter()  # 403s per chat
        self.too_many = 0
        self.accepted_times: list[float] = []
        self._message_id = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def reset_counters(self) -> None:
        self.window.clear()
        self.last_to_chat.clear()
        self.delivered.clear()
        self.forbidden.clear()
        self.too_many = 0
        self.accepted_times = []

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _answer(code: int, description: str, **extra: Any) -> web.Response:
        return web.json_response({"ok": False, "error_code": code,
                                  "description": description, **extra}, status=code)

    async def _handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update({key: value for key, value in (await request.post()).items()
                           if isinstance(value, str)})
        chat_id = int(params.get("chat_id", 0))
        now = time.monotonic()
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        last = self.last_to_chat.get(chat_id)
        if len(self.window) >= self.rate or (last is not None and now - last < self.per_chat):
            self.too_many += 1
            return self._answer(429, f"Too Many Requests: retry after {self.retry_after}",
                                parameters={"retry_after": self.retry_after})
        self.window.append(now)
        self.last_to_chat[chat_id] = now
        self.accepted_times.append(now)
        if blocked(chat_id):
            self.forbidden[chat_id] += 1
            return self._answer(403, "Forbidden: bot was blocked by the user")
        self.delivered[chat_id] += 1
        self._message_id += 1
        return web.json_response({"ok": True, "result": {
            "message_id": self._message_id, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "text": params.get("text", "")}})
