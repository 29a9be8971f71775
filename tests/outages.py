"""A database that goes away and comes back, owned by the test (never the machine's
service): PostgreSQL behind a TCP proxy that drops every connection and refuses new
ones; SQLite with its write lock held by another connection."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url


class Proxy:
    """127.0.0.1:<port> forwarded to `target`; `down()` cuts every connection and refuses
    new ones until `up()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update({writer, upstream_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()
            self._open.discard(sink)

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


class Outage:
    """`begin()` and `end()` an outage of the database at `url` (the URL to give the
    bot)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.proxy: Proxy | None = None
        self._lock: sqlite3.Connection | None = None
        self._database = make_url(url).database

    @property
    def postgresql(self) -> bool:
        return self.proxy is not None

    async def begin(self) -> None:
        if self.proxy is not None:
            await self.proxy.down()
            return
        self._lock = sqlite3.connect(str(self._database), isolation_level=None)
        self._lock.execute("BEGIN IMMEDIATE")  # the write lock, held

    async def end(self) -> None:
        if self.proxy is not None:
            await self.proxy.up()
            return
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None


@asynccontextmanager
async def outage_switch(database_url: str) -> AsyncIterator[Outage]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        outage = Outage(database_url)
        try:
            yield outage
        finally:
            await outage.end()
        return
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.up()
    outage = Outage(url.set(host="127.0.0.1", port=proxy.port)
                    .render_as_string(hide_password=False))
    outage.proxy = proxy
    try:
        yield outage
    finally:
        await proxy.down()
