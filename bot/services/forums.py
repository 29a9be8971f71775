"""Business forums: the catalogue, seats and the waiting list, tickets, check-in,
changes and cancellations, exports, and the purge of personal data after the event.

Seats are claimed with one conditional UPDATE (`confirmed_count < capacity`), so
exactly the capacity is confirmed however many people register at the same moment,
on SQLite and on PostgreSQL. Service functions take the open transaction (`db`) and
raise `ForumError` with a code the flows turn into words.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import as_utc, iso
from bot.core.i18n import N_
from bot.db.dialect import skip_locked
from bot.db.models import (
    Forum,
    ForumStatus,
    Registration,
    RegistrationStatus,
    Reminder,
    ReminderStatus,
)
from bot.db.paging import Page, fetch_page
from bot.services import audit
from bot.services.knowledge import fold

# Forums people see: open, or with registration closed.
LISTED = (ForumStatus.PUBLISHED, ForumStatus.CLOSED)
ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITING)
DETAIL_FIELDS = ("full_name", "country", "city", "organization", "sector", "phone", "email")
# Fields whose change is announced to the people registered.
ANNOUNCED_FIELDS = {"starts_at", "ends_at", "venue", "city", "timezone"}
# A forum's bounds, the same in the dialog and in imported files: texts per language in
# characters (the whole card stays within one Telegram message), seats, and the years a
# date may fall in (so that every conversion to UTC and back stays in range).
TEXT_LIMITS = {"title": 120, "description": 1500, "city": 100, "venue": 300}
MAX_CAPACITY = 100_000
YEARS = range(2000, 2101)
# What the audit log keeps of a forum, and the name of each change of status there.
FORUM_FIELDS = ("slug", "title", "country", "city", "venue", "timezone", "starts_at", "ends_at",
                "event_language", "capacity", "deadline", "status")
STATUS_ACTIONS = {ForumStatus.PUBLISHED: "publish", ForumStatus.CLOSED: "close",
                  ForumStatus.CANCELLED: "cancel"}


class ForumError(Exception):
    """A rule stops the action; `code` says which (the flows have the words)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def new_secret() -> str:
    """A ticket secret: 32 random URL-safe characters, never derived from an id."""
    return secrets.token_urlsafe(24)


def local(forum: Forum, moment: datetime) -> datetime:
    return as_utc(moment).astimezone(ZoneInfo(forum.timezone))


def registration_open(forum: Forum, now: datetime) -> bool:
    return (forum.status == ForumStatus.PUBLISHED and now < as_utc(forum.deadline)
            and now < as_utc(forum.starts_at))


def seats_left(forum: Forum) -> int:
    return max(0, forum.capacity - forum.confirmed_count)


# ---- the catalogue ---------------------------------------------------------------------


def _upcoming(now: datetime, country: str | None = None) -> Select[Forum]:
    query = (select(Forum).where(Forum.status.in_(LISTED), Forum.ends_at > now)
             .order_by(Forum.starts_at, Forum.id))
    return query.where(Forum.country == country) if country else query


async def upcoming(db: AsyncSession, now: datetime, country: str | None, page: int,
                   size: int) -> tuple[list[Forum], Page]:
    """One page of the forums people see, soonest first."""
    return await fetch_page(db, _upcoming(now, country), page, size)


async def upcoming_countries(db: AsyncSession, now: datetime) -> list[str]:
    rows = await db.execute(
        select(Forum.country).where(Forum.status.in_(LISTED),
                                    Forum.ends_at > now)
        .group_by(Forum.country).order_by(func.min(Forum.starts_at), Forum.country))
    return [country for (country,) in rows]


async def get(db: AsyncSession, forum_id: int) -> Forum | None:
    return await db.get(Forum, forum_id)


async def all_forums(db: AsyncSession, page: int, size: int, *, drafts: bool = True
                     ) -> tuple[list[Forum], Page]:
    """One page of every forum (or every forum but drafts), the latest first."""
    query = select(Forum).order_by(Forum.starts_at.desc(), Forum.id.desc())
    if not drafts:
        query = query.where(Forum.status != ForumStatus.DRAFT)
    return await fetch_page(db, query, page, size)


