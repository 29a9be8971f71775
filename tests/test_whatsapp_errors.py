"""Meta's errors read in one place, and the number's one limiter: replies go ahead of
broadcast messages, a throttling answer pauses every sender."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels.whatsapp_api import GraphClient
from bot.channels.whatsapp_errors import ErrorKind, GraphError, MetaError
from bot.channels.whatsapp_updates import parse_delivery
from bot.core.events import Identity
from bot.core.ratelimit import BROADCAST, INTERACTIVE, PriorityLimiter
from bot.core.replies import Reply
from tests.fakes.graph_api import FakeGraphAPI, webhook
from tests.test_whatsapp_webhook import WA, make_wa


def _answer(code: int, message: str = "m", **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": "d"},
                      "fbtrace_id": "A1", **extra}}


@pytest.mark.parametrize(("status", "code", "kind"), [
    (400, 130429, ErrorKind.THROTTLED),
    (400, 131056, ErrorKind.THROTTLED),
    (400, 4, ErrorKind.THROTTLED),
    (400, 80007, ErrorKind.THROTTLED),
    (429, 100, ErrorKind.THROTTLED),
    (400, 131047, ErrorKind.OUTSIDE_WINDOW),
    (400, 131026, ErrorKind.UNDELIVERABLE),
    (500, 1, ErrorKind.TEMPORARY),
    (503, 131000, ErrorKind.TEMPORARY),
    (400, 100, ErrorKind.PERMANENT),
    (401, 190, ErrorKind.PERMANENT),
])
def test_api_answers_are_classified(status: int, code: int, kind: ErrorKind) -> None:
    error = MetaError.from_answer(status, _answer(code))
    assert error.code == code and error.status == status
    assert error.kind is kind
    assert error.retryable == (kind in (ErrorKind.THROTTLED, ErrorKind.TEMPORARY))


def test_an_api_answer_keeps_code_subcode_title_and_details() -> None:
    error = MetaError.from_answer(400, _answer(131009, "(#131009) Parameter value is not "
                                               "valid", error_subcode=2494010))
    assert (error.code, error.subcode) == (131009, 2494010)
    assert error.title == "(#131009) Parameter value is not valid"
    assert error.details == "d"
    assert "131009/2494010" in str(error)


def test_unreadable_answers_and_no_answer() -> None:
    for answer in ({}, {"error": "nope"}, [], None):
        error = MetaError.from_answer(502, answer)
        assert error.code is None and error.kind is ErrorKind.TEMPORARY
    assert MetaError.from_answer(400, {"error": {"code": "x"}}).kind is ErrorKind.PERMANENT
    network = MetaError.no_answer("network error", TimeoutError("slow"))
    assert network.status == 0 and network.kind is ErrorKind.TEMPORARY


def test_webhook_errors_are_read_by_the_same_parser() -> None:
    delivery = parse_delivery(webhook({
        "errors": [{"code": 131000, "title": "Something went wrong",
                    "message": "Something went wrong",
                    "error_data": {"details": "Internal error"}}],
        "statuses": [{"id": "wamid.1", "status": "failed", "timestamp": "1",
                      "recipient_id": "77011234567",
                      "errors": [{"code": 131047, "title": "Re-engagement message",
                                  "message": "Re-engagement message"}]}],
    }))
    assert delivery.errors == [MetaError(131000, "Something went wrong", "Internal error")]
    problem = delivery.statuses[0].errors[0]
    assert problem.status is None and problem.kind is ErrorKind.OUTSIDE_WINDOW
    assert problem.title == "Re-engagement message" and problem.details == ""


@pytest.fixture
async def api() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as fake:
        yield fake
        assert fake.violations == [], fake.violations


def _client(api: FakeGraphAPI, limiter: PriorityLimiter, **options: Any) -> GraphClient:
    return GraphClient(api.url, api.version, api.phone_number_id, api.token, limiter,
                       **options)


def _text(to: str) -> dict[str, Any]:
    return {"to": to, "type": "text", "text": {"body": "hi"}}


async def test_the_client_raises_classified_errors(api: FakeGraphAPI) -> None:
    client = _client(api, PriorityLimiter(1000, burst=1000), backoff=0.01, attempts=3)
    try:
        api.fail_next(131047)
        with pytest.raises(GraphError) as outside:
            await client.send_message(_text("77011234567"))
        assert outside.value.kind is ErrorKind.OUTSIDE_WINDOW
        assert len(api.requests) == 1  # not retried
        api.fail_next(1, 500, times=3)
        with pytest.raises(GraphError) as server:
            await client.send_message(_text("77011234567"))
        assert server.value.kind is ErrorKind.TEMPORARY
        assert len(api.requests) == 4  # three attempts
    finally:
        await client.close()


async def test_throttling_pauses_every_sender_of_the_number(api: FakeGraphAPI) -> None:
    client = _client(api, PriorityLimiter(1000, burst=1000), backoff=0.3, attempts=3)
    try:
        api.fail_next(130429)
        started = time.monotonic()
        reply = asyncio.create_task(client.send_message(_text("77010000001"), INTERACTIVE))
        await asyncio.sleep(0.1)  # the 130429 is in: the number is paused
        assert len(api.requests) == 1
        await client.send_message(_text("77010000002"), BROADCAST)
        assert time.monotonic() - started >= 0.28
        await reply
        assert len(api.sent) == 2
    finally:
        await client.close()


@pytest.fixture
async def wa(database_url: str) -> AsyncIterator[WA]:
    async for harness in make_wa(database_url):
        yield harness


async def test_replies_go_ahead_of_broadcast_messages(wa: WA) -> None:
    from bot.channels.broadcast_senders import WhatsAppBroadcaster

    assert wa.channel.limiter is wa.channel.client.limiter
    wa.channel.client.limiter = PriorityLimiter(rate=10)  # one message every 100 ms
    broadcaster = WhatsAppBroadcaster(wa.channel)
    recipients = [f"4930000000{n:02d}" for n in range(10)]
    sending = [asyncio.create_task(broadcaster.send(to, Reply("News"), "1"))
               for to in recipients]
    # The broadcast is running: its first message is out, the others wait their turn.
    arrivals = [asyncio.create_task(wa.api.wait_messages(to, 1)) for to in recipients]
    await asyncio.wait(arrivals, return_when=asyncio.FIRST_COMPLETED)
    for arrival in arrivals:
        arrival.cancel()
    await wa.channel.send_replies(Identity("whatsapp", "KZ.1"), {"to": "77019999999"},
                                  [Reply("Hello")])
    outcomes = await asyncio.gather(*sending)
    assert {outcome.status for outcome in outcomes} == {"sent"}
    order = [sent.recipient for sent in wa.api.sent]
    assert len(order) == 11
    assert order.index("77019999999") <= 4, order  # served next, not after the queue
