"""A fake Telegram Bot API for the broadcast benchmark, strict about flood limits.

- at most `rate` accepted requests in any sliding second, all chats together, and at
  most one per second to the same chat: anything over gets 429 with `retry_after`;
- a fixed set of chats (every chat id divisible by 50: 2 %) answers 403, "bot was
  blocked by the user";
- every request is noted per chat, so the benchmark can count messages sent twice and
  recipients never attempted; every 429 is one the senders caused (`too_many`);
- the rest of what a running bot asks (`getMe`, `setMyCommands`, `deleteWebhook`,
  `getUpdates`: nothing new, after a second) is answered and not counted, so whole
  `python -m bot run` processes can be pointed at it (bench/scale.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from typing import Any

from aiohttp import web

MESSAGES = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


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
        self.too_many_chat = 0  # of them, over the per-chat limit
        self.accepted_times: list[float] = []
        # The wall-clock time of each accepted request per chat (reminders' lateness).
        self.sent_at: dict[int, list[float]] = {}
        self.paid = 0  # messages with allow_paid_broadcast
        self.other_calls: Counter[str] = Counter()
        self._message_id = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def reset_counters(self) -> None:
        self.window.clear()
        self.last_to_chat.clear()
        self.delivered.clear()
        self.forbidden.clear()
        self.too_many = 0
        self.too_many_chat = 0
        self.accepted_times = []
        self.sent_at = {}
        self.paid = 0
        self.other_calls.clear()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _answer(code: int, description: str, **extra: Any) -> web.Response:
        return web.json_response({"ok": False, "error_code": code,
                                  "description": description, **extra}, status=code)

    async def _other(self, method: str) -> web.Response:
        self.other_calls[method] += 1
        if method == "getMe":
            return web.json_response({"ok": True, "result": {
                "id": 123456, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}})
        if method == "getUpdates":
            await asyncio.sleep(1.0)  # a long poll with nothing new
            return web.json_response({"ok": True, "result": []})
        return web.json_response({"ok": True, "result": True})

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()  # when the request arrived, before its body is read
        method = request.match_info["method"]
        if method not in MESSAGES:
            return await self._other(method)
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update({key: value for key, value in (await request.post()).items()
                           if isinstance(value, str)})
        chat_id = int(params.get("chat_id", 0))
        if str(params.get("allow_paid_broadcast", "")).lower() in ("true", "1"):
            self.paid += 1
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        last = self.last_to_chat.get(chat_id)
        if len(self.window) >= self.rate or (last is not None and now - last < self.per_chat):
            self.too_many += 1
            self.too_many_chat += len(self.window) < self.rate
            return self._answer(429, f"Too Many Requests: retry after {self.retry_after}",
                                parameters={"retry_after": self.retry_after})
        self.window.append(now)
        self.last_to_chat[chat_id] = now
        self.accepted_times.append(now)
        self.sent_at.setdefault(chat_id, []).append(time.time())
        if blocked(chat_id):
            self.forbidden[chat_id] += 1
            return self._answer(403, "Forbidden: bot was blocked by the user")
        self.delivered[chat_id] += 1
        self._message_id += 1
        return web.json_response({"ok": True, "result": {
            "message_id": self._message_id, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "text": params.get("text", "")}})
