"""Webhook benchmark: the real bot against a bare aiogram echo bot, on one harness.

    python -m bench.telegram_webhook [--updates N] [--users U] [--rate R]

Everything talks over 127.0.0.1 only. This process runs:

- a fake Telegram Bot API (aiohttp) that answers sendMessage, editMessageText,
  answerCallbackQuery, setMyCommands, setWebhook, getMe, ... and notes when each
  reply arrives;
- a load generator that POSTs signed updates: simulated users who /start with a
  language_code, press menu buttons, type text and answer the eligibility
  questionnaire (each answer stored, the country typed, the checklist ticked). A user
  has at most one update in flight; its reply is the first
  sendMessage/editMessageText to its chat after the POST.

Each bot runs in a process of its own (`--serve bot|echo`), so that its CPU time and
memory are its own and nothing one bot loads or caches helps the other: the real bot
(build_app + TelegramChannel + make_web_app, webhook mode, a temporary SQLite database
migrated in a child process, as `python -m bot run` does) and a bare aiogram echo bot,
each behind its own aiohttp server.

Measured per bot: handled updates/s at full speed (closed loop, bounded concurrency),
the CPU time of its process per update, p50/p99 latency (POST to reply at the fake API)
at a fixed open-loop rate, and the peak resident memory of its process.
Results are printed; the process does not fail on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import hmac
import json
import logging
import math
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

PROJECT = Path(__file__).resolve().parent.parent  # where `python -m bench...` runs
HOST = "127.0.0.1"
SECRET = "bench-webhook-secret-0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
BOT_TOKEN = "7000000001:AAbenchOtandasBotTokenLocalOnly000000"
ECHO_TOKEN = "7000000002:AAbenchEchoBotTokenLocalOnly0000000000"
REPLY_TIMEOUT = 10.0  # seconds a single update may take before it counts as lost
WARMUP_UPDATES = 300

# The targets, each against the bare aiogram echo bot measured in the same run where it
# can be: throughput at least half the echo bot's, CPU per update at most twice its,
# peak resident memory at most 1.15 times its; p99 at 100 updates/s within 25 ms.
TARGET_RATIO = 0.5
TARGET_CPU_RATIO = 2.0
TARGET_RSS_RATIO = 1.15
TARGET_P99_MS = 25.0

LANGUAGE_CODES = ("ru", "kk", "en")

# What a simulated user does, in order, then again from the second step.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("text", "/start"),
    ("press", "prj"),
    ("press", "prj:bereke"),
    ("press", "prj"),
    ("press", "prj:qazaq_house"),
    ("press", "num"),
    ("press", "menu"),
    ("text", "Сәлеметсіз бе! Что здесь есть?"),
    # The eligibility questionnaire, answered from the start each time round: every
    # answer is stored (the draft), the country is typed, then the result, the plan and
    # two documents ticked off in the checklist.
    ("press", "el:new"),
    ("press", "el:a:nationality:yes"),
    ("press", "el:a:nationality_document:yes"),
    ("press", "el:a:ever_citizen:no"),
    ("press", "el:a:permanent:yes"),
    ("text", "Китай"),
    ("press", "el:a:family_size:2"),
    ("press", "el:a:family_kazakh:all"),
    ("press", "el:a:quota:yes"),
    ("press", "el:plan"),
    ("press", "el:cl"),
    ("press", "el:t:application"),
    ("press", "el:t:id_copy"),
    ("press", "set"),
    ("press", "help"),
    ("press", "menu"),
    ("text", "/menu"),
)


def _bot_user(token: str, name: str) -> dict[str, Any]:
    return {"id": int(token.split(":", 1)[0]), "is_bot": True, "first_name": name,
            "username": name.lower().replace(" ", "_") + "_bot", "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False}


# ---- fake Telegram Bot API ------------------------------------------------------


class FakeTelegram:
    """Answers Bot API calls like Telegram does and notes when replies arrive."""

    def __init__(self) -> None:
        self.bots = {BOT_TOKEN: _bot_user(BOT_TOKEN, "Otandas Bench"),
                     ECHO_TOKEN: _bot_user(ECHO_TOKEN, "Echo Bench")}
        self.calls: Counter[str] = Counter()
        self.stray = 0  # replies nobody waited for: after a timeout, or a second one
        self.last_message: dict[int, int] = {}  # chat id -> newest message id
        self._waiters: dict[int, asyncio.Future[float]] = {}
        self._message_id = 1000
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.base = f"http://{HOST}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        """The next reply to `chat_id` resolves the returned future with its arrival time."""
        if chat_id in self._waiters:
            raise RuntimeError(f"chat {chat_id} already has an update in flight")
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id] = future
        return future

    def forget(self, chat_id: int) -> None:
        self._waiters.pop(chat_id, None)

    def _arrived(self, chat_id: int, at: float) -> None:
        future = self._waiters.pop(chat_id, None)
        if future is None or future.done():
            self.stray += 1
            return
        future.set_result(at)

    def _message(self, bot: dict[str, Any], chat_id: int, message_id: int,
                 form: Any, edited: bool) -> dict[str, Any]:
        now = int(time.time())
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": bot,
            "chat": {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"},
            "date": now,
            "text": str(form.get("text", "")),
        }
        if edited:
            message["edit_date"] = now
        markup = form.get("reply_markup")
        if markup:
            message["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        return message

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        token, method = request.match_info["token"], request.match_info["method"]
        bot = self.bots.get(token)
        if bot is None:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if request.content_type == "application/json":
            form: Any = await request.json()
        else:
            form = await request.post()
        answer, status = self.perform(bot, method, form, arrived)
        return web.json_response(answer, status=status)

    def perform(self, bot: dict[str, Any], method: str, form: Any,
                arrived: float) -> tuple[dict[str, Any], int]:
        """Carry out a Bot API method: the answer and its HTTP status."""
        self.calls[method] += 1
        result: Any
        if method in ("sendMessage", "sendDocument"):
            chat_id = int(form["chat_id"])
            self._message_id += 1
            self.last_message[chat_id] = self._message_id
            result = self._message(bot, chat_id, self._message_id, form, edited=False)
            if method == "sendDocument":
                result.pop("text")
                result["caption"] = form.get("caption", "")
                result["document"] = {"file_id": f"BQAC{self._message_id}",
                                      "file_unique_id": f"AgAD{self._message_id}",
                                      "file_name": "file", "file_size": 1}
            self._arrived(chat_id, arrived)
        elif method == "editMessageText":
            chat_id = int(form["chat_id"])
            result = self._message(bot, chat_id, int(form["message_id"]), form, edited=True)
            self._arrived(chat_id, arrived)
        elif method == "getMe":
            result = bot
        elif method in ("answerCallbackQuery", "setMyCommands", "setWebhook",
                        "deleteWebhook", "deleteMyCommands", "sendChatAction",
                        "deleteMessage"):
            result = True
        else:
            return {"ok": False, "error_code": 404,
                    "description": "Not Found: method not found"}, 404
        return {"ok": True, "result": result}, 200

    def webhook_reply(self, token: str, body: bytes, arrived: float) -> None:
        """Like Telegram, carry out a method given in the reply to a webhook request."""
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if isinstance(reply, dict) and "method" in reply:
            self.perform(self.bots[token], str(reply.pop("method")), reply, arrived)


# ---- the two bots under test ------------------------------------------------------


class Target:
    name: str
    url: str

    async def start(self, api_base: str, workdir: Path) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    return runner, f"http://{HOST}:{runner.addresses[0][1]}{WEBHOOK_PATH}"


class RealBot(Target):
    """The project's bot: build_app, TelegramChannel, make_web_app, webhook mode."""

    name = "bot"

    async def start(self, api_base: str, workdir: Path) -> None:
        from pydantic import SecretStr

        from bot.app import build_app
        from bot.channels.telegram import TelegramChannel
        from bot.config import Settings
        from bot.db.engine import migrate_in_child
        from bot.web.app import make_web_app

        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{workdir / 'bot.db'}",
            bot_token=SecretStr(BOT_TOKEN),
            telegram_api_url=api_base,
            telegram_mode="webhook",
            telegram_webhook_url="https://bench.invalid" + WEBHOOK_PATH,
            telegram_webhook_secret=SecretStr(SECRET),
            # The engine's own cost is measured: Telegram's ~30 messages/s per bot
            # (BROADCAST_RATE, which every send shares) would cap both bots alike.
            broadcast_rate=1_000_000.0,
            http_host=HOST,
            http_port=0,
            log_level="WARNING",
        )
        if settings.problems():
            raise RuntimeError("; ".join(settings.problems()))
        # As `python -m bot run` does: the migrations in a child process.
        await migrate_in_child(settings.database_url)
        self.app = await build_app(settings, apply_migrations=False)
        self.channel = TelegramChannel(self.app.engine, settings, self.app.translations)
        self.runner, self.url = await _serve(make_web_app(self.app.db, self.channel))
        await self.channel.start()  # setMyCommands and setWebhook, through the fake API
        self.app.settle()  # as `python -m bot run` does once it has started

    async def stop(self) -> None:
        await self.channel.stop()
        await self.runner.cleanup()
        await self.app.close()


