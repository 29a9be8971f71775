"""Typed questions the knowledge base had no confident answer for, kept so coordinators
see what people ask that it does not cover (/unanswered, the dashboard).

Only the words, the language and the counts are kept, never who asked; the same
question typed again (any case, spacing or Kazakh letters) adds to its count. A
question is deleted `FAQ_UNANSWERED_DAYS` after it was last asked (`purge`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.dialect import insert_for
from bot.db.models import UnansweredQuestion
from bot.db.paging import Page, fetch_page
from bot.services.knowledge import fold

TEXT_LIMIT = 300


def key(text: str) -> str:
    """The same question however it was typed: a digest of its folded words."""
    return hashlib.sha256(fold(text).encode()).hexdigest()


async def record(db: AsyncSession, text: str, language: str, now: datetime) -> None:
    """Count a question without a confident answer (its first wording is kept)."""
    words = " ".join(text.split())[:TEXT_LIMIT]
    if not fold(words):
        return
    insert = insert_for(db)
    statement = insert(UnansweredQuestion).values(
        language=language, key=key(words), text=words, count=1, first_asked=now,
        last_asked=now)
    await db.execute(statement.on_conflict_do_update(
        index_elements=["language", "key"],
        set_={"count": UnansweredQuestion.count + 1, "last_asked": now}))


async def most_asked(db: AsyncSession, page: int, size: int
                     ) -> tuple[list[UnansweredQuestion], Page]:
    """One page of the questions, the most asked first, then the latest."""
    query = select(UnansweredQuestion).order_by(
        UnansweredQuestion.count.desc(), UnansweredQuestion.last_asked.desc(),
        UnansweredQuestion.id)
    return await fetch_page(db, query, page, size)


async def purge(db: AsyncSession, now: datetime, after_days: int) -> int:
    """Delete the questions last asked more than `after_days` ago; how many went."""
    result = await db.execute(delete(UnansweredQuestion).where(
        UnansweredQuestion.last_asked < now - timedelta(days=after_days)))
    return int(getattr(result, "rowcount", 0) or 0)
