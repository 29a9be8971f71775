"""Shared set-up of the dashboard's tests: an app with PUBLIC_BASE_URL, a lead
coordinator (ADMIN_IDS, in the terminal), a coordinator a lead added, someone else, and
the HTTP test client of the bot's web app."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient, TestServer

from bot.app import App, build_app
from bot.clock import now
from bot.core.notify import Pushed, PushResult
from bot.core.replies import Reply
from bot.db.models import User
from bot.services import coordinators
from bot.web.app import make_web_app
from tests.conftest import Chat, make_settings

LEAD, COORDINATOR, STRANGER = "111", "222", "333"
BOT_TOKEN = "123456:TEST-token-for-the-dashboard"
LINK = re.compile(r"(https?://\S+/dashboard/signin\?token=([\w-]+))")


@asynccontextmanager
async def app_with_people(database_url: str) -> AsyncIterator[App]:
    """The app with the three people; `app.people` their users.id."""
    built = await dashboard_app(database_url)
    built.people = await add_people(built)  # type: ignore[attr-defined]
    try:
        yield built
    finally:
        await built.close()


async def dashboard_app(database_url: str, **overrides: object) -> App:
    values: dict[str, object] = {"public_base_url": "http://127.0.0.1:8080",
                                 "admin_ids": [int(LEAD)], "bot_token": BOT_TOKEN}
    values.update(overrides)
    return await build_app(make_settings(database_url, **values))


async def add_people(app: App) -> dict[str, int]:
    """The lead (terminal), a coordinator and a stranger (Telegram); their users.id."""
    await Chat(app, LEAD, channel="console", language_hint="en").text("/start")
    await Chat(app, STRANGER, channel="telegram", language_hint="en").text("/start")
    async with app.engine.sessionmaker() as db, db.begin():
        await coordinators.add(db, int(COORDINATOR), by=int(LEAD), now=now(), name="Aigerim")
        added = await coordinators.telegram_user(db, int(COORDINATOR))
        assert added is not None
        added.language = "en"
    async with app.engine.sessionmaker() as db:
        lead = (await db.execute(User.__table__.select().where(
            User.channel == "console", User.external_id == LEAD))).first()
        coordinator = await coordinators.telegram_user(db, int(COORDINATOR))
        stranger = await coordinators.telegram_user(db, int(STRANGER))
    assert lead is not None and coordinator is not None and stranger is not None
    return {"lead": lead.id, "coordinator": coordinator.id, "stranger": stranger.id}


async def link_from_bot(app: App, user: str, channel: str = "console") -> str:
    """The token of the link the bot's /dashboard sends."""
    replies = await Chat(app, user, channel=channel, language_hint="en").text("/dashboard")
    found = LINK.search("\n".join(reply.text for reply in replies))
    assert found, [reply.text for reply in replies]
    return found.group(2)


async def client_for(app: App) -> TestClient:
    client = TestClient(TestServer(make_web_app(app.db, None, None, app.engine)))
    await client.start_server()
    return client


async def sign_in(client: TestClient, token: str) -> int:
    response = await client.post("/dashboard/signin", data={"token": token},
                                 allow_redirects=False)
    return response.status


async def csrf_of(client: TestClient, page: str = "/dashboard/forums") -> str:
    body = await (await client.get(page)).text()
    found = re.search(r'name="csrf" value="([^"]+)"', body)
    assert found, body[:500]
    return found.group(1)


def init_data(telegram_id: int, signed_at: datetime, token: str = BOT_TOKEN) -> str:
    """initData as Telegram signs it (key HMAC("WebAppData", token))."""
    fields = {"auth_date": str(int(signed_at.timestamp())), "query_id": "AAE",
              "user": json.dumps({"id": telegram_id, "first_name": "A"})}
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


@dataclass
class Outbox:
    """A channel's sender that records what the bot pushes to users."""

    sent: list[tuple[str, list[Reply]]] = field(default_factory=list)

    async def __call__(self, external_id: str, replies: list[Reply], kind: str) -> Pushed:
        self.sent.append((external_id, replies))
        return Pushed(PushResult.SENT, (f"m{len(self.sent)}",))