class EchoBot(Target):
    """A bare aiogram bot: echoes text, answers a button press and sends a message."""

    name = "echo"

    async def start(self, api_base: str, workdir: Path) -> None:
        from aiogram import Bot, Dispatcher, Router
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.types import CallbackQuery, Message, Update

        bot = Bot(ECHO_TOKEN,
                  session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
        dispatcher = Dispatcher()
        router = Router(name="echo")

        async def on_message(message: Message) -> None:
            await bot.send_message(chat_id=message.chat.id, text=message.text or "?")

        async def on_callback(query: CallbackQuery) -> None:
            await query.answer()
            if query.message is not None:
                await bot.send_message(chat_id=query.message.chat.id, text=query.data or "?")

        router.message.register(on_message)
        router.callback_query.register(on_callback)
        dispatcher.include_router(router)
        background: set[asyncio.Task[Any]] = set()

        async def webhook(request: web.Request) -> web.Response:
            given = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), SECRET.encode()):
                return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
            try:
                update = Update.model_validate(await request.json(), context={"bot": bot})
            except ValueError:
                return web.json_response({"ok": False, "error": "bad update"}, status=400)
            task = asyncio.create_task(dispatcher.feed_update(bot, update))
            background.add(task)
            task.add_done_callback(background.discard)
            return web.json_response({"ok": True})

        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post(WEBHOOK_PATH, webhook)
        self.bot, self.background = bot, background
        self.runner, self.url = await _serve(app)

    async def stop(self) -> None:
        if self.background:
            await asyncio.wait(self.background, timeout=10)
        await self.runner.cleanup()
        await self.bot.session.close()


