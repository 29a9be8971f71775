"""End to end on WhatsApp: signed deliveries to the real endpoint, the real flows, every
outgoing payload checked by the fake Graph API (violations fail the test at teardown).

Walks every flow in kk, ru and en; long lists page; messages the bot starts become
templates outside the 24-hour window; throttling and server errors are retried."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot import clock
from bot.channels.whatsapp_api import MediaFile
from bot.core.events import Identity
from bot.core.replies import Choice, Reply
from bot.db.models import User, WhatsAppContact, WhatsAppDelivery
from tests.fakes.graph_api import Sent, WhatsAppUser, webhook
from tests.language import language_problems
from tests.test_whatsapp_webhook import WA, make_wa

HELP_WORDS = {"kk": "көмек", "ru": "помощь", "en": "help"}
MENU_WORDS = {"kk": "мәзір", "ru": "меню", "en": "menu"}
START_WORDS = {"kk": "бастау", "ru": "старт", "en": "start"}
CANCEL_WORDS = {"kk": "болдырмау", "ru": "отмена", "en": "cancel"}
LANGUAGE_WORDS = {"kk": "тіл", "ru": "язык", "en": "language"}
MENU_ITEMS = {"prj", "num", "set", "help"}


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


def ids(sent: Sent) -> set[str]:
    return {choice[0] for choice in sent.choices}


async def step(wa: WA, user: WhatsAppUser, payload: dict) -> list[Sent]:  # type: ignore[type-arg]
    sent = await wa.say(user, payload)
    assert sent, f"no answer to {payload['entry'][0]['changes'][0]['value']['messages']}"
    return sent


def assert_meaning_kept(sent: Sent) -> None:
    """A row title cut for lack of a (translated) short string keeps the whole label in
    its description; buttons are never cut."""
    if sent.type != "interactive":
        return
    if sent.interactive["type"] == "button":
        assert not [title for _, title in sent.choices if title.endswith("…")]
        return
    for row in sent.interactive["action"]["sections"][0]["rows"]:
        if row["title"].endswith("…"):
            assert row["title"][:-1].rstrip() in row.get("description", ""), row


def joined(sent: list[Sent]) -> str:
    return "\n".join(message.body for message in sent)


@pytest.mark.parametrize(("language", "wa_id", "user_id", "name"), [
    ("kk", "77017654321", "KZ.4000000000000000001", "Ерлан"),
    ("ru", "79031234567", "RU.4000000000000000002", "Ольга"),
    ("en", None, "TR.4000000000000000003", "Aidos"),
])
async def test_every_flow_in_every_language(
    wa: WA, language: str, wa_id: str | None, user_id: str, name: str
) -> None:
    t = wa.app.translations[language]
    user = WhatsAppUser(wa_id, user_id, name)
    menu_text = t._("Main menu. What would you like to know?")

    # First contact: the language is asked, in all three languages.
    sent = await step(wa, user, user.text("Сәлеметсіз бе"))
    assert {"lang:kk", "lang:ru", "lang:en"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], f"lang:{language}"))
    assert name in joined(sent) and menu_text in joined(sent)
    menu = sent[-1]
    assert ids(menu) >= MENU_ITEMS and menu.interactive["type"] == "list"
    assert_meaning_kept(menu)

    # Every item of the main menu answers (flows added later included), and the menu
    # word brings the menu back from wherever it led.
    for item in sorted(ids(menu)):
        await step(wa, user, user.choose(menu, item))
        sent = await step(wa, user, user.text(MENU_WORDS[language]))
        assert ids(sent[-1]) >= MENU_ITEMS

    # Projects: the list, one project, back to the list, the menu.
    sent = await step(wa, user, user.choose(menu, "prj"))
    assert t._("The Otandastar Fund's support projects. Choose one to read more:") \
        in joined(sent)
    projects = sent[-1]
    project_ids = sorted(i for i in ids(projects) if i.startswith("prj:"))
    assert len(project_ids) == len(wa.app.content.projects) and "menu" in ids(projects)
    for project_id in project_ids:
        sent = await step(wa, user, user.choose(projects, project_id))
        project = wa.app.content.project(project_id.split(":")[1])
        assert project is not None
        assert project.text[language].title in joined(sent)
        assert {"prj", "menu"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], "prj"))
    assert ids(sent[-1]) >= set(project_ids)
    sent = await step(wa, user, user.choose(sent[-1], "menu"))
    assert ids(sent[-1]) >= MENU_ITEMS

    # Numbers: long text, split within the limits, then the way back.
    sent = await step(wa, user, user.choose(sent[-1], "num"))
    assert wa.app.content.numbers[language].title in joined(sent)
    assert all(len(message.body) <= 4096 for message in sent)
    assert {"menu"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], "menu"))

    # Settings: change the language there and back.
    sent = await step(wa, user, user.choose(sent[-1], "set"))
    assert {"language", "menu"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], "language"))
    assert {"lang:kk", "lang:ru", "lang:en"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], f"lang:{language}"))
    assert t._("Done: I will speak English with you.") in joined(sent)
    assert ids(sent[-1]) >= MENU_ITEMS

    # Help from the menu, and the command words of this language.
    sent = await step(wa, user, user.choose(sent[-1], "help"))
    assert t._("Commands that work at any moment:") in joined(sent)
    sent = await step(wa, user, user.text(HELP_WORDS[language]))
    assert t._("Commands that work at any moment:") in joined(sent)
    sent = await step(wa, user, user.text(MENU_WORDS[language]))
    assert menu_text in joined(sent) and ids(sent[-1]) >= MENU_ITEMS
    sent = await step(wa, user, user.text(START_WORDS[language]))
    assert name in joined(sent)
    sent = await step(wa, user, user.text(CANCEL_WORDS[language]))
    assert t._("Nothing to cancel.") in joined(sent)
    sent = await step(wa, user, user.text(LANGUAGE_WORDS[language]))
    assert {"lang:kk", "lang:ru", "lang:en"} <= ids(sent[-1])
    sent = await step(wa, user, user.choose(sent[-1], f"lang:{language}"))

    # A question off the topic, a stale button, an image: a short note and the menu.
    sent = await step(wa, user, user.text("what is the weather?"))
    assert t._("I can only help with returning to Kazakhstan as a kandas: the status, "
               "documents, support, citizenship, the Fund's projects and business forums. "
               "Choose an item from the menu.") in joined(sent)  # no coordinators' chat here
    assert "menu" in ids(sent[-1])
    sent = await step(wa, user, user.button("prj:closed_long_ago", "Old"))
    assert t._("That button is from an older message and no longer works. Here is the menu.") \
        in joined(sent)
    sent = await step(wa, user, user.delivery(user.message("image", image={"id": "1"})))
    assert t._("I can only read text and buttons for now. Please choose an item from the "
               "menu.") in joined(sent)

    async with wa.app.engine.sessionmaker() as db:
        stored = (await db.execute(select(User).where(User.external_id == user_id)))\
            .scalar_one()
    assert stored.language == language and stored.channel == "whatsapp"
    for message in wa.api.messages_to(user.recipient):
        assert ("to" in message.payload) == (wa_id is not None)


async def test_start_word_preselects_the_language_from_the_phone(wa: WA) -> None:
    user = WhatsAppUser("77015550000", "KZ.4000000000000000009", "Бақыт")
    sent = await step(wa, user, user.text("start"))
    assert "Бақыт" in joined(sent) and ids(sent[-1]) >= MENU_ITEMS  # +7 7xx: Kazakh


async def test_long_lists_page_with_a_more_row(wa: WA) -> None:
    user = WhatsAppUser("4915100000001", "DE.4000000000000000004", "Dana")
    await wa.deliver(user.text("hi"))
    await wa.deliver(user.button("lang:en", "English"))
    identity = Identity("whatsapp", "DE.4000000000000000004")
    many = (*((Choice(f"Forum {n}", f"prj:f{n}"),) for n in range(14)),
            (Choice("⬅️ Main menu", "menu"),))
    mark = wa.api.mark()
    await wa.channel.send_replies(identity, {"to": user.recipient}, [Reply("Forums", many)])
    first = wa.api.messages_to(user.recipient, mark)[-1]
    more = [i for i in ids(first) if i.startswith("wa:more:")]
    assert len(first.choices) == 10 and len(more) == 1
    sent = await step(wa, user, user.choose(first, more[0]))
    assert {"prj:f13", "menu"} <= ids(sent[-1]) and len(sent[-1].choices) == 6
    sent = await step(wa, user, user.choose(sent[-1], "menu"))
    assert ids(sent[-1]) >= MENU_ITEMS
    # The "more" row of a list that is no longer the current one: a note and the menu.
    await wa.channel.send_replies(identity, {"to": user.recipient}, [Reply("Forums", many)])
    sent = await step(wa, user, user.list_pick(more[0], "➡️ More"))
    assert ids(sent[-1]) >= MENU_ITEMS


async def _aged(wa: WA, external_id: str, hours: float) -> None:
    async with wa.app.engine.sessionmaker() as db, db.begin():
        await db.execute(update(WhatsAppContact)
                         .where(WhatsAppContact.external_id == external_id)
                         .values(last_inbound_at=clock.now() - timedelta(hours=hours)))


async def test_bot_started_messages_are_templates_outside_the_window(wa: WA) -> None:
    user = WhatsAppUser("79035550001", "RU.4000000000000000005", "Асель")
    await wa.deliver(user.text("привет"))
    await wa.deliver(user.button("lang:ru", "Русский"))
    external = "RU.4000000000000000005"

    mark = wa.api.mark()
    assert await wa.channel.in_window(external)
    await wa.channel.notify(external, "Форум завтра в 10:00", kind="reminder")
    inside = wa.api.messages_to(user.recipient, mark)
    assert [m.type for m in inside] == ["text"] and inside[0].body == "Форум завтра в 10:00"
    record = await wa.get(WhatsAppDelivery, inside[0].wamid)
    assert record.kind == "reminder"

    await _aged(wa, external, 25)
    assert not await wa.channel.in_window(external)
    mark = wa.api.mark()
    await wa.channel.notify(external, "Форум завтра\n\nв 10:00", kind="reminder")
    outside = wa.api.messages_to(user.recipient, mark)
    assert [m.type for m in outside] == ["template"]
    template = outside[0].payload["template"]
    assert template["name"] == wa.app.settings.whatsapp_template_reminder
    assert template["language"]["code"] == "ru"
    assert template["components"][0]["parameters"][0]["text"] == "Форум завтра · в 10:00"

    await wa.channel.notify(external, "Новости фонда", kind="broadcast")
    assert wa.api.sent[-1].payload["template"]["name"] == \
        wa.app.settings.whatsapp_template_broadcast

    # The template's quick reply button brings the menu.
    sent = await step(wa, user, user.template_button("menu", "Меню"))
    assert ids(sent[-1]) >= MENU_ITEMS
    assert await wa.channel.in_window(external)  # the user wrote: the window is open again


async def test_131047_from_the_api_sends_the_template(wa: WA) -> None:
    user = WhatsAppUser("77015550002", "KZ.4000000000000000006", "Марат")
    await wa.deliver(user.text("сәлем"))
    await wa.deliver(user.button("lang:kk", "Қазақша"))
    wa.api.closed_window.add(user.recipient)  # Meta knows better than our clock
    mark = wa.api.mark()
    await wa.channel.notify("KZ.4000000000000000006", "Ертең форум", kind="notice")
    sent = wa.api.messages_to(user.recipient, mark)
    assert [m.type for m in sent] == ["template"]
    assert sent[0].payload["template"]["language"]["code"] == "kk"


async def test_failed_status_131047_of_a_reminder_resends_it_as_a_template(wa: WA) -> None:
    user = WhatsAppUser("77015550003", "KZ.4000000000000000007", "Гүлнар")
    await wa.deliver(user.text("сәлем"))
    await wa.deliver(user.button("lang:en", "English"))
    await wa.channel.notify("KZ.4000000000000000007", "Forum tomorrow", kind="reminder")
    wamid = wa.api.sent[-1].wamid
    mark = wa.api.mark()
    await wa.deliver(webhook({"statuses": [{
        "id": wamid, "status": "failed", "timestamp": "1795000100",
        "recipient_id": user.wa_id,
        "errors": [{"code": 131047, "title": "Re-engagement message",
                    "error_data": {"details": "More than 24 hours have passed."}}],
    }]}))
    sent = wa.api.messages_to(user.recipient, mark)
    assert [m.type for m in sent] == ["template"]
    assert sent[0].payload["template"]["components"][0]["parameters"][0]["text"] == \
        "Forum tomorrow"
    assert (await wa.get(WhatsAppDelivery, wamid)).error_code == 131047


async def test_throttling_and_server_errors_are_retried(wa: WA) -> None:
    user = WhatsAppUser("77015550004", "KZ.4000000000000000008", "Саят")
    wa.api.fail_next(130429, 400, times=2)
    wa.api.fail_next(1, 500)
    sent = await step(wa, user, user.text("hello"))
    assert len(sent) == 1
    assert len(wa.api.requests) == 4


async def test_undeliverable_is_logged_and_not_retried(
    wa: WA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.channels.whatsapp")
    user = WhatsAppUser("77015550005", "KZ.4000000000000000010", "Жан")
    wa.api.fail_next(131026, 400)
    mark = wa.api.mark()
    await wa.deliver(user.text("hello"))
    assert wa.api.messages_to(user.recipient, mark) == []
    assert len(wa.api.requests) == 1
    assert "undeliverable (131026)" in caplog.text
    async with wa.app.engine.sessionmaker() as db:
        stored = (await db.execute(select(User).where(
            User.external_id == "KZ.4000000000000000010"))).scalar_one()
    assert stored.unreachable_since is not None


async def test_documents_go_through_the_media_endpoint(wa: WA) -> None:
    user = WhatsAppUser("77015550006", None, "Ail")
    media_id = await wa.channel.client.upload_media(
        MediaFile(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar", "forum.ics"))
    assert wa.api.media == [{"id": media_id, "type": "text/calendar",
                             "filename": "forum.ics", "size": 32}]
    await wa.channel.client.send_message({"to": user.recipient, "type": "document",
                                          "document": {"id": media_id,
                                                       "filename": "forum.ics"}})
    assert wa.api.sent[-1].type == "document"


async def test_the_background_worker_answers_without_draining(wa: WA) -> None:
    await wa.channel.start()
    user = WhatsAppUser("77015550007", "KZ.4000000000000000011", "Әсел")
    response = await wa.post(user.text("сәлем"))
    assert response.status == 200
    sent = await wa.api.wait_messages(user.recipient, 1, seconds=5)
    assert {"lang:kk", "lang:ru", "lang:en"} <= ids(sent[0])


async def test_push_maps_reminder_kinds_to_templates_and_reports_results(wa: WA) -> None:
    from bot.core.notify import PushResult

    user = WhatsAppUser("77015550008", "KZ.4000000000000000012", "Арман")
    await wa.deliver(user.text("сәлем"))
    await wa.deliver(user.button("lang:en", "English"))
    external = "KZ.4000000000000000012"
    pushed = await wa.channel.push(external, [Reply("Forum in one hour")], "before")
    assert pushed.result is PushResult.SENT
    assert wa.api.sent[-1].type == "text" and pushed.message_ids == (wa.api.sent[-1].wamid,)
    await _aged(wa, external, 30)
    for kind, template in (("before", "reminder"), ("changed", "notice"),
                           ("promoted", "notice"), ("broadcast", "broadcast")):
        mark = wa.api.mark()
        pushed = await wa.channel.push(external, [Reply("Hall B\n\n10:00")], kind)
        assert pushed.result is PushResult.SENT
        sent = wa.api.messages_to(user.recipient, mark)
        assert [m.type for m in sent] == ["template"] and pushed.message_ids == (sent[0].wamid,)
        assert sent[0].payload["template"]["name"] == \
            getattr(wa.app.settings, f"whatsapp_template_{template}")
    wa.api.fail_next(131026)
    assert (await wa.channel.push(external, [Reply("x")], "before")).result \
        is PushResult.UNREACHABLE
    wa.api.fail_next(131000)
    assert (await wa.channel.push(external, [Reply("x")], "before")).result is PushResult.FAILED


async def test_files_go_through_the_media_endpoint_with_captions(wa: WA) -> None:
    from bot.core.replies import Attachment

    user = WhatsAppUser("77015550009", "KZ.4000000000000000013", "Нұрлан")
    await wa.deliver(user.text("сәлем"))
    identity = Identity("whatsapp", "KZ.4000000000000000013")
    mark = wa.api.mark()
    await wa.channel.send_replies(identity, {"to": user.recipient}, [
        Reply("Your ticket", attachment=Attachment("ticket.png", b"\x89PNG...", "image/png")),
        Reply("Add it to your calendar", ((Choice("⬅️ Main menu", "menu"),),),
              attachment=Attachment("forum.ics", b"BEGIN:VCALENDAR\r\n", "text/calendar")),
        Reply("x" * 1500, attachment=Attachment("list.csv", b"a,b\r\n", "text/csv")),
    ])
    sent = wa.api.messages_to(user.recipient, mark)
    assert [m.type for m in sent] == ["image", "document", "interactive", "text", "document"]
    assert sent[0].payload["image"]["caption"] == "Your ticket"
    assert sent[1].payload["document"]["filename"] == "forum.ics"
    assert sent[1].payload["document"]["caption"] == "Add it to your calendar"
    assert ids(sent[2]) == {"menu"}
    assert "caption" not in sent[4].payload["document"]
    assert [(m["type"], m["filename"]) for m in wa.api.media] == [
        ("image/png", "ticket.png"), ("text/plain", "forum.ics"), ("text/plain", "list.csv")]
    for message in sent:
        assert "_attachment" not in message.payload


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_every_reachable_button_answers_within_the_limits(wa: WA, language: str) -> None:
    """Breadth-first over every button and row the bot offers (flows added later
    included), in one language: each press gets an answer the fake API accepts, wholly
    in that language, with no label cut without its meaning kept."""
    user = WhatsAppUser(None, f"KZ.6000000000000000{language}", "Walker")
    await wa.deliver(user.text("hi"))
    sent = await step(wa, user, user.button(f"lang:{language}", language))
    frontier = [(sent[-1], choice) for choice, _ in sent[-1].choices]
    seen: set[str] = set()
    while frontier and len(seen) < 80:
        message, choice = frontier.pop(0)
        if choice in seen or choice.startswith(("lang:", "wa:more:")):
            continue
        seen.add(choice)
        for answer in await step(wa, user, user.choose(message, choice)):
            trilingual = {"lang:kk", "lang:ru", "lang:en"} <= ids(answer)
            if answer.type in ("text", "interactive") and not trilingual:
                words = "\n".join([answer.body, *(title for _, title in answer.choices)])
                problems = language_problems(words, language)
                assert not problems, (choice, problems, words)
            assert_meaning_kept(answer)
            frontier += [(answer, next_choice) for next_choice, _ in answer.choices]
    assert len(seen) >= 10


async def test_forgetme_removes_the_whatsapp_records_too(wa: WA) -> None:
    from bot.channels.whatsapp_contacts import export_for

    user = WhatsAppUser("77015550010", "KZ.4000000000000000014", "Ерболат")
    await wa.deliver(user.text("сәлем"))
    await wa.deliver(user.button("lang:en", "English"))
    async with wa.app.engine.sessionmaker() as db:
        stored = (await db.execute(select(User).where(
            User.external_id == "KZ.4000000000000000014"))).scalar_one()
        exported = await export_for(db, stored.id)
    assert exported is not None
    assert exported["phone"] == "77015550010" and exported["profile_name"] == "Ерболат"
    assert len(exported["messages_sent_to_you"]) >= 2
    sent = await step(wa, user, user.text("/forgetme"))
    confirm = [c for c in ids(sent[-1]) if c.endswith(":yes")]
    assert confirm, sent[-1].choices
    await step(wa, user, user.choose(sent[-1], confirm[0]))
    assert await wa.get(WhatsAppContact, "KZ.4000000000000000014") is None
    async with wa.app.engine.sessionmaker() as db:
        left = (await db.execute(select(WhatsAppDelivery).where(
            WhatsAppDelivery.external_id == "KZ.4000000000000000014"))).all()
    assert left == []
