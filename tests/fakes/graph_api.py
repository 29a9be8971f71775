"""A fake WhatsApp Cloud API (Graph API) server for end-to-end tests.

It listens on 127.0.0.1 (a free port), answers `POST {url}/v{version}/{phone}/messages`
and `/media` with the real response shapes, and checks every outgoing payload against
WhatsApp's limits. A check that fails answers 400 with a Graph-like error (code 100)
*and* is recorded in `violations`, which tests assert to be empty.

    async with FakeGraphAPI() as api:
        settings = ...(whatsapp_api_url=api.url, whatsapp_token=api.token, ...)
        mark = api.mark()
        ...
        sent = await api.wait_messages("77011234567", 2, since=mark)

Errors can be scripted: `fail_next(code, status, times)` for the next requests, and
`closed_window` (a set of recipients) answers 131047 to anything but templates, as
Meta does outside the 24-hour customer service window.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TEXT_LIMIT = 4096
BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LIMIT = 20
SECTION_TITLE_LIMIT = 24


@dataclass
class Sent:
    """One accepted outgoing message."""

    wamid: str
    recipient: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.perf_counter)

    @property
    def type(self) -> str:
        return str(self.payload.get("type"))

    @property
    def interactive(self) -> dict[str, Any]:
        return dict(self.payload.get("interactive") or {})

    @property
    def body(self) -> str:
        if self.type == "text":
            return str(self.payload["text"]["body"])
        if self.type == "interactive":
            return str(self.interactive["body"]["text"])
        return ""

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(id, title) of the reply buttons or list rows."""
        action = self.interactive.get("action") or {}
        if self.interactive.get("type") == "button":
            return [(b["reply"]["id"], b["reply"]["title"]) for b in action["buttons"]]
        if self.interactive.get("type") == "list":
            return [(r["id"], r["title"]) for s in action["sections"] for r in s["rows"]]
        return []


def check_message(body: dict[str, Any]) -> list[str]:
    """What WhatsApp would refuse in a /messages payload."""
    problems: list[str] = []
    if body.get("messaging_product") != "whatsapp":
        problems.append("messaging_product must be whatsapp")
    if not body.get("to") and not body.get("recipient"):
        problems.append("no recipient: `to` or `recipient` is required")
    kind = body.get("type")
    if kind == "text":
        text = (body.get("text") or {}).get("body") or ""
        if not text.strip():
            problems.append("empty text")
        if len(text) > TEXT_LIMIT:
            problems.append(f"text longer than {TEXT_LIMIT}: {len(text)}")
    elif kind == "interactive":
        problems += _check_interactive(body.get("interactive") or {})
    elif kind == "template":
        template = body.get("template") or {}
        if not template.get("name") or not (template.get("language") or {}).get("code"):
            problems.append("template needs name and language.code")
        for component in template.get("components") or []:
            for parameter in component.get("parameters") or []:
                text = parameter.get("text")
                if text is not None and ("\n" in text or "\t" in text or "     " in text):
                    problems.append("template parameter with newline, tab or 5 spaces")
    elif kind in ("document", "image"):
        media = body.get(kind) or {}
        if not media.get("id") and not media.get("link"):
            problems.append(f"{kind} needs id or link")
        if len(media.get("caption") or "") > BODY_LIMIT:
            problems.append(f"{kind} caption longer than {BODY_LIMIT}")
    else:
        problems.append(f"unknown type {kind!r}")
    return problems