class Served(Target):
    token: str

    """A bot in a process of its own (`--serve NAME`); the load generator talks to it over
    HTTP and reads its CPU time and memory from /proc."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.token = BOT_TOKEN if name == "bot" else ECHO_TOKEN
        self.ready_rss = math.nan
        self.peak_rss = math.nan
        self.errors: dict[str, int] = {}

    async def start(self, api_base: str, workdir: Path) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.telegram_webhook", "--serve", self.name,
            "--api", api_base, "--workdir", str(workdir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=PROJECT)
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 120)
        if not line:
            raise RuntimeError(f"the {self.name} bot did not start (see its errors above)")
        ready = json.loads(line)
        self.url, self.ready_rss = ready["url"], ready["rss"]

    def cpu(self) -> float:
        """CPU seconds of the bot's process so far (all its threads)."""
        return _proc_cpu(self.process.pid)

    async def stop(self) -> None:
        self.peak_rss = _proc_memory(self.process.pid, "VmHWM")
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # the bot stops when its stdin closes
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), 30)
            self.errors = json.loads(line)["errors"] if line else {}
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _proc_memory(pid: int | str, field_name: str) -> float:
    """A memory figure from /proc/<pid>/status in MB (VmRSS now, VmHWM the peak)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split(field_name + ":")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return math.nan


async def serve(args: argparse.Namespace) -> None:
    """The child process: start one bot, say where it listens, stop when stdin closes."""
    target: Target = RealBot() if args.serve == "bot" else EchoBot()
    await target.start(args.api, Path(args.workdir))
    gc.collect()
    print(json.dumps({"url": target.url, "rss": _proc_memory("self", "VmRSS")}), flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    # BENCH_PROFILE=<path>: where each bot's CPU goes while it serves, as cProfile
    # statistics in <path>.bot and <path>.echo (`python -m pstats`); slows both down.
    profile_to = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        profiler.enable()
    await stdin.read()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}.{args.serve}")
    await target.stop()
    print(json.dumps({"errors": bot_errors()}), flush=True)


# ---- simulated users and the load generator -----------------------------------------


@dataclass
class SimUser:
    id: int
    language: str
    step: int = 0
    message_id: int = 0

    def next_update(self, update_id: int, last_bot_message: int | None) -> dict[str, Any]:
        kind, value = SCRIPT[self.step] if self.step < len(SCRIPT) else \
            SCRIPT[1 + (self.step - 1) % (len(SCRIPT) - 1)]
        self.step += 1
        sender = {"id": self.id, "is_bot": False, "first_name": f"User{self.id}",
                  "language_code": self.language}
        chat = {"id": self.id, "type": "private", "first_name": f"User{self.id}"}
        now = int(time.time())
        if kind == "press":
            return {"update_id": update_id, "callback_query": {
                "id": str(update_id * 1000 + 7),
                "from": sender,
                "message": {"message_id": last_bot_message or 1, "chat": chat, "date": now,
                            "text": "…"},
                "chat_instance": str(-self.id * 31),
                "data": value,
            }}
        self.message_id += 1
        message: dict[str, Any] = {"message_id": self.message_id, "from": sender,
                                   "chat": chat, "date": now, "text": value}
        if value.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(value.split()[0])}]
        return {"update_id": update_id, "message": message}


@dataclass
class Result:
    updates: int = 0
    lost: int = 0
    errors: int = 0
    elapsed: float = 0.0  # wall seconds
    cpu: float = 0.0  # CPU seconds of the bot's process (all its threads)
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_ms(self) -> float:
        done = self.updates + self.lost + self.errors
        return self.cpu / done * 1000 if done else math.nan

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in ms; a lost update counts as infinitely slow."""
        values = sorted(self.latencies) + [math.inf] * (self.lost + self.errors)
        if not values:
            return math.nan
        return values[max(0, math.ceil(p / 100 * len(values)) - 1)] * 1000


