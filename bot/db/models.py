"""SQLAlchemy models. Every change here comes with an alembic revision in migrations/."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.clock import as_utc, now


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC, returned aware in UTC, on SQLite (which keeps no offset) as on
    PostgreSQL. A naive value is taken to be UTC already."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    pass


# Statuses, stored as their string values.


class CheckStatus(StrEnum):
    """An eligibility check: being answered, or finished with a verdict."""

    DRAFT = "draft"
    DONE = "done"


class ForumStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"  # registration open until the deadline
    CLOSED = "closed"  # registration closed by a coordinator
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITING = "waiting"  # on the waiting list
    CANCELLED = "cancelled"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class ThreadStatus(StrEnum):
    """A question to the coordinators."""

    OPEN = "open"
    CLOSED = "closed"


ID_TYPE = BigInteger().with_variant(Integer, "sqlite")
ERROR_LENGTH = 500
OWNER_LENGTH = 64


class QueueColumns:
    """The columns of a table worked as a durable queue (`bot.db.queue`): a mixin."""

    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not before (a retry's backoff); empty: as soon as the row is otherwise ready.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(OWNER_LENGTH), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH), default=None)


class IntentColumns:
    """The columns of a queue row whose work is one message sent at most once
    (`bot.db.queue.Intents`): the intent, written just before the request goes to the
    platform, and the result after it (when, and the platform's id of the message). A row
    claimed again with the intent set and no message id may have gone out already."""

    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    message_id: Mapped[str | None] = mapped_column(String(255), default=None)


class User(Base):
    """A person on one channel (Telegram user id, console user name, ...)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_users_channel_external"),
        # Announcements' audiences are counted (the dashboard's live count) and selected
        # from this index alone, without reading the rows.
        Index("ix_users_audience", "channel", "announcements", "unreachable_since",
              "language", "country"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    display_name: Mapped[str | None] = mapped_column(String(128), default=None)
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    # Announcements (broadcasts) are sent only while this is on; the user can turn it off.
    announcements: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The country the user lives in, as last given (eligibility check or registration).
    country: Mapped[str | None] = mapped_column(String(2), default=None)


class ChatSession(Base):
    """Where a user is in a conversation (state) and what the flow collected so far (data)."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_updated_at", "updated_at"),)

    user_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str | None] = mapped_column(String(64), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    # The newest update (`Event.sequence`) whose step stored this session: an older one
    # arriving late (delivered again, after the user's next one was handled) is not run.
    last_update: Mapped[int | None] = mapped_column(BigInteger, default=None)


class EligibilityCheck(Base):
    """One run of the kandas eligibility questionnaire: a draft while it is being
    answered, then a result with its verdict and the user's document checklist."""

    __tablename__ = "eligibility_checks"
    __table_args__ = (
        Index("ix_eligibility_checks_user_status", "user_id", "status"),
        Index("ix_eligibility_checks_completed_at", "completed_at"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    rules_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))  # CheckStatus
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    path: Mapped[list[str]] = mapped_column(JSON, default=list)
    verdict: Mapped[str | None] = mapped_column(String(16), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    family_size: Mapped[int | None] = mapped_column(Integer, default=None)
    checklist: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


# ---- WhatsApp (revision 0002) -------------------------------------------------------
# Durable webhook inbox, dedupe of Meta's redeliveries, the people behind WhatsApp users
# (business-scoped user id, phone, last inbound time for the 24-hour window), delivery
# records updated by status webhooks, and the pages of long lists.


class InboxStatus(StrEnum):
    NEW = "new"  # pending
    WORKING = "working"  # claimed
    DONE = "done"
    FAILED = "failed"


class WhatsAppInbox(QueueColumns, Base):
    """A signed webhook delivery, stored before Meta gets its 200; processed afterwards.
    A queue row (`bot.channels.whatsapp_inbox_queue`)."""

    __tablename__ = "whatsapp_inbox"
    __table_args__ = (Index("ix_whatsapp_inbox_status", "status", "id"),
                      Index("ix_whatsapp_inbox_sender", "sender", "status"))

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.NEW)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    # Who sent the delivery's message (a digest, telling nothing) and when, by Meta's
    # timestamp: one user's rows are handled one at a time in that order. Emptied once
    # handled; none for a delivery of statuses only.
    sender: Mapped[str | None] = mapped_column(String(32), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WhatsAppProcessed(Base):
    """One row per message id (`m:<wamid>`) or status (`s:<wamid>:<status>`) handled."""

    __tablename__ = "whatsapp_processed"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ID_TYPE)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class HandledUpdate(Base):
    """One row per platform update a step was stored for (`Event.update_id`: a Telegram
    update id, a WhatsApp message id), written in the step's own transaction: an update
    the platform delivers again (its acknowledgement was lost, the process was killed)
    is not handled twice. The key is a SHA-256 digest of channel and id
    (`bot.core.engine.update_key`), so it holds nothing personal. Kept two days;
    Telegram keeps an unconfirmed update for one."""

    __tablename__ = "handled_updates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, index=True)


class WhatsAppContact(Base):
    """How to reach a WhatsApp user: `external_id` is the users.external_id in use
    (the business-scoped user id, or the phone number for users first seen without one)."""

    __tablename__ = "whatsapp_contacts"

    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    wa_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    profile_name: Mapped[str | None] = mapped_column(String(128), default=None)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class WhatsAppDelivery(Base):
    """A message the bot sent, and what Meta's status webhooks said of it."""

    __tablename__ = "whatsapp_deliveries"
    __table_args__ = (Index("ix_whatsapp_deliveries_external", "external_id"),)

    wamid: Mapped[str] = mapped_column(String(255), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error_title: Mapped[str | None] = mapped_column(String(255), default=None)
    # For messages the bot starts: the text, so a 131047 can be retried as a template.
    text: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class WhatsAppMenu(Base):
    """The choices of a user's latest paged list, so that a "more" row can page them."""

    __tablename__ = "whatsapp_menus"

    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


# ---- business forums: forums, registrations, reminders, coordinators -----------------


class Coordinator(Base):
    """A user added as a coordinator by a lead coordinator (ADMIN_IDS)."""

    __tablename__ = "coordinators"

    user_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    added_by: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Forum(Base):
    """A business forum. Times are stored in UTC and shown in `timezone`."""

    __tablename__ = "forums"
    __table_args__ = (Index("ix_forums_status_starts", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    venue: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_language: Mapped[str] = mapped_column(String(8))
    capacity: Mapped[int] = mapped_column(Integer)
    confirmed_count: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=ForumStatus.DRAFT)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_by: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Registration(Base):
    """A person's place at a forum: confirmed, waiting or cancelled."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_forum_status", "forum_id", "status", "id"),
        Index("ix_registrations_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    forum_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("forums.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16))  # RegistrationStatus
    full_name: Mapped[str | None] = mapped_column(String(200), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    city: Mapped[str | None] = mapped_column(String(100), default=None)
    organization: Mapped[str | None] = mapped_column(String(200), default=None)
    sector: Mapped[str | None] = mapped_column(String(32), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ticket_secret: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    checked_in_by: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Reminder(QueueColumns, IntentColumns, Base):
    """A message due to a registered person: a reminder before the start, or a notice
    (promoted from the waiting list, forum changed, forum cancelled). A queue row
    (`bot.services.reminders`), taken once `due_at` has come, sent at most once."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_status_due", "status", "due_at"),
                      # A person's reminders (a status naming its recipient, supersession).
                      Index("ix_reminders_registration", "registration_id"))

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("registrations.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))  # before, promoted, changed, cancelled
    offset_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- announcements (broadcasts) ----------------------------------------------------------


class Broadcast(Base):
    """An announcement: texts per language (or `*` for all), an optional file and link
    button, the audience's filters, and when it goes out."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_scheduled", "status", "scheduled_at"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    created_by: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.DRAFT)
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    attachment_kind: Mapped[str | None] = mapped_column(String(16), default=None)  # photo, document
    attachment_name: Mapped[str | None] = mapped_column(String(200), default=None)
    attachment_mime: Mapped[str | None] = mapped_column(String(100), default=None)
    attachment_data: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    button_labels: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    button_url: Mapped[str | None] = mapped_column(String(500), default=None)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


class BroadcastDelivery(QueueColumns, IntentColumns, Base):
    """One recipient of a broadcast: a queue row (`bot.services.broadcasts`), sent once."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_id", name="uq_broadcast_deliveries_user"),
        Index("ix_broadcast_deliveries_work", "status", "next_attempt_at"),
        Index("ix_broadcast_deliveries_broadcast", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="SET NULL"), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(64), default=None)
    language: Mapped[str] = mapped_column(String(8))
    # The platform's id of the sent message (a wamid), for delivery and read statuses.
    message_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)


