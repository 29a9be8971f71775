"""The overview: the Fund's numbers as charts, each with its table and a CSV file; the
audit log and the coordinators (for the lead coordinators)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import now
from bot.core.engine import Engine
from bot.core.i18n import N_
from bot.core.inbound import whole_number
from bot.db.models import UnansweredQuestion, User
from bot.services import audit, coordinators, forums, stats, unanswered
from bot.services.stats import Series
from bot.web.dashboard.access import context, dashboard_of, lead_only, refuse, t_of
from bot.web.dashboard.charts import stacked_bars
from bot.web.dashboard.labels import words

log = logging.getLogger(__name__)

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


@dataclass
class Figures:
    """The overview's numbers, counted at `at`."""

    series: dict[str, Series]
    questions: stats.Questions
    unanswered: list[UnansweredQuestion]
    at: datetime


async def count_figures(engine: Engine) -> Figures:
    moment = now()
    async with engine.sessionmaker() as db:
        series = {name: await source(db, moment) for name, (_, source) in CHARTS.items()}
        questions = await stats.questions(db, moment)
        top, _ = await unanswered.most_asked(db, 0, 10)
    return Figures(series, questions, top, moment)


@dataclass
class FiguresCache:
    """The overview's numbers are counted over whole tables (hundreds of thousands of
    rows): once, then again in the background when a page asks for numbers older than
    `ttl`, so a page never waits for the count but the first one after the start. The
    page says when they were counted."""

    ttl: timedelta = timedelta(seconds=60)
    figures: Figures | None = None
    _refreshing: asyncio.Task[None] | None = field(default=None, repr=False)

    async def get(self, engine: Engine) -> Figures:
        if self.figures is None:
            self.figures = await count_figures(engine)
        elif now() - self.figures.at > self.ttl and (
                self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh(engine))
        return self.figures

    async def stop(self) -> None:
        """A count still running when the server stops is abandoned."""
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing

    async def _refresh(self, engine: Engine) -> None:
        try:
            self.figures = await count_figures(engine)
        except Exception:
            log.exception("dashboard: the overview's numbers could not be counted")


FIGURES = web.AppKey("figures", FiguresCache)


async def figures_of(request: web.Request) -> Figures:
    return await request.config_dict[FIGURES].get(dashboard_of(request).engine)


async def overview(request: web.Request) -> web.StreamResponse:
    t = t_of(request)
    labels = words(t)
    figures = await figures_of(request)
    charts = [{"name": name, "title": t._(title), "series": figures.series[name],
               "svg": stacked_bars(figures.series[name], t._(title), labels)}
              for name, (title, _) in CHARTS.items()]
    return aiohttp_jinja2.render_template("overview.html", request, context(
        request, charts=charts, labels=labels, questions=figures.questions,
        unanswered=figures.unanswered, counted_at=figures.at.strftime("%Y-%m-%d %H:%M")))


async def chart_csv(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in CHARTS:
        return refuse(request, 404)
    t = t_of(request)
    series = (await figures_of(request)).series[name]
    labels = words(t)
    header = {"row": t._("Period or item"),
              **{column: labels.get(column, column) for column in series.columns}}
    rows = [{"row": row, **{c: series.value(row, c) for c in series.columns}}
            for row in series.rows]
    return web.Response(body=forums.to_csv(rows, header), content_type="text/csv",
                        charset="utf-8", headers={
                            "Content-Disposition": f'attachment; filename="{name}.csv"'})


def page_number(request: web.Request) -> int:
    return whole_number(request.query.get("page", "0"), low=0, high=100_000) or 0


# The kinds of things the audit log can be narrowed to, with their words.
SUBJECTS = {"forum": N_("Forums"), "registration": N_("Check-in at the door"),
            "broadcast": N_("Announcements"), "question": N_("Questions"),
            "user": N_("Coordinators")}


@lead_only
async def audit_log(request: web.Request) -> web.StreamResponse:
    """Every change coordinators made, the latest first, with who made it."""
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        subject = request.query.get("subject", "")
        subject = subject if subject in SUBJECTS else ""
        entries, page = await audit.listing(db, page_number(request), 50, subject or None)
        ids = {entry.actor_id for entry in entries if entry.actor_id}
        names = {user.id: user.display_name or f"{user.channel}:{user.id}"
                 for user in [await db.get(User, i) for i in ids] if user is not None}
    return aiohttp_jinja2.render_template("audit.html", request, context(
        request, entries=entries, page=page, names=names, subject=subject,
        subjects=SUBJECTS))


@lead_only
async def coordinator_list(request: web.Request) -> web.StreamResponse:
    """The coordinators and who added them (adding and removing stay in the bot)."""
    board = dashboard_of(request)
    async with board.engine.sessionmaker() as db:
        listed = await coordinators.listing(db, board.engine.settings)
    return aiohttp_jinja2.render_template("coordinators.html", request,
                                          context(request, listed=listed))
