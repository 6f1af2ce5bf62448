"""The running site: configuration, database, limits, the live hub and the
response cache, built by create_app and shared by every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiosqlite import Connection

from . import accounts
from .accounts import HASH_WORKERS
from .config import Config
from .db import Database
from .hub import Hub
from .metrics import Metrics
from .permissions import User
from .ratelimit import HashGate, Lockout, TokenBucket
from .response_cache import ResponseCache

T = TypeVar("T")


@dataclass
class Site:
    config: Config
    db: Database
    secret: str = ""  # the cookie-signing key, known once started
    hub: Hub = field(init=False)
    responses: ResponseCache = field(init=False)
    stopping: bool = False  # set when the server starts to stop: readiness turns 503
    metrics: Metrics | None = None  # only when MOOT_METRICS_ALLOW names someone
    posts: TokenBucket = field(init=False)
    registrations: TokenBucket = field(init=False)
    exports: TokenBucket = field(init=False)
    lockout: Lockout = field(init=False)
    hashing: HashGate = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.responses = ResponseCache(self.db, max_bytes=c.page_cache_mb * 1024 * 1024)
        self.hub = Hub(self.db, c, on_events=self.responses.mark_dirty)
        self.posts = TokenBucket(c.post_rate / 60, c.post_burst)
        # Each registration costs an scrypt hash: a few per address per minute.
        self.registrations = TokenBucket(c.register_rate / 3600, max(1, int(c.register_rate) // 4))
        self.exports = TokenBucket(c.export_rate / 3600, max(1, int(c.export_rate) // 4))
        self.lockout = Lockout(c.login_attempts, c.login_address_attempts, c.login_window)
        self.hashing = HashGate(HASH_WORKERS, c.hash_queue)
        self.metrics = Metrics(self) if c.metrics_allow else None

    async def start(self) -> None:
        await self.db.open()
        self.secret = self.config.secret_key or await accounts.get_secret(self.db)
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.db.close()

    @asynccontextmanager
    async def posting(self, user: User) -> AsyncIterator[Connection]:
        """The write transaction of a new article: refused (429) while the
        poster's rate is spent. The token is taken before waiting for the
        write lock (so concurrent posts cannot all pass one check) and given
        back if the post does not land."""
        self.posts.take(user.id)
        try:
            async with self.db.transaction() as conn:
                yield conn
        except BaseException:
            self.posts.refund(user.id)
            raise

    async def post(self, user: User, action: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """posting() in one hop to the writer (Database.run): `action(conn)`
        is the whole write of a new article; the same rate applies, taken
        before the write and given back if the post does not land."""
        self.posts.take(user.id)
        try:
            return await self.db.run(action)
        except BaseException:
            self.posts.refund(user.id)
            raise