class Load:
    def __init__(self, sink: FakeTelegram, http: ClientSession) -> None:
        self.sink = sink
        self.http = http
        self._update_id = 100_000
        self._next_user = 1_000_000

    def users(self, count: int) -> list[SimUser]:
        """Fresh users (new to the bot's database), languages in turn."""
        first = self._next_user
        self._next_user += count
        return [SimUser(first + i, LANGUAGE_CODES[i % len(LANGUAGE_CODES)])
                for i in range(count)]

    async def one(self, target: Served, user: SimUser, started: float | None,
                  result: Result) -> None:
        """Send the user's next update and wait for its reply to reach the fake API."""
        self._update_id += 1
        body = json.dumps(
            user.next_update(self._update_id, self.sink.last_message.get(user.id)),
            ensure_ascii=False).encode()
        reply = self.sink.expect(user.id)
        t0 = started if started is not None else time.perf_counter()
        try:
            async with self.http.post(target.url, data=body, headers={
                    SECRET_HEADER: SECRET, "Content-Type": "application/json"}) as response:
                answer = await response.read()
                if response.status != 200:
                    result.errors += 1
                    return
            self.sink.webhook_reply(target.token, answer, time.perf_counter())
            arrived = await asyncio.wait_for(reply, REPLY_TIMEOUT)
        except (TimeoutError, OSError):
            result.lost += 1
            return
        finally:
            self.sink.forget(user.id)
        result.updates += 1
        result.latencies.append(arrived - t0)


