"""Encoded API responses kept in memory and dropped precisely when the events
outbox says their subject changed.

Each entry is filed under topics ("t:12", "g:comp.lang.python", the same
routing keys events carry). A commit in this process marks the cache dirty
at once, so the next read first applies the topics of every event since the
last one it saw: a writer always reads its own write. Commits made by other
processes sharing the database are picked up within `recheck` seconds, and
always before the live hub tells anyone of them (the hub marks the cache
dirty first), so a client that fetches after an event sees it."""

from __future__ import annotations

import asyncio
import hashlib
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from ..store.db import Database, fetch_all
from ..store.events import is_personal

# Past this many unseen events it is cheaper to forget everything.
REPLAY_LIMIT = 5000
ANY_EVENT = "*"
# gzip level 6: within a few per cent of level 9's size on HTML and JSON at a
# third of the time; each entry is compressed once, not per request.
GZIP_LEVEL = 6

try:  # brotli is optional: used when installed, never required
    import brotli  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None


def etag_of(body: bytes) -> str:
    """A strong validator for `body`: its BLAKE2b digest, quoted."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def gzip_bytes(body: bytes) -> bytes:
    """`body` as one gzip member (what Content-Encoding: gzip expects)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


class Encoded:
    """One cached response body, its ETag, and its compressed forms made on first demand."""

    __slots__ = ("body", "etag", "_gzip", "_br", "stored", "markers")

    def __init__(self, body: bytes):
        self.body, self.etag = body, etag_of(body)
        self.markers: object | None = None  # the page taken apart for its readers (web/caching.py)
        self._gzip: bytes | None = None
        self._br: bytes | None = None
        self.stored = time.monotonic()

    def gzip(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip_bytes(self.body)
        return self._gzip

    def br(self) -> bytes | None:
        """Brotli bytes, or None when the brotli package is not installed."""
        if brotli is None:
            return None
        if self._br is None:
            self._br = brotli.compress(self.body, quality=5)
        return self._br

    @property
    def size(self) -> int:
        return len(self.body) + len(self._gzip or b"") + len(self._br or b"")


class Kept:
    """Any value kept in the cache beside encoded responses, with its size in
    bytes and the topics whose events drop it."""

    __slots__ = ("value", "size", "topics", "stored")

    def __init__(self, value: Any, size: int, topics: frozenset[str]):
        self.value, self.size, self.topics = value, size, topics
        self.stored = time.monotonic()


class ResponseCache:
    def __init__(
        self,
        db: Database,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        recheck: float = 0.25,
        max_age: float = 3600.0,
    ):
        self.db, self.max_bytes, self.recheck = db, max_bytes, recheck
        # Pages carry the event id live updates resume from; an hour keeps that id
        # far inside the outbox's retention however quiet the page's topics are.
        self.max_age = max_age
        self._entries: OrderedDict[tuple, tuple[frozenset[str], Encoded | Kept]] = OrderedDict()
        self._by_topic: dict[str, set[tuple]] = {}
        self._bytes = 0
        self._seen: int | None = None  # id of the last event applied; None until the first check
        self._dirty = True
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self.hits = self.misses = 0  # since start (metrics)
        db.add_commit_listener(self.mark_dirty)

    def mark_dirty(self) -> None:
        self._dirty = True

    async def get(self, key: tuple, topics: frozenset[str], build: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached bytes for `key`, or `build()`'s, kept until an event touches `topics`."""
        return (await self.entry(key, topics, build)).body

    async def entry(
        self, key: tuple, topics: frozenset[str], build: Callable[[], Awaitable[bytes]]
    ) -> Encoded:
        """Like get(), with the ETag and compressed forms kept beside the bytes."""

        async def make() -> Encoded:
            return Encoded(await build())

        found = await self._lookup(key, topics, make)
        assert isinstance(found, Encoded)
        return found

    async def kept(self, key: tuple, build: Callable[[], Awaitable[Kept]]) -> Any:
        """Like get() for any value: `build()` gives it with its size and topics."""
        found = await self._lookup(key, frozenset(), build)
        assert isinstance(found, Kept)
        return found.value

    async def _lookup(
        self, key: tuple, topics: frozenset[str], make: Callable[[], Awaitable[Encoded | Kept]]
    ) -> Encoded | Kept:
        if self.max_bytes <= 0:
            return await make()
        await self._catch_up()
        found = self._entries.get(key)
        if found is not None and time.monotonic() - found[1].stored < self.max_age:
            self._entries.move_to_end(key)
            self.hits += 1
            return found[1]
        self.misses += 1
        seen = self._seen
        made = await make()
        # Only keep it if no event was applied while it was built: it might predate one.
        if seen == self._seen and not self._dirty:
            self._store(key, made.topics if isinstance(made, Kept) else topics, made)
        return made

    async def holds(self, key: tuple, encoded: Encoded) -> bool:
        """Whether `encoded` is still what the cache keeps for `key`, once every
        event seen so far is applied (a read through entry() would return it)."""
        if self.max_bytes <= 0:
            return False
        await self._catch_up()
        found = self._entries.get(key)
        if found is None or found[1] is not encoded or time.monotonic() - encoded.stored >= self.max_age:
            return False
        self._entries.move_to_end(key)
        return True

    @property
    def last_event(self) -> int:
        """The id of the last event applied (0 before the first look)."""
        return self._seen or 0

    def compressed(self, key: tuple, encoded: Encoded, coding: str) -> bytes | None:
        """`encoded` in `coding` ('gzip' or 'br'; None when brotli is missing),
        made once and counted against the cache's memory while it is kept."""
        before = encoded.size
        data = encoded.gzip() if coding == "gzip" else encoded.br()
        found = self._entries.get(key)
        if found is not None and found[1] is encoded:
            self._bytes += encoded.size - before
        return data

    async def _catch_up(self) -> None:
        if not self._dirty and time.monotonic() - self._checked < self.recheck:
            return
        async with self._lock:
            if not self._dirty and time.monotonic() - self._checked < self.recheck:
                return
            self._dirty = False
            self._checked = time.monotonic()
            async with self.db.read() as conn:
                if self._seen is None:
                    rows = await fetch_all(conn, "SELECT coalesce(max(id), 0), '' FROM events")
                else:
                    rows = await fetch_all(
                        conn,
                        "SELECT id, topics FROM events WHERE id > ? ORDER BY id LIMIT ?",
                        (self._seen, REPLAY_LIMIT + 1),
                    )
            if self._seen is None or len(rows) > REPLAY_LIMIT:
                self.clear()
                if len(rows) > REPLAY_LIMIT:
                    self._dirty = True  # more to skip past on the next read
            shared = False
            for event_id, topics in rows:
                for topic in topics.split():
                    self._drop_topic(topic)
                    # one reader's own events (read marks) change no shared body
                    shared = shared or not is_personal(topic)
                self._seen = event_id
            if shared and self._seen is not None:
                self._drop_topic(ANY_EVENT)

    def _store(self, key: tuple, topics: frozenset[str], encoded: Encoded | Kept) -> None:
        # Room for the compressed forms too, which are far smaller than the body.
        if encoded.size * 1.25 > self.max_bytes // 8:
            return
        self._discard(key)
        self._entries[key] = (topics, encoded)
        self._bytes += encoded.size
        for topic in topics:
            self._by_topic.setdefault(topic, set()).add(key)
        while self._bytes > self.max_bytes:
            self._discard(next(iter(self._entries)))

    def _discard(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry[1].size
        for topic in entry[0]:
            keys = self._by_topic.get(topic)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_topic[topic]

    def _drop_topic(self, topic: str) -> None:
        for key in list(self._by_topic.get(topic, ())):
            self._discard(key)

    def clear(self) -> None:
        self._entries.clear()
        self._by_topic.clear()
        self._bytes = 0