def _check_interactive(interactive: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    text = (interactive.get("body") or {}).get("text") or ""
    if not text.strip():
        problems.append("interactive body is empty")
    if len(text) > BODY_LIMIT:
        problems.append(f"interactive body longer than {BODY_LIMIT}: {len(text)}")
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= MAX_BUTTONS:
            problems.append(f"{len(buttons)} reply buttons")
        titles = [(b.get("reply") or {}).get("title") or "" for b in buttons]
        ids = [(b.get("reply") or {}).get("id") or "" for b in buttons]
        if len(set(titles)) != len(titles):
            problems.append(f"button titles not unique: {titles}")
        if len(set(ids)) != len(ids):
            problems.append(f"button ids not unique: {ids}")
        for title in titles:
            if not title.strip() or len(title) > BUTTON_TITLE_LIMIT:
                problems.append(f"button title {title!r} empty or over {BUTTON_TITLE_LIMIT}")
        for button_id in ids:
            if not button_id or len(button_id) > BUTTON_ID_LIMIT:
                problems.append(f"button id {button_id!r} empty or too long")
    elif interactive.get("type") == "list":
        button = action.get("button") or ""
        if not button.strip() or len(button) > LIST_BUTTON_LIMIT:
            problems.append(f"list button {button!r} empty or over {LIST_BUTTON_LIMIT}")
        sections = action.get("sections") or []
        rows = [row for section in sections for row in section.get("rows") or []]
        if not 1 <= len(rows) <= MAX_ROWS:
            problems.append(f"{len(rows)} list rows")
        if len(sections) > 1 and any(not s.get("title") for s in sections):
            problems.append("several sections need titles")
        for section in sections:
            if len(section.get("title") or "") > SECTION_TITLE_LIMIT:
                problems.append("section title too long")
        ids = [row.get("id") or "" for row in rows]
        if len(set(ids)) != len(ids):
            problems.append(f"row ids not unique: {ids}")
        for row in rows:
            title = row.get("title") or ""
            if not title.strip() or len(title) > ROW_TITLE_LIMIT:
                problems.append(f"row title {title!r} empty or over {ROW_TITLE_LIMIT}")
            if len(row.get("description") or "") > ROW_DESCRIPTION_LIMIT:
                problems.append(f"row description over {ROW_DESCRIPTION_LIMIT}")
            if not row.get("id") or len(row["id"]) > ROW_ID_LIMIT:
                problems.append(f"row id {row.get('id')!r} empty or over {ROW_ID_LIMIT}")
    else:
        problems.append(f"unknown interactive type {interactive.get('type')!r}")
    return problems


class FakeGraphAPI:
    def __init__(self, token: str = "test-token", phone_number_id: str = "1234567890",
                 version: str = "23.0") -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.sent: list[Sent] = []
        self.requests: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.closed_window: set[str] = set()
        # Files users sent (media id -> content, MIME type), for GET /{media id}.
        self.user_media: dict[str, tuple[bytes, str]] = {}
        self._failures: deque[tuple[int, int]] = deque()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeGraphAPI:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        prefix = f"/v{self.version}/{self.phone_number_id}"
        app.router.add_post(f"{prefix}/messages", self._messages)
        app.router.add_post(f"{prefix}/media", self._media)
        app.router.add_get(f"/v{self.version}/{{media_id}}", self._media_url)
        app.router.add_get("/download/{media_id}", self._media_download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- scripting ------------------------------------------------------------------

    def fail_next(self, code: int, status: int = 400, times: int = 1) -> None:
        for _ in range(times):
            self._failures.append((code, status))

    def mark(self) -> int:
        return len(self.sent)

    def messages_to(self, recipient: str, since: int = 0) -> list[Sent]:
        return [s for s in self.sent[since:] if s.recipient == recipient]

    async def wait_messages(self, recipient: str, count: int, since: int = 0,
                            seconds: float = 10.0) -> list[Sent]:
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: len(self.messages_to(recipient, since)) >= count)

        try:
            await asyncio.wait_for(enough(), seconds)
        except TimeoutError:
            got = [(s.type, s.body[:60]) for s in self.messages_to(recipient, since)]
            raise AssertionError(f"expected {count} messages to {recipient}, got {got}") \
                from None
        return self.messages_to(recipient, since)

    # ---- handlers -------------------------------------------------------------------

    def _error(self, code: int, message: str, status: int = 400) -> web.Response:
        return web.json_response(
            {"error": {"message": message, "type": "OAuthException", "code": code,
                       "error_data": {"messaging_product": "whatsapp", "details": message},
                       "fbtrace_id": "FAKE"}},
            status=status,
        )

    async def _messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(190, "Invalid OAuth access token", 401)
        try:
            body = await request.json()
        except ValueError:
            self.violations.append("body is not JSON")
            return self._error(100, "Invalid JSON")
        self.requests.append(body)
        if self._failures:
            code, status = self._failures.popleft()
            return self._error(code, f"scripted failure {code}", status)
        problems = check_message(body)
        if problems:
            self.violations += problems
            return self._error(100, "(#100) Invalid parameter: " + "; ".join(problems))
        recipient = str(body.get("to") or body.get("recipient"))
        if recipient in self.closed_window and body.get("type") != "template":
            return self._error(131047, "Re-engagement message")
        wamid = f"wamid.FAKE{next(self._ids):08d}"
        async with self._changed:
            self.sent.append(Sent(wamid, recipient, body))
            self._changed.notify_all()
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": recipient, "wa_id": recipient}],
            "messages": [{"id": wamid}],
        })

    async def _media(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(190, "Invalid OAuth access token", 401)
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or upload is None \
                or not hasattr(upload, "file"):
            self.violations.append("media upload needs messaging_product and file")
            return self._error(100, "Invalid media upload")
        data = upload.file.read()
        media_id = f"media{next(self._ids)}"
        self.media.append({"id": media_id, "type": form.get("type"),
                           "filename": upload.filename, "size": len(data)})
        return web.json_response({"id": media_id})


    async def _media_url(self, request: web.Request) -> web.Response:
        """GET /{media id}: where to download a file a user sent (a short-lived URL)."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(190, "Invalid OAuth access token", 401)
        media_id = request.match_info["media_id"]
        if media_id not in self.user_media:
            return self._error(100, "Unsupported get request", 400)
        data, mime = self.user_media[media_id]
        return web.json_response({"messaging_product": "whatsapp", "id": media_id,
                                  "url": f"{self.url}/download/{media_id}", "mime_type": mime,
                                  "sha256": "fake", "file_size": len(data)})

    async def _media_download(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401)
        media = self.user_media.get(request.match_info["media_id"])
        if media is None:
            return web.Response(status=404)
        return web.Response(body=media[0], content_type=media[1])


# ---- Meta's side of the webhook: payloads and signatures --------------------------------

_wamids = itertools.count(1)


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` header Meta sends."""
    import hashlib
    import hmac

    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    """Serialized as Meta does: non-ASCII characters escaped as \\uXXXX."""
    import json

    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


def webhook(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{
            "field": "messages",
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "15550001234",
                                   "phone_number_id": "1234567890"},
                      **value},
        }]}],
    }


