"""Erasure: after `/forgetme` no table holds anything of the person, and `/mydata`
reported everything that was held before.

Two people (one on Telegram, one on WhatsApp) get every kind of data the bot can
hold; a third person stays, as the proof that the search finds what is there. Every
table is read through reflection, so a table added later is searched too."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import clock
from bot.app import App
from bot.channels.broadcast_senders import WhatsAppBroadcaster
from bot.core.events import Identity
from bot.core.replies import Choice, Reply
from bot.db.models import User
from bot.services import broadcasts, coordinators, privacy
from bot.services.broadcasts import Outcome, Sender
from tests.conftest import Chat
from tests.fakes.graph_api import WhatsAppUser, webhook
from tests.forum_helpers import make_forum
from tests.test_whatsapp_webhook import WA, make_wa

GROUP = -1001500000077
ELIGIBILITY = [
    "el", "el:a:nationality:yes", "el:a:nationality_document:yes", "el:a:ever_citizen:no",
    "el:a:permanent:yes", "el:a:country:CN", "el:a:family_size:2",
    "el:a:family_kazakh:all", "el:a:quota:yes",
]


@dataclass
class Person:
    """What the bot is told about one person, and so what must be gone after erasure."""

    channel: str
    external_id: str
    name: str
    full_name: str
    phone: str  # as typed at registration
    email: str
    wa_id: str | None = None
    user_id: int = 0
    # The ids of WhatsApp messages to and from the person: Meta's carry the number.
    message_ids: set[str] = field(default_factory=set)

    @property
    def needles(self) -> set[str]:
        found = {self.external_id, self.name, self.full_name, self.email,
                 "".join(c for c in self.phone if c.isdigit()), *self.message_ids}
        if self.wa_id:
            found.add(self.wa_id)
        return {needle.casefold() for needle in found}


class Talk:
    """One person's conversation on their channel: texts and button presses."""

    def __init__(self, wa: WA, person: Person) -> None:
        self.wa = wa
        self.person = person
        if person.channel == "telegram":
            self.chat = Chat(wa.app, person.external_id, channel="telegram",
                             language_hint="en", name=person.name)
        else:
            self.user = WhatsAppUser(person.wa_id, person.external_id, person.name)

    async def text(self, words: str) -> str:
        if self.person.channel == "telegram":
            await self.chat.text(words)
            return self.chat.texts()
        sent = await self.wa.say(self.user, self.user.text(words))
        return "\n".join(message.body for message in sent)

    async def press(self, payload: str) -> str:
        if self.person.channel == "telegram":
            await self.chat.press(payload)
            return self.chat.texts()
        sent = await self.wa.say(self.user, self.user.button(payload, "x"))
        return "\n".join(message.body for message in sent)


