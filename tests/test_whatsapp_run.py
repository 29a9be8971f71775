"""`python -m bot run` with only WhatsApp configured: it serves, verifies, answers
signed deliveries through the Graph API, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from aiohttp import ClientSession

from tests.fakes.graph_api import FakeGraphAPI, WhatsAppUser, encode, sign

SECRET = "run-app-secret"
VERIFY = "run-verify-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_serves_whatsapp_alone(tmp_path: Path) -> None:
    async with FakeGraphAPI() as api:
        port = free_port()
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("WHATSAPP_", "BOT_TOKEN", "TELEGRAM_"))
        }
        env.update({
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
            "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port),
            "WHATSAPP_TOKEN": api.token, "WHATSAPP_PHONE_NUMBER_ID": api.phone_number_id,
            "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY,
            "WHATSAPP_API_URL": api.url, "WHATSAPP_API_VERSION": api.version,
        })
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with ClientSession() as http:
                # Up to a minute to start: the process imports aiogram (all of its
                # models are built at import), slow on a busy machine.
                for _ in range(1200):
                    try:
                        async with http.get(f"{base}/healthz") as response:
                            if response.status == 200:
                                break
                    except OSError:
                        pass
                    if process.returncode is not None:
                        break
                    await asyncio.sleep(0.05)
                assert process.returncode is None, \
                    await process.stderr.read()  # type: ignore[union-attr]
                async with http.get(f"{base}/whatsapp/webhook", params={
                    "hub.mode": "subscribe", "hub.verify_token": VERIFY,
                    "hub.challenge": "42"}) as response:
                    assert response.status == 200 and await response.text() == "42"
                user = WhatsAppUser("77010001122", "KZ.5000000000000000001", "Дәулет")
                body = encode(user.text("Сәлем"))
                async with http.post(f"{base}/whatsapp/webhook", data=body, headers={
                    "X-Hub-Signature-256": sign(body, "wrong")}) as response:
                    assert response.status == 401
                async with http.post(f"{base}/whatsapp/webhook", data=body, headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign(body, SECRET)}) as response:
                    assert response.status == 200
                sent = await api.wait_messages(user.recipient, 1, seconds=10)
                assert {"lang:kk", "lang:ru", "lang:en"} <= {c[0] for c in sent[0].choices}
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 20)
        assert code == 0
        assert api.violations == []
