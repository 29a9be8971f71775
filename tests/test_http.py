"""The HTTP server: health, metrics, the Telegram webhook without configuration, and
`python -m bot run` without any channel."""

from __future__ import annotations

import os
import subprocess
import sys

from aiohttp.test_utils import TestClient, TestServer

from bot import PROJECT_DIR
from bot.app import App
from bot.db.engine import create_engine
from bot.web.app import make_web_app
from tests.conftest import Chat


async def client_for(app_db, telegram=None) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(TestServer(make_web_app(app_db, telegram)))
    await client.start_server()
    return client


async def test_healthz_reports_the_database(app: App) -> None:
    client = await client_for(app.db)
    try:
        response = await client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "ok", "database": "ok"}
    finally:
        await client.close()


async def test_healthz_is_503_when_the_database_is_down() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    client = await client_for(engine)
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "unreachable"
    finally:
        await client.close()
        await engine.dispose()


async def test_metrics_count_updates_and_handling_time(app: App) -> None:
    await Chat(app, "metrics", language_hint="en").text("/start")
    client = await client_for(app.db)
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.content_type == "text/plain"
        body = await response.text()
        assert 'bot_updates_total{channel="test",kind="command"}' in body
        assert 'bot_handling_seconds_count{channel="test"}' in body
        assert "bot_errors_total" in body
    finally:
        await client.close()


async def test_telegram_webhook_refuses_everything_without_telegram(app: App) -> None:
    client = await client_for(app.db)
    try:
        response = await client.post("/telegram/webhook", json={"update_id": 1},
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        assert response.status == 401
    finally:
        await client.close()


def test_run_without_a_channel_explains_and_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("BOT_", "TELEGRAM_", "WHATSAPP_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    result = subprocess.run([sys.executable, "-m", "bot", "run"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2
    assert "BOT_TOKEN" in result.stderr


def test_webhook_mode_without_secret_is_a_configuration_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "BOT_TOKEN": "1:x", "TELEGRAM_MODE": "webhook",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"}
    env.pop("TELEGRAM_WEBHOOK_SECRET", None)
    result = subprocess.run([sys.executable, "-m", "bot", "run"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in result.stderr


def test_migrate_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"}
    result = subprocess.run([sys.executable, "-m", "bot", "migrate"], capture_output=True,
                            text=True, cwd=PROJECT_DIR, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.db").exists()


def test_run_with_an_unreachable_bot_api_says_so_and_exits_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "BOT_TOKEN": "123:wrong", "TELEGRAM_API_URL": "http://127.0.0.1:9",
           "HTTP_PORT": "0", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"}
    result = subprocess.run([sys.executable, "-m", "bot", "run"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 1
    assert "telegram: could not start" in result.stderr
    assert "Traceback" not in result.stderr
