"""Questions to a human: a user's thread with the coordinators, its messages, and the
copies of those messages in the coordinators' Telegram chat.

A thread is `open` until a coordinator closes it; a user has at most one open thread.
Every message copied to the coordinators' chat (and every answer written there) is a
`handover_messages` row keyed by (chat, message id), so a reply to any of them finds
the thread, and so the user, after restarts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.core.events import InboundFile
from bot.db.models import HandoverMessage, HandoverThread, ThreadStatus, User
from bot.services import audit


def available(settings: Settings) -> bool:
    """Questions need the coordinators' chat, which is on Telegram."""
    return settings.coordinator_chat_id is not None and settings.telegram_enabled


@dataclass(frozen=True)
class ThreadInfo:
    thread: HandoverThread
    user: User
    messages: int


async def current(db: AsyncSession, user_id: int) -> HandoverThread | None:
    """The user's open thread, if any."""
    return (await db.execute(
        select(HandoverThread).where(HandoverThread.user_id == user_id,
                                     HandoverThread.status == ThreadStatus.OPEN)
        .order_by(HandoverThread.id.desc()).limit(1)
    )).scalar_one_or_none()


async def open_thread(db: AsyncSession, user_id: int, now: datetime
                      ) -> tuple[HandoverThread, bool]:
    """The user's open thread, or a new one; True when it was created now."""
    thread = await current(db, user_id)
    if thread is not None:
        return thread, False
    thread = HandoverThread(user_id=user_id, status=ThreadStatus.OPEN, created_at=now,
                            updated_at=now)
    db.add(thread)
    await db.flush()
    return thread, True


async def get_thread(db: AsyncSession, thread_id: int) -> HandoverThread | None:
    return await db.get(HandoverThread, thread_id)


async def add_message(db: AsyncSession, thread: HandoverThread, direction: str, *,
                      text: str | None, attachment_kind: str | None, author_id: int | None,
                      now: datetime, group_chat_id: int | None = None,
                      group_message_id: int | None = None) -> HandoverMessage:
    message = HandoverMessage(thread_id=thread.id, direction=direction, text=text,
                              attachment_kind=attachment_kind, author_id=author_id,
                              group_chat_id=group_chat_id, group_message_id=group_message_id,
                              created_at=now)
    db.add(message)
    thread.updated_at = now
    await db.flush()
    return message