class TelegramPlatform:
    """The Telegram side of the broadcast sender: records whom it sent to."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, external_id: str, reply: Reply, key: str) -> Outcome:
        self.sent.append(external_id)
        return Outcome("sent", message_id=str(9000 + len(self.sent)))


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url, coordinator_chat_id=GROUP, admin_ids=[4242],
                               bot_token="123456:TEST"):
        yield harness


async def give_everything(wa: WA, person: Person, forum_id: int) -> None:
    """Language, name, a finished eligibility check, a forum registration with a ticket
    and reminders, a question to the coordinators."""
    talk = Talk(wa, person)
    await talk.text("/start")
    if person.channel == "whatsapp":
        await talk.press("lang:en")
    for payload in ELIGIBILITY:
        await talk.press(payload)
    await talk.press(f"fo:v:{forum_id}")
    await talk.press(f"fo:r:{forum_id}")
    for answer in (person.full_name, "Germany", "Berlin", "-"):
        await talk.text(answer)
    await talk.press("rg:sector:trade")
    await talk.text(person.phone)
    await talk.text(person.email)
    await talk.press("rg:agree")
    registered = await talk.press("rg:go")
    assert "You are registered" in registered, registered
    await talk.press("ho")
    answer = await talk.text(f"I am {person.full_name}, call me on {person.phone} or "
                             f"write to {person.email}.")
    assert "#" in answer, answer


async def forget(wa: WA, person: Person) -> None:
    talk = Talk(wa, person)
    await talk.text("/forgetme")
    done = await talk.press("pv:forget:yes")
    assert "everything I stored about you is deleted" in done, done


def _values(value: Any) -> Iterable[str]:
    """A stored value as searchable text: JSON (also JSON kept as text, where Meta
    escapes every non-ASCII letter) with its letters as they are."""
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value.decode("utf-8", errors="ignore")]
    if isinstance(value, dict | list):
        return [json.dumps(value, ensure_ascii=False)]
    text = str(value)
    if text[:1] in "{[":
        try:
            return [text, json.dumps(json.loads(text), ensure_ascii=False)]
        except ValueError:
            pass
    return [text]


async def dump(app: App) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the database, found by reflection."""
    async with app.db.connect() as connection:
        metadata = MetaData()
        await connection.run_sync(metadata.reflect)
        return {name: [dict(row._mapping) for row in await _rows(connection, table)]
                for name, table in metadata.tables.items()}


async def _rows(connection: AsyncConnection, table: Any) -> Any:
    return (await connection.execute(select(table))).all()


def found(tables: dict[str, list[dict[str, Any]]], person: Person) -> dict[str, set[str]]:
    """Where (table.column) each of the person's identifiers, names, phone or e-mail
    is stored."""
    places: dict[str, set[str]] = {}
    for table, rows in tables.items():
        for row in rows:
            for column, value in row.items():
                for text in _values(value):
                    for needle in person.needles:
                        if needle in text.casefold():
                            places.setdefault(needle, set()).add(f"{table}.{column}")
    return places


async def referencing(app: App, user_id: int) -> set[str]:
    """Tables with a row pointing at the user's row."""
    tables = set()
    async with app.db.connect() as connection:
        metadata = MetaData()
        await connection.run_sync(metadata.reflect)
        for table in metadata.tables.values():
            for key in table.foreign_keys:
                if key.column.table.name == "users" and (await connection.execute(
                        select(key.parent).where(key.parent == user_id))).first():
                    tables.add(table.name)
    return tables


# Where each table that holds something of a person is reported in `/mydata`. A table
# missing here that holds a person's data fails the test.
SECTION_OF = {
    "users": "profile", "coordinators": "profile", "sessions": "conversation",
    "eligibility_checks": "eligibility_checks", "registrations": "forum_registrations",
    "broadcast_deliveries": "announcements",
    "handover_threads": "questions_to_coordinators",
    "handover_messages": "questions_to_coordinators",
    "whatsapp_contacts": "whatsapp", "whatsapp_deliveries": "whatsapp",
    "whatsapp_menus": "whatsapp",
}
# Held only while the bot works on it, then emptied: a webhook's body until it is
# handled (then ""), which `/mydata` cannot be asked in the meantime.
TRANSIENT = {"whatsapp_inbox"}


