"""Builds the parts every command needs: database, content, words, the flow engine."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.whatsapp_contacts import export_for as whatsapp_export
from bot.config import Settings
from bot.content import Content, load_content
from bot.core.engine import Engine
from bot.core.events import Identity
from bot.core.i18n import Translations
from bot.db.engine import create_engine, migrate, session_factory
from bot.services import privacy, roles
from handlers import get_router


@dataclass
class App:
    settings: Settings
    db: AsyncEngine
    content: Content
    translations: Translations
    engine: Engine

    async def close(self) -> None:
        await self.db.dispose()


async def build_app(settings: Settings, *, apply_migrations: bool = True) -> App:
    """Load and check content and catalogs (a problem stops here), then migrate."""
    # What WhatsApp keeps is in `/mydata` whether or not WhatsApp is configured now.
    privacy.register_exporter("whatsapp", whatsapp_export, before="questions_to_coordinators")
    content = load_content()
    translations = Translations()
    db = create_engine(settings.database_url)
    if apply_migrations:
        await migrate(db)

    def is_coordinator(identity: Identity, listed: bool) -> bool:
        return roles.is_coordinator(identity, settings, listed=listed)

    engine = Engine(get_router(), session_factory(db), settings, content, translations,
                    is_coordinator=is_coordinator)
    return App(settings, db, content, translations, engine)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
