"""Builds the parts every command needs: database, content, words, the flow engine."""

from __future__ import annotations

import gc
import logging
import sys
import traceback
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.whatsapp_contacts import export_for as whatsapp_export
from bot.config import Settings
from bot.content import Content, load_content
from bot.core.engine import Engine
from bot.core.events import Identity
from bot.core.i18n import Translations
from bot.core.ratelimit import SharedBudget
from bot.db.engine import create_engine, migrate, session_factory
from bot.db.shared_limit import budget_for
from bot.services import privacy, roles
from bot.services.knowledge import KnowledgeBase
from handlers import get_router


@dataclass
class App:
    settings: Settings
    db: AsyncEngine
    content: Content
    translations: Translations
    engine: Engine
    # The platforms' rate limits shared with the other processes (None: SQLite).
    budget: SharedBudget | None = None

    @staticmethod
    def settle() -> None:
        """Once a serving process has started: what it loaded to serve (content, catalogs,
        the typed questions' index, the libraries' own tables, some 300,000 objects) is
        kept out of the garbage collector's full passes (`gc.freeze`), which would
        otherwise walk all of it every few thousand updates and hold every conversation
        for that long (hundreds of milliseconds on a busy machine). What the steps make
        and drop is collected as before."""
        gc.collect()
        gc.freeze()

    @staticmethod
    def unsettle() -> None:
        """When serving stops: the collector looks at everything again (a process that
        goes on, as a test's does, has its garbage collected)."""
        gc.unfreeze()

    async def close(self) -> None:
        close = getattr(self.budget, "close", None)
        if close is not None:
            await close()
        await self.db.dispose()


async def build_app(settings: Settings, *, apply_migrations: bool = True) -> App:
    """Load and check content and catalogs (a problem stops here), then migrate."""
    # What WhatsApp keeps is in `/mydata` whether or not WhatsApp is configured now.
    privacy.register_exporter("whatsapp", whatsapp_export, before="questions_to_coordinators")
    content = load_content()
    # the typed questions' index, built now, not at the first one
    KnowledgeBase.of(content, meaning=settings.faq_sentence_model)
    translations = Translations()
    db = create_engine(settings.database_url)
    if apply_migrations:
        await migrate(db)

    def is_coordinator(identity: Identity, listed: bool) -> bool:
        return roles.is_coordinator(identity, settings, listed=listed)

    engine = Engine(get_router(), session_factory(db), settings, content, translations,
                    is_coordinator=is_coordinator)
    return App(settings, db, content, translations, engine,
               budget_for(settings.redis_url, db))


def database_safe_traceback(error: BaseException) -> str:
    """The traceback of `error`, with a database error as SQLAlchemy words it (the
    statement, its values hidden: `hide_parameters`) and without the driver's exception
    beneath it, whose text may quote the values (asyncpg adds PostgreSQL's
    "DETAIL: Key (…)=(…)")."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        if isinstance(current, DBAPIError):
            break
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    parts: list[str] = []
    for inner, outer in zip(reversed(chain), [*reversed(chain[:-1]), None], strict=True):
        parts += traceback.format_exception(inner, chain=False)
        if outer is not None:
            parts.append(_CAUSE if outer.__cause__ is inner else _CONTEXT)
    return "".join(parts).rstrip("\n")


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


class DatabaseSafeTracebacks(logging.Filter):
    """A record's traceback written by `database_safe_traceback`, for either format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = database_safe_traceback(record.exc_info[1])
            record.exc_info = None
        return True


def setup_logging(settings: Settings) -> None:
    """One handler on stderr, text or JSON. Log lines carry internal ids (users.id), never
    a name, phone number, e-mail or a platform's id of a user; the libraries' loggers
    that would (at DEBUG) are kept quieter."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(DatabaseSafeTracebacks())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Personal data stays out of the log at any LOG_LEVEL: aiosqlite's DEBUG lines hold
    # each statement with its values, and SQLAlchemy's INFO lines are its statements.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
