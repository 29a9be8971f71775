"""The coordinators' dashboard under data: page render times with 100,000 users and
1,000 forums in the database, on SQLite and on PostgreSQL.

    python -m bench.dashboard                     # temporary SQLite
    python -m bench.dashboard --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python -m bench.dashboard --users 20000 --forums 200 --requests 30   # quicker

It seeds a fresh database (users over the last twelve months on both channels and three
languages, eligibility checks, forums with registrations, announcements with delivery
rows, questions with answers, unanswered typed questions, audit entries), starts the
real web app in this process, signs a lead coordinator in with a one-time link, asks
each page `--requests` times over HTTP (after one warm-up request) and prints p50 and p99
per page, with PASS or MISS against the target (p99 under 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.broadcast import Database
from bot.app import build_app
from bot.clock import now
from bot.config import Settings
from bot.db.models import (
    AuditEntry,
    Broadcast,
    BroadcastDelivery,
    EligibilityCheck,
    Forum,
    HandoverMessage,
    HandoverThread,
    Registration,
    UnansweredQuestion,
    User,
)
from bot.services import dashboard_auth
from bot.web.app import make_web_app

TARGET_MS = 100.0
LEAD = 1
COUNTRIES = ("CN", "MN", "UZ", "RU", "TR", "DE", "US", "KG", "TM", "IR")


async def chunks(db: Any, model: Any, rows: list[dict[str, Any]], size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        await db.execute(insert(model), rows[start:start + size])


async def seed(app: Any, users: int, forum_count: int) -> None:
    rng, moment = random.Random(7), now()
    threads = min(2000, users // 2)
    async with app.engine.sessionmaker() as db, db.begin():
        await chunks(db, User, [{
            "channel": "console" if i == 0 else rng.choice(("telegram", "whatsapp")),
            "external_id": str(LEAD) if i == 0 else str(10_000 + i),
            "language": rng.choice(("kk", "ru", "en")), "display_name": f"User {i}",
            "country": rng.choice(COUNTRIES),
            "created_at": moment - timedelta(minutes=rng.randrange(365 * 24 * 60)),
            "last_seen_at": moment, "announcements": True} for i in range(users)])
        await chunks(db, EligibilityCheck, [{
            "user_id": 2 + rng.randrange(users - 1), "rules_version": "1", "status": "done",
            "verdict": rng.choice(("eligible", "needs_checking", "not_eligible")),
            "country": rng.choice(COUNTRIES), "answers": {}, "path": [], "checklist": {},
            "started_at": (done := moment - timedelta(minutes=rng.randrange(365 * 24 * 60))),
            "updated_at": done, "completed_at": done} for _ in range(users // 3)])
        await chunks(db, Forum, [{
            "slug": f"forum-{i}", "title": {"kk": f"Форум {i}", "ru": f"Форум {i}",
                                            "en": f"Forum {i}"},
            "description": {}, "country": rng.choice(COUNTRIES), "city": {"en": "City"},
            "venue": {"en": "Hall"}, "timezone": "Asia/Almaty",
            "starts_at": (start := moment + timedelta(days=rng.randrange(-300, 300))),
            "ends_at": start + timedelta(hours=8), "deadline": start - timedelta(days=1),
            "event_language": "kk", "capacity": 200, "confirmed_count": 0,
            "status": "published", "created_at": moment, "updated_at": moment}
            for i in range(forum_count)])
        forum_ids = list((await db.execute(select(Forum.id))).scalars())
        await chunks(db, Registration, [{
            "forum_id": forum_ids[i % len(forum_ids)], "user_id": 2 + i % (users - 1),
            "status": "confirmed" if i % 10 else "waiting", "full_name": f"Guest {i}",
            "phone": "+77010000000", "ticket_secret": f"ticket-secret-{i:012d}",
            "checked_in_at": moment if i % 3 == 0 else None, "created_at": moment,
            "updated_at": moment} for i in range(forum_count * 40)])
        await chunks(db, Broadcast, [{
            "status": "done", "texts": {"*": f"News {i}"}, "audience": {}, "total": 5000,
            "started_at": moment, "finished_at": moment, "created_at": moment,
            "updated_at": moment} for i in range(30)])
        await chunks(db, BroadcastDelivery, [{
            "broadcast_id": 1 + i % 30, "user_id": 2 + i % (users - 1), "channel": "telegram",
            "language": "kk", "status": rng.choice(("sent", "delivered", "read", "failed")),
            "attempts": 1} for i in range(min(users, 100_000))])
        await chunks(db, HandoverThread, [{
            "user_id": 2 + i, "status": "open" if i % 4 else "closed",
            "created_at": moment - timedelta(hours=i), "updated_at": moment}
            for i in range(threads)])
        await chunks(db, HandoverMessage, [{
            "thread_id": 1 + i // 2, "direction": "in" if i % 2 == 0 else "out",
            "text": "Question?" if i % 2 == 0 else "Answer.",
            "created_at": moment - timedelta(hours=i // 2) + timedelta(minutes=(i % 2) * 30)}
            for i in range(2 * threads)])
        await chunks(db, UnansweredQuestion, [{
            "language": "ru", "key": f"{i:064d}", "text": f"question {i}", "count": i % 17 + 1,
            "first_asked": moment, "last_asked": moment} for i in range(5000)])
        await chunks(db, AuditEntry, [{
            "actor_id": LEAD, "action": "forum.edit", "subject": "forum", "subject_id": i,
            "before": {"capacity": 100}, "after": {"capacity": 200}, "at": moment}
            for i in range(20_000)])


async def measure(url: str, users: int, forum_count: int, requests: int
                  ) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each page's render times, and its first render (the overview's counts the
    numbers; the later ones read them from its cache)."""
    settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                        public_base_url="http://127.0.0.1", admin_ids=[LEAD])
    app = await build_app(settings)
    started = time.perf_counter()
    await seed(app, users, forum_count)
    print(f"  seeded {users:,} users and {forum_count:,} forums in "
          f"{time.perf_counter() - started:.1f} s")
    # As autovacuum leaves a PostgreSQL table in service: statistics and the visibility
    # map that index-only scans (the audience count) need.
    if url.startswith("postgresql"):
        async with app.db.connect() as connection:
            await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text("VACUUM ANALYZE"))
    client = TestClient(TestServer(make_web_app(app.db, None, None, app.engine)))
    await client.start_server()
    timings: dict[str, list[float]] = {}
    firsts: dict[str, float] = {}
    try:
        async with app.engine.sessionmaker() as db, db.begin():
            token = await dashboard_auth.issue_link(db, 1, now(), 10)
        await client.post("/dashboard/signin", data={"token": token}, allow_redirects=False)
        pages = {"overview": "/dashboard/", "forums": "/dashboard/forums",
                 "forum (40 attendees)": "/dashboard/forums/1",
                 "check-in": "/dashboard/forums/1/checkin",
                 "announcements": "/dashboard/announcements",
                 "compose (live count)": "/dashboard/announcements/new",
                 "questions": "/dashboard/questions",
                 "question": "/dashboard/questions/2", "change log": "/dashboard/audit",
                 "chart CSV": "/dashboard/charts/users-country.csv"}
        for name, path in pages.items():
            begin = time.perf_counter()
            assert (await client.get(path)).status == 200, path  # warm-up
            firsts[name] = (time.perf_counter() - begin) * 1000
            spent = []
            for _ in range(requests):
                begin = time.perf_counter()
                response = await client.get(path)
                await response.read()
                spent.append((time.perf_counter() - begin) * 1000)
                assert response.status == 200, path
            timings[name] = spent
    finally:
        await client.close()
        await app.close()
    return timings, firsts


async def drop(url: str, server: str | None) -> None:
    """The PostgreSQL database made for the run goes at its end."""
    if not server:
        return
    admin = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(
            f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    await admin.dispose()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL server (a database is created)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--forums", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=100)
    options = parser.parse_args()
    database = Database(options.database_url)
    url = await database("dashboard")
    print(f"dashboard pages on {url.split(':', 1)[0]}")
    try:
        timings, firsts = await measure(url, options.users, options.forums, options.requests)
    finally:
        await drop(url, options.database_url)
    print(f"\n{'page':<24}{'first ms':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, spent in timings.items():
        worst = p99(spent)
        verdict = "PASS" if worst < TARGET_MS else "MISS"
        print(f"{name:<24}{firsts[name]:>9.1f}{statistics.median(spent):>9.1f}{worst:>9.1f}"
              f"  {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
