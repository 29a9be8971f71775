"""Shared fixtures.

Every test that takes `database_url` (directly or through `app`) runs on SQLite,
and also on PostgreSQL when TEST_POSTGRES_URL is set (e.g.
`postgresql+asyncpg://postgres@127.0.0.1:5432/test`). Each such test gets a
database of its own, created and dropped here, so earlier runs never leak in.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.app import App, build_app
from bot.config import Settings
from bot.core.events import Event, EventKind, Identity
from bot.core.replies import Reply

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


async def _admin_execute(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(
        host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
        password=url.password, database=url.database or "postgres",
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        return
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=name) \
            .render_as_string(hide_password=False)
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": database_url, "default_locale": "kk"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    built = await build_app(make_settings(database_url))
    try:
        yield built
    finally:
        await built.close()


class Chat:
    """Drives the engine as one user of one channel, without any network."""

    def __init__(self, app: App, user: str = "u1", channel: str = "test",
                 language_hint: str | None = None, name: str | None = None) -> None:
        self.app = app
        self.identity = Identity(channel, user)
        self.language_hint = language_hint
        self.name = name
        self.last: list[Reply] = []

    async def _send(self, event: Event) -> list[Reply]:
        self.last = await self.app.engine.handle(event)
        return self.last

    async def text(self, text: str) -> list[Reply]:
        return await self._send(Event.from_text(self.identity, text,
                                                language_hint=self.language_hint,
                                                display_name=self.name))

    async def press(self, payload: str) -> list[Reply]:
        return await self._send(Event(self.identity, EventKind.BUTTON, payload=payload,
                                      language_hint=self.language_hint,
                                      display_name=self.name))

    async def send(self, kind: EventKind) -> list[Reply]:
        return await self._send(Event(self.identity, kind, language_hint=self.language_hint,
                                      display_name=self.name))

    def payloads(self) -> list[str]:
        return [choice.payload for reply in self.last for choice in reply.flat_choices]

    def texts(self) -> str:
        return "\n".join(reply.text for reply in self.last)


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat(app)


# The Telegram end-to-end harness's fixtures, for every test module.
from tests.telegram_harness import api, bot, handled, telegram_mode  # noqa: E402, F401
