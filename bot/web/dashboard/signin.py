"""Signing in and out: the one-time link from the bot's `/dashboard`, the Telegram Mini
App's `initData`, and signing out. A link is opened by a form the page sends itself
(a POST), so a messenger's link preview, which only GETs, cannot use it up."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web

from bot.clock import now
from bot.services import dashboard_auth
from bot.web.dashboard.access import (
    COOKIE,
    PREFIX,
    Dashboard,
    client_address,
    context,
    dashboard_of,
    refuse,
    session_of,
    set_cookie,
)

log = logging.getLogger(__name__)


async def signin_page(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")[:dashboard_auth.TOKEN_LIMIT]
    return aiohttp_jinja2.render_template("signin.html", request,
                                          context(request, token=token, failed=False))


async def _opened(board: Dashboard, user_id: int) -> web.StreamResponse | None:
    """A new session for a coordinator (None when they are no coordinator now)."""
    settings = board.engine.settings
    async with board.engine.sessionmaker() as db, db.begin():
        found = await dashboard_auth.member(db, user_id, settings)
        if found is None:
            return None
        opened = await dashboard_auth.open_session(db, user_id, now(),
                                                   settings.dashboard_session_hours,
                                                   found.user.language)
    log.info("dashboard: user %s signed in", user_id)
    response = web.Response(status=302, headers={"Location": f"{PREFIX}/"})
    set_cookie(response, board, opened.cookie, settings.dashboard_session_hours * 3600)
    return response


def _failed(request: web.Request, board: Dashboard) -> web.StreamResponse:
    board.failures.failed(client_address(request))
    log.warning("dashboard: a refused sign-in")
    return aiohttp_jinja2.render_template("signin.html", request,
                                          context(request, token="", failed=True), status=403)


async def signin(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    if board.failures.blocked(client_address(request)):
        return refuse(request, 429)
    form = await request.post()
    token = str(form.get("token") or "")
    async with board.engine.sessionmaker() as db, db.begin():
        user_id = await dashboard_auth.redeem(db, token, now())
    response = await _opened(board, user_id) if user_id is not None else None
    return response if response is not None else _failed(request, board)


async def miniapp(request: web.Request) -> web.StreamResponse:
    """The Mini App's page posts Telegram's `initData`: signed with the bot token."""
    board = dashboard_of(request)
    if board.failures.blocked(client_address(request)):
        return refuse(request, 429)
    settings = board.engine.settings
    form = await request.post()
    telegram_id = dashboard_auth.check_init_data(
        str(form.get("init_data") or ""), settings.bot_token.get_secret_value(), now()) \
        if settings.bot_token is not None else None
    found = None
    if telegram_id is not None:
        async with board.engine.sessionmaker() as db:
            found = await dashboard_auth.telegram_member(db, telegram_id, settings)
    response = await _opened(board, found.user.id) if found is not None else None
    return response if response is not None else _failed(request, board)


async def signout(request: web.Request) -> web.StreamResponse:
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db, db.begin():
        await dashboard_auth.close_session(db, request.cookies.get(COOKIE, ""))
    log.info("dashboard: user %s signed out", session_of(request).user_id)
    response = web.Response(status=302, headers={"Location": f"{PREFIX}/signin"})
    response.del_cookie(COOKIE, path=f"{PREFIX}/")
    return response