async def claim_copy(db: AsyncSession, message_id: int, chat_id: int) -> bool:
    """Take a user's message to copy it into the coordinators' chat: True for exactly one
    taker (the relay after the step, or the sweep of `uncopied`), so no copy is doubled.
    A claimed message has the chat and no message id until the copy is sent."""
    result = await db.execute(
        update(HandoverMessage)
        .where(HandoverMessage.id == message_id, HandoverMessage.group_chat_id.is_(None),
               HandoverMessage.group_message_id.is_(None))
        .values(group_chat_id=chat_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release_copy(db: AsyncSession, message_id: int) -> None:
    """The copy could not be sent: leave the message to the next sweep."""
    await db.execute(update(HandoverMessage).where(HandoverMessage.id == message_id,
                                                   HandoverMessage.group_message_id.is_(None))
                     .values(group_chat_id=None))


async def set_copy(db: AsyncSession, message_id: int, chat_id: int, group_message_id: int
                   ) -> None:
    """Where the copy of a user's message landed in the coordinators' chat."""
    await db.execute(update(HandoverMessage).where(HandoverMessage.id == message_id)
                     .values(group_chat_id=chat_id, group_message_id=group_message_id))


async def uncopied(db: AsyncSession, since: datetime, until: datetime,
                   limit: int = 50) -> list[int]:
    """Users' messages stored between `since` and `until` and not in the coordinators'
    chat: the process stopped between storing one and copying it, or the copy failed."""
    return list((await db.execute(
        select(HandoverMessage.id)
        .where(HandoverMessage.direction == "in", HandoverMessage.group_chat_id.is_(None),
               HandoverMessage.group_message_id.is_(None), HandoverMessage.created_at >= since,
               HandoverMessage.created_at <= until)
        .order_by(HandoverMessage.id).limit(limit)
    )).scalars())


async def by_copy(db: AsyncSession, chat_id: int, group_message_id: int
                  ) -> HandoverThread | None:
    """The thread of a message in the coordinators' chat (a copy or an answer)."""
    return (await db.execute(
        select(HandoverThread).join(HandoverMessage,
                                    HandoverMessage.thread_id == HandoverThread.id)
        .where(HandoverMessage.group_chat_id == chat_id,
               HandoverMessage.group_message_id == group_message_id)
    )).scalar_one_or_none()


async def latest_copy(db: AsyncSession, thread_id: int, chat_id: int) -> int | None:
    """The newest message of the thread in the coordinators' chat: follow-ups reply to it."""
    return (await db.execute(
        select(HandoverMessage.group_message_id)
        .where(HandoverMessage.thread_id == thread_id,
               HandoverMessage.group_chat_id == chat_id,
               HandoverMessage.group_message_id.is_not(None))
        .order_by(HandoverMessage.id.desc()).limit(1)
    )).scalar_one_or_none()


async def copies(db: AsyncSession, thread_id: int, chat_id: int) -> list[int]:
    """The copies of the thread's users' messages in the coordinators' chat (each with a
    "Close" button until the thread is closed)."""
    return [copy for copy in (await db.execute(
        select(HandoverMessage.group_message_id)
        .where(HandoverMessage.thread_id == thread_id, HandoverMessage.direction == "in",
               HandoverMessage.group_chat_id == chat_id,
               HandoverMessage.group_message_id.is_not(None))
        .order_by(HandoverMessage.id)
    )).scalars() if copy is not None]


async def close(db: AsyncSession, thread_id: int, by: int | None, now: datetime
                ) -> HandoverThread | None:
    """Close an open thread; None when it was not open (closed already, or unknown).
    A conditional UPDATE, so two coordinators closing at once tell the user once."""
    result = await db.execute(
        update(HandoverThread)
        .where(HandoverThread.id == thread_id, HandoverThread.status == ThreadStatus.OPEN)
        .values(status=ThreadStatus.CLOSED, closed_at=now, closed_by=by, updated_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await audit.record(db, by, "question.close", "question", thread_id,
                       before={"status": ThreadStatus.OPEN},
                       after={"status": ThreadStatus.CLOSED}, at=now)
    thread = await db.get(HandoverThread, thread_id)
    if thread is not None:
        await db.refresh(thread)
    return thread


async def answered(db: AsyncSession, thread: HandoverThread, coordinator_id: int | None,
                   now: datetime) -> None:
    thread.coordinator_id = coordinator_id
    thread.updated_at = now
    await audit.record(db, coordinator_id, "question.answer", "question", thread.id, at=now)


async def assign(db: AsyncSession, thread: HandoverThread, coordinator_id: int | None,
                 by: int | None, now: datetime) -> None:
    """The coordinator who takes care of a question (None: nobody)."""
    before = {"coordinator_id": thread.coordinator_id}
    thread.coordinator_id = coordinator_id
    thread.updated_at = now
    await audit.record(db, by, "question.assign", "question", thread.id, before=before,
                       after={"coordinator_id": coordinator_id}, at=now)


async def open_threads(db: AsyncSession, limit: int = 50,
                       status: ThreadStatus = ThreadStatus.OPEN) -> list[ThreadInfo]:
    """Open threads, oldest first, with their user and number of messages; with
    `status=CLOSED` the closed ones, the latest first."""
    counts = (select(HandoverMessage.thread_id, func.count().label("n"))
              .group_by(HandoverMessage.thread_id).subquery())
    rows = (await db.execute(
        select(HandoverThread, User, func.coalesce(counts.c.n, 0))
        .join(User, User.id == HandoverThread.user_id)
        .outerjoin(counts, counts.c.thread_id == HandoverThread.id)
        .where(HandoverThread.status == status)
        .order_by(*((HandoverThread.created_at, HandoverThread.id)
                    if status == ThreadStatus.OPEN
                    else (HandoverThread.closed_at.desc(), HandoverThread.id.desc())))
        .limit(limit)
    )).all()
    return [ThreadInfo(thread, user, int(count)) for thread, user, count in rows]


async def history(db: AsyncSession, thread_id: int
                  ) -> tuple[HandoverThread, User, list[HandoverMessage]] | None:
    thread = await db.get(HandoverThread, thread_id)
    if thread is None:
        return None
    user = await db.get(User, thread.user_id)
    if user is None:
        return None
    messages = list((await db.execute(
        select(HandoverMessage).where(HandoverMessage.thread_id == thread_id)
        .order_by(HandoverMessage.id)
    )).scalars())
    return thread, user, messages


async def thread_ids_of(db: AsyncSession, user_id: int) -> list[int]:
    return list((await db.execute(
        select(HandoverThread.id).where(HandoverThread.user_id == user_id)
        .order_by(HandoverThread.id)
    )).scalars())


# ---- signals from the flows to the coordinators' desk (`Engine.subscribe`) -------------


@dataclass(frozen=True)
class Relay:
    """A user's message, stored in a thread: copy it to the coordinators' chat."""

    message_id: int
    thread_id: int
    new_thread: bool
    file: InboundFile | None = None


@dataclass(frozen=True)
class Closed:
    """A coordinator closed a thread (in the coordinators' chat or a private chat): the
    chat is told, and the thread's "Close" buttons go."""

    thread_id: int
    by_name: str | None


async def export_for(db: AsyncSession, user_id: int) -> list[dict[str, object]]:
    """The user's questions and the answers, for `/mydata` (an exporter of
    `bot.services.privacy.EXPORTERS`); `/forgetme` deletes them with the user row."""
    threads = (await db.execute(select(HandoverThread).where(HandoverThread.user_id == user_id)
                                .order_by(HandoverThread.id))).scalars().all()
    result: list[dict[str, object]] = []
    for thread in threads:
        messages = (await db.execute(select(HandoverMessage)
                                     .where(HandoverMessage.thread_id == thread.id)
                                     .order_by(HandoverMessage.id))).scalars().all()
        result.append({
            "number": thread.id, "status": thread.status,
            "asked": thread.created_at.isoformat(),
            "closed": thread.closed_at.isoformat() if thread.closed_at else None,
            "messages": [{"from": "you" if m.direction == "in" else "coordinator",
                          "text": m.text, "attachment": m.attachment_kind,
                          "at": m.created_at.isoformat()} for m in messages],
        })
    return result
