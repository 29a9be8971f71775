"""The WhatsApp webhook: verification, signatures, durable acknowledge, dedupe, the real
shapes of Meta's payloads (tests/fixtures/whatsapp) posted to the real HTTP endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp_api import GraphClient
from bot.channels.whatsapp_inbox import SIGNATURE_HEADER
from bot.clock import now
from bot.core.ratelimit import PriorityLimiter
from bot.db.models import (
    User,
    WhatsAppContact,
    WhatsAppDelivery,
    WhatsAppInbox,
    WhatsAppProcessed,
)
from bot.web.app import make_web_app
from tests.conftest import make_settings
from tests.fakes.graph_api import FakeGraphAPI, Sent, WhatsAppUser, encode, sign

SECRET = "test-app-secret-9f8e7d"
VERIFY = "test-verify-token"
FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
AIGUL = WhatsAppUser("77011234567", "KZ.1029384756102938475", "Айгүл Сәрсенова")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class WA:
    """The bot with WhatsApp configured, its HTTP server and a fake Graph API."""

    app: App
    api: FakeGraphAPI
    channel: WhatsAppChannel
    http: TestClient

    async def post(self, payload: dict[str, Any] | bytes, *, signature: str | None = "auto",
                   secret: str = SECRET) -> ClientResponse:
        body = payload if isinstance(payload, bytes) else encode(payload)
        headers = {"Content-Type": "application/json"}
        if signature == "auto":
            headers[SIGNATURE_HEADER] = sign(body, secret)
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return await self.http.post("/whatsapp/webhook", data=body, headers=headers)

    async def deliver(self, payload: dict[str, Any] | bytes) -> None:
        """Post signed, expect 200, then process the inbox."""
        response = await self.post(payload)
        assert response.status == 200, await response.text()
        await self.channel.drain()

    async def say(self, user: WhatsAppUser, payload: dict[str, Any]) -> list[Sent]:
        """Deliver and return what the bot sent to that user meanwhile."""
        mark = self.api.mark()
        await self.deliver(payload)
        return self.api.messages_to(user.recipient, mark)

    async def count(self, model: Any) -> int:
        async with self.app.engine.sessionmaker() as db:
            return int((await db.execute(select(func.count()).select_from(model))).scalar_one())

    async def get(self, model: Any, key: Any) -> Any:
        async with self.app.engine.sessionmaker() as db:
            return await db.get(model, key)


async def make_wa(database_url: str, **overrides: Any) -> AsyncIterator[WA]:
    async with FakeGraphAPI() as api:
        settings = make_settings(
            database_url, whatsapp_token=api.token, whatsapp_phone_number_id=api.phone_number_id,
            whatsapp_app_secret=SECRET, whatsapp_verify_token=VERIFY, whatsapp_api_url=api.url,
            whatsapp_api_version=api.version, whatsapp_rate=10_000.0, **overrides,
        )
        app = await build_app(settings)
        client = GraphClient(api.url, api.version, api.phone_number_id, api.token,
                             PriorityLimiter(settings.whatsapp_rate,
                                             burst=settings.whatsapp_rate / 5),
                             backoff=0.01, attempts=4)
        channel = WhatsAppChannel(app.engine, settings, app.translations, client=client)
        http = TestClient(TestServer(make_web_app(app.db, None, channel)))
        await http.start_server()
        try:
            yield WA(app, api, channel, http)
            assert api.violations == [], api.violations
        finally:
            await http.close()
            await channel.stop()
            await app.close()


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


# ---- verification ---------------------------------------------------------------------


async def test_verification_handshake_echoes_the_challenge(wa: WA) -> None:
    response = await wa.http.get("/whatsapp/webhook", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert response.status == 200
    assert await response.text() == "1158201444"


async def test_verification_with_a_wrong_token_is_403(wa: WA) -> None:
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
                   {}):
        response = await wa.http.get("/whatsapp/webhook", params=params)
        assert response.status == 403


async def test_without_configuration_get_is_403_and_post_is_401(app: App) -> None:
    http = TestClient(TestServer(make_web_app(app.db, None)))
    await http.start_server()
    try:
        response = await http.get("/whatsapp/webhook", params={
            "hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
        assert response.status == 403
        body = encode(AIGUL.text("start"))
        response = await http.post("/whatsapp/webhook", data=body,
                                   headers={SIGNATURE_HEADER: sign(body, "")})
        assert response.status == 401
    finally:
        await http.close()


# ---- signatures -------------------------------------------------------------------------


async def test_missing_or_wrong_signature_is_401_and_nothing_is_stored(wa: WA) -> None:
    body = encode(fixture("text_kk.json"))
    for signature in (None, "", "sha256=", "sha1=abc", sign(body, "another-secret"),
                      sign(body + b" ", SECRET), sign(body, SECRET).upper()):
        response = await wa.post(body, signature=signature)
        assert response.status == 401, signature
    await wa.channel.drain()
    assert await wa.count(WhatsAppInbox) == 0
    assert await wa.count(User) == 0
    assert wa.api.sent == []


@pytest.mark.parametrize("name", ["text_kk.json", "text_ru.json"])
async def test_signature_over_escaped_non_ascii_is_accepted(wa: WA, name: str) -> None:
    payload = fixture(name)
    escaped = encode(payload)  # Meta's form: \u0421\u04d9\u043b\u0435\u043c ...
    assert b"\\u" in escaped and escaped.isascii()
    response = await wa.post(escaped)
    assert response.status == 200
    # The same JSON re-serialized with raw UTF-8 is another body: its own signature
    # is needed, and the one over the escaped form must not pass for it.
    raw = json.dumps(payload, ensure_ascii=False).encode()
    assert (await wa.post(raw, signature=sign(escaped, SECRET))).status == 401
    await wa.channel.drain()
    contact_phone = payload["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"]
    assert len(wa.api.messages_to(contact_phone)) == 1


# ---- durable acknowledge and dedupe ----------------------------------------------------------


async def test_acknowledged_delivery_is_stored_before_processing_and_survives_a_restart(
    wa: WA,
) -> None:
    response = await wa.post(fixture("text_kk.json"))
    assert response.status == 200
    assert await wa.count(WhatsAppInbox) == 1
    assert wa.api.sent == []  # nothing processed yet: the worker did not run
    # A new process (a restart) picks the stored delivery up.
    restarted = WhatsAppChannel(wa.app.engine, wa.app.settings, wa.app.translations,
                                client=wa.channel.client)
    await restarted.drain()
    assert len(wa.api.messages_to(AIGUL.recipient)) == 1
    async with wa.app.engine.sessionmaker() as db:
        statuses = (await db.execute(select(WhatsAppInbox.status))).scalars().all()
    assert statuses == ["done"]


async def test_redelivered_message_is_handled_once(wa: WA) -> None:
    payload = fixture("text_kk.json")
    for _ in range(3):
        assert (await wa.post(payload)).status == 200
    await wa.channel.drain()
    assert len(wa.api.messages_to(AIGUL.recipient)) == 1
    assert await wa.count(WhatsAppInbox) == 3
    assert await wa.count(WhatsAppProcessed) == 1


async def test_a_crash_during_processing_is_retried_after_its_backoff(
    wa: WA, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = wa.channel.engine.handle

    async def flaky(event: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("worker died")
        return await original(event)

    monkeypatch.setattr(wa.channel.engine, "handle", flaky)
    await wa.post(fixture("text_kk.json"))
    await wa.channel.drain()
    assert wa.api.sent == []
    await wa.channel.drain()
    assert wa.api.sent == []  # not before its backoff is over
    later = now() + timedelta(minutes=1)
    wa.channel.inbox.clock = lambda: later
    await wa.channel.drain()
    assert len(wa.api.messages_to(AIGUL.recipient)) == 1


# ---- incoming shapes -------------------------------------------------------------------------


async def test_first_text_creates_the_user_by_user_id_keeps_wa_id_and_asks_language(
    wa: WA,
) -> None:
    sent = await wa.say(AIGUL, fixture("text_kk.json"))
    assert len(sent) == 1
    assert sent[0].payload["to"] == "77011234567"
    # Five languages (Kazakh in three scripts): a list, not three reply buttons.
    assert sent[0].interactive["type"] == "list"
    assert [c[0] for c in sent[0].choices] == ["lang:kk", "lang:ru", "lang:en", "lang:kk-Latn",
                                               "lang:kk-Arab"]
    contact = await wa.get(WhatsAppContact, AIGUL.user_id)
    assert contact.wa_id == "77011234567"
    assert contact.profile_name == "Айгүл Сәрсенова"
    assert contact.last_inbound_at is not None
    async with wa.app.engine.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.channel == "whatsapp"))).scalar_one()
    assert user.external_id == AIGUL.user_id
    assert user.display_name == "Айгүл Сәрсенова"


async def test_button_reply_chooses_the_language_and_greets_by_profile_name(wa: WA) -> None:
    await wa.say(AIGUL, fixture("text_kk.json"))
    sent = await wa.say(AIGUL, fixture("button_reply.json"))
    assert sent, "no greeting"
    assert "Айгүл Сәрсенова" in sent[0].body
    greeting = wa.app.translations["kk"]._(
        "Hello, {name}! I am the assistant of the Otandastar Fund for Kazakhs abroad.")
    assert greeting.format(name="Айгүл Сәрсенова") in sent[0].body
    menu = sent[-1]
    assert menu.interactive["type"] == "list"
    assert {"prj", "num", "set", "help"} <= {c[0] for c in menu.choices}


async def test_list_reply_and_template_button_reach_the_flows(wa: WA) -> None:
    await wa.deliver(fixture("text_kk.json"))
    await wa.deliver(fixture("button_reply.json"))
    sent = await wa.say(AIGUL, fixture("list_reply.json"))  # the projects row
    assert {"prj:bereke", "prj:qazaq_house"} <= {c[0] for c in sent[-1].choices}
    sent = await wa.say(AIGUL, fixture("template_button.json"))  # payload "menu"
    assert {"prj", "num", "set", "help"} <= {c[0] for c in sent[-1].choices}


async def test_user_with_user_id_but_no_wa_id_is_answered_through_recipient(wa: WA) -> None:
    user = WhatsAppUser(None, "TR.8877665544332211009", "Nurlan")
    sent = await wa.say(user, fixture("user_id_only.json"))  # the word "start"
    assert len(sent) == 1
    assert sent[0].payload.get("recipient") == "TR.8877665544332211009"
    assert "to" not in sent[0].payload
    assert sent[0].choices[0][0] == "lang:kk"  # no phone, no pre-selection: asked
    contact = await wa.get(WhatsAppContact, "TR.8877665544332211009")
    assert contact.wa_id is None and contact.profile_name == "Nurlan"


async def test_several_messages_in_one_delivery_are_all_handled(wa: WA) -> None:
    mark = wa.api.mark()
    await wa.deliver(fixture("several_messages.json"))
    assert len(wa.api.messages_to("77011234567", mark)) == 1
    assert len(wa.api.messages_to("4915112345678", mark)) == 1
    assert await wa.count(WhatsAppContact) == 2


async def test_unsupported_types_get_a_localized_hint_and_the_menu(wa: WA) -> None:
    await wa.deliver(fixture("text_kk.json"))
    await wa.deliver(AIGUL.button("lang:ru", "Русский"))
    ru = wa.app.translations["ru"]
    hint = ru._("I can only read text and buttons for now. Please choose an item from the menu.")
    mark = wa.api.mark()
    await wa.deliver(fixture("unsupported.json"))  # image, sticker, reaction, unsupported,
    sent = wa.api.messages_to(AIGUL.recipient, mark)  # location
    assert len(sent) == 5
    for message in sent:
        assert hint in message.body
        assert {"prj", "num", "set", "help"} <= {c[0] for c in message.choices}


async def test_message_level_and_value_level_errors_are_logged(
    wa: WA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.whatsapp")
    await wa.deliver(fixture("errors.json"))
    await wa.deliver(fixture("unsupported.json"))
    logged = caplog.text
    assert "131000" in logged and "Internal error while processing the webhook." in logged
    assert "131051" in logged


async def test_shared_contact_becomes_a_contact_event(wa: WA) -> None:
    await wa.deliver(fixture("text_kk.json"))
    await wa.deliver(AIGUL.button("lang:en", "English"))
    sent = await wa.say(AIGUL, fixture("contacts.json"))
    # No flow asks for a contact yet: the fallback answers with the menu.
    assert sent and {"prj", "num"} <= {c[0] for c in sent[-1].choices}


# ---- statuses -------------------------------------------------------------------------------


async def test_statuses_update_delivery_records_once_and_never_go_back(wa: WA) -> None:
    await wa.deliver(fixture("text_kk.json"))
    wamid = wa.api.sent[0].wamid
    assert wamid == "wamid.FAKE00000001"  # the id the status fixture speaks of
    record = await wa.get(WhatsAppDelivery, wamid)
    assert record.status == "accepted" and record.external_id == AIGUL.user_id
    await wa.deliver(fixture("statuses.json"))  # sent, delivered, read
    assert (await wa.get(WhatsAppDelivery, wamid)).status == "read"
    before = await wa.count(WhatsAppProcessed)
    await wa.deliver(fixture("statuses.json"))  # redelivered
    assert await wa.count(WhatsAppProcessed) == before
    late = fixture("statuses.json")
    late["entry"][0]["changes"][0]["value"]["statuses"] = [
        {**late["entry"][0]["changes"][0]["value"]["statuses"][1], "id": wamid}]
    await wa.deliver(late)
    assert (await wa.get(WhatsAppDelivery, wamid)).status == "read"


async def test_failed_status_is_recorded_logged_and_marks_undeliverable_users(
    wa: WA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.channels.whatsapp")
    await wa.deliver(fixture("text_kk.json"))
    await wa.deliver(fixture("button_reply.json"))  # sends wamid.FAKE00000002 and more
    await wa.deliver(fixture("status_failed.json"))
    record = await wa.get(WhatsAppDelivery, "wamid.FAKE00000002")
    assert record.status == "failed" and record.error_code == 131026
    assert "undeliverable (131026)" in caplog.text
    async with wa.app.engine.sessionmaker() as db:
        user = (await db.execute(select(User).where(User.external_id == AIGUL.user_id)))\
            .scalar_one()
    assert user.unreachable_since is not None


async def test_ignores_other_objects_and_rejects_bad_json(wa: WA) -> None:
    response = await wa.post({"object": "page", "entry": []})
    assert response.status == 200
    response = await wa.post(b"{not json")
    assert response.status == 400
    assert await wa.count(WhatsAppInbox) == 0


async def test_a_recycled_phone_number_is_another_person(wa: WA) -> None:
    before = WhatsAppUser("77019998877", "KZ.7000000000000000001", "Old owner")
    after = WhatsAppUser("77019998877", "KZ.7000000000000000002", "New owner")
    await wa.deliver(before.text("hi"))
    await wa.deliver(before.button("lang:en", "English"))
    await wa.deliver(after.text("hi"))
    old = await wa.get(WhatsAppContact, "KZ.7000000000000000001")
    new = await wa.get(WhatsAppContact, "KZ.7000000000000000002")
    assert old.wa_id is None and new.wa_id == "77019998877"
    assert new.profile_name == "New owner"
    # The new owner is a new user: asked for a language, not greeted as the old one.
    assert {"lang:kk", "lang:ru", "lang:en"} <= {c[0] for c in wa.api.sent[-1].choices}


async def test_a_user_first_seen_by_phone_keeps_one_identity_when_the_bsuid_appears(
    wa: WA,
) -> None:
    await wa.deliver(WhatsAppUser("77015550011", None, "Phone only").text("hi"))
    await wa.deliver(WhatsAppUser("77015550011", "KZ.7000000000000000003", "Both").text("hi"))
    assert await wa.count(WhatsAppContact) == 1
    contact = await wa.get(WhatsAppContact, "77015550011")
    assert contact.user_id == "KZ.7000000000000000003"
    async with wa.app.engine.sessionmaker() as db:
        users = (await db.execute(select(User.external_id).where(User.channel == "whatsapp")))\
            .scalars().all()
    assert users == ["77015550011"]
