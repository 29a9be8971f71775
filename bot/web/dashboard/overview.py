"""The overview: the Fund's numbers as charts, each with its table and a CSV file; the
audit log and the coordinators (for the lead coordinators)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import now
from bot.core.i18n import N_, Translator
from bot.core.inbound import whole_number
from bot.db.models import User
from bot.services import audit, coordinators, forums, stats, unanswered
from bot.services.stats import Series
from bot.web.dashboard.access import context, dashboard_of, lead_only, refuse, t_of
from bot.web.dashboard.charts import stacked_bars

# The charts of the overview, in order: a name (its CSV's too), a title, the numbers.
Source = Callable[[AsyncSession, datetime], Awaitable[Series]]


async def _questions(db: AsyncSession, moment: datetime) -> Series:
    return (await stats.questions(db, moment)).per_month


CHARTS: dict[str, tuple[str, Source]] = {
    "users-channel": (N_("New users per month, by channel"),
                      lambda db, m: stats.users(db, "channel", m)),
    "users-language": (N_("New users per month, by language"),
                       lambda db, m: stats.users(db, "language", m)),
    "users-country": (N_("New users per month, by country"),
                      lambda db, m: stats.users(db, "country", m)),
    "checks-verdict": (N_("Eligibility checks per month, by verdict"),
                       lambda db, m: stats.eligibility(db, "verdict", m)),
    "checks-country": (N_("Eligibility checks per month, by country"),
                       lambda db, m: stats.eligibility(db, "country", m)),
    "forums": (N_("Forums: registered, waiting list, arrived"),
               lambda db, m: stats.forums(db, m)),
    "announcements": (N_("Announcements: sent, delivered, read, failed"),
                      lambda db, m: stats.announcements(db)),
    "questions": (N_("Questions to coordinators per month"), _questions),
}


def column_labels(t: Translator) -> dict[str, str]:
    """The words for the columns the charts have (the others are codes: KZ, telegram)."""
    return {"eligible": t._("eligible"), "needs_checking": t._("needs checking"),
            "not_eligible": t._("not eligible"), "confirmed": t._("registered"),
            "waiting": t._("waiting list"), "checked_in": t._("arrived"),
            "sent": t._("sent"), "delivered": t._("delivered"), "read": t._("read"),
            "failed": t._("failed"), "blocked": t._("blocked"), "open": t._("open"),
            "closed": t._("closed"), "other": t._("other"), "?": t._("unknown")}


async def overview(request: web.Request) -> web.StreamResponse:
    board, t = dashboard_of(request), t_of(request)
    labels = column_labels(t)
    moment = now()
    charts = []
    async with board.engine.sessionmaker() as db:
        for name, (title, source) in CHARTS.items():
            series = await source(db, moment)
            charts.append({"name": name, "title": t._(title), "series": series,
                           "svg": stacked_bars(series, t._(title), labels)})
        questions = await stats.questions(db, moment)
        top, _ = await unanswered.most_asked(db, 0, 10)
    return aiohttp_jinja2.render_template("overview.html", request, context(
        request, charts=charts, labels=labels, questions=questions, unanswered=top))


async def chart_csv(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in CHARTS:
        return refuse(request, 404)
    board, t = dashboard_of(request), t_of(request)
    source = CHARTS[name][1]
    async with board.engine.sessionmaker() as db:
        series = await source(db, now())
    labels = column_labels(t)
    header = {"row": t._("Period or item"),
              **{column: labels.get(column, column) for column in series.columns}}
    rows = [{"row": row, **{c: series.value(row, c) for c in series.columns}}
            for row in series.rows]
    return web.Response(body=forums.to_csv(rows, header), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": f'attachment; filename="{name}.csv"'})


def page_number(request: web.Request) -> int:
    return whole_number(request.query.get("page", "0"), low=0, high=100_000) or 0


@lead_only
async def audit_log(request: web.Request) -> web.StreamResponse:
    """Every change coordinators made, the latest first, with who made it."""
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        entries, page = await audit.listing(db, page_number(request), 50)
        ids = {entry.actor_id for entry in entries if entry.actor_id}
        names = {user.id: user.display_name or f"{user.channel}:{user.id}"
                 for user in [await db.get(User, i) for i in ids] if user is not None}
    return aiohttp_jinja2.render_template("audit.html", request, context(
        request, entries=entries, page=page, names=names))


@lead_only
async def coordinator_list(request: web.Request) -> web.StreamResponse:
    """The coordinators and who added them (adding and removing stay in the bot)."""
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        listed = await coordinators.listing(db, board.engine.settings)
    return aiohttp_jinja2.render_template("coordinators.html", request,
                                          context(request, listed=listed))