# ---- registration, seats, the waiting list -----------------------------------------------


async def active_registration(db: AsyncSession, forum_id: int, user_id: int
                              ) -> Registration | None:
    return (await db.execute(
        select(Registration).where(Registration.forum_id == forum_id,
                                   Registration.user_id == user_id,
                                   Registration.status.in_(ACTIVE))
    )).scalar_one_or_none()


def _registrations_of(user_id: int) -> Select[Registration, Forum]:
    return (select(Registration, Forum).join(Forum, Forum.id == Registration.forum_id)
            .where(Registration.user_id == user_id, Registration.status.in_(ACTIVE))
            .order_by(Forum.starts_at, Registration.id))


async def user_registrations(db: AsyncSession, user_id: int, page: int, size: int
                             ) -> tuple[list[tuple[Registration, Forum]], Page]:
    """One page of the user's registrations still going, soonest forum first."""
    rows, found = await fetch_page(db, _registrations_of(user_id), page, size)
    return [(registration, forum) for registration, forum in rows], found


async def has_registrations(db: AsyncSession, user_id: int) -> bool:
    return (await db.execute(_registrations_of(user_id).limit(1))).first() is not None


async def latest_details(db: AsyncSession, user_id: int) -> dict[str, Any] | None:
    """What the user gave at their last registration, to offer it again."""
    registration = (await db.execute(
        select(Registration).where(Registration.user_id == user_id,
                                   Registration.full_name.is_not(None))
        .order_by(Registration.id.desc()).limit(1))).scalar_one_or_none()
    if registration is None:
        return None
    return {field: getattr(registration, field) for field in DETAIL_FIELDS}


