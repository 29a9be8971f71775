"""Pages of a list that grows with the data: one page is fetched with LIMIT and OFFSET,
the number of rows with one COUNT, and a page number past the end shows the last page
(rows may have gone since the buttons were made)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` (from 0) of `count` pages of `size` items, `total` in all."""

    number: int
    size: int
    total: int

    @classmethod
    def of(cls, total: int, number: int, size: int) -> Page:
        if size < 1:
            raise ValueError("a page holds at least one item")
        last = max(0, (total - 1) // size)
        return cls(min(max(number, 0), last), size, total)

    @property
    def count(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return self.number * self.size

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 0 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number + 1 < self.count else None

    def slice(self, items: Sequence[T]) -> list[T]:
        """This page of a list held in memory already."""
        return list(items[self.offset:self.offset + self.size])


async def fetch_page(db: AsyncSession, query: Select[*tuple[Any, ...]], number: int,
                     size: int) -> tuple[list[Any], Page]:
    """The rows of page `number` of an ordered query (single entities as themselves,
    several columns as rows), and the page."""
    total = int((await db.execute(
        select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one())
    page = Page.of(total, number, size)
    result = await db.execute(query.offset(page.offset).limit(page.size))
    rows = list(result.scalars()) if len(query.column_descriptions) == 1 else list(result)
    return rows, page
