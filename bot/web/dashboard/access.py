"""Who is signed in to the dashboard, and what they may do: the session cookie, the
role (bot/services/roles.py, through `dashboard_auth.member`, on every request), the
CSRF token of every form, and the count of failed sign-ins per address."""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot import LANGUAGES, LOCALES
from bot.clock import now
from bot.core.engine import Engine
from bot.core.i18n import N_, Translator
from bot.core.inbound import whole_number
from bot.db.models import DashboardSession
from bot.services import dashboard_auth
from bot.services.dashboard_auth import Member
from bot.web.dashboard.labels import words

COOKIE = "otandas_dashboard"
PREFIX = "/dashboard"
# Pages open without a session: signing in, and the files they use.
PUBLIC = (f"{PREFIX}/signin", f"{PREFIX}/miniapp", f"{PREFIX}/static/")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FailedSignIns:
    """Failed sign-ins per client address: after `limit` within `window` seconds, that
    address is refused until the oldest failure is out of the window. Counting failures
    to refuse (not pacing messages to a platform, `bot.core.ratelimit`'s job), in memory:
    an attacker's guesses of a 256-bit token are hopeless anyway; this stops floods."""

    limit: int = 10
    window: float = 600.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str) -> deque[float]:
        stamps = self._failures.setdefault(address, deque())
        cutoff = time.monotonic() - self.window
        while stamps and stamps[0] < cutoff:
            stamps.popleft()
        return stamps

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self.limit

    def failed(self, address: str) -> None:
        self._recent(address).append(time.monotonic())
        if len(self._failures) > 10_000:  # forget the quiet addresses
            for key in [k for k, v in self._failures.items() if not v][:5_000]:
                del self._failures[key]


@dataclass
class Dashboard:
    """What every page needs: the engine (database, settings, words, notices, senders)."""

    engine: Engine
    failures: FailedSignIns = field(default_factory=FailedSignIns)

    def translator(self, language: str | None) -> Translator:
        return self.engine.translations.get(language, self.engine.settings.default_locale)

    @property
    def secure(self) -> bool:
        return (self.engine.settings.public_base_url or "").startswith("https://")


DASHBOARD = web.AppKey("dashboard", Dashboard)


def dashboard_of(request: web.Request) -> Dashboard:
    return request.config_dict[DASHBOARD]


MEMBER = web.RequestKey("member", Member)
SESSION = web.RequestKey("session", DashboardSession)
WORDS = web.RequestKey("words", Translator)


def member_of(request: web.Request) -> Member:
    return request[MEMBER]


def session_of(request: web.Request) -> DashboardSession:
    return request[SESSION]


def t_of(request: web.Request) -> Translator:
    return request[WORDS]


def number_in(request: web.Request, name: str) -> int | None:
    """A row's number in the address (`/forums/{forum}`), checked like every number."""
    return whole_number(request.match_info.get(name, ""), low=1, high=2**52)


def client_address(request: web.Request) -> str:
    return request.remote or "?"


def language_of(request: web.Request, session: DashboardSession | None) -> str | None:
    """The session's language (a coordinator's language in the bot, Kazakh's Latin and
    tote scripts included), else the browser's."""
    if session is not None and session.language in LOCALES:
        return session.language
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return None


def refuse(request: web.Request, status: int) -> web.Response:
    t = request.get(WORDS)
    words = {403: N_("This is not allowed for your role."), 404: N_("Not found."),
             429: N_("Too many failed sign-ins. Please wait a few minutes.")}
    message = t._(words[status]) if t is not None else words[status]
    return web.Response(status=status, text=message, content_type="text/plain")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every page but signing in needs a session of a coordinator (checked against the
    role now, not when the session was opened), and every POST its CSRF token."""
    path = request.path
    if path != PREFIX and not path.startswith(f"{PREFIX}/"):
        return await handler(request)  # the webhooks, /healthz, /metrics
    board = dashboard_of(request)
    if path == PREFIX or path.startswith(PUBLIC):  # "/dashboard" only sends to ".../"
        request[WORDS] = board.translator(language_of(request, None))
        return protect(await handler(request))
    cookie = request.cookies.get(COOKIE, "")
    async with board.engine.sessionmaker() as db:
        session = await dashboard_auth.session_of(db, cookie, now()) if cookie else None
        found = await dashboard_auth.member(db, session.user_id, board.engine.settings) \
            if session is not None else None
    if session is None or found is None:
        if request.method == "GET":
            raise web.HTTPFound(f"{PREFIX}/signin")
        raise web.HTTPForbidden(text="sign in first")
    request[SESSION], request[MEMBER] = session, found
    request[WORDS] = board.translator(language_of(request, session))
    if request.method == "POST":
        form = await request.post()
        sent = str(form.get("csrf") or request.headers.get("X-CSRF-Token") or "")
        if not sent or not hmac.compare_digest(sent, session.csrf):
            return refuse(request, 403)
    return protect(await handler(request))


# Framed only by the app itself and Telegram's web version (the Mini App); no address
# (a sign-in link's token) leaves in a Referer; pages are not kept in caches.
HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'self' https://web.telegram.org",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def protect(response: web.StreamResponse) -> web.StreamResponse:
    if not response.prepared:
        response.headers.update(HEADERS)
        if "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
    return response


def lead_only(handler: Handler) -> Handler:
    """A page or action for the lead coordinators only (ADMIN_IDS)."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if not member_of(request).lead:
            return refuse(request, 403)
        return await handler(request)

    checked.__doc__ = handler.__doc__
    return checked


def set_cookie(response: web.StreamResponse, board: Dashboard, value: str,
               max_age: int) -> None:
    response.set_cookie(COOKIE, value, max_age=max_age, path=f"{PREFIX}/", httponly=True,
                        secure=board.secure, samesite="Lax")


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What every template gets: the words, the member, the CSRF token, the paths."""
    t = t_of(request)
    session = request.get(SESSION)
    named = words(t)
    return {"_": t._, "ngettext": t.ngettext, "language": t.locale,
            "direction": "rtl" if t.locale == "kk-Arab" else "ltr",
            "member": request.get(MEMBER), "csrf": session.csrf if session else "",
            "base": PREFIX, "path": request.path, "static": static,
            "word": lambda code: named.get(str(code), str(code)), **values}


def static(name: str) -> str:
    return f"{PREFIX}/static/{name}"
