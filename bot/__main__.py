"""Command line: `python -m bot run | chat | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot import LOCALES
from bot.config import Settings
from bot.content import ContentError

if TYPE_CHECKING:
    from aiohttp.web import AppRunner

    from bot.app import App

log = logging.getLogger("bot")

NO_CHANNEL = """No channel is configured, so there is nothing to serve.
Set BOT_TOKEN (a token from @BotFather) to serve Telegram, or WHATSAPP_TOKEN,
WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN to serve
WhatsApp, or run `python -m bot chat` to talk to the bot in this terminal.
See .env.example for every variable."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve every configured channel, HTTP and the scheduler")
    chat = commands.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--user", default="local", help="who you are in the terminal")
    chat.add_argument("--lang", choices=LOCALES, help="skip the language question")
    commands.add_parser("migrate", help="alembic upgrade head on DATABASE_URL")
    forums = commands.add_parser("forums", help="coordinators' forum tools")
    forum_commands = forums.add_subparsers(dest="forum_command", required=True)
    importing = forum_commands.add_parser("import", help="create or update forums from YAML")
    importing.add_argument("file", help="a YAML file with a list under `forums:`")
    return parser.parse_args(argv)


async def _chat(settings: Settings, user: str, language: str | None) -> int:
    from bot.app import build_app
    from bot.channels.console import ConsoleChannel

    app = await build_app(settings)
    web_runner = await _dashboard_for_chat(app) if settings.dashboard_enabled else None
    try:
        await ConsoleChannel(app.engine, user, language=language).run()
    finally:
        if web_runner is not None:
            await web_runner.cleanup()
        await app.close()
    return 0


async def _dashboard_for_chat(app: App) -> AppRunner | None:
    """Dev mode: with PUBLIC_BASE_URL set, the terminal chat serves the coordinators'
    dashboard too, so a local lead coordinator (ADMIN_IDS=1, `--user 1`) types
    /dashboard and opens the link printed here."""
    from aiohttp import web

    from bot.web.app import make_web_app

    settings = app.settings
    runner = web.AppRunner(make_web_app(app.db, None, None, app.engine), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as error:
        await runner.cleanup()
        print(f"dashboard: could not listen on {settings.http_host}:{settings.http_port}: "
              f"{error}", file=sys.stderr)
        return None
    print(f"dashboard: {settings.dashboard_url} (type /dashboard for a sign-in link)\n",
          file=sys.stderr)
    return runner


def _stop_starting(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


async def _run(settings: Settings) -> int:
    from bot.app import build_app
    from bot.runner import serve

    if not settings.telegram_enabled and not settings.whatsapp_enabled:
        if not sys.stdin.isatty():
            print(NO_CHANNEL, file=sys.stderr)
            return 2
        print(NO_CHANNEL.splitlines()[0] + " Starting the terminal chat.\n", file=sys.stderr)
        return await _chat(settings, "local", None)
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from bot.db.engine import MigrationFailed, migrate_in_child
    from bot.db.leader import AlreadyRunning

    try:
        await migrate_in_child(settings.database_url)
    except MigrationFailed as error:
        print(f"could not apply the migrations:\n{error}", file=sys.stderr)
        return 1
    app = await build_app(settings, apply_migrations=False)
    try:
        await serve(app)
    except (TelegramAPIError, TelegramNetworkError) as error:
        # A wrong token, or no way to reach the Bot API: say so instead of a traceback.
        print(f"telegram: could not start: {error}", file=sys.stderr)
        return 1
    except AlreadyRunning as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    finally:
        await app.close()
    return 0


async def _import_forums(settings: Settings, file: str) -> int:
    """Exit 3 when the file cannot be imported (the message names the file, the forum
    and the field); nothing is changed then."""
    from pathlib import Path

    from bot import clock
    from bot.db.engine import create_engine, migrate, session_factory
    from bot.services import forum_import

    try:
        items = forum_import.read(Path(file))
    except forum_import.ImportError_ as error:
        print(f"import error: {error}", file=sys.stderr)
        return 3
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        async with session_factory(engine)() as db, db.begin():
            done = await forum_import.apply(db, items, clock.now(), settings.reminder_offsets)
    except forum_import.ImportError_ as error:
        print(f"import error: {file}: {error}", file=sys.stderr)
        return 3
    finally:
        await engine.dispose()
    for slug, outcome in done:
        print(f"{slug}: {outcome}")
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.db.engine import create_engine, migrate

    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("database is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parse(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"configuration error:\n{error}", file=sys.stderr)
        return 2
    problems = settings.problems()
    if problems:
        print("configuration error:\n" + "\n".join(problems), file=sys.stderr)
        return 2
    from bot.app import setup_logging

    setup_logging(settings)
    if arguments.command == "chat":
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        if arguments.command == "run":
            # SIGTERM before the server is up (migrations, start-up): nothing is taken
            # yet, so stop at once and cleanly; once serving, `serve` handles it.
            signal.signal(signal.SIGTERM, _stop_starting)
            return asyncio.run(_run(settings))
        if arguments.command == "chat":
            return asyncio.run(_chat(settings, arguments.user, arguments.lang))
        if arguments.command == "forums":
            return asyncio.run(_import_forums(settings, arguments.file))
        return asyncio.run(_migrate(settings))
    except ContentError as error:
        print(f"content error:\n{error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
