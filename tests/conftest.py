"""Test harness: the real app on a real temporary SQLite file, one per test.

`make_site(**config)` builds a site; `site.client(username)` is an httpx
client signed in as that user (created on first use with the given role).
`make_site(nntp_port=ANY_PORT)` (or nntps_port, smtp_port) serves on a free port, which
the site's config then names."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from moot.app import create_app
from moot.people import accounts
from moot.store import migrate
from moot.store.config import Config

PASSWORD = "correct horse battery"
ANY_PORT = "any"
# The scrypt cost of test accounts' password hashes. A hash records its cost
# and a sign-in checks it at that cost; Moot's own (accounts.SCRYPT_N) takes
# ~0.4 s of CPU per check, which tests that sign in often need not pay; new
# passwords (registration, a change) are hashed at the same cost
# (MOOT_PASSWORD_COST), in the test's own sites and `moot` processes alike.
ACCOUNT_HASH_N = 2**10


@functools.cache
def password_hash(n: int = ACCOUNT_HASH_N) -> str:
    """One real scrypt hash of PASSWORD, at cost `n`, for every test account."""
    return accounts.hash_password(PASSWORD, n=n)


class TestSite:
    __test__ = False
    hash_n = ACCOUNT_HASH_N  # the scrypt cost of its accounts' password hashes

    def __init__(self, app, config):
        self.app, self.config = app, config
        self.site = app.state.site
        self.db = self.site.db
        self.users: dict[str, accounts.User] = {}
        self._clients: list[httpx.AsyncClient] = []

    async def user(self, username: str, role: str = "member") -> accounts.User:
        if username not in self.users:
            self.users[username] = await accounts.create_user(
                self.db, username, PASSWORD, username.title(), role, password_hash=password_hash(self.hash_n)
            )
        return self.users[username]

    async def client(
        self, username: str | None = None, role: str = "member", *, settle: bool = True
    ) -> httpx.AsyncClient:
        """An in-process client, signed in as `username` if given. A page
        view's read marks are written shortly after its answer (people/
        readstate.py ReadQueue); with `settle` the client waits for them after
        each answer, so a snapshot taken next never races them."""

        async def settled(response: httpx.Response) -> None:
            await self.site.reads.flush()

        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            event_hooks={"response": [settled] if settle else []},
        )
        self._clients.append(client)
        if username is not None:
            user = await self.user(username, role)
            token = await accounts.start_session(self.db, user, days=1)
            client.cookies.set("moot_session", self.app.state.cookies.session_value(token))
        return client

    async def close(self):
        for client in self._clients:
            await client.aclose()

    def snapshot(self) -> dict:
        """Every row of every table except sessions, read through a separate connection."""
        conn = sqlite3.connect(self.config.db_path)
        try:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                    " AND name NOT LIKE 'articles_fts%' AND name NOT IN ('sessions', 'search_indexed')"
                )
            ]
            dump = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
            # What search finds: the index, and the articles beyond its mark that
            # will join it (the writer moves the mark on at any moment).
            dump["fts"] = conn.execute(
                "SELECT id FROM articles_fts_docsize UNION SELECT id FROM articles"
                " WHERE status = 'ok' AND id > (SELECT article_id FROM search_indexed) ORDER BY 1"
            ).fetchall()
            return dump
        finally:
            conn.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that share a worker (an xdist_group: a browser, spamd, INN2, a
    Fedify peer) first, in their order: each group is one long unit, and one
    handed out last would leave the other workers idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)


@pytest.fixture(scope="session")
def empty_database(tmp_path_factory) -> Path:
    """A database holding only the schema, made once per worker: a site starts
    as a copy of it, which costs a fraction of running schema.sql for each."""
    path = tmp_path_factory.mktemp("schema") / "empty.db"
    migrate.upgrade(str(path))
    return path


@pytest.fixture
async def make_site(tmp_path, empty_database):
    """Factory: `await make_site(**config_overrides)` starts a fresh site: a
    copy of `empty_database`, or the database at the `db_path` given, as it is."""
    started = []
    sockets: list[socket.socket] = []

    async def make(**overrides) -> TestSite:
        settings = {
            "db_path": str(tmp_path / f"moot{len(started)}.db"),
            "post_rate": 100000.0,
            "post_burst": 100000,
            "register_rate": 100000.0,
            # Every in-process client is one address: its budgets are off (tests/test_doors.py).
            "http_max_per_address": 0,
            "live_max_per_address": 0,
            "domain": "test.moot",
            "nntp_port": 0,
            "read_connections": 2,
            "endorse_min_age_days": 0,
            "endorse_min_posts": 0,
            # Test accounts start as members; tests of trust levels (test_trust.py) set these.
            "trust_new_days": 0.0,
            "trust_new_posts": 0,
            # New passwords are hashed at the test accounts' cost (a test of hashing under load raises both).
            "password_cost": TestSite.hash_n.bit_length() - 1,
            **overrides,
        }
        if "db_path" not in overrides:
            shutil.copyfile(empty_database, settings["db_path"])
            os.chmod(settings["db_path"], 0o600)  # as Moot makes it (tests/test_site_rules.py)
        # Bound here and handed to the site's servers, so the port is known
        # before they start and never let go in between.
        listeners = {}
        for name in ("nntp", "nntps", "smtp"):
            if settings.get(f"{name}_port") == ANY_PORT:
                sock = socket.create_server(("127.0.0.1", 0))
                sockets.append(sock)
                listeners[name] = sock
                settings[f"{name}_port"] = sock.getsockname()[1]
        config = Config(**settings).checked()
        app = create_app(config, listeners)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        site = TestSite(app, config)
        started.append((site, lifespan))
        return site

    yield make
    for site, lifespan in reversed(started):
        await site.close()
        await lifespan.__aexit__(None, None, None)
    for sock in sockets:
        sock.close()  # the servers closed theirs; this is for a site that failed to start


@pytest.fixture
async def site(make_site) -> TestSite:
    return await make_site()


async def seed(site: TestSite, group: str = "comp.lang.python") -> dict:
    """A group and a thread with one reply, posted by `ada`."""
    admin = await site.client("root", "admin")
    r = await admin.post("/api/groups", json={"name": group, "description": "Python"})
    assert r.status_code == 201, r.text
    ada = await site.client("ada")
    r = await ada.post(f"/api/groups/{group}/threads", json={"subject": "Hello", "body": "First post"})
    assert r.status_code == 201, r.text
    started = r.json()
    r = await ada.post(f"/api/articles/{started['article']['id']}/replies", json={"body": "A reply"})
    assert r.status_code == 201, r.text
    return {
        "thread": started["thread"],
        "root": started["article"],
        "reply": r.json()["article"],
        "admin": admin,
        "ada": ada,
    }