class Population:
    """Who sends the next update: a new user (who starts with /start) with a fixed
    chance, so new users arrive all along a phase; otherwise a random idle user."""

    def __init__(self, load: Load, users: int, planned_updates: int, seed: str) -> None:
        self.fresh = deque(load.users(users))
        self.idle: list[SimUser] = []
        self.in_flight: Counter[int] = Counter()
        self.rng = random.Random(seed)
        self.new_share = min(1.0, users / max(planned_updates, 1))

    def take(self) -> SimUser | None:
        user: SimUser | None = None
        if self.fresh and (not self.idle or self.rng.random() < self.new_share):
            user = self.fresh.popleft()
        elif self.idle:
            index = self.rng.randrange(len(self.idle))
            self.idle[index], self.idle[-1] = self.idle[-1], self.idle[index]
            user = self.idle.pop()
        if user is not None:
            self.in_flight[user.id] += 1
        return user

    def take_busy(self, busy: list[SimUser]) -> SimUser:
        """Everyone has an update in flight: queue one more behind a random user's."""
        user = self.rng.choice(busy)
        self.in_flight[user.id] += 1
        return user

    def release(self, user: SimUser) -> None:
        self.in_flight[user.id] -= 1
        if self.in_flight[user.id] == 0:
            del self.in_flight[user.id]
            self.idle.append(user)


class ClosedLoop:
    """As fast as possible: `concurrency` updates in flight, one per user at most."""

    def __init__(self, load: Load, target: Served, users: int, concurrency: int,
                 planned_updates: int) -> None:
        self.load, self.target = load, target
        self.users = Population(load, users, planned_updates, "closed")
        self.concurrency = min(concurrency, users)
        self.result = Result()

    async def run(self, updates: int) -> None:
        remaining = updates

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                user = self.users.take()
                assert user is not None  # in flight < users
                try:
                    await self.load.one(self.target, user, None, self.result)
                finally:
                    self.users.release(user)

        wall, cpu = time.perf_counter(), self.target.cpu()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        self.result.elapsed += time.perf_counter() - wall
        self.result.cpu += self.target.cpu() - cpu


class OpenLoop:
    """A fixed arrival rate; latency counts from the planned send time, so a slow reply
    delays nothing but its own user's next update."""

    def __init__(self, load: Load, target: Served, users: int, rate: float,
                 planned_updates: int) -> None:
        self.load, self.target, self.rate = load, target, rate
        self.users = Population(load, users, planned_updates, "open")
        self.tails: dict[int, asyncio.Task[None]] = {}
        self.known: dict[int, SimUser] = {}
        self.result = Result()

    async def run(self, updates: int) -> None:
        tasks: list[asyncio.Task[None]] = []

        async def after(previous: asyncio.Task[None] | None, user: SimUser,
                        planned: float) -> None:
            try:
                if previous is not None and not previous.done():
                    await asyncio.wait({previous})
                await self.load.one(self.target, user, planned, self.result)
            finally:
                self.users.release(user)

        wall, cpu = time.perf_counter(), self.target.cpu()
        started = wall + 0.005
        for number in range(updates):
            planned = started + number / self.rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            user = self.users.take() or self.users.take_busy(list(self.known.values()))
            self.known[user.id] = user
            task = asyncio.create_task(after(self.tails.get(user.id), user, planned))
            self.tails[user.id] = task
            tasks.append(task)
        await asyncio.gather(*tasks)
        self.result.elapsed += time.perf_counter() - wall
        self.result.cpu += self.target.cpu() - cpu


# ---- report ---------------------------------------------------------------------------


