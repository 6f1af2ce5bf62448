"""The running site: configuration, database, limits, the live hub and the
response cache, built by create_app and shared by every adapter."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..people import accounts, registration
from ..people.accounts import HASH_WORKERS
from ..people.readstate import ReadQueue
from ..stewardship import spam, trust
from ..stewardship.permissions import User
from ..store.config import Config
from ..store.db import Database
from .doors import Doors
from .hub import Hub
from .metrics import Metrics
from .ratelimit import HashGate, Lockout, TokenBucket
from .recent import Recent
from .response_cache import ResponseCache
from .spamd import Spamd, Verdict

T = TypeVar("T")

FEED_KEYS_PER_HOUR = 5
# Each costs an scrypt hash and none is needed often.
PASSWORD_CHANGES_PER_HOUR = 5
RESET_LINKS_PER_HOUR = 20
RESET_ATTEMPTS_PER_HOUR = 10
# Reset links asked for by mail: per account asked about, and per client address.
RESET_MAIL_ADDRESS_PER_HOUR = 10
# Killfile edits (a regex check starts a process): a burst to set one up, then one a minute.
RULE_EDITS_PER_HOUR = 60
RULE_EDITS_BURST = 30
# A .newsrc import rewrites many groups' marks in one transaction.
NEWSRC_IMPORTS_PER_HOUR = 10
# Draft saves: a client saves on blur and at most every 10 s; a burst covers
# moving between fields, then one in 5 s keeps drafts off the writer's back.
DRAFT_SAVES_PER_HOUR = 720
DRAFT_SAVES_BURST = 10


@dataclass
class Site:
    config: Config
    db: Database
    secret: str = ""  # the cookie-signing key, known once started
    hub: Hub = field(init=False)
    responses: ResponseCache = field(init=False)
    recent: Recent = field(init=False)  # what readers' requests read about them, kept briefly
    stopping: bool = False  # set when the server starts to stop: readiness turns 503
    metrics: Metrics | None = None  # only when MOOT_METRICS_ALLOW names someone
    trust_rules: trust.Rules = field(init=False)  # MOOT_TRUST_*: who is new, and what that limits
    posts: TokenBucket = field(init=False)
    new_posts: TokenBucket = field(init=False)  # new accounts' posting rate: a fraction of everyone's
    registrations: registration.SignupLimit = field(init=False)  # sign-ups per address, kept in the database
    exports: TokenBucket = field(init=False)
    lockout: Lockout = field(init=False)
    hashing: HashGate = field(init=False)
    reads: ReadQueue = field(init=False)  # read marks of page views, written shortly after
    feed_keys: TokenBucket = field(init=False)  # new notification feed URLs per user
    password_changes: TokenBucket = field(init=False)  # per user
    reset_links: TokenBucket = field(init=False)  # reset links an admin issues, per admin
    reset_attempts: TokenBucket = field(init=False)  # uses of reset links, per address
    reset_mail_addresses: TokenBucket = field(init=False)  # the same, per client address
    rule_edits: TokenBucket = field(init=False)  # killfile changes, per user
    newsrc_imports: TokenBucket = field(init=False)  # .newsrc files taken in, per user
    draft_saves: TokenBucket = field(init=False)  # drafts saved or discarded, per user
    # DKIM key lookups of incoming mail (moot.mail.identity.TxtLookup); None: the system's DNS.
    dkim_dns: Callable[..., bytes | None] | None = None
    spamd: Spamd | None = field(init=False)  # MOOT_SPAMD: None when scoring is off
    doors: Doors = field(init=False)  # budgets per client on every listener

    def __post_init__(self) -> None:
        c = self.config
        self.responses = ResponseCache(self.db, max_bytes=c.page_cache_mb * 1024 * 1024)
        # The same bound on other processes' commits as the response cache's.
        self.recent = Recent(self.db, ttl=self.responses.recheck)
        # Who a session cookie belongs to changes only with these tables (the
        # groups an account moderates included): a reader's session outlives
        # the posts and read marks of others.
        # Every post counts one more article of its author (users.posts): that
        # alone keeps the readers' sessions, whose count may then lag by the
        # recheck bound, which can only delay an account's next trust level.
        self.sessions = Recent(
            self.db,
            ttl=self.responses.recheck,
            tables=("users", "sessions", "group_moderators"),
            ignoring=("users.posts",),
        )
        # The account a confirmed mail address belongs to (server/mail/inbound.py),
        # kept the same way: a member's next mail to a list needs no read.
        self.members = Recent(
            self.db,
            ttl=self.responses.recheck,
            tables=("users", "mail_addresses", "group_moderators"),
            ignoring=("users.posts",),
        )
        self.hub = Hub(self.db, c, on_events=self._events_seen)
        self.trust_rules = trust.Rules.from_config(c)
        self.posts = TokenBucket(c.post_rate / 60, c.post_burst)
        share = c.trust_new_rate_fraction
        self.new_posts = TokenBucket(c.post_rate * share / 60, max(1, int(c.post_burst * share)))
        self.registrations = registration.SignupLimit(self.db, c.register_rate)
        self.exports = TokenBucket(c.export_rate / 3600, max(1, int(c.export_rate) // 4))
        self.lockout = Lockout(c.login_attempts, c.login_address_attempts, c.login_window)
        self.hashing = HashGate(HASH_WORKERS, c.hash_queue)
        self.metrics = Metrics(self) if c.metrics_allow else None
        self.doors = Doors(c)
        self.reads = ReadQueue(self.db)
        # A feed URL is made rarely; a handful an hour leaves room for mistakes.
        self.feed_keys = TokenBucket(FEED_KEYS_PER_HOUR / 3600, FEED_KEYS_PER_HOUR)
        self.password_changes = TokenBucket(PASSWORD_CHANGES_PER_HOUR / 3600, PASSWORD_CHANGES_PER_HOUR)
        self.reset_links = TokenBucket(RESET_LINKS_PER_HOUR / 3600, RESET_LINKS_PER_HOUR)
        self.reset_attempts = TokenBucket(RESET_ATTEMPTS_PER_HOUR / 3600, RESET_ATTEMPTS_PER_HOUR)
        self.reset_mail_addresses = TokenBucket(
            RESET_MAIL_ADDRESS_PER_HOUR / 3600, RESET_MAIL_ADDRESS_PER_HOUR
        )
        self.rule_edits = TokenBucket(RULE_EDITS_PER_HOUR / 3600, RULE_EDITS_BURST)
        self.newsrc_imports = TokenBucket(NEWSRC_IMPORTS_PER_HOUR / 3600, NEWSRC_IMPORTS_PER_HOUR)
        self.draft_saves = TokenBucket(DRAFT_SAVES_PER_HOUR / 3600, DRAFT_SAVES_BURST)
        address = c.spamd_address
        self.spamd = Spamd(*address, c.spamd_timeout, spam.Policy.from_config(c)) if address else None

    def _events_seen(self) -> None:
        """The hub found new events (of any process): what was kept may predate them."""
        self.responses.mark_dirty()
        self.recent.clear()

    async def start(self) -> None:
        await self.db.open()
        self.secret = self.config.secret_key or await accounts.get_secret(self.db)
        await self.hub.start()

    async def stop(self) -> None:
        await self.reads.flush()
        if self.spamd is not None:
            await self.spamd.settle()
        await self.hub.stop()
        await self.db.close()

    async def post(self, user: User, action: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """The write of a new article (or an edit), `action(conn)`, in one hop
        to the writer (Database.run). Refused (429) while the poster's rate is
        spent: the token is taken before the write (so concurrent posts cannot
        all pass one check) and given back if the post does not land. A new
        account (trust.held_as_new) spends from `new_posts`, a fraction of
        everyone's rate; this is the one place either is applied."""
        new = trust.held_as_new(user, self.trust_rules)
        if new and self.config.register_confirm_mail and self.config.smtp_url:
            action = registration.confirmed_first(user, action)  # Unconfirmed (403) until it is
        bucket = self._bucket(user)
        bucket.take(user.id)
        try:
            return await self.db.run(action)
        except BaseException:
            bucket.refund(user.id)
            raise

    def _bucket(self, user: User) -> TokenBucket:
        """The posting rate `user` spends from: a new account's share, or everyone's."""
        return self.new_posts if trust.held_as_new(user, self.trust_rules) else self.posts

    async def spam_verdict(self, user: User | None, message: bytes) -> Verdict | None:
        """spamd's verdict on `message`, an article `user` (None: a stranger's
        mail) is about to post; None when scoring is off. Asked only while the
        user may post (RateLimited, 429, otherwise): a posting token is held
        while spamd reads and given back for `post` to take, so neither a
        poster past their rate nor a burst of a poster's requests at once can
        keep more of spamd busy than their burst allows."""
        if self.spamd is None:
            return None
        if user is None:
            return await self.spamd.verdict(message)
        bucket = self._bucket(user)
        bucket.take(user.id)
        try:
            return await self.spamd.verdict(message)
        finally:
            bucket.refund(user.id)