async def _claim_seat(db: AsyncSession, forum_id: int) -> bool:
    result = await db.execute(
        update(Forum)
        .where(Forum.id == forum_id, Forum.confirmed_count < Forum.capacity)
        .values(confirmed_count=Forum.confirmed_count + 1)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def _free_seat(db: AsyncSession, forum_id: int) -> None:
    await db.execute(
        update(Forum).where(Forum.id == forum_id, Forum.confirmed_count > 0)
        .values(confirmed_count=Forum.confirmed_count - 1)
        .execution_options(synchronize_session=False))


async def register(db: AsyncSession, forum_id: int, user_id: int, details: dict[str, Any],
                   now: datetime, offsets: list[timedelta]) -> Registration:
    forum = await db.get(Forum, forum_id)
    if forum is None or forum.status == ForumStatus.DRAFT:
        raise ForumError("not_found")
    if forum.status == ForumStatus.CANCELLED:
        raise ForumError("cancelled")
    if not registration_open(forum, now):
        raise ForumError("closed")
    if await active_registration(db, forum_id, user_id) is not None:
        raise ForumError("already_registered")
    confirmed = await _claim_seat(db, forum_id)
    registration = Registration(
        forum_id=forum_id, user_id=user_id,
        status=RegistrationStatus.CONFIRMED if confirmed else RegistrationStatus.WAITING,
        ticket_secret=new_secret(), consent_at=now, created_at=now, updated_at=now,
        **{field: details.get(field) for field in DETAIL_FIELDS},
    )
    db.add(registration)
    await db.flush()
    if confirmed:
        await db.refresh(forum)
        schedule_before(db, registration, forum, now, offsets)
    return registration


async def waiting_position(db: AsyncSession, registration: Registration) -> int:
    return int((await db.execute(
        select(func.count()).select_from(Registration)
        .where(Registration.forum_id == registration.forum_id,
               Registration.status == RegistrationStatus.WAITING,
               Registration.id <= registration.id)
    )).scalar_one())


async def promote(db: AsyncSession, forum_id: int, now: datetime,
                  offsets: list[timedelta]) -> list[Registration]:
    """Fill free seats from the waiting list, first come first served."""
    promoted: list[Registration] = []
    forum = await db.get(Forum, forum_id)
    if forum is None or forum.status == ForumStatus.CANCELLED or now >= as_utc(forum.starts_at):
        return promoted
    while True:
        query = skip_locked(db, select(Registration)
                            .where(Registration.forum_id == forum_id,
                                   Registration.status == RegistrationStatus.WAITING)
                            .order_by(Registration.id).limit(1))
        candidate = (await db.execute(query)).scalar_one_or_none()
        if candidate is None or not await _claim_seat(db, forum_id):
            return promoted
        candidate.status = RegistrationStatus.CONFIRMED
        candidate.promoted_at = candidate.updated_at = now
        await db.refresh(forum)
        schedule_before(db, candidate, forum, now, offsets)
        db.add(Reminder(registration_id=candidate.id, kind="promoted", due_at=now))
        promoted.append(candidate)


async def cancel(db: AsyncSession, registration: Registration, now: datetime,
                 offsets: list[timedelta]) -> list[Registration]:
    """Cancel a registration; a freed seat goes to the first in line. Returns them."""
    if registration.status not in ACTIVE:
        return []
    was_confirmed = registration.status == RegistrationStatus.CONFIRMED
    registration.status = RegistrationStatus.CANCELLED
    registration.cancelled_at = registration.updated_at = now
    await _cancel_pending(db, [registration.id])
    await db.flush()
    if not was_confirmed:
        return []
    await _free_seat(db, registration.forum_id)
    return await promote(db, registration.forum_id, now, offsets)


# ---- reminders' rows ---------------------------------------------------------------------


def schedule_before(db: AsyncSession, registration: Registration, forum: Forum,
                    now: datetime, offsets: list[timedelta]) -> None:
    starts = as_utc(forum.starts_at)
    for offset in offsets:
        due = starts - offset
        if due > now:
            db.add(Reminder(registration_id=registration.id, kind="before",
                            offset_minutes=int(offset.total_seconds() // 60), due_at=due))


async def _cancel_pending(db: AsyncSession, registration_ids: list[int],
                          kinds: tuple[str, ...] | None = None) -> None:
    if not registration_ids:
        return
    query = (update(Reminder)
             .where(Reminder.registration_id.in_(registration_ids),
                    Reminder.status == ReminderStatus.PENDING)
             .values(status=ReminderStatus.CANCELLED)
             .execution_options(synchronize_session=False))
    if kinds:
        query = query.where(Reminder.kind.in_(kinds))
    await db.execute(query)


async def _active_of(db: AsyncSession, forum_id: int) -> list[Registration]:
    return list((await db.execute(
        select(Registration).where(Registration.forum_id == forum_id,
                                   Registration.status.in_(ACTIVE)))).scalars())


# ---- coordinators' actions ---------------------------------------------------------------


@dataclass
class ForumDraft:
    slug: str
    title: dict[str, str]
    description: dict[str, str]
    country: str
    city: dict[str, str]
    venue: dict[str, str]
    timezone: str
    starts_at: datetime
    ends_at: datetime
    event_language: str
    capacity: int
    deadline: datetime


@cache
def _zones() -> frozenset[str]:
    # The tz database's zones, without the ones that are no place (`Factory`) or depend
    # on the machine (`localtime`, `posixrules`).
    return frozenset(available_timezones() - {"Factory", "localtime", "posixrules"})


def known_zone(name: str) -> bool:
    """A time zone of the tz database, e.g. `Europe/Berlin`; not a directory of it
    (`America`), a path or anything else ZoneInfo would open or fail on."""
    return name in _zones()


def check_draft(draft: ForumDraft) -> None:
    if not known_zone(draft.timezone):
        raise ForumError("bad_timezone")
    if any(moment.year not in YEARS for moment in (draft.starts_at, draft.ends_at,
                                                    draft.deadline)):
        raise ForumError("bad_date")
    if as_utc(draft.ends_at) <= as_utc(draft.starts_at):
        raise ForumError("ends_before_start")
    if as_utc(draft.deadline) > as_utc(draft.starts_at):
        raise ForumError("deadline_after_start")
    if not 1 <= draft.capacity <= MAX_CAPACITY:
        raise ForumError("bad_capacity")


async def create(db: AsyncSession, draft: ForumDraft, by: int | None, now: datetime) -> Forum:
    check_draft(draft)
    if (await db.execute(select(Forum.id).where(Forum.slug == draft.slug))).first():
        raise ForumError("slug_taken")
    forum = Forum(**vars(draft), status=ForumStatus.DRAFT, confirmed_count=0, created_by=by,
                  created_at=now, updated_at=now)
    db.add(forum)
    await db.flush()
    await audit.record(db, by, "forum.create", "forum", forum.id,
                       after=audit.snapshot(forum, FORUM_FIELDS), at=now)
    return forum


async def update_forum(db: AsyncSession, forum: Forum, changes: dict[str, Any], now: datetime,
                       offsets: list[timedelta], by: int | None = None) -> set[str]:
    """Apply changes; people registered hear about a new time or place, reminders move,
    and a larger capacity lets people in from the waiting list."""
    changed = {key for key, value in changes.items() if not _same(getattr(forum, key), value)}
    if not changed:
        return changed
    merged = ForumDraft(**{key: changes.get(key, getattr(forum, key))
                           for key in ForumDraft.__dataclass_fields__})
    check_draft(merged)
    if "capacity" in changed and changes["capacity"] < forum.confirmed_count:
        raise ForumError("capacity_below_confirmed")
    before = audit.snapshot(forum, changed)
    for key in changed:
        setattr(forum, key, changes[key])
    forum.updated_at = now
    await db.flush()
    await audit.record(db, by, "forum.edit", "forum", forum.id, before=before,
                       after=audit.snapshot(forum, changed), at=now)
    if forum.status in LISTED:
        registrations = await _active_of(db, forum.id)
        if changed & {"starts_at", "timezone"}:
            confirmed = [r for r in registrations if r.status == RegistrationStatus.CONFIRMED]
            await _cancel_pending(db, [r.id for r in confirmed], kinds=("before",))
            for registration in confirmed:
                schedule_before(db, registration, forum, now, offsets)
        if changed & ANNOUNCED_FIELDS:
            for registration in registrations:
                db.add(Reminder(registration_id=registration.id, kind="changed", due_at=now))
        if "capacity" in changed:
            await promote(db, forum.id, now, offsets)
    return changed


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, datetime) and isinstance(new, datetime):
        return as_utc(old) == as_utc(new)
    return bool(old == new)


async def set_status(db: AsyncSession, forum: Forum, status: ForumStatus,
                     now: datetime, by: int | None = None) -> None:
    allowed = {ForumStatus.PUBLISHED: (ForumStatus.DRAFT, ForumStatus.CLOSED),
               ForumStatus.CLOSED: (ForumStatus.PUBLISHED,),
               ForumStatus.CANCELLED: (ForumStatus.DRAFT, *LISTED)}
    if forum.status not in allowed.get(status, ()):
        raise ForumError("bad_status")
    previous = forum.status
    forum.status = status
    forum.updated_at = now
    if status == ForumStatus.CANCELLED and previous != ForumStatus.DRAFT:
        registrations = await _active_of(db, forum.id)
        await _cancel_pending(db, [r.id for r in registrations])
        for registration in registrations:
            db.add(Reminder(registration_id=registration.id, kind="cancelled", due_at=now))
    await audit.record(db, by, f"forum.{STATUS_ACTIONS[status]}", "forum", forum.id,
                       before={"status": previous}, after={"status": status}, at=now)
    await db.flush()


# ---- check-in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    outcome: str  # checked_in, already, cancelled, waiting, unknown, elsewhere
    registration: Registration | None = None
    forum: Forum | None = None


async def check_in(db: AsyncSession, secret: str, by: int, now: datetime,
                   forum_id: int | None = None) -> CheckIn:
    """Check a ticket in; with `forum_id`, only a ticket of that forum ("elsewhere")."""
    row = (await db.execute(
        select(Registration, Forum).join(Forum, Forum.id == Registration.forum_id)
        .where(Registration.ticket_secret == secret))).first()
    if row is None:
        return CheckIn("unknown")
    registration, forum = row
    if forum_id is not None and forum.id != forum_id:
        return CheckIn("elsewhere", None, forum)
    if (registration.status == RegistrationStatus.CANCELLED
            or forum.status == ForumStatus.CANCELLED):
        return CheckIn("cancelled", registration, forum)
    if registration.status == RegistrationStatus.WAITING:
        return CheckIn("waiting", registration, forum)
    if registration.checked_in_at is not None:
        return CheckIn("already", registration, forum)
    registration.checked_in_at = registration.updated_at = now
    registration.checked_in_by = by
    await audit.record(db, by, "registration.check_in", "registration", registration.id,
                       before={"checked_in_at": None},
                       after={"checked_in_at": now, "forum": forum.id}, at=now)
    return CheckIn("checked_in", registration, forum)


async def find_attendees(db: AsyncSession, forum_id: int, words: str,
                         limit: int = 10) -> list[Registration]:
    """A forum's registered and waiting people whose name or organization holds `words`,
    however typed (any case, Kazakh letters or not, Cyrillic or Latin: `fold`), for
    the door when someone has no ticket with them."""
    wanted = fold(words).strip()
    if len(wanted) < 2:
        return []
    found = [r for r in await _active_of(db, forum_id)
             if wanted in fold(f"{r.full_name or ''} {r.organization or ''}")]
    return sorted(found, key=lambda r: (r.full_name or "", r.id))[:limit]


async def ticket_of(db: AsyncSession, forum_id: int, registration_id: int) -> str | None:
    """The ticket's secret of a registration of this forum (to check it in by name)."""
    return (await db.execute(select(Registration.ticket_secret).where(
        Registration.id == registration_id, Registration.forum_id == forum_id))
    ).scalar_one_or_none()


# ---- lists and counts --------------------------------------------------------------------


async def counts(db: AsyncSession, forum: Forum) -> dict[str, int]:
    rows = await db.execute(
        select(Registration.status, Registration.checked_in_at.is_not(None), func.count())
        .where(Registration.forum_id == forum.id)
        .group_by(Registration.status, Registration.checked_in_at.is_not(None)))
    tally: Counter[str] = Counter()
    for status, checked, count in rows:
        tally[status] += count
        if checked:
            tally["checked_in"] += count
    return {key: tally.get(key, 0) for key in ("confirmed", "waiting", "cancelled", "checked_in")}


EXPORT_COLUMNS = ("number", "status", "full_name", "country", "city", "organization", "sector",
                  "phone", "email", "registered_at", "checked_in_at", "waiting_position")
# The exports' column headers, translated where they are shown (the bot, the dashboard).
EXPORT_HEADER = {
    "number": N_("No."), "status": N_("Status"), "full_name": N_("Full name"),
    "country": N_("Country"), "city": N_("City"), "organization": N_("Organization"),
    "sector": N_("Sector"), "phone": N_("Phone"), "email": N_("E-mail"),
    "registered_at": N_("Registered"), "checked_in_at": N_("Checked in"),
    "waiting_position": N_("Waiting list position"),
}


async def attendee_rows(db: AsyncSession, forum: Forum) -> list[dict[str, Any]]:
    registrations = list((await db.execute(
        select(Registration).where(Registration.forum_id == forum.id)
        .order_by(Registration.status, Registration.id))).scalars())
    rows: list[dict[str, Any]] = []
    waiting = 0
    zone = ZoneInfo(forum.timezone)
    for number, r in enumerate(registrations, 1):
        if r.status == RegistrationStatus.WAITING:
            waiting += 1

        def stamp(moment: datetime | None) -> str:
            return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

        rows.append({
            "number": number, "status": r.status, "full_name": r.full_name or "",
            "country": r.country or "", "city": r.city or "",
            "organization": r.organization or "", "sector": r.sector or "",
            "phone": r.phone or "", "email": r.email or "",
            "registered_at": stamp(r.created_at), "checked_in_at": stamp(r.checked_in_at),
            "waiting_position": waiting if r.status == RegistrationStatus.WAITING else "",
        })
    return rows


def to_csv(rows: list[dict[str, Any]], header: dict[str, str]) -> bytes:
    """UTF-8 with a BOM, so that Excel opens Kazakh and Russian names correctly. The
    columns are the header's keys, in its order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_safe_row(header, header))
    writer.writerows(_safe_row(row, header) for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: list[dict[str, Any]], header: dict[str, str], title: str) -> bytes:
    """Every text cell is a string cell (never a formula), cleaned as for CSV."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _sheet_title(title)
    for values in (_safe_row(header, header), *(_safe_row(row, header) for row in rows)):
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = TYPE_STRING
    for column in sheet.columns:
        width = max(len(str(cell.value or "")) for cell in column)
        sheet.column_dimensions[column[0].column_letter].width = min(max(width + 2, 8), 50)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# Characters a spreadsheet file cannot hold: control characters but tab, line feed and
# carriage return (a superset of openpyxl's ILLEGAL_CHARACTERS_RE: also DEL and the C1
# controls), lone surrogates and the non-characters U+FFFE and U+FFFF.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# What a spreadsheet reads as the start of a formula (OWASP's "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters Excel refuses in a sheet's name.
_SHEET_NAME_FORBIDDEN = re.compile(r"[\\/?*\[\]:]")


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet cell that is only ever text or a number: characters a
    file cannot hold are dropped, and text a spreadsheet would run as a formula gets a
    leading `'`, so it shows as typed. Numbers stay numbers."""
    if not isinstance(value, str):
        return value
    value = _UNPRINTABLE.sub("", value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def _safe_row(row: dict[str, Any], columns: dict[str, str]) -> list[Any]:
    return [safe_cell(row[column]) for column in columns]


def _sheet_title(title: str) -> str:
    name = _SHEET_NAME_FORBIDDEN.sub(" ", _UNPRINTABLE.sub("", title)).strip()
    return name[:31] or "Attendees"


# ---- privacy -----------------------------------------------------------------------------


async def forget_user(db: AsyncSession, user_id: int, now: datetime,
                      offsets: list[timedelta]) -> None:
    """Cancel the user's registrations (freeing seats) and strip their personal data."""
    registrations = list((await db.execute(
        select(Registration).where(Registration.user_id == user_id))).scalars())
    for registration in registrations:
        await cancel(db, registration, now, offsets)
    for registration in registrations:
        _anonymize(registration)
    await db.flush()


def _anonymize(registration: Registration) -> None:
    for field in DETAIL_FIELDS:
        setattr(registration, field, None)
    registration.user_id = None
    registration.ticket_secret = None


async def purge(db: AsyncSession, now: datetime, after_days: int) -> int:
    """Personal data of forums that ended more than `after_days` ago; counts remain."""
    forums = list((await db.execute(
        select(Forum).where(Forum.ends_at < now - timedelta(days=after_days),
                            Forum.purged_at.is_(None)))).scalars())
    for forum in forums:
        registrations = (await db.execute(
            select(Registration).where(Registration.forum_id == forum.id))).scalars()
        for registration in registrations:
            _anonymize(registration)
        await _cancel_pending(db, [r.id for r in await _active_of(db, forum.id)])
        forum.purged_at = now
    await db.flush()
    return len(forums)


def exported(registration: Registration, forum: Forum) -> dict[str, Any]:
    return {
        "forum": forum.slug, "status": registration.status,
        **{field: getattr(registration, field) for field in DETAIL_FIELDS},
        "registered_at": iso(registration.created_at),
        "checked_in_at": iso(registration.checked_in_at),
    }


async def export_for(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await db.execute(
        select(Registration, Forum).join(Forum, Forum.id == Registration.forum_id)
        .where(Registration.user_id == user_id).order_by(Registration.id))
    return [exported(registration, forum) for registration, forum in rows]


