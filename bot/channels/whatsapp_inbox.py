"""The webhook and the inbox: every signed delivery is stored before Meta gets its 200,
and handled afterwards by the inbox worker, which survives restarts and redeliveries.

- `GET /whatsapp/webhook`: Meta's verification handshake;
- `POST /whatsapp/webhook`: the `X-Hub-Signature-256` HMAC of the raw body is checked
  first (401 otherwise, nothing stored); deliveries arriving together are stored in one
  transaction (group commit). A delivery of statuses only is stored already claimed by
  this process's `Consumer` when its worker runs; a user's message waits for its turn
  (that user's older deliveries handled first, by whichever process holds them), so
  the poller is woken to claim it;
- the worker runs what the webhook hands over; the poller claims what nobody holds
  (users' messages in their turn, rows stored by a process that stopped, rows whose
  lease ran out, failed attempts whose backoff is over), and is woken again when a
  user's row is handled, as that user's next one may go now; the consumer's heartbeat
  renews the leases of the rows held here. The rows on the durable queue:
  `whatsapp_inbox_queue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels import whatsapp_inbox_queue as queue
from bot.channels import whatsapp_records as records
from bot.clock import now
from bot.core import metrics
from bot.core.engine import Unavailable
from bot.db.models import WhatsAppInbox
from bot.db.outage import OUTAGE, is_outage
from bot.db.queue import Consumer

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
KEEP_HANDLED = timedelta(days=14)  # longer than Meta redelivers (7 days)

# Handles one stored delivery; True if it marked its inbox row done itself.
Process = Callable[[int, dict[str, Any]], Awaitable[bool]]


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, compared in
    constant time. The raw bytes are what Meta signed (with non-ASCII escaped as
    `\\uXXXX`): never re-serialize before checking."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().encode())


class Inbox:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], process: Process, *,
                 app_secret: SecretStr | None, verify_token: SecretStr | None,
                 workers: int, poll_interval: float,
                 clock: Callable[[], datetime] = now) -> None:
        self.sessionmaker = sessionmaker
        self.process = process
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.workers = workers
        self.poll_interval = poll_interval
        self.clock = clock
        # The rows this process holds (queued or running): their leases are renewed
        # while the worker runs, and released when it stops.
        self.consumer: Consumer[WhatsAppInbox] = Consumer(
            queue.INBOX, sessionmaker, f"whatsapp:{socket.gethostname()}:{os.getpid()}",
            clock=lambda: self.clock())
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(workers)
        self._last_cleanup = 0.0
        self._pending: list[tuple[str, queue.Order, asyncio.Future[None]]] = []
        # What the worker runs: deliveries of statuses this process stored (claimed at
        # insert and handed over here, with no claiming query) and rows the poller
        # claimed (users' messages in their turn, rows nobody holds).
        self._queue: asyncio.Queue[queue.Item | None] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # Rows claimed by the poller: once one is handled its user's next may be claimed.
        self._in_turn: set[int] = set()

    # ---- start and stop -------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._queue = asyncio.Queue()
        await self.consumer.start()
        self._loop_task = asyncio.create_task(self._worker_loop(), name="whatsapp-inbox")
        self._poller = asyncio.create_task(self._poll_loop(), name="whatsapp-inbox-poll")
        log.info("whatsapp: inbox worker started")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._queue.put_nowait(None)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, 5)
            except (TimeoutError, asyncio.CancelledError):
                self._loop_task.cancel()
            self._loop_task = None
        if self._running:
            await asyncio.wait(self._running, timeout=10)
        await self.consumer.stop()  # rows handed over but not started go back in line
        self._in_turn.clear()

    # ---- the webhook ----------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        expected = self.verify_token
        given = query.get("hub.verify_token", "")
        if (
            query.get("hub.mode") == "subscribe"
            and expected is not None
            and hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
        ):
            return web.Response(text=query.get("hub.challenge", ""))
        return web.Response(status=403, text="forbidden")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        secret = self.app_secret
        if secret is None or not signature_ok(
            secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)
        ):
            metrics.ERRORS.labels(CHANNEL, "signature").inc()
            return web.json_response({"ok": False, "error": "bad signature"}, status=401)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            return web.json_response({"ok": False, "error": "bad body"}, status=400)
        if not isinstance(parsed, dict) or parsed.get("object") != "whatsapp_business_account":
            return web.json_response({"ok": True, "ignored": True})
        await self._store(body.decode(), queue.order_of(parsed))
        return web.json_response({"ok": True})

    async def _store(self, body: str, order: queue.Order | None = None) -> None:
        """Store a delivery durably. Deliveries arriving together share one transaction
        (group commit): a busy webhook costs one write per batch, not per POST."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((body, order or queue.order_of(body), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            working = self._loop_task is not None and not self._stopping
            try:
                async with self.sessionmaker() as db, db.begin():
                    stored = await queue.store(db, [body for body, _, _ in batch],
                                               self.consumer.claimed() if working else None,
                                               [order for _, order, _ in batch])
            except Exception as error:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            if working:
                held = [item for item in stored if item[1] > 0]  # claimed at insert
                self.consumer.hold(item[0] for item in held)
                for item in held:
                    self._queue.put_nowait(item)
                if len(held) < len(stored):
                    self._wake.set()  # users' messages: claimed in their turn
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    # ---- the worker and the poller --------------------------------------------------------

    async def _worker_loop(self) -> None:
        """Runs the deliveries handed over by the webhook and by the poller."""
        while True:
            item = await self._queue.get()
            if item is None or self._stopping:
                return
            await self._slots.acquire()
            task = asyncio.create_task(self._run(*item))
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def _poll_loop(self) -> None:
        """Claims what no worker holds: deliveries stored by a process that stopped or
        crashed before handling them, and rows whose lease ran out."""
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self._claim()
                OUTAGE.recovered()
            except Exception as error:
                if is_outage(error):
                    OUTAGE.failed("whatsapp inbox", error)
                else:
                    log.exception("whatsapp: claiming from the inbox failed")
                claimed = []
            for item in claimed:
                self._in_turn.add(item[0])
                self._queue.put_nowait(item)
            if claimed and self._queue.qsize() <= self.workers:
                continue  # there may be more; otherwise let the queue shrink first
            await self._maybe_cleanup()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _claim(self) -> list[queue.Item]:
        async with self.sessionmaker() as db, db.begin():
            return await queue.claim(db, self.consumer, self.workers * 2)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def drain(self, seconds: float = 10.0) -> None:
        """Process everything in the inbox now (tests, benchmarks, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            claimed = await self._claim()
            if claimed:
                await asyncio.gather(*(self._run(*item) for item in claimed))
                continue
            if self._running or not self._queue.empty():
                if self._running:
                    await asyncio.wait(set(self._running), timeout=deadline - loop.time())
                else:
                    await asyncio.sleep(0.01)
                continue
            return

    async def _run(self, inbox_id: int, attempts: int, body: str) -> None:
        try:
            await self._run_once(inbox_id, attempts, body)
        finally:
            self.consumer.drop([inbox_id])
            if inbox_id in self._in_turn:
                self._in_turn.discard(inbox_id)
                self._wake.set()  # the user's next delivery may be claimed now

    async def _run_once(self, inbox_id: int, attempts: int, body: str) -> None:
        try:
            finished = await self.process(inbox_id, json.loads(body))
        except Unavailable:
            return  # reported; the row's lease runs out and it is taken again
        except Exception as error:
            if is_outage(error):
                OUTAGE.failed("whatsapp inbox", error)
                return
            # In line again after a backoff; given up after the last attempt.
            log.exception("whatsapp: processing inbox row %s failed", inbox_id)
            async with self.sessionmaker() as db, db.begin():
                given_up = await queue.INBOX.retry(db, [(inbox_id, attempts, repr(error))],
                                                   self.clock())
            if given_up:
                log.error("whatsapp: giving up on inbox row %s after %d attempts", inbox_id,
                          attempts)
            return
        if finished:
            return
        async with self.sessionmaker() as db, db.begin():
            await queue.finish(db, inbox_id)

    # ---- cleanup --------------------------------------------------------------------------

    async def _maybe_cleanup(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_cleanup < 3600:
            return
        self._last_cleanup = loop.time()
        try:
            await self.cleanup()
        except Exception:
            log.exception("whatsapp: cleanup failed")

    async def cleanup(self, keep: timedelta = KEEP_HANDLED) -> None:
        """Forget handled deliveries and ids older than Meta redelivers (7 days)."""
        async with self.sessionmaker() as db, db.begin():
            await queue.purge(db, keep)
            await records.purge_keys(db, keep)
