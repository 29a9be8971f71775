"""The harness of the Telegram end-to-end tests: the real bot (build_app + serve) against
the fake Bot API, with helpers to act as users and to check replies. Its fixtures
(`api`, `handled`, `telegram_mode`, `bot`) are shared through tests/conftest.py.

`bot` runs in both of Telegram's modes, so every test that uses it runs twice: polling
(the fake answers `getUpdates`) and webhook (the fake POSTs each update to the bot and
carries out a method given in the reply, as Telegram does)."""

from __future__ import annotations

import asyncio
import gc
import re
import socket
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import pytest
from aiogram.types import CallbackQuery, Message
from sqlalchemy import select

from bot.app import App, build_app
from bot.channels.telegram import TelegramChannel
from bot.db.models import User
from bot.runner import serve
from tests.conftest import make_settings
from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI
from tests.language import assert_language

TOKEN = "123456:TEST"
SECRET = "e2e-Secret_token-42"
MENU = ["prj", "num", "set", "help"]
LANGUAGE_CHOICES = ["lang:kk", "lang:ru", "lang:en", "lang:kk-Latn", "lang:kk-Arab"]
MODES = ["polling", "webhook"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def update_key(update: dict[str, Any]) -> tuple[Any, ...]:
    if "callback_query" in update:
        return ("callback", update["callback_query"]["id"])
    message = update["message"]
    return ("message", message["chat"]["id"], message["message_id"])


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch, api: FakeTelegramAPI) -> set[tuple[Any, ...]]:
    """Keys of the updates the Telegram channel has finished with (replies sent).

    The channel's own handlers run unchanged; the wrappers only note when each one has
    returned, so tests wait exactly as long as the bot works instead of guessing."""
    done: set[tuple[Any, ...]] = set()
    on_message, on_callback = TelegramChannel.on_message, TelegramChannel.on_callback

    async def message_handled(self: TelegramChannel, message: Message, **data: Any) -> None:
        try:
            await on_message(self, message, data["event_update"])
        finally:
            done.add(("message", message.chat.id, message.message_id))
            api.notify()

    async def callback_handled(self: TelegramChannel, query: CallbackQuery,
                               **data: Any) -> Any:
        try:
            return await on_callback(self, query, data["event_update"])
        finally:
            done.add(("callback", query.id))
            api.notify()

    monkeypatch.setattr(TelegramChannel, "on_message", message_handled)
    monkeypatch.setattr(TelegramChannel, "on_callback", callback_handled)
    return done


@dataclass
class RunningBot:
    app: App
    api: FakeTelegramAPI
    port: int
    task: asyncio.Task[None]
    handled: set[tuple[Any, ...]]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _(self, language: str, message: str) -> str:
        return self.app.translations[language]._(message)

    async def after(self, user: int, inject: Awaitable[dict[str, Any]],
                    timeout: float = 5.0) -> list[ApiCall]:  # noqa: ASYNC109
        """Inject an update; once the bot has handled it, what it sent or edited in the
        user's chat meanwhile. A button press is done once it is answered too: the
        answer comes after the step (in polling mode as a request of its own)."""
        mark = self.api.mark()
        key = update_key(await inject)

        def done() -> bool:
            if key[0] == "callback" and not self.api.callback_queries[key[1]].answers:
                return False
            return key in self.handled

        await self.api.wait_for(lambda: done() or self.task.done(), timeout,
                                f"the bot to handle {key}")
        assert not self.task.done(), "the bot stopped"
        return self.api.replies(user, mark)

    async def say(self, user: int, text: str, **profile: Any) -> list[ApiCall]:
        """The user writes `text`; returns what the bot sent or edited in reply."""
        return await self.after(user, self.api.send_text(user, text, **profile))

    async def press(self, user: int, data: str) -> list[ApiCall]:
        """The user presses the button with callback_data `data` of the bot's newest
        message that has it, by its label, as a person would; the callback must be
        answered exactly once and the reply must be about the pressed message."""
        message = next((m for m in reversed(self.api.messages(user))
                        if any(b.get("callback_data") == data for b in m.buttons)), None)
        assert message is not None, f"no button {data!r} in chat {user}"
        label = next(b["text"] for b in message.buttons if b.get("callback_data") == data)
        queries = len(self.api.callback_queries)
        replies = await self.after(
            user, self.api.press(user, label, message_id=message.message_id))
        query = list(self.api.callback_queries.values())[queries]
        assert query.data == data
        assert len(query.answers) == 1, f"{data!r} answered {len(query.answers)} times"
        for reply in replies:
            if reply.method == "editMessageText":
                assert reply.message_id == message.message_id
        return replies


@asynccontextmanager
async def running_bot(database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
                      **overrides: Any) -> AsyncIterator[RunningBot]:
    """`python -m bot run`, in this event loop, until the block ends; polling unless
    `telegram_mode="webhook"` is given."""
    port = free_port()
    if overrides.get("telegram_mode") == "webhook":
        overrides.setdefault("telegram_webhook_url", f"http://127.0.0.1:{port}/telegram/webhook")
        overrides.setdefault("telegram_webhook_secret", SECRET)
    settings = make_settings(database_url, bot_token=api.token, telegram_api_url=api.url,
                             http_host="127.0.0.1", http_port=port, **overrides)
    app = await build_app(settings)
    stop = asyncio.Event()
    # `App.settle` collects garbage before it freezes what is loaded; in a test process
    # that pass would walk every earlier test's objects (0.4 s a bot), so here the freeze
    # is done alone.
    with patch.object(app, "settle", gc.freeze):
        task = asyncio.create_task(serve(app, stop))
        ready = "setWebhook" if settings.telegram_mode == "webhook" else "getUpdates"
        mark = api.mark()
        try:
            await api.wait_for(lambda: task.done() or api.calls_to(ready, mark), 10, ready)
            if task.done():
                task.result()  # raises what stopped the bot
                raise AssertionError("the bot stopped by itself")
            yield RunningBot(app, api, port, task, handled)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, 15)
            finally:
                await app.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI(TOKEN) as fake:
        yield fake


@pytest.fixture(params=MODES)
def telegram_mode(request: pytest.FixtureRequest) -> str:
    """How the bot gets its updates: "polling" or "webhook"."""
    return str(request.param)


@pytest.fixture
async def bot(database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]],
              telegram_mode: str) -> AsyncIterator[RunningBot]:
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode) as running:
        yield running


def assert_clean(api: FakeTelegramAPI) -> None:
    """No payload Telegram would refuse, and every callback answered exactly once."""
    assert api.violations == []
    counts = {query.data: len(query.answers) for query in api.callback_queries.values()
              if len(query.answers) != 1}
    assert counts == {}, f"callback queries not answered exactly once: {counts}"


def is_language_choice(reply: ApiCall) -> bool:
    return reply.callback_data[:len(LANGUAGE_CHOICES)] == LANGUAGE_CHOICES


def is_menu(reply: ApiCall) -> bool:
    """The main menu: at least the four items this suite knows (others may be added)."""
    return set(MENU) <= set(reply.callback_data)


def one(replies: list[ApiCall]) -> ApiCall:
    assert len(replies) == 1, f"expected one reply, got {replies}"
    return replies[0]


def check(reply: ApiCall, language: str) -> ApiCall:
    """The reply's text and button labels are wholly in `language`."""
    assert_language("\n".join([reply.text, *reply.labels]), language)
    return reply


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def user_row(app: App, external_id: int) -> User | None:
    async with app.engine.sessionmaker() as db:
        return (await db.execute(select(User).where(
            User.channel == "telegram", User.external_id == str(external_id)))).scalar_one_or_none()


