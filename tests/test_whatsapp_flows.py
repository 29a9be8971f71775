"""End to end on WhatsApp, in all three languages: the repatriation guide with typed
answers (a typo in the country, a number, yes/no words) and a forum registration with a
typed phone number and the ticket through the media endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import LANGUAGES, clock
from bot.db.models import Forum, Registration
from bot.services import forum_import
from tests.fakes.graph_api import Sent, WhatsAppUser
from tests.language import assert_language
from tests.test_whatsapp_webhook import WA, make_wa

USERS = {
    "kk": ("77017654300", "KZ.5000000000000000001", "Ерлан"),
    "ru": ("79031234500", "RU.5000000000000000002", "Ольга"),
    "en": (None, "TR.5000000000000000003", "Aidos"),
}
TYPED = {
    "kk": {"yes": "иә", "country": "Германя", "person": ("Ерлан Сейітов", "Берлин")},
    "ru": {"yes": "да", "country": "Гермния", "person": ("Ольга Сеитова", "Берлин")},
    "en": {"yes": "yes", "country": "Germny", "person": ("Aidos Seitov", "Berlin")},
}


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


def ids(sent: Sent) -> set[str]:
    return {choice[0] for choice in sent.choices}


async def step(wa: WA, user: WhatsAppUser, payload: dict, language: str) -> list[Sent]:  # type: ignore[type-arg]
    sent = await wa.say(user, payload)
    assert sent
    for message in sent:
        if message.body:
            assert_language(message.body + "\n" + "\n".join(t for _, t in message.choices),
                            language)
    return sent


async def start(wa: WA, user: WhatsAppUser, language: str) -> Sent:
    sent = await wa.say(user, user.text("Сәлем"))  # first contact: the language is asked
    sent = await step(wa, user, user.choose(sent[-1], f"lang:{language}"), language)
    return sent[-1]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_eligibility_with_typed_answers(wa: WA, language: str) -> None:
    user = WhatsAppUser(*USERS[language])
    words = TYPED[language]
    t = wa.app.translations[language]
    menu = await start(wa, user, language)
    sent = await step(wa, user, user.choose(menu, "el"), language)
    assert t._("Question {number}").format(number=1) in "\n".join(m.body for m in sent)
    sent = await step(wa, user, user.text(words["yes"]), language)
    sent = await step(wa, user, user.choose(sent[-1], "el:back"), language)
    assert t._("Question {number}").format(number=1) in sent[-1].body
    sent = await step(wa, user, user.choose(sent[-1], "el:a:nationality:yes"), language)
    sent = await step(wa, user, user.text("1"), language)  # has a document
    sent = await step(wa, user, user.choose(sent[-1], "el:a:ever_citizen:no"), language)
    sent = await step(wa, user, user.text(words["yes"]), language)  # permanently
    assert len(sent[-1].choices) > 10 or "el:a:country:CN" in ids(sent[-1])
    sent = await step(wa, user, user.text(words["country"]), language)  # with a typo
    assert t._("Question {number}").format(number=6) in "\n".join(m.body for m in sent)
    sent = await step(wa, user, user.text("0"), language)
    sent = await step(wa, user, user.choose(sent[-1], "el:a:quota:yes"), language)
    verdict = wa.app.content.eligibility.words[language].verdicts["eligible"]
    assert verdict in "\n".join(m.body for m in sent)
    sent = await step(wa, user, user.choose(sent[-1], "el:cl"), language)
    toggles = [i for i in ids(sent[-1]) if i.startswith("el:t:")]
    assert len(toggles) == 5
    sent = await step(wa, user, user.choose(sent[-1], toggles[0]), language)
    assert t._("📋 Your documents: {done} of {total} ready").format(done=1, total=5) \
        in "\n".join(m.body for m in sent)


async def make_forum(wa: WA) -> int:
    begin = clock.now() + timedelta(days=30)
    item = forum_import.ForumFile.model_validate({
        "slug": "berlin-wa", "country": "DE",
        "city": {"kk": "Берлин", "ru": "Берлин", "en": "Berlin"},
        "venue": {"kk": "«Адлон» қонақүйі", "ru": "Отель «Адлон»", "en": "Hotel Adlon"},
        "title": {"kk": "Берлин форумы", "ru": "Форум в Берлине", "en": "Berlin forum"},
        "description": {"kk": "Кездесу.", "ru": "Встреча.", "en": "A meeting."},
        "timezone": "Europe/Berlin", "starts": begin, "ends": begin + timedelta(hours=8),
        "deadline": begin - timedelta(days=2), "language": "ru", "capacity": 10,
        "status": "published"})
    async with wa.app.engine.sessionmaker() as db, db.begin():
        await forum_import.apply(db, [item], clock.now(), wa.app.settings.reminder_offsets)
        return int((await db.execute(select(Forum.id))).scalar_one())


@pytest.mark.parametrize("language", LANGUAGES)
async def test_forum_registration_with_a_ticket(wa: WA, language: str) -> None:
    forum_id = await make_forum(wa)
    user = WhatsAppUser(*USERS[language])
    menu = await start(wa, user, language)
    sent = await step(wa, user, user.choose(menu, "fo"), language)
    sent = await step(wa, user, user.choose(sent[-1], f"fo:v:{forum_id}"), language)
    sent = await step(wa, user, user.choose(sent[-1], f"fo:r:{forum_id}"), language)
    name, city = TYPED[language]["person"]
    for answer in (name, "Германия", city, "-"):
        sent = await step(wa, user, user.text(answer), language)
    sent = await step(wa, user, user.choose(sent[-1], "rg:sector:it"), language)
    sent = await step(wa, user, user.text("+49 151 23456789"), language)
    sent = await step(wa, user, user.choose(sent[-1], "rg:skip"), language)
    sent = await step(wa, user, user.choose(sent[-1], "rg:agree"), language)
    sent = await step(wa, user, user.choose(sent[-1], "rg:go"), language)
    assert [m.type for m in sent if m.type in ("image", "document")] == ["image", "document"]
    assert wa.api.media, "the ticket went through the media endpoint"
    async with wa.app.engine.sessionmaker() as db:
        registration = (await db.execute(select(Registration))).scalar_one()
    assert registration.status == "confirmed" and registration.phone == "+4915123456789"