async def test_forgetme_leaves_nothing_of_the_person_in_any_table(wa: WA) -> None:
    telegram = Person("telegram", "700123456", "Дәурен", "Dauren Zhaksylykov",
                      "+49 151 2223 3344", "dauren.zh@example.org")
    whatsapp = Person("whatsapp", "KZ.4000000000000000777", "Зарина", "Zarina Tleubayeva",
                      "+49 151 8765 4321", "zarina.t@example.net", wa_id="77015550777")
    stays = Person("whatsapp", "KZ.4000000000000000778", "Бауыржан", "Bauyrzhan Omarov",
                   "+49 151 5556 6677", "baur.omarov@example.com", wa_id="77015550778")
    people = (telegram, whatsapp, stays)
    async with wa.app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db, capacity=5)
    for person in people:
        await give_everything(wa, person, forum.id)
    async with wa.app.engine.sessionmaker() as db, db.begin():
        for person in people:
            row = (await db.execute(select(User).where(
                User.channel == person.channel,
                User.external_id == person.external_id))).scalar_one()
            person.user_id = row.id
        await coordinators.add(db, int(telegram.external_id), None, clock.now())

    # A long list on WhatsApp (its pages are kept), announcements on both channels: one
    # sent (with WhatsApp's status webhooks), one started but not yet sent.
    for person in (whatsapp, stays):
        many = (*((Choice(f"Forum {n}", f"prj:f{n}"),) for n in range(14)),)
        await wa.channel.send_replies(Identity("whatsapp", person.external_id),
                                      {"to": str(person.wa_id)}, [Reply("Forums", many)])
    telegram_platform = TelegramPlatform()
    sender = Sender(wa.app.engine.sessionmaker,
                    {"whatsapp": WhatsAppBroadcaster(wa.channel), "telegram": telegram_platform},
                    "test-worker", backoff=0.0)
    pending = []
    for _ in range(2):
        async with wa.app.engine.sessionmaker() as db, db.begin():
            broadcast = await broadcasts.create(db, created_by=None, texts={"*": "News"},
                                                audience={})
            await broadcasts.schedule(db, broadcast.id, clock.now())
        async with wa.app.engine.sessionmaker() as db, db.begin():
            assert broadcast.id in await broadcasts.start_due(db, clock.now(), "kk")
        pending.append(broadcast.id)
        if len(pending) == 1:
            mark = wa.api.mark()
            assert await sender.run_once() == {"sent": 3}
            for message in wa.api.sent[mark:]:
                for status in ("sent", "delivered"):
                    await wa.deliver(webhook({"statuses": [{
                        "id": message.wamid, "status": status,
                        "timestamp": str(int(clock.now().timestamp())),
                        "recipient_id": message.recipient}]}))

    # `/mydata` reports every table that holds something of the person.
    before = await dump(wa.app)
    for person in (telegram, whatsapp):
        holding = {place.split(".")[0] for places in found(before, person).values()
                   for place in places} | await referencing(wa.app, person.user_id)
        holding -= TRANSIENT
        async with wa.app.engine.sessionmaker() as db:
            exported = await privacy.export(db, person.user_id)
        unreported = {table for table in holding if not exported.get(SECTION_OF.get(table, ""))}
        assert not unreported, (person.channel, unreported, exported)
        text = json.dumps(exported, ensure_ascii=False)
        for needle in (person.full_name, person.email, person.name):
            assert needle in text, needle
    assert found(before, telegram) and found(before, whatsapp)

    whatsapp.message_ids = {message.wamid for message in wa.api.messages_to(str(whatsapp.wa_id))}
    assert whatsapp.message_ids
    for person in (telegram, whatsapp):
        await forget(wa, person)
    # Meta's late statuses of the messages sent just before (with the phone number).
    for message in wa.api.messages_to(str(whatsapp.wa_id)):
        await wa.deliver(webhook({"statuses": [{
            "id": message.wamid, "status": "read",
            "timestamp": str(int(clock.now().timestamp())),
            "recipient_id": message.recipient}]}))

    # The announcement not yet sent goes to the one who stays only.
    mark = wa.api.mark()
    telegram_platform.sent.clear()
    await sender.run_once()
    assert [m.recipient for m in wa.api.sent[mark:]] == [stays.wa_id]
    assert telegram_platform.sent == []

    after = await dump(wa.app)
    assert found(after, telegram) == {}
    assert found(after, whatsapp) == {}
    assert found(after, stays)  # the search finds what is there
    for person in (telegram, whatsapp):
        for table in await referencing(wa.app, person.user_id):
            raise AssertionError(f"{table} still points at user {person.user_id}")

