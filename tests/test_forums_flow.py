"""Forums as conversations: a coordinator creates and publishes a forum, attendees
register (with validation, waiting list, tickets), cancel, and are checked in."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest
import segno
from icalendar import Calendar
from sqlalchemy import select

from bot.app import App, build_app
from bot.core.events import EventKind
from bot.db.models import Registration, Reminder
from handlers.forum_text import ticket_link
from tests.conftest import Chat, make_settings

LEAD = "1001"


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[App]:
    built = await build_app(make_settings(database_url, admin_ids=[int(LEAD)]))
    try:
        yield built
    finally:
        await built.close()


async def coordinator(app: App) -> Chat:
    chat = Chat(app, LEAD, channel="console")
    await chat.text("/start")
    await chat.press("lang:en")
    return chat


async def create_forum(app: App, capacity: int = 2) -> int:
    chat = await coordinator(app)
    assert "ad" in chat.payloads()  # the coordinator's menu has the tools
    await chat.press("ad")
    await chat.press("ad:new")
    answers = ["Форум Берлин", "Форум в Берлине", "Berlin forum", "Сипаттама",
               "Описание", "Meet compatriots.", "Germny", "Берлин", "Берлин", "Berlin",
               "«Адлон» қонақүйі", "Отель «Адлон»", "Hotel Adlon, Berlin"]
    for answer in answers:
        await chat.text(answer)
    assert "ad:tz:Europe/Berlin" in chat.payloads()
    await chat.press("ad:tz:Europe/Berlin")
    await chat.text("2099-03-12 10:00")
    await chat.text("2099-03-12 09:00")  # before the start: refused
    assert "after the start" in chat.texts()
    await chat.text("2099-03-12 18:00")
    await chat.press("ad:lang:ru")
    await chat.text("lots")
    assert "whole number" in chat.texts()
    await chat.text(str(capacity))
    await chat.text("2099-03-05 23:59")
    assert "Saved as a draft" in chat.texts()
    # The forum's own time, with its UTC offset; no tz-database id on the card.
    assert "March 12, 2099, 10:00\u202fAM–6:00\u202fPM (local time, UTC+1)" in chat.texts()
    assert "Europe/Berlin" not in chat.texts()
    publish = next(p for p in chat.payloads() if p.startswith("ad:pub:"))
    await chat.press(publish)
    assert "registration is open" in chat.texts()
    return int(publish.rsplit(":", 1)[1])


async def register(app: App, user: str, forum_id: int) -> Chat:
    chat = Chat(app, user, language_hint="en", channel="test")
    await chat.text("/start")
    await chat.press("fo")
    assert f"fo:v:{forum_id}" in chat.payloads()
    await chat.press(f"fo:v:{forum_id}")
    await chat.press(f"fo:r:{forum_id}")
    await chat.text("Aigerim Seitova")
    await chat.send(EventKind.UNSUPPORTED)  # a sticker in the middle: nothing is lost
    assert "answer the question above" in chat.texts()
    await chat.text("Germany")
    await chat.text("Berlin")
    await chat.text("-")
    await chat.press("rg:sector:trade")
    assert chat.last[-1].ask_contact  # Telegram shows a "share my phone" button
    await chat.text("12345")
    assert "does not look like a phone number" in chat.texts()
    await chat.text("0151 12345678")  # national format, Germany from the country step
    assert "+4915112345678" in chat.texts()
    await chat.text("not-an-email")
    assert "does not look right" in chat.texts()
    await chat.press("rg:skip")
    assert "Do you agree" in chat.texts()
    await chat.text("yes")  # a button is expected here
    assert "use the buttons" in chat.texts()
    await chat.press("rg:agree")
    assert "Please check your details" in chat.texts()
    await chat.press("rg:e:email")
    await chat.text("Aigerim@Example.COM")
    assert "E-mail: Aigerim@example.com" in chat.texts()
    await chat.press("rg:go")
    return chat


async def test_register_get_a_ticket_and_check_in(app: App) -> None:
    forum_id = await create_forum(app)
    chat = await register(app, "a1", forum_id)
    assert "You are registered" in chat.texts()
    files = [reply.attachment for reply in chat.last if reply.attachment]
    assert [f.mime for f in files] == ["image/png", "text/calendar"]
    async with app.engine.sessionmaker() as db:
        registration = (await db.execute(select(Registration))).scalar_one()
    assert registration.phone == "+4915112345678" and registration.organization is None
    expected = io.BytesIO()
    segno.make(ticket_link(registration.ticket_secret or "", None), error="m").save(
        expected, kind="png", scale=8, border=4)
    assert files[0].data == expected.getvalue()
    event = next(iter(Calendar.from_ical(files[1].data).walk("VEVENT")))
    assert str(event["dtstart"].dt.tzinfo) == "Europe/Berlin"
    assert event["dtstart"].dt.hour == 10

    # A stranger scanning the code learns nothing.
    stranger = Chat(app, "a2", language_hint="en")
    await stranger.text(f"/start ci_{registration.ticket_secret}")
    assert "Only the forum's coordinators" in stranger.texts()
    assert "Aigerim" not in stranger.texts()
    lead = Chat(app, LEAD, channel="console")
    await lead.text(f"/start ci_{registration.ticket_secret}")
    assert "Checked in" in lead.texts() and "Aigerim Seitova" in lead.texts()
    await lead.text(f"/start ci_{registration.ticket_secret}")
    assert "Already checked in at" in lead.texts()
    await lead.text("/start ci_" + "x" * 32)
    assert "Unknown ticket" in lead.texts()


async def test_full_forum_puts_people_on_the_waiting_list_and_promotes_them(app: App) -> None:
    forum_id = await create_forum(app, capacity=1)
    first = await register(app, "b1", forum_id)
    second = await register(app, "b2", forum_id)
    assert "waiting list: number 1" in second.texts()
    assert not any(reply.attachment for reply in second.last)
    await first.press("fo:my")
    mine = next(p for p in first.payloads() if p.startswith("fo:m:"))
    await first.press(mine)
    cancel = next(p for p in first.payloads() if p.startswith("fo:x:"))
    await first.press(cancel)
    assert "Cancel your registration" in first.texts()
    await first.press(cancel.replace("fo:x:", "fo:xx:"))
    assert "Your registration is cancelled" in first.texts()
    async with app.engine.sessionmaker() as db:
        statuses = (await db.execute(
            select(Registration.status).order_by(Registration.id))).scalars().all()
        promoted = (await db.execute(select(Reminder).where(Reminder.kind == "promoted"))
                    ).scalars().all()
    assert statuses == ["cancelled", "confirmed"]
    assert len(promoted) == 1
    await second.press("fo:my")
    assert "confirmed" in second.texts()


async def test_known_details_are_offered_the_second_time(app: App) -> None:
    forum_id = await create_forum(app)
    chat = await register(app, "c1", forum_id)
    await chat.press("fo:my")
    mine = next(p for p in chat.payloads() if p.startswith("fo:m:"))
    await chat.press(mine)
    await chat.press(next(p for p in chat.payloads() if p.startswith("fo:x:")).replace(
        "fo:x:", "fo:xx:"))
    await chat.press(f"fo:r:{forum_id}")
    assert "Use your details from last time?" in chat.texts()
    assert "Aigerim Seitova" in chat.texts()
    await chat.press("rg:use")
    assert "Do you agree" in chat.texts()  # consent is asked for every registration
    await chat.press("rg:agree")
    assert "Please check your details" in chat.texts()
    await chat.press("rg:go")
    assert "You are registered" in chat.texts()


async def test_coordinator_exports_and_others_are_refused(app: App) -> None:
    forum_id = await create_forum(app)
    await register(app, "d1", forum_id)
    lead = await coordinator(app)
    await lead.press(f"ad:csv:{forum_id}")
    attachment = lead.last[0].attachment
    assert attachment is not None and attachment.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(attachment.data.decode("utf-8-sig"))))
    assert rows[0][2] == "Full name" and rows[1][2] == "Aigerim Seitova"
    assert "confirmed 1" in lead.texts()
    await lead.press(f"ad:xlsx:{forum_id}")
    assert lead.last[0].attachment is not None
    assert lead.last[0].attachment.filename.endswith(".xlsx")

    user = Chat(app, "d2", language_hint="en")
    await user.text("/start")
    assert "ad" not in user.payloads()
    for payload in ("ad", f"ad:csv:{forum_id}", f"ad:cx!:{forum_id}", "ad:new"):
        await user.press(payload)
        assert "coordinators only" in user.texts()
        assert user.last[0].attachment is None
    await user.text("/forums")
    assert "coordinators only" in user.texts()


async def test_moving_a_forum_notifies_the_people_registered(app: App) -> None:
    forum_id = await create_forum(app)
    await register(app, "e1", forum_id)
    lead = await coordinator(app)
    await lead.press(f"ad:ed:{forum_id}")
    await lead.press(f"ad:ef:{forum_id}:venue_en")
    assert "Now: Hotel Adlon, Berlin" in lead.texts()
    await lead.text("Musterstraße 1, Berlin")
    assert "will be told about the change" in lead.texts()
    async with app.engine.sessionmaker() as db:
        kinds = (await db.execute(select(Reminder.kind).where(Reminder.status == "pending"))
                 ).scalars().all()
    assert sorted(kinds) == ["before", "before", "before", "changed"]


async def test_forum_buttons_from_old_messages_do_not_break(app: App) -> None:
    forum_id = await create_forum(app)
    chat = Chat(app, "f1", language_hint="en")
    await chat.text("/start")
    for payload in ("fo:v:99999", "fo:r:99999", "fo:m:99999", "fo:t:1", "fo:xx:1", "rg:go",
                    "rg:sector:trade", "fo:zzz"):
        await chat.press(payload)
        assert chat.last, payload
    await chat.press(f"fo:r:{forum_id}")
    await chat.press("rg:agree")  # not this step yet
    assert "earlier step" in chat.texts()


async def test_a_time_zone_directory_or_a_far_year_is_refused_in_the_dialog(app: App) -> None:
    chat = await coordinator(app)
    await chat.press("ad:new")
    for answer in ["Форум", "Форум", "Forum", "Сипаттама", "Описание", "About.", "Germany",
                   "Берлин", "Берлин", "Berlin", "Адлон", "Адлон", "Adlon"]:
        await chat.text(answer)
    for zone in ("America", "Europe/" + "x" * 300, "../../etc/passwd", ""):
        await chat.text(zone)
        assert "Unknown time zone" in chat.texts(), zone
    await chat.text("Etc/GMT+12")
    await chat.text("9999-12-31 23:00")
    assert "like 2027-03-12 10:00" in chat.texts()
    await chat.text("2099-03-12 10:00")
    assert "End, local time" in chat.texts()
