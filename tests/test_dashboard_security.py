"""The dashboard's doors: every page needs a session opened by a one-time link from the
bot (or a Mini App's signed initData), roles are checked on the server, every form needs
its CSRF token, and failed sign-ins are limited. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import App
from bot.clock import now
from bot.db.models import AuditEntry, User
from bot.services import dashboard_auth
from tests.dashboard_helpers import (
    BOT_TOKEN,
    COORDINATOR,
    LEAD,
    STRANGER,
    app_with_people,
    client_for,
    csrf_of,
    dashboard_app,
    init_data,
    link_from_bot,
    sign_in,
)


@pytest.fixture
async def board(database_url: str) -> AsyncIterator[App]:
    async with app_with_people(database_url) as built:
        yield built


@pytest.fixture
async def client(board: App) -> AsyncIterator[TestClient]:
    made = await client_for(board)
    try:
        yield made
    finally:
        await made.close()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: "csv" if m.group(1) == "kind"
                  else ("forums" if m.group(1) == "name" else "1"), path)


async def test_every_page_without_a_session_goes_to_sign_in(client: TestClient) -> None:
    routes = [(route.method, concrete(route.resource.canonical))
              for route in client.server.app.router.routes()
              if route.resource is not None
              and route.resource.canonical.startswith("/dashboard/")
              and not route.resource.canonical.startswith(("/dashboard/signin",
                                                           "/dashboard/miniapp",
                                                           "/dashboard/static"))
              and route.method in ("GET", "POST")]
    assert len(routes) > 25
    for method, path in routes:
        response = await client.request(method, path, allow_redirects=False)
        if method == "GET":
            assert response.status == 302, path
            assert response.headers["Location"] == "/dashboard/signin", path
        else:
            assert response.status == 403, path


async def test_a_link_from_the_bot_signs_in_once(board: App, client: TestClient) -> None:
    token = await link_from_bot(board, LEAD)
    assert await sign_in(client, token) == 302
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    assert "otandas_dashboard" in cookie
    page = await client.get("/dashboard/")
    assert page.status == 200 and "<svg" in await page.text()
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors" in page.headers["Content-Security-Policy"]
    bare = await client.get("/dashboard", allow_redirects=False)  # the cookie's path is /dashboard/
    assert bare.status == 302 and bare.headers["Location"] == "/dashboard/"
    client.session.cookie_jar.clear()
    assert await sign_in(client, token) == 403  # used already
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_the_session_cookie_is_httponly_and_samesite(client: TestClient,
                                                           board: App) -> None:
    response = await client.post("/dashboard/signin",
                                 data={"token": await link_from_bot(board, LEAD)},
                                 allow_redirects=False)
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/dashboard/" in header
    assert "Secure" not in header  # PUBLIC_BASE_URL is http here


async def test_an_expired_or_unknown_link_is_refused(board: App, client: TestClient) -> None:
    async with board.engine.sessionmaker() as db, db.begin():
        lead = await dashboard_auth.member(db, board.people["lead"], board.settings)  # type: ignore[attr-defined]
        assert lead is not None
        old = await dashboard_auth.issue_link(db, lead.user.id, now() - timedelta(hours=1),
                                              board.settings.dashboard_link_minutes)
    assert await sign_in(client, old) == 403
    assert await sign_in(client, "not-a-token") == 403
    assert await sign_in(client, "") == 403


async def test_a_link_of_someone_no_longer_a_coordinator_is_refused(
        board: App, client: TestClient) -> None:
    token = await link_from_bot(board, COORDINATOR, channel="telegram")
    replies = await __import__("tests.conftest", fromlist=["Chat"]).Chat(
        board, LEAD, channel="console", language_hint="en").text(
        f"/removecoordinator {COORDINATOR}")
    assert replies
    assert await sign_in(client, token) == 403
    async with board.engine.sessionmaker() as db:  # the change is in the audit log
        entry = (await db.execute(select(AuditEntry).where(
            AuditEntry.action == "coordinator.remove"))).scalar_one()
    assert entry.actor_id == board.people["lead"]  # type: ignore[attr-defined]
    assert entry.subject_id == board.people["coordinator"]  # type: ignore[attr-defined]


async def test_someone_else_gets_no_link(board: App) -> None:
    from tests.conftest import Chat

    replies = await Chat(board, STRANGER, channel="telegram", language_hint="en").text(
        "/dashboard")
    assert "/dashboard/signin" not in "\n".join(reply.text for reply in replies)
    async with board.engine.sessionmaker() as db:
        assert (await db.execute(__import__("sqlalchemy").text(
            "SELECT count(*) FROM dashboard_links"))).scalar_one() == 0


async def test_a_coordinator_is_refused_a_lead_page(board: App, client: TestClient) -> None:
    assert await sign_in(client, await link_from_bot(board, COORDINATOR, "telegram")) == 302
    assert (await client.get("/dashboard/forums")).status == 200
    assert (await client.get("/dashboard/audit")).status == 403
    assert (await client.get("/dashboard/coordinators")).status == 403
    assert "/dashboard/audit" not in await (await client.get("/dashboard/forums")).text()


async def test_a_lead_sees_the_lead_pages(board: App, client: TestClient) -> None:
    assert await sign_in(client, await link_from_bot(board, LEAD)) == 302
    assert (await client.get("/dashboard/audit")).status == 200
    page = await client.get("/dashboard/coordinators")
    assert page.status == 200 and "Aigerim" in await page.text()


async def test_a_form_without_its_csrf_token_is_refused(board: App, client: TestClient) -> None:
    assert await sign_in(client, await link_from_bot(board, LEAD)) == 302
    csrf = await csrf_of(client)
    assert (await client.post("/dashboard/language", data={"language": "ru"},
                              allow_redirects=False)).status == 403
    assert (await client.post("/dashboard/language", data={"language": "ru", "csrf": "x" * 43},
                              allow_redirects=False)).status == 403
    assert (await client.post("/dashboard/forums/new", data={"title_en": "x"},
                              allow_redirects=False)).status == 403
    response = await client.post("/dashboard/language", data={"language": "ru", "csrf": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    assert "Форумы" in await (await client.get("/dashboard/forums")).text()


async def test_signing_out_ends_the_session(board: App, client: TestClient) -> None:
    assert await sign_in(client, await link_from_bot(board, LEAD)) == 302
    csrf = await csrf_of(client)
    cookies = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))
    value = cookies["otandas_dashboard"].value
    assert (await client.post("/dashboard/signout", data={"csrf": csrf},
                              allow_redirects=False)).status == 302
    client.session.cookie_jar.update_cookies({"otandas_dashboard": value},
                                             client.make_url("/dashboard/"))
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_an_expired_session_is_refused(board: App, client: TestClient) -> None:
    async with board.engine.sessionmaker() as db, db.begin():
        opened = await dashboard_auth.open_session(
            db, board.people["lead"], now() - timedelta(hours=13), 12, "en")  # type: ignore[attr-defined]
    client.session.cookie_jar.update_cookies({"otandas_dashboard": opened.cookie},
                                             client.make_url("/dashboard/"))
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


async def test_mini_app_init_data_signs_a_coordinator_in(board: App,
                                                         client: TestClient) -> None:
    good = init_data(int(COORDINATOR), now())
    response = await client.post("/dashboard/miniapp", data={"init_data": good},
                                 allow_redirects=False)
    assert response.status == 302
    assert (await client.get("/dashboard/questions")).status == 200


@pytest.mark.parametrize("case", ["forged", "other_token", "stale", "changed", "stranger",
                                  "empty"])
async def test_forged_or_stale_init_data_is_refused(board: App, client: TestClient,
                                                    case: str) -> None:
    data = {
        "forged": init_data(int(COORDINATOR), now())[:-4] + "0000",
        "other_token": init_data(int(COORDINATOR), now(), token="654321:other"),
        "stale": init_data(int(COORDINATOR), now() - timedelta(hours=2)),
        "changed": init_data(int(COORDINATOR), now()).replace("first_name", "first_nam"),
        "stranger": init_data(int(STRANGER), now()),
        "empty": "",
    }[case]
    response = await client.post("/dashboard/miniapp", data={"init_data": data},
                                 allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/dashboard/", allow_redirects=False)).status == 302


def test_init_data_check_follows_telegram() -> None:
    moment = now()
    assert dashboard_auth.check_init_data(init_data(42, moment), BOT_TOKEN, moment) == 42
    assert dashboard_auth.check_init_data(init_data(42, moment), "1:x", moment) is None
    assert dashboard_auth.check_init_data("a=1&a=2", BOT_TOKEN, moment) is None
    assert dashboard_auth.check_init_data("%%%", BOT_TOKEN, moment) is None


async def test_failed_sign_ins_are_limited(board: App, client: TestClient) -> None:
    for _ in range(10):
        assert await sign_in(client, "wrong") == 403
    assert await sign_in(client, await link_from_bot(board, LEAD)) == 429


async def test_ids_in_urls_do_not_open_other_pages(board: App, client: TestClient) -> None:
    assert await sign_in(client, await link_from_bot(board, COORDINATOR, "telegram")) == 302
    for path in ("/dashboard/forums/999", "/dashboard/questions/999",
                 "/dashboard/announcements/999", "/dashboard/charts/nothing.csv"):
        assert (await client.get(path)).status == 404, path
    assert (await client.get("/dashboard/audit?page=3")).status == 403


async def test_the_dashboard_is_off_without_public_base_url(database_url: str) -> None:
    app = await dashboard_app(database_url, public_base_url="")
    client = await client_for(app)
    try:
        assert (await client.get("/dashboard/", allow_redirects=False)).status == 404
        assert (await client.get("/healthz")).status == 200
        from tests.conftest import Chat

        replies = await Chat(app, LEAD, channel="console", language_hint="en").text(
            "/dashboard")
        assert "signin" not in "\n".join(reply.text for reply in replies)
    finally:
        await client.close()
        await app.close()


async def test_other_routes_are_untouched(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.post("/telegram/webhook", data=b"{}")).status == 401


async def test_the_link_is_a_button_on_https_only(database_url: str) -> None:
    from tests.conftest import Chat

    for base, button in (("http://127.0.0.1:8080", False), ("https://bot.example.org", True)):
        app = await dashboard_app(database_url, public_base_url=base)
        try:
            lead = Chat(app, LEAD, channel="console", language_hint="en")
            await lead.text("/start")
            replies = await lead.text("/dashboard")
            urls = [choice.url for reply in replies for choice in reply.flat_choices
                    if choice.url]
            assert f"{base}/dashboard/signin?token=" in replies[0].text
            assert bool(urls) is button
            assert all(url.startswith(f"{base}/dashboard/signin?token=") for url in urls)
        finally:
            await app.close()


async def test_a_coordinator_reading_tote_gets_the_dashboard_in_tote(
        board: App, client: TestClient) -> None:
    async with board.engine.sessionmaker() as db, db.begin():
        user = await db.get(User, board.people["coordinator"])  # type: ignore[attr-defined]
        assert user is not None
        user.language = "kk-Arab"
    assert await sign_in(client, await link_from_bot(board, COORDINATOR, "telegram")) == 302
    page = await (await client.get("/dashboard/forums")).text()
    assert 'dir="rtl"' in page and board.translations["kk-Arab"]._("Forums") in page
