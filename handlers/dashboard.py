"""`/dashboard`: a coordinator gets a one-time link to the coordinators' dashboard (the
web pages under {PUBLIC_BASE_URL}/dashboard/). The link opens one browser session, once,
within DASHBOARD_LINK_MINUTES; only its digest is stored (bot/services/dashboard_auth.py).
In a private chat only: a link in the coordinators' group would be anyone's there."""

from __future__ import annotations

import logging

from bot.clock import now
from bot.core.context import Context
from bot.core.replies import Choice
from bot.core.router import Router
from bot.services import dashboard_auth
from handlers.coordinators import refuse, say, who

log = logging.getLogger(__name__)
router = Router("dashboard")


def sign_in_url(base: str, token: str) -> str:
    return f"{base}signin?token={token}"


@router.command("dashboard")
async def dashboard(ctx: Context) -> None:
    if refuse(ctx):
        return
    settings = ctx.settings
    if not settings.dashboard_enabled:
        say(ctx, ctx._("The dashboard is not switched on for this bot yet."))
        return
    minutes = settings.dashboard_link_minutes
    token = await dashboard_auth.issue_link(ctx.db, ctx.user.id, now(), minutes)
    url = sign_in_url(settings.dashboard_url, token)
    log.info("coordinator %s: a dashboard link", who(ctx))
    words = ctx.ngettext(
        "Your link to the dashboard; it works once, for {minutes} minute:\n{url}",
        "Your link to the dashboard; it works once, for {minutes} minutes:\n{url}",
        minutes).format(minutes=minutes, url=url)
    # Telegram takes link buttons to public https addresses only.
    if url.startswith("https://"):
        say(ctx, words, Choice(ctx._("🖥 Open the dashboard"), "dashboard", url=url))
    else:
        say(ctx, words)
