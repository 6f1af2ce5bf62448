"""The running site: configuration, database, limits, the live hub and the
response cache, built by create_app and shared by every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiosqlite import Connection

from . import accounts
from .config import Config
from .db import Database
from .hub import Hub
from .permissions import User
from .ratelimit import FailureWindow, TokenBucket
from .readstate import ReadQueue
from .response_cache import ResponseCache

FEED_KEYS_PER_HOUR = 5
# Each costs an scrypt hash and none is needed often.
PASSWORD_CHANGES_PER_HOUR = 5
RESET_LINKS_PER_HOUR = 20
RESET_ATTEMPTS_PER_HOUR = 10
# Killfile edits (a regex check starts a process): a burst to set one up, then one a minute.
RULE_EDITS_PER_HOUR = 60
RULE_EDITS_BURST = 30
# A .newsrc import rewrites many groups' marks in one transaction.
NEWSRC_IMPORTS_PER_HOUR = 10


@dataclass
class Site:
    config: Config
    db: Database
    secret: str = ""  # the cookie-signing key, known once started
    hub: Hub = field(init=False)
    responses: ResponseCache = field(init=False)
    stopping: bool = False  # set when the server starts to stop: readiness turns 503
    posts: TokenBucket = field(init=False)
    registrations: TokenBucket = field(init=False)
    login_failures: FailureWindow = field(init=False)
    reads: ReadQueue = field(init=False)
    feed_keys: TokenBucket = field(init=False)  # new notification feed URLs per user
    password_changes: TokenBucket = field(init=False)  # per user
    reset_links: TokenBucket = field(init=False)  # reset links an admin issues, per admin
    reset_attempts: TokenBucket = field(init=False)  # uses of reset links, per address
    rule_edits: TokenBucket = field(init=False)  # killfile changes, per user
    newsrc_imports: TokenBucket = field(init=False)  # .newsrc files taken in, per user  # read marks of page views, written shortly after

    def __post_init__(self) -> None:
        c = self.config
        self.responses = ResponseCache(self.db, max_bytes=c.page_cache_mb * 1024 * 1024)
        self.hub = Hub(self.db, c, on_events=self.responses.mark_dirty)
        self.posts = TokenBucket(c.post_rate / 60, c.post_burst)
        # Each registration costs an scrypt hash: a few per address per minute.
        self.registrations = TokenBucket(c.register_rate / 3600, max(1, int(c.register_rate) // 4))
        self.login_failures = FailureWindow(c.login_attempts, c.login_window)
        self.reads = ReadQueue(self.db)
        # A feed URL is made rarely; a handful an hour leaves room for mistakes.
        self.feed_keys = TokenBucket(FEED_KEYS_PER_HOUR / 3600, FEED_KEYS_PER_HOUR)
        self.password_changes = TokenBucket(PASSWORD_CHANGES_PER_HOUR / 3600, PASSWORD_CHANGES_PER_HOUR)
        self.reset_links = TokenBucket(RESET_LINKS_PER_HOUR / 3600, RESET_LINKS_PER_HOUR)
        self.reset_attempts = TokenBucket(RESET_ATTEMPTS_PER_HOUR / 3600, RESET_ATTEMPTS_PER_HOUR)
        self.rule_edits = TokenBucket(RULE_EDITS_PER_HOUR / 3600, RULE_EDITS_BURST)
        self.newsrc_imports = TokenBucket(NEWSRC_IMPORTS_PER_HOUR / 3600, NEWSRC_IMPORTS_PER_HOUR)

    async def start(self) -> None:
        await self.db.open()
        self.secret = self.config.secret_key or await accounts.get_secret(self.db)
        await self.hub.start()

    async def stop(self) -> None:
        await self.reads.flush()
        await self.hub.stop()
        await self.db.close()

    @asynccontextmanager
    async def posting(self, user: User) -> AsyncIterator[Connection]:
        """The write transaction of a new article: refused (429) while the
        poster's rate is spent; only a post that lands spends from it."""
        self.posts.check(user.id)
        async with self.db.transaction() as conn:
            yield conn
        self.posts.spend(user.id)
