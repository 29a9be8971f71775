"""What is stored about a user, for `/mydata`; deletion is one DELETE of the user row,
which cascades to everything that belongs to them, after `forget` has stripped the rows
that stay for their counts (forum registrations, announcements' deliveries).

The sections of `/mydata` are the exporters of `EXPORTERS`, in order; a part that keeps
data of its own (a channel) adds its section with `register_exporter` where the app is
built (`bot.app.build_app`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import clock
from bot.db.models import ChatSession, Coordinator, EligibilityCheck, User
from bot.services import broadcasts, forums, handover

Exporter = Callable[[AsyncSession, int], Awaitable[Any]]


async def _profile(db: AsyncSession, user_id: int) -> dict[str, Any]:
    user = await db.get(User, user_id)
    assert user is not None
    coordinator = await db.get(Coordinator, user_id)
    return {
        "channel": user.channel, "id_on_channel": user.external_id,
        "language": user.language, "name": user.display_name,
        "first_seen": clock.iso(user.created_at), "last_seen": clock.iso(user.last_seen_at),
        "unreachable_since": clock.iso(user.unreachable_since),
        "country": user.country, "announcements": user.announcements,
        "coordinator_since": clock.iso(coordinator.created_at) if coordinator else None,
    }


async def _session(db: AsyncSession, user_id: int) -> dict[str, Any] | None:
    session = await db.get(ChatSession, user_id)
    if session is None:
        return None
    return {"step": session.state, "data": session.data, "updated": clock.iso(session.updated_at)}


async def _eligibility(db: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    checks = (await db.execute(
        select(EligibilityCheck).where(EligibilityCheck.user_id == user_id)
        .order_by(EligibilityCheck.id)
    )).scalars()
    return [
        {"status": c.status, "rules_version": c.rules_version, "answers": c.answers,
         "verdict": c.verdict, "country": c.country, "family_members": c.family_size,
         "documents_ready": c.checklist, "started": clock.iso(c.started_at),
         "completed": clock.iso(c.completed_at)}
        for c in checks
    ]


EXPORTERS: dict[str, Exporter] = {
    "profile": _profile,
    "conversation": _session,
    "eligibility_checks": _eligibility,
    "forum_registrations": forums.export_for,
    "announcements": broadcasts.export_for,
    "questions_to_coordinators": handover.export_for,
}


def register_exporter(name: str, exporter: Exporter, *, before: str | None = None) -> None:
    """Add the section `name` to `/mydata` (at the end, or just ahead of the section
    `before`); registering a name again replaces its exporter where it stands."""
    if name in EXPORTERS or before not in EXPORTERS:
        EXPORTERS[name] = exporter
        return
    sections = list(EXPORTERS.items())
    at = [key for key, _ in sections].index(before)
    sections.insert(at, (name, exporter))
    EXPORTERS.clear()
    EXPORTERS.update(sections)


async def export(db: AsyncSession, user_id: int) -> dict[str, Any]:
    return {name: await exporter(db, user_id) for name, exporter in EXPORTERS.items()}


async def forget(db: AsyncSession, user_id: int, offsets: list[timedelta]) -> None:
    """What must happen before the user row goes: seats freed for the next in line,
    personal data stripped from registrations and from announcements' deliveries (the
    anonymous rows keep the counts), announcements not yet sent to them skipped.
    Deleting the user row then cascades to sessions, checks, questions and coordinator
    rights; a channel's own records go with it (WhatsApp: `whatsapp_contacts.forget`)."""
    await forums.forget_user(db, user_id, clock.now(), offsets)
    await broadcasts.forget_user(db, user_id)


def export_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")
