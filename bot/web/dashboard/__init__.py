"""The coordinators' dashboard: pages under /dashboard/ of the bot's own HTTP server,
on when PUBLIC_BASE_URL is set. Jinja2 templates (bot/web/templates), the interface
words from the bot's gettext catalogs, CSS and a little JavaScript from the app's own
files (bot/web/static); every page and action checks the session, the role and the
CSRF token (`access.guard`), and changes go through the same services the flows use."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot import LANGUAGES
from bot.core.engine import Engine
from bot.web.dashboard import (
    announce_pages,
    forum_pages,
    overview,
    question_pages,
    signin,
)
from bot.web.dashboard.access import DASHBOARD, PREFIX, Dashboard, guard, session_of

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"


def setup_dashboard(app: web.Application, engine: Engine) -> Dashboard:
    """Add the dashboard's routes to the bot's aiohttp application."""
    board = Dashboard(engine)
    app[DASHBOARD] = board
    figures = app[overview.FIGURES] = overview.FiguresCache()

    async def stop_counting(_app: web.Application) -> None:
        await figures.stop()

    app.on_cleanup.append(stop_counting)
    app.middlewares.append(guard)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES),
                         autoescape=jinja2.select_autoescape(["html"]),
                         undefined=jinja2.StrictUndefined)
    get, post = app.router.add_get, app.router.add_post
    app.router.add_static(f"{PREFIX}/static/", STATIC, append_version=True)
    get(f"{PREFIX}/signin", signin.signin_page)
    post(f"{PREFIX}/signin", signin.signin)
    post(f"{PREFIX}/miniapp", signin.miniapp)
    post(f"{PREFIX}/signout", signin.signout)
    post(f"{PREFIX}/language", language)
    get(f"{PREFIX}", home)
    get(f"{PREFIX}/", overview.overview)
    get(r"/dashboard/charts/{name:[a-z-]+}.csv", overview.chart_csv)
    get(f"{PREFIX}/audit", overview.audit_log)
    get(f"{PREFIX}/coordinators", overview.coordinator_list)
    get(f"{PREFIX}/forums", forum_pages.forum_list)
    get(f"{PREFIX}/forums/new", forum_pages.new_forum)
    post(f"{PREFIX}/forums/new", forum_pages.new_forum)
    get(r"/dashboard/forums/{forum:\d+}", forum_pages.forum_page)
    get(r"/dashboard/forums/{forum:\d+}/edit", forum_pages.edit_forum)
    post(r"/dashboard/forums/{forum:\d+}/edit", forum_pages.edit_forum)
    post(r"/dashboard/forums/{forum:\d+}/status", forum_pages.forum_status)
    get(r"/dashboard/forums/{forum:\d+}/attendees.{kind:csv|xlsx}", forum_pages.export)
    get(r"/dashboard/forums/{forum:\d+}/checkin", forum_pages.checkin_page)
    post(r"/dashboard/forums/{forum:\d+}/checkin", forum_pages.checkin)
    get(r"/dashboard/forums/{forum:\d+}/arrivals", forum_pages.arrivals)
    get(r"/dashboard/forums/{forum:\d+}/people", forum_pages.attendee_search)
    get(f"{PREFIX}/announcements", announce_pages.announcement_list)
    get(f"{PREFIX}/announcements/new", announce_pages.compose)
    post(f"{PREFIX}/announcements/new", announce_pages.compose)
    get(f"{PREFIX}/announcements/count", announce_pages.audience_count)
    get(r"/dashboard/announcements/{broadcast:\d+}", announce_pages.announcement_page)
    post(r"/dashboard/announcements/{broadcast:\d+}/cancel", announce_pages.cancel)
    get(f"{PREFIX}/questions", question_pages.inbox)
    get(r"/dashboard/questions/{thread:\d+}", question_pages.question)
    post(r"/dashboard/questions/{thread:\d+}/answer", question_pages.answer)
    post(r"/dashboard/questions/{thread:\d+}/assign", question_pages.assign)
    post(r"/dashboard/questions/{thread:\d+}/close", question_pages.close)
    return board


async def home(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(f"{PREFIX}/")


async def language(request: web.Request) -> web.StreamResponse:
    """The dashboard's language for this session: kk, ru or en."""
    form = await request.post()
    chosen = str(form.get("language") or "")
    if chosen in LANGUAGES:
        board = request.config_dict[DASHBOARD]
        async with board.engine.sessionmaker() as db, db.begin():
            row = await db.merge(session_of(request))
            row.language = chosen
    back = str(form.get("back") or f"{PREFIX}/")
    raise web.HTTPSeeOther(back if back.startswith(f"{PREFIX}/") and "//" not in back
                           else f"{PREFIX}/")
