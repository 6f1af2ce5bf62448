"""The running site: configuration, database, limits and cookies, built by
create_app and reached by every adapter as `request.app.state.site`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from . import accounts
from .config import Config
from .db import Database
from .response_cache import ResponseCache
from .hub import Hub
from .metrics import Metrics
from .permissions import User
from .ratelimit import FailureWindow, TokenBucket
from .security import Cookies


@dataclass
class Site:
    config: Config
    db: Database
    cookies: Cookies | None = None
    hub: Hub | None = None
    responses: ResponseCache | None = None
    stopping: bool = False  # set when the server starts to stop: readiness turns 503
    metrics: Metrics | None = None  # only when MOOT_METRICS_ALLOW names someone
    posts: TokenBucket = field(init=False)
    registrations: TokenBucket = field(init=False)
    login_failures: FailureWindow = field(init=False)

    def __post_init__(self):
        c = self.config
        self.posts = TokenBucket(c.post_rate / 60, c.post_burst)
        # Each registration costs an scrypt hash: a few per address per minute.
        self.registrations = TokenBucket(c.register_rate / 3600, max(1, int(c.register_rate) // 4))
        self.login_failures = FailureWindow(c.login_attempts, c.login_window)
        if c.metrics_allow:
            self.metrics = Metrics(self)

    async def start(self) -> None:
        await self.db.open()
        secret = self.config.secret_key or await accounts.get_secret(self.db)
        self.cookies = Cookies(secret, secure=self.config.secure_cookies,
                               session_days=self.config.session_days)
        self.responses = ResponseCache(self.db, max_bytes=self.config.page_cache_mb * 1024 * 1024)
        self.hub = Hub(self.db, self.config, on_events=self.responses.mark_dirty)
        await self.hub.start()

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        await self.db.close()

    async def user(self, conn: HTTPConnection) -> User | None:
        """The signed-in user of a request or WebSocket, looked up once per request."""
        if "user" not in conn.scope.setdefault("moot", {}):
            token = self.cookies.session_token(conn)
            conn.scope["moot"]["user"] = await accounts.session_user(self.db, token) if token else None
        return conn.scope["moot"]["user"]

    @asynccontextmanager
    async def posting(self, user: User):
        """The write transaction of a new article: refused (429) while the
        poster's rate is spent; only a post that lands spends from it."""
        self.posts.check(user.id)
        async with self.db.transaction() as conn:
            yield conn
        self.posts.spend(user.id)
