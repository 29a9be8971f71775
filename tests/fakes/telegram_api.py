"""A fake Telegram Bot API server for end-to-end tests.

It listens on 127.0.0.1 (a free port), answers at `{url}/bot{token}/{method}` with the
real response shapes, and checks every outgoing payload the way Telegram does. Every
check that fails answers 400 with a Telegram-like description *and* is recorded in
`violations`, which tests assert to be empty.

    async with FakeTelegramAPI() as api:
        settings = ...(telegram_api_url=api.url, bot_token=api.token)
        mark = api.mark()
        await api.send_text(42, "/start", language_code="ru")
        replies = await api.wait_replies(42, since=mark)
        await api.press(42, replies[-1].buttons[0]["text"])

Polling bots get the injected updates from `getUpdates` (long polling with `timeout`
and `offset`); once a webhook is set, injected updates are POSTed to it with the
secret token, as Telegram does: the injecting call returns when the bot has answered
the POST, an update the bot did not take (an answer other than 200) is delivered again
(up to `REDELIVERIES` times; with `redeliver_for` set, like Telegram, for that many
seconds, also when the bot cannot be reached), and a method given in the reply is
carried out. `redeliver(update)` delivers an update again as Telegram does when its
acknowledgement was lost.

Differences from Telegram, on purpose: `setWebhook` accepts http:// URLs (the bot under
test listens on 127.0.0.1), and there is no rate limiting unless `fail_next` asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout, web

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
CALLBACK_ANSWER_LIMIT = 200
COMMAND_DESCRIPTION_LIMIT = 256
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REDELIVERIES = 3  # Telegram keeps trying for longer, with growing pauses

# Fields that the Bot API takes as JSON-serialized strings in form data.
JSON_FIELDS = frozenset({
    "reply_markup", "commands", "scope", "allowed_updates", "entities", "caption_entities",
    "link_preview_options", "reply_parameters", "media", "results", "menu_button",
})
# Methods whose success puts or changes a message in a chat.
MESSAGE_METHODS = frozenset({
    "sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument", "sendPhoto",
})
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")
_KEEP: Any = object()

T = TypeVar("T")


class ApiError(Exception):
    """An error answer. `violation` marks a payload Telegram would refuse."""

    def __init__(self, code: int, description: str, *, violation: bool = True,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.violation = violation
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", violation=False,
                    parameters={"retry_after": retry_after})


def forbidden(description: str = "bot was blocked by the user") -> ApiError:
    return ApiError(403, f"Forbidden: {description}", violation=False)


@dataclass
class ApiCall:
    """One request the bot made, with its decoded parameters and the answer."""

    method: str
    params: dict[str, Any]
    at: float
    status: int | None = None
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def keyboard(self) -> list[list[dict[str, Any]]]:
        markup = self.params.get("reply_markup")
        if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
            return markup["inline_keyboard"]
        return []

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [button for row in self.keyboard for button in row]

    @property
    def labels(self) -> list[str]:
        return [str(button.get("text", "")) for button in self.buttons]

    @property
    def callback_data(self) -> list[str]:
        return [button["callback_data"] for button in self.buttons if "callback_data" in button]

    @property
    def message_id(self) -> int | None:
        result = (self.response or {}).get("result")
        if isinstance(result, dict):
            return result.get("message_id")
        value = self.params.get("message_id")
        return int(value) if value is not None else None

    def __repr__(self) -> str:
        shown = {key: (value[:60] + "…" if isinstance(value, str) and len(value) > 60
                       else value)
                 for key, value in self.params.items()}
        return f"<{self.method} {shown} -> {self.status}>"


@dataclass
class ChatMessage:
    """A message in a private chat, as the fake keeps it (the latest version)."""

    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    text: str | None = None
    caption: str | None = None
    reply_markup: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    edit_date: int | None = None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.reply_markup or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answers: list[dict[str, Any]] = field(default_factory=list)


class FakeTelegramAPI:
    def __init__(self, token: str = "123456:TEST", *, username: str = "otandastar_test_bot",
                 host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: dict[str, Any] = {
            "id": bot_id, "is_bot": True, "first_name": "Otandastar Test", "username": username,
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        # What happened.
        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.history: dict[int, list[ChatMessage]] = defaultdict(list)
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status) by webhook
        # Seconds to keep delivering an update not taken, as Telegram does (None: up to
        # REDELIVERIES times); a bot that cannot be reached counts as status 0.
        self.redeliver_for: float | None = None
        self.webhook_calls: list[ApiCall] = []  # methods given in replies to the webhook
        self.users: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        # Group chats the bot is a member of (the coordinators' chat): id -> title.
        self.groups: dict[int, str] = {}
        # Files the bot can download (getFile): file_id -> content.
        self.files: dict[str, bytes] = {}
        # Machinery.
        self._updates: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._update_ids = itertools.count(700_000_001)
        self._query_ids = itertools.count(4_382_000_000_000_000_001)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(
            lambda: itertools.count(1))
        self._failures: dict[str, deque[ApiError]] = defaultdict(deque)
        self._tick = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
        }
        self._by_lower = {name.lower(): name for name in self._handlers}

    # ---- life cycle -------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegramAPI:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._client = ClientSession(timeout=ClientTimeout(total=10))

    async def close(self) -> None:
        self._closing.set()  # releases long polls at once
        self.notify()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        """The base to give the bot as TELEGRAM_API_URL."""
        return f"http://{self.host}:{self.port}"

    # ---- reading what happened --------------------------------------------------

    def mark(self) -> int:
        """A position in `calls`; pass it as `since` to look only at what came after."""
        return len(self.calls)

    def calls_to(self, method: str, since: int = 0, *, chat_id: int | None = None,
                 ok: bool | None = None) -> list[ApiCall]:
        return [
            call for call in self.calls[since:]
            if call.method == method
            and (chat_id is None or call.chat_id == chat_id)
            and (ok is None or call.ok == ok)
        ]

    def replies(self, chat_id: int, since: int = 0) -> list[ApiCall]:
        """Successful calls that sent or changed a message in the chat, in order."""
        return [call for call in self.calls[since:]
                if call.method in MESSAGE_METHODS and call.chat_id == chat_id and call.ok]

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """The bot's messages in the chat, latest versions, oldest first."""
        return [message for message in self.history[chat_id] if message.from_bot]

    def last_message(self, chat_id: int) -> ChatMessage:
        messages = self.messages(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}")
        return messages[-1]

    def unanswered_callbacks(self) -> list[CallbackQueryRecord]:
        return [query for query in self.callback_queries.values() if not query.answers]

    def describe(self, last: int = 12) -> str:
        return "\n".join(repr(call) for call in self.calls[-last:])

    # ---- waiting ----------------------------------------------------------------

    def notify(self) -> None:
        """Wake `wait_for` up; call it when a condition outside the fake changes."""
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def wait_for(self, predicate: Callable[[], T],
                       timeout: float = 5.0,  # noqa: ASYNC109
                       what: str | None = None) -> T:
        """Wait until `predicate()` is truthy (checked after every request); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            tick = self._tick
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or predicate}; "
                    f"last requests:\n{self.describe()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), remaining)

    async def settle(self, quiet: float = 0.1,
                     timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no request has arrived for `quiet` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            tick = self._tick
            try:
                await asyncio.wait_for(tick.wait(), quiet)
            except TimeoutError:
                return
        raise AssertionError(f"requests kept coming for {timeout}s:\n{self.describe()}")

    async def wait_replies(self, chat_id: int, since: int, *, count: int = 1,
                           timeout: float = 5.0,  # noqa: ASYNC109
                           quiet: float = 0.1) -> list[ApiCall]:
        """Wait for at least `count` messages sent or edited in the chat after `since`,
        then until the bot is quiet; return them all."""
        await self.wait_for(lambda: len(self.replies(chat_id, since)) >= count, timeout,
                            f"{count} repl{'y' if count == 1 else 'ies'} in chat {chat_id}")
        await self.settle(quiet)
        return self.replies(chat_id, since)

    # ---- making things fail -------------------------------------------------------

    def fail_next(self, method: str, times: int = 1, *, error_code: int = 429,
                  retry_after: int = 1, description: str | None = None) -> None:
        """The next `times` calls to `method` fail: 429 with `retry_after`, or 403 (or
        another code with `description`), whatever the payload."""
        for _ in range(times):
            if error_code == 429:
                error = too_many_requests(retry_after)
            elif error_code == 403:
                error = forbidden(description or "bot was blocked by the user")
            else:
                error = ApiError(error_code, description or "Internal Server Error",
                                 violation=False)
            self._failures[method].append(error)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: every message to them gets 403 from now on."""
        self.blocked.add(user_id)

    # ---- injecting updates ----------------------------------------------------------

    def user(self, user_id: int, *, language_code: str | None = _KEEP,
             first_name: str = _KEEP) -> dict[str, Any]:
        profile = self.users.setdefault(
            user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"})
        if first_name is not _KEEP:
            profile["first_name"] = first_name
        if language_code is not _KEEP:
            if language_code is None:
                profile.pop("language_code", None)
            else:
                profile["language_code"] = language_code
        return dict(profile)

    async def send_text(self, user_id: int, text: str, *, language_code: str | None = _KEEP,
                        first_name: str = _KEEP) -> dict[str, Any]:
        """The user writes `text` to the bot in their private chat."""
        extra: dict[str, Any] = {"text": text}
        command = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
        if command:
            extra["entities"] = [{"type": "bot_command", "offset": 0,
                                  "length": len(command.group(0))}]
        return await self._user_message(user_id, extra, language_code, first_name)

    async def send_sticker(self, user_id: int, *, language_code: str | None = _KEEP
                           ) -> dict[str, Any]:
        sticker = {"file_id": "CAACAgIAAxkBAAEBsticker", "file_unique_id": "AgADsticker",
                   "type": "regular", "width": 512, "height": 512, "is_animated": False,
                   "is_video": False, "emoji": "👍", "set_name": "TestStickers"}
        return await self._user_message(user_id, {"sticker": sticker}, language_code, _KEEP)

    async def send_photo(self, user_id: int, *, caption: str | None = None,
                         language_code: str | None = _KEEP) -> dict[str, Any]:
        photo = [
            {"file_id": f"AgACAgIAAxkBphoto{size}", "file_unique_id": f"AQADphoto{size}",
             "width": size, "height": size, "file_size": size * 40}
            for size in (90, 320, 800)
        ]
        extra: dict[str, Any] = {"photo": photo}
        if caption:
            extra["caption"] = caption
        return await self._user_message(user_id, extra, language_code, _KEEP)

    async def send_contact(self, user_id: int, phone_number: str, *,
                           own: bool = True) -> dict[str, Any]:
        """The user presses a "share my phone" button (or shares someone else's card)."""
        profile = self.user(user_id)
        contact = {"phone_number": phone_number, "first_name": profile["first_name"],
                   "user_id": user_id if own else user_id + 1}
        return await self._user_message(user_id, {"contact": contact}, _KEEP, _KEEP)

    def add_group(self, chat_id: int, title: str = "Coordinators") -> None:
        """The bot is a member of the group `chat_id` (a negative id, as Telegram's)."""
        self.groups[chat_id] = title

    async def group_message(self, chat_id: int, user_id: int, text: str | None = None, *,
                            reply_to: int | None = None, photo: bool = False,
                            document: str | None = None, caption: str | None = None,
                            first_name: str = _KEEP) -> dict[str, Any]:
        """`user_id` writes in the group `chat_id`: text (a command gets its entity), a
        photo or a document, optionally as a reply to message `reply_to` there."""
        assert chat_id in self.groups, f"the bot is not in group {chat_id}"
        profile = self.user(user_id, first_name=first_name)
        extra: dict[str, Any] = {"from": profile}
        if text is not None:
            extra["text"] = text
            command = re.match(r"/[A-Za-z0-9_]+(@\w+)?", text)
            if command:
                extra["entities"] = [{"type": "bot_command", "offset": 0,
                                      "length": len(command.group(0))}]
        if photo:
            extra["photo"] = [{"file_id": f"AgACgroupphoto{len(self.calls)}",
                               "file_unique_id": f"AQADgp{len(self.calls)}",
                               "width": 800, "height": 600, "file_size": 32000}]
            self.files[extra["photo"][0]["file_id"]] = b"\xff\xd8\xff fake jpeg"
        if document:
            file_id = f"BQACgroupdoc{len(self.calls)}"
            extra["document"] = {"file_id": file_id, "file_unique_id": f"AgADgd{len(self.calls)}",
                                 "file_name": document, "mime_type": "application/pdf"}
            self.files[file_id] = b"%PDF-1.4 fake"
        if caption:
            extra["caption"] = caption
        if reply_to is not None:
            original = next(m for m in self.history[chat_id] if m.message_id == reply_to)
            extra["reply_to_message"] = self._message_payload(original)
        message = ChatMessage(chat_id=chat_id, message_id=next(self._message_ids[chat_id]),
                              date=int(time.time()), from_bot=False, extra=extra)
        self.history[chat_id].append(message)
        return await self._push({"message": self._message_payload(message)})

    async def press_in_group(self, chat_id: int, user_id: int, data: str, *,
                             message_id: int) -> dict[str, Any]:
        """`user_id` presses the button with callback_data `data` on a message in a group."""
        message = next(m for m in self.history[chat_id] if m.message_id == message_id)
        assert any(b.get("callback_data") == data for b in message.buttons), message.buttons
        return await self._callback(user_id, message, data, _KEEP)

    async def send_document(self, user_id: int, file_name: str = "passport.pdf", *,
                            caption: str | None = None) -> dict[str, Any]:
        """The user sends a document in their private chat."""
        extra: dict[str, Any] = {"document": {
            "file_id": f"BQACuserdoc{len(self.calls)}", "file_unique_id": "AgADuserdoc",
            "file_name": file_name, "mime_type": "application/pdf"}}
        if caption:
            extra["caption"] = caption
        return await self._user_message(user_id, extra, _KEEP, _KEEP)

    async def press(self, user_id: int, button: str, *, message_id: int | None = None,
                    language_code: str | None = _KEEP) -> dict[str, Any]:
        """The user presses the button labelled `button` (or with that callback_data) on
        the newest bot message that has it (or on message `message_id`)."""
        candidates = self.messages(user_id)
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
        for message in reversed(candidates):
            for found in message.buttons:
                if button in (found.get("text"), found.get("callback_data")):
                    if "callback_data" not in found:
                        raise AssertionError(f"button {button!r} is not a callback button")
                    return await self._callback(user_id, message, found["callback_data"],
                                                language_code)
        shown = [(m.message_id, [b.get("text") for b in m.buttons]) for m in candidates[-3:]]
        raise AssertionError(f"no button {button!r} in chat {user_id}; last messages: {shown}")

    async def press_data(self, user_id: int, data: str, *, message_id: int | None = None,
                         language_code: str | None = _KEEP) -> dict[str, Any]:
        """A callback with any `data`, as from a keyboard of an older bot version,
        on message `message_id` (default: the bot's last message in the chat)."""
        if message_id is None:
            message = self.last_message(user_id)
        else:
            message = next(m for m in self.history[user_id] if m.message_id == message_id)
        return await self._callback(user_id, message, data, language_code)

    async def _user_message(self, user_id: int, extra: dict[str, Any],
                            language_code: str | None, first_name: str) -> dict[str, Any]:
        profile = self.user(user_id, language_code=language_code, first_name=first_name)
        message = ChatMessage(chat_id=user_id, message_id=next(self._message_ids[user_id]),
                              date=int(time.time()), from_bot=False, extra=extra)
        self.history[user_id].append(message)
        payload = self._message_payload(message)
        payload["from"] = profile
        return await self._push({"message": payload})

    async def _callback(self, user_id: int, message: ChatMessage, data: str,
                        language_code: str | None) -> dict[str, Any]:
        profile = self.user(user_id, language_code=language_code)
        query_id = str(next(self._query_ids))
        self.callback_queries[query_id] = CallbackQueryRecord(
            query_id, user_id, message.chat_id, message.message_id, data)
        return await self._push({"callback_query": {
            "id": query_id, "from": profile, "message": self._message_payload(message),
            "chat_instance": f"-{user_id}0042", "data": data,
        }})

    async def _push(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        if self.webhook is not None:
            await self._deliver(update)
        else:
            self._updates.append(update)
            self.notify()
        return update

    async def redeliver(self, update: dict[str, Any]) -> None:
        """`update` once more, as after a lost acknowledgement (webhook) or an offset
        that was not confirmed (polling)."""
        if self.webhook is not None:
            await self._deliver(update)
        else:
            self._updates.append(update)
            self.notify()

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self.webhook is not None and self._client is not None
        headers = {}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = self.webhook["secret_token"]
        loop = asyncio.get_running_loop()
        patience = self.redeliver_for
        deadline = loop.time() + (patience or 0)
        attempt, status, body, content_type = 0, 0, b"", ""
        while True:
            if attempt:
                await asyncio.sleep(min(0.05 * attempt, 0.5))
            attempt += 1
            try:
                async with self._client.post(self.webhook["url"], json=update,
                                             headers=headers) as resp:
                    body, status, content_type = await resp.read(), resp.status, \
                        resp.content_type
            except (TimeoutError, OSError, ClientError):
                if patience is None:
                    raise
                status = 0  # not reachable (stopped, killed, restarting)
            self.deliveries.append((update["update_id"], status))
            if status == 200 or self._closing.is_set():
                break
            if (attempt > REDELIVERIES) if patience is None else loop.time() > deadline:
                break
        # Like Telegram: a method in the reply to a webhook request is carried out (its
        # result goes nowhere).
        if status == 200 and content_type == "application/json":
            reply = json.loads(body)
            if isinstance(reply, dict) and "method" in reply:
                params = {key: value for key, value in reply.items() if key != "method"}
                self.webhook_calls.append(
                    await self._perform(str(reply["method"]), self.token, self._decode(params)))

    # ---- the HTTP side ----------------------------------------------------------------

    def _violation(self, method: str, description: str) -> None:
        self.violations.append(f"{method}: {description}")

    async def _handle(self, request: web.Request) -> web.Response:
        params: dict[str, Any] = {}
        unreadable: ApiError | None = None
        try:
            params = await self._params(request)
        except ApiError as error:
            unreadable = error
        call = await self._perform(request.match_info["method"], request.match_info["token"],
                                   params, unreadable)
        return web.json_response(call.response, status=call.status)

    async def _perform(self, name: str, token: str, params: dict[str, Any],
                       unreadable: ApiError | None = None) -> ApiCall:
        method = self._by_lower.get(name.lower(), name)
        call = ApiCall(method, params, time.monotonic())
        self.calls.append(call)
        try:
            if unreadable is not None:
                raise unreadable
            self.notify()  # seen (a long poll answers much later)
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._handlers.get(method)
            if handler is None:
                raise ApiError(404, "Not Found")
            if self._failures[method]:
                raise self._failures[method].popleft()
            result = await handler(call.params)
            call.status, call.response = 200, {"ok": True, "result": result}
        except ApiError as error:
            if error.violation:
                self._violation(method, f"{error.description} ({call!r})")
            call.status, call.response = error.code, error.body()
        self.notify()
        return call

    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise bad_request("request body must be a JSON object")
            raw.update(body)
        elif request.can_read_body:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    raw[key] = {"filename": value.filename, "size": len(value.file.read())}
                else:
                    raw[key] = value
        return self._decode(raw)

    @staticmethod
    def _decode(raw: dict[str, Any]) -> dict[str, Any]:
        """Parameters as Telegram reads them: JSON-serialized fields decoded."""
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in JSON_FIELDS and isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError as error:
                    raise bad_request(f"can't parse {key} JSON object") from error
            params[key] = value
        return params

    # ---- parameter checks ---------------------------------------------------------------

    @staticmethod
    def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
        value = params.get(name, default)
        if value is None:
            raise bad_request(f"parameter \"{name}\" is required")
        try:
            return int(value)
        except (TypeError, ValueError) as error:
            raise bad_request(f"invalid {name} specified") from error

    def _chat(self, params: dict[str, Any]) -> int:
        chat_id = self._int(params, "chat_id")
        if chat_id not in self.users and chat_id not in self.groups:
            raise bad_request("chat not found")
        if chat_id in self.blocked:
            raise forbidden()
        return chat_id

    @staticmethod
    def _text(params: dict[str, Any]) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise bad_request(f"message is too long ({len(text)} characters, "
                              f"limit {TEXT_LIMIT})")
        return text

    @staticmethod
    def _caption(params: dict[str, Any]) -> str | None:
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        return caption

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be '
                                  "an Array of Arrays")
            if sum(len(row) for row in rows) > 100:
                raise bad_request("reply markup is too long")
            for row in rows:
                for button in row:
                    FakeTelegramAPI._inline_button(button)
        elif "keyboard" in markup:
            for row in markup["keyboard"]:
                for button in row:
                    text = button.get("text") if isinstance(button, dict) else button
                    if not isinstance(text, str) or not text.strip():
                        raise bad_request("keyboard button text must be non-empty")
        elif not ({"remove_keyboard", "force_reply"} & markup.keys()):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    @staticmethod
    def _inline_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise bad_request("can't parse inline keyboard button: "
                              "InlineKeyboardButton must be an Object")
        text = button.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("can't parse inline keyboard button: "
                              "button text must be non-empty")
        actions = [key for key in _BUTTON_ACTIONS if key in button]
        if not actions:
            raise bad_request("can't parse inline keyboard button: "
                              "Text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(str(data).encode())
            if not isinstance(data, str) or not 1 <= size <= CALLBACK_DATA_LIMIT:
                raise bad_request(f"BUTTON_DATA_INVALID (callback_data is {size} bytes, "
                                  f"allowed 1-{CALLBACK_DATA_LIMIT})")
        if "url" in button and not re.match(r"^(https?|tg)://\S+$", str(button["url"])):
            raise bad_request("BUTTON_URL_INVALID")

    def _message(self, params: dict[str, Any]) -> ChatMessage:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the fake")
        chat_id = self._chat(params)
        message_id = self._int(params, "message_id")
        for message in self.history[chat_id]:
            if message.message_id == message_id:
                if not message.from_bot:
                    raise bad_request("message can't be edited")
                return message
        raise bad_request("message to edit not found")

    def _message_payload(self, message: ChatMessage) -> dict[str, Any]:
        profile = self.users.get(message.chat_id, {"first_name": "User"})
        chat: dict[str, Any] = {"id": message.chat_id, "type": "private",
                                "first_name": profile.get("first_name", "User")}
        if message.chat_id in self.groups:
            chat = {"id": message.chat_id, "type": "supergroup",
                    "title": self.groups[message.chat_id]}
        payload: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.bot_user if message.from_bot else profile,
            "chat": chat,
            "date": message.date,
        }
        if message.edit_date is not None:
            payload["edit_date"] = message.edit_date
        if message.text is not None:
            payload["text"] = message.text
        if message.caption is not None:
            payload["caption"] = message.caption
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            payload["reply_markup"] = message.reply_markup
        payload.update(message.extra)
        return payload

    def _new_message(self, chat_id: int, reply_parameters: Any = None,
                     **fields: Any) -> dict[str, Any]:
        if isinstance(reply_parameters, dict) and reply_parameters.get("message_id"):
            original = next((m for m in self.history[chat_id]
                             if m.message_id == int(reply_parameters["message_id"])), None)
            if original is None and not reply_parameters.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
            if original is not None:
                extra = fields.setdefault("extra", {})
                extra["reply_to_message"] = self._message_payload(original)
        message = ChatMessage(chat_id=chat_id, message_id=next(self._message_ids[chat_id]),
                              date=int(time.time()), from_bot=True, **fields)
        self.history[chat_id].append(message)
        return self._message_payload(message)

    # ---- methods -----------------------------------------------------------------------

    async def _true(self, _params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                           "active; use deleteWebhook to delete the webhook first",
                           violation=False)
        offset = self._int(params, "offset", 0)
        limit = min(max(self._int(params, "limit", 100), 1), 100)
        timeout = max(self._int(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = list(allowed) if allowed else None
        if offset > 0:  # confirms every update before `offset`
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._allowed_updates:
                self._updates = [u for u in self._updates
                                 if any(kind in u for kind in self._allowed_updates)]
            if self._updates or self._closing.is_set() or loop.time() >= deadline:
                return self._updates[:limit]
            tick = self._tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), deadline - loop.time())

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            self.webhook = None
            return True
        if not re.match(r"^https?://\S+$", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        self.webhook = {"url": url, "secret_token": secret,
                        "allowed_updates": params.get("allowed_updates")}
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise bad_request("can't parse BotCommandScope JSON object")
        language = str(params.get("language_code") or "")
        if language and not _LANGUAGE_CODE.match(language):
            raise bad_request("invalid language code specified")
        if scope["type"] in ("chat", "chat_administrators", "chat_member"):
            # A chat's own list, as ("chat:42", language): a chat the bot knows.
            return f"{scope['type']}:{self._chat(scope)}", language
        return scope["type"], language

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            if not _COMMAND.match(str(command.get("command", ""))):
                raise bad_request(f"BOT_COMMAND_INVALID: {command.get('command')!r}")
            description = command.get("description")
            if (not isinstance(description, str) or not description.strip()
                    or len(description) > COMMAND_DESCRIPTION_LIMIT):
                raise bad_request(f"command description must be 1-{COMMAND_DESCRIPTION_LIMIT} "
                                  f"characters: {description!r}")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        text = self._text(params)
        markup = self._markup(params)
        return self._new_message(chat_id, params.get("reply_parameters"), text=text,
                                 reply_markup=markup)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message(params)
        text = self._text(params)
        markup = self._markup(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        if message.text == text and message.reply_markup == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                           "content and reply markup are exactly the same as a current content "
                           "and reply markup of the message", violation=False)
        message.text, message.reply_markup = text, markup
        message.edit_date = int(time.time())
        return self._message_payload(message)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message(params)
        markup = self._markup(params)
        if message.reply_markup == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                           "content and reply markup are exactly the same as a current content "
                           "and reply markup of the message", violation=False)
        message.reply_markup = markup
        message.edit_date = int(time.time())
        return self._message_payload(message)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat(params)
        message_id = self._int(params, "message_id")
        for index, message in enumerate(self.history[chat_id]):
            if message.message_id == message_id:
                del self.history[chat_id][index]
                return True
        raise bad_request("message to delete not found")

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self.callback_queries.get(str(params.get("callback_query_id", "")))
        if query is None or query.answers:
            raise bad_request("query is too old and response timeout expired or query ID is "
                              "invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > CALLBACK_ANSWER_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG (callback answer text over "
                              f"{CALLBACK_ANSWER_LIMIT} characters)")
        query.answers.append(params)
        return True

    def _file(self, params: dict[str, Any], name: str) -> dict[str, Any]:
        value = params.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if not value:
            raise bad_request(f"there is no {name} in the request")
        if isinstance(value, dict):
            if not value.get("size"):
                raise bad_request("file must be non-empty")
            return {"file_name": value.get("filename")}
        return {"file_name": None}

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        document = self._file(params, "document")
        caption = self._caption(params)
        markup = self._markup(params)
        name = document["file_name"] or "document"
        return self._new_message(chat_id, params.get("reply_parameters"), caption=caption,
                                 reply_markup=markup, extra={
            "document": {"file_id": f"BQACAgIAAxkBdoc{len(self.calls)}",
                         "file_unique_id": f"AgADdoc{len(self.calls)}", "file_name": name}})

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        self._file(params, "photo")
        caption = self._caption(params)
        markup = self._markup(params)
        return self._new_message(chat_id, params.get("reply_parameters"), caption=caption,
                                 reply_markup=markup, extra={
            "photo": [{"file_id": f"AgACAgIAAxkBpic{len(self.calls)}",
                       "file_unique_id": f"AQADpic{len(self.calls)}",
                       "width": 800, "height": 600}]})

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise bad_request("invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"files/{file_id}"}

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].removeprefix("files/")
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        return True