# ---- questions to a human (handover) -----------------------------------------------------


class HandoverThread(Base):
    """A user's conversation with the coordinators, open until a coordinator closes it."""

    __tablename__ = "handover_threads"
    __table_args__ = (Index("ix_handover_threads_user_status", "user_id", "status"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    user_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ThreadStatus.OPEN)
    coordinator_id: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_by: Mapped[int | None] = mapped_column(ID_TYPE, default=None)


class HandoverMessage(Base):
    """A message of a thread and its copy in the coordinators' chat: a coordinator's
    reply to that copy finds the thread (and so the user) here, after restarts too."""

    __tablename__ = "handover_messages"
    __table_args__ = (
        UniqueConstraint("group_chat_id", "group_message_id", name="uq_handover_group_message"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    thread_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("handover_threads.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))  # in (from the user), out (an answer)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    attachment_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    group_chat_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    group_message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    author_id: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class UnansweredQuestion(Base):
    """A typed question the knowledge base had no confident answer for: its words (as
    `bot.services.unanswered.key` folds them, so the same question typed again counts
    once), the language of the user who asked, how often and when it was asked first
    and last. Nothing says who asked. Deleted `FAQ_UNANSWERED_DAYS` after it was last
    asked; coordinators read the list with /unanswered."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (UniqueConstraint("language", "key", name="uq_unanswered_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    key: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(300))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_asked: Mapped[datetime] = mapped_column(UTCDateTime())
    last_asked: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DashboardLink(Base):
    """A one-time sign-in link of the coordinators' dashboard: only the SHA-256 digest of
    its token is kept; it opens one session, once, before `expires_at`."""

    __tablename__ = "dashboard_links"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DashboardSession(Base):
    """A browser signed in to the dashboard: the digest of its cookie, its CSRF token,
    whose it is and until when."""

    __tablename__ = "dashboard_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEntry(Base):
    """A change a coordinator made, in the bot or the dashboard: who (`users.id`), what
    (`action`, the kind and id of the thing changed), when, and the fields before and
    after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(ID_TYPE, default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, index=True)
# ---- several processes on one database ---------------------------------------------------


class WorkerLease(Base):
    """A named lease one process holds at a time (`bot.db.leader`): `leader` runs the
    singletons (polling, the webhook's set-up, the periodic jobs)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RateBucket(Base):
    """A token bucket shared by every process (`bot.db.shared_limit`, on PostgreSQL when
    no Redis is configured): times are the database's clock, in seconds."""

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    stamp: Mapped[float] = mapped_column(Float)
    paused_until: Mapped[float] = mapped_column(Float, default=0.0)
    # The pace after 429s (`bot.db.shared_limit.Pace`): a share of the configured rate,
    # the most it climbs back to, and when it starts climbing.
    factor: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    ceiling: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    calm: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
