"""The aiohttp application served by `python -m bot run`, in polling mode too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import database_ok

if TYPE_CHECKING:
    # The WhatsApp channel and the dashboard (Jinja2 and its pages) are loaded only by
    # a deployment that uses them (where they are set up).
    from bot.channels.telegram import TelegramChannel
    from bot.channels.whatsapp import WhatsAppChannel
    from bot.core.engine import Engine

DB_KEY = web.AppKey("db", AsyncEngine)


async def healthz(request: web.Request) -> web.Response:
    healthy = await database_ok(request.app[DB_KEY])
    body = {"status": "ok" if healthy else "unavailable",
            "database": "ok" if healthy else "unreachable"}
    return web.json_response(body, status=200 if healthy else 503)


async def metrics_endpoint(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


async def telegram_unconfigured(_request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "error": "unauthorized"}, status=401)


async def whatsapp_unconfigured_post(_request: web.Request) -> web.Response:
    return web.json_response({"ok": False, "error": "whatsapp is not configured"}, status=401)


async def whatsapp_unconfigured_get(_request: web.Request) -> web.Response:
    return web.Response(status=403, text="whatsapp is not configured")


def make_web_app(db: AsyncEngine, telegram: TelegramChannel | None,
                 whatsapp: WhatsAppChannel | None = None,
                 engine: Engine | None = None) -> web.Application:
    """The bot's HTTP server; with `engine` and PUBLIC_BASE_URL set, the coordinators'
    dashboard under /dashboard/ too."""
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[DB_KEY] = db
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_post(
        "/telegram/webhook", telegram.webhook if telegram else telegram_unconfigured
    )
    app.router.add_get("/whatsapp/webhook",
                       whatsapp.verify if whatsapp else whatsapp_unconfigured_get)
    app.router.add_post("/whatsapp/webhook",
                        whatsapp.webhook if whatsapp else whatsapp_unconfigured_post)
    if engine is not None and engine.settings.dashboard_enabled:
        from bot.web.dashboard import setup_dashboard

        setup_dashboard(app, engine)
    return app