async def aiogram_floor_mb() -> float:
    """Peak RSS of a fresh interpreter that only imports aiogram: what any aiogram bot costs.
    (VmHWM, not ru_maxrss: Linux carries ru_maxrss of the forking parent across exec.)"""
    code = ("import aiogram, resource, sys\n"
            "try:\n"
            "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
            "    print(int(status.split()[0]) / 1024)\n"
            "except (OSError, IndexError):\n"
            "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "    print(peak / 1048576 if sys.platform == 'darwin' else peak / 1024)\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        return float(out.decode().strip())
    except (TimeoutError, ValueError):
        if process.returncode is None:
            process.kill()
            await process.wait()
        return math.nan


def bot_errors() -> dict[str, int]:
    """The bot's own error counters (handling failures are answered with an apology,
    which the fake API cannot tell from a real reply)."""
    from prometheus_client import REGISTRY

    found = {}
    for where in ("handle", "send"):
        value = REGISTRY.get_sample_value("bot_errors_total",
                                          {"channel": "telegram", "where": where})
        if value:
            found[where] = int(value)
    return found


def _ms(value: float) -> str:
    return "lost" if math.isinf(value) else f"{value:.1f}"


def report(args: argparse.Namespace, through: dict[str, Result], latency: dict[str, Result],
           served: dict[str, Served], memory: dict[str, float], sink: FakeTelegram) -> None:
    def ratio(bot: float, echo: float) -> float:
        return bot / echo if echo and not math.isnan(echo) else math.nan

    rate_ratio = ratio(through["bot"].rate, through["echo"].rate)
    cpu_ratio = ratio(through["bot"].cpu_ms, through["echo"].cpu_ms)
    rss_ratio = ratio(served["bot"].peak_rss, served["echo"].peak_rss)
    bot_p99 = latency["bot"].percentile(99)
    rows: list[tuple[str, str, str, str, str]] = [
        ("", "echo", "bot", "bot/echo", "target"),
        (f"throughput, updates/s (closed loop, {args.concurrency} in flight)",
         f"{through['echo'].rate:.0f}", f"{through['bot'].rate:.0f}", f"{rate_ratio:.2f}",
         f">= {TARGET_RATIO:.2f}"),
        ("CPU per update, ms (the bot's process, closed loop)",
         f"{through['echo'].cpu_ms:.2f}", f"{through['bot'].cpu_ms:.2f}", f"{cpu_ratio:.2f}",
         f"<= {TARGET_CPU_RATIO:.2f}"),
        (f"p50 latency, ms @ {args.rate:g} updates/s",
         _ms(latency["echo"].percentile(50)), _ms(latency["bot"].percentile(50)), "", ""),
        (f"p99 latency, ms @ {args.rate:g} updates/s",
         _ms(latency["echo"].percentile(99)), _ms(bot_p99), "", f"<= {TARGET_P99_MS:g} ms"),
        ("resident memory when ready, MB",
         f"{served['echo'].ready_rss:.0f}", f"{served['bot'].ready_rss:.0f}", "", ""),
        ("peak resident memory, MB",
         f"{served['echo'].peak_rss:.0f}", f"{served['bot'].peak_rss:.0f}", f"{rss_ratio:.2f}",
         f"<= {TARGET_RSS_RATIO:.2f}"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    print()
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
              f"{row[3]:>{widths[3]}}  {row[4]:<{widths[4]}}".rstrip())
    failed = {f"{name} {kind}": (r.lost, r.errors)
              for kind, results in (("closed", through), ("open", latency))
              for name, r in results.items() if r.lost or r.errors}
    errors = served["bot"].errors
    print(f"\n{args.updates} updates closed loop and {args.latency_updates} at {args.rate:g}/s "
          f"per bot, in {args.rounds} alternating rounds; {args.users} users per phase; "
          "each bot in a process of its own.")
    print(f"machine: {os.cpu_count()} CPUs, load average {memory['load_before']:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after the run (other processes skew the numbers).")
    print(f"memory: a bare `import aiogram` peaks at {memory['aiogram']:.0f} MB.")
    print(f"fake API calls: {', '.join(f'{k} {v}' for k, v in sorted(sink.calls.items()))}; "
          f"unmatched replies (late or extra): {sink.stray}"
          + (f"; lost/errors: {failed}" if failed else "")
          + (f"; BOT ERRORS: {errors}" if errors else "; bot errors: none"))
    checks = [
        (rate_ratio >= TARGET_RATIO, f"throughput ratio bot/echo {rate_ratio:.2f} (target >= "
                                     f"{TARGET_RATIO:.2f})"),
        (cpu_ratio <= TARGET_CPU_RATIO, f"CPU per update bot/echo {cpu_ratio:.2f} (target <= "
                                        f"{TARGET_CPU_RATIO:.2f})"),
        (bot_p99 <= TARGET_P99_MS, f"bot p99 @ {args.rate:g}/s {_ms(bot_p99)} ms "
                                   f"(target <= {TARGET_P99_MS:g} ms)"),
        (rss_ratio <= TARGET_RSS_RATIO, f"peak resident memory bot/echo {rss_ratio:.2f} "
                                        f"(target <= {TARGET_RSS_RATIO:.2f})"),
    ]
    for ok, text in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}")


# ---- main -------------------------------------------------------------------------------


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def _chunk(label: str, phase: ClosedLoop | OpenLoop, updates: int) -> None:
    if updates <= 0:
        return
    gc.collect()
    before = Result(**{**phase.result.__dict__, "latencies": []})
    count = len(phase.result.latencies)
    await phase.run(updates)
    r = phase.result
    part = Result(r.updates - before.updates, r.lost - before.lost, r.errors - before.errors,
                  r.elapsed - before.elapsed, r.cpu - before.cpu, r.latencies[count:])
    print(f"  {label:<24} {part.updates:>5} in {part.elapsed:5.1f}s {part.rate:6.0f}/s  "
          f"p50 {_ms(part.percentile(50)):>6} ms  p99 {_ms(part.percentile(99)):>7} ms  "
          f"cpu {part.cpu_ms:.2f} ms/update"
          + (f"  ({part.lost} lost, {part.errors} errors)" if part.lost or part.errors
             else ""), file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> None:
    memory = {"load_before": os.getloadavg()[0], "aiogram": await aiogram_floor_mb()}
    sink = FakeTelegram()
    served = {name: Served(name) for name in ("echo", "bot")}
    targets = list(served.values())
    started: list[Served] = []
    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as workdir:
        await sink.start()
        http = ClientSession(connector=TCPConnector(limit=max(args.concurrency, 100)),
                             timeout=ClientTimeout(total=REPLY_TIMEOUT))
        try:
            for target in targets:
                await target.start(sink.base, Path(workdir))
                started.append(target)
            load = Load(sink, http)
            print("warm-up, then echo and bot take turns:", file=sys.stderr)
            for target in targets:
                warm = ClosedLoop(load, target, min(args.users, 100), args.concurrency,
                                  WARMUP_UPDATES)
                await _chunk(f"{target.name} warm-up", warm, WARMUP_UPDATES)
            closed = {t.name: ClosedLoop(load, t, args.users, args.concurrency, args.updates)
                      for t in targets}
            opened = {t.name: OpenLoop(load, t, args.users, args.rate, args.latency_updates)
                      for t in targets}
            for number, count in enumerate(_split(args.updates, args.rounds)):
                for target in targets if number % 2 == 0 else targets[::-1]:
                    await _chunk(f"{target.name} closed loop", closed[target.name], count)
            for number, count in enumerate(_split(args.latency_updates, args.rounds)):
                for target in targets if number % 2 == 0 else targets[::-1]:
                    await _chunk(f"{target.name} {args.rate:g}/s", opened[target.name], count)
        finally:
            await http.close()
            for target in reversed(started):
                try:
                    await target.stop()
                except Exception:
                    logging.getLogger(__name__).exception("could not stop %s", target.name)
            await sink.stop()
    report(args, {k: v.result for k, v in closed.items()},
           {k: v.result for k, v in opened.items()}, served, memory, sink)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram_webhook",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=3000,
                        help="updates per bot in the closed-loop (throughput) phase")
    parser.add_argument("--users", type=int, default=300, help="simulated users per phase")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="open-loop rate of the latency phase, updates/s")
    parser.add_argument("--latency-updates", type=int, default=2000,
                        help="updates per bot in the latency phase")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="updates in flight in the closed-loop phase")
    parser.add_argument("--rounds", type=int, default=3,
                        help="each phase is split in this many rounds, echo and bot in turn")
    parser.add_argument("--max-seconds", type=float, default=300.0,
                        help="give up after this long")
    parser.add_argument("--serve", choices=("bot", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = (args.updates, args.users, args.latency_updates, args.concurrency, args.rounds)
    if min(counts) < 1 or args.rate <= 0:
        parser.error("counts and the rate must be positive")
    return args


async def _main(args: argparse.Namespace) -> None:
    """Run with a deadline; SIGINT/SIGTERM cancel the run, so servers stop and the
    temporary database is removed."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Unix
            loop.add_signal_handler(signum, task.cancel)
    await asyncio.wait_for(run(args), args.max_seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.serve:  # one bot, in a process of its own (see Served)
        asyncio.run(serve(args))
        return 0
    try:
        asyncio.run(_main(args))
    except TimeoutError:
        print(f"benchmark did not finish within {args.max_seconds:g}s", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