@dataclass
class WhatsAppUser:
    """Builds the deliveries one user's actions cause."""

    wa_id: str | None
    user_id: str | None
    name: str = "Test"

    @property
    def recipient(self) -> str:
        return str(self.wa_id or self.user_id)

    def _contact(self) -> dict[str, Any]:
        contact: dict[str, Any] = {"profile": {"name": self.name}}
        if self.wa_id:
            contact["wa_id"] = self.wa_id
        if self.user_id:
            contact["user_id"] = self.user_id
        return contact

    def message(self, kind: str, wamid: str | None = None, **body: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": wamid or f"wamid.TEST{next(_wamids):010d}",
            "timestamp": str(int(time.time())),
            "type": kind, **body,
        }
        if self.wa_id:
            message["from"] = self.wa_id
        if self.user_id:
            message["from_user_id"] = self.user_id
        return message

    def delivery(self, *messages: dict[str, Any]) -> dict[str, Any]:
        return webhook({"contacts": [self._contact()], "messages": list(messages)})

    def text(self, text: str, wamid: str | None = None) -> dict[str, Any]:
        return self.delivery(self.message("text", wamid, text={"body": text}))

    def button(self, button_id: str, title: str = "x") -> dict[str, Any]:
        return self.delivery(self.message("interactive", interactive={
            "type": "button_reply", "button_reply": {"id": button_id, "title": title}}))

    def list_pick(self, row_id: str, title: str = "x") -> dict[str, Any]:
        return self.delivery(self.message("interactive", interactive={
            "type": "list_reply", "list_reply": {"id": row_id, "title": title}}))

    def choose(self, sent: Sent, row_id: str) -> dict[str, Any]:
        """Press a button or pick a row of an interactive message the bot sent."""
        titles = dict(sent.choices)
        assert row_id in titles, f"{row_id!r} not offered: {sent.choices}"
        if sent.interactive.get("type") == "button":
            return self.button(row_id, titles[row_id])
        return self.list_pick(row_id, titles[row_id])

    def image(self, media_id: str, caption: str | None = None) -> dict[str, Any]:
        image: dict[str, Any] = {"id": media_id, "mime_type": "image/jpeg", "sha256": "x"}
        if caption:
            image["caption"] = caption
        return self.delivery(self.message("image", image=image))

    def document(self, media_id: str, filename: str, caption: str | None = None
                 ) -> dict[str, Any]:
        document: dict[str, Any] = {"id": media_id, "filename": filename,
                                    "mime_type": "application/pdf", "sha256": "x"}
        if caption:
            document["caption"] = caption
        return self.delivery(self.message("document", document=document))

    def template_button(self, payload: str, text: str = "Menu") -> dict[str, Any]:
        return self.delivery(self.message("button", button={"payload": payload, "text": text}))
