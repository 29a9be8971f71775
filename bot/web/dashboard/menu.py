"""The dashboard as a Telegram Mini App: a menu button beside the message field of every
coordinator's private chat with the bot opens it (Telegram allows Mini Apps on https
addresses only). The page it opens signs in with Telegram's signed `initData`."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import MenuButtonWebApp, WebAppInfo

from bot.core.engine import Engine
from bot.services import coordinators

log = logging.getLogger(__name__)


async def set_menu_buttons(bot: Bot, engine: Engine) -> int:
    """The "Dashboard" menu button for each coordinator on Telegram; how many were set."""
    settings = engine.settings
    if not settings.dashboard_enabled or not settings.dashboard_url.startswith("https://"):
        return 0
    async with engine.sessionmaker() as db:
        listed = await coordinators.listing(db, settings)
        languages = {entry.telegram_id: user.language for entry in listed
                     if (user := await coordinators.telegram_user(db, entry.telegram_id))}
    done = 0
    for entry in listed:
        t = engine.translations.get(languages.get(entry.telegram_id), settings.default_locale)
        button = MenuButtonWebApp(text=t._("Dashboard"),
                                  web_app=WebAppInfo(url=f"{settings.dashboard_url}signin"))
        try:
            await bot.set_chat_menu_button(chat_id=entry.telegram_id, menu_button=button)
            done += 1
        except TelegramAPIError as error:  # never wrote to the bot, or blocked it
            log.info("dashboard: no menu button for a coordinator: %s", type(error).__name__)
    return done
