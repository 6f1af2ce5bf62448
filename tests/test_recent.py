"""A signed-in reader's session and own page parts are kept briefly in memory
(server/recent.py); every change to them shows on the very next request, here
and, within the recheck bound, in another process sharing the database.

Each test first warms what is kept (the same page twice, right before the
change), so a cache that missed the change would answer from stale memory."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from moot.people import accounts
from moot.runtime.recent import Recent
from moot.store.db import Database
from tests.conftest import PASSWORD, password_hash, seed
from tests.processes import start_process, stop_process, tls

NEW_PASSWORD = "another long password"


def signed_in_as(page: str, username: str) -> bool:
    return f'title="Your account: {username} (' in page


async def warm(client: httpx.AsyncClient, path: str, username: str) -> str:
    """The page twice (the second from what was kept), checked signed in."""
    for _ in range(2):
        page = (await client.get(path)).text
        assert signed_in_as(page, username)
    return page


async def same_session(site, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second client carrying the very same session cookie."""
    twin = await site.client()
    twin.cookies.set("moot_session", client.cookies["moot_session"])
    return twin


async def test_every_way_a_session_ends_shows_on_the_next_request(site):
    s = await seed(site)
    path = f"/t/{s['thread']['id']}"
    await site.user("grace")

    async def pair() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        here = await site.client("grace")
        there = await same_session(site, here)
        await warm(there, path, "grace")
        return here, there

    # Signing out, by the API and by the form.
    here, there = await pair()
    assert (await here.post("/api/logout", json={})).status_code in (200, 204)
    assert not signed_in_as((await there.get(path)).text, "grace")
    assert (await there.get("/api/me")).status_code == 401

    # Ending one session by its public id, from another session of the same account.
    here, there = await pair()
    other = await site.client("grace")
    listed = (await other.get("/api/me/sessions")).json()["sessions"]
    token = there.cookies["moot_session"]
    target = next(
        s["id"]
        for s in listed
        if not s["current"]
        and accounts._token_key(site.app.state.cookies._session.unsign(token).decode()).startswith(s["id"])
    )
    assert (await other.delete(f"/api/me/sessions/{target}")).status_code == 204
    assert not signed_in_as((await there.get(path)).text, "grace")

    # Signing out everywhere, from another session.
    here, there = await pair()
    other = await site.client("grace")
    assert (await other.post("/api/me/sign-out-everywhere", json={})).status_code == 204
    assert not signed_in_as((await there.get(path)).text, "grace")

    # A new password ends every other session.
    here, there = await pair()
    other = await site.client("grace")
    r = await other.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert not signed_in_as((await there.get(path)).text, "grace")
    assert signed_in_as((await other.get(path)).text, "grace")

    # Deleting the account ends all of them.
    here = await site.client()
    r = await here.post("/api/login", json={"username": "grace", "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    there = await same_session(site, here)
    await warm(there, path, "grace")
    assert (await here.post("/api/me/delete", json={"password": NEW_PASSWORD})).status_code == 204
    assert not signed_in_as((await there.get(path)).text, "grace")


async def test_a_new_role_or_name_shows_on_the_next_request(site):
    s = await seed(site)
    path = f"/t/{s['thread']['id']}"
    grace = await site.client("grace")
    await warm(grace, path, "grace")
    r = await s["admin"].post("/api/users/grace/role", json={"role": "moderator", "reason": "helps"})
    assert r.status_code == 200, r.text
    assert 'title="Your account: grace (moderator)"' in (await grace.get(path)).text
    await warm(grace, path, "grace")
    assert (await grace.put("/api/me", json={"display_name": "Grace H."})).status_code == 200
    assert "Grace H." in (await grace.get(path)).text


async def test_a_readers_own_parts_follow_each_change_at_once(site):
    s = await seed(site)
    tid, path = s["thread"]["id"], f"/t/{s['thread']['id']}"
    grace = await site.client("grace")
    page = (await grace.get(path)).text
    assert page.count('class="newmark"') == 2  # both articles new to her
    await site.site.reads.flush()
    page = await warm(grace, path, "grace")
    assert 'class="newmark"' not in page and 'data-following="0"' in page

    assert (await grace.post(f"/api/threads/{tid}/follow", json={"on": True})).status_code == 200
    page = (await grace.get(path)).text
    assert 'data-following="1"' in page
    await warm(grace, path, "grace")

    assert (await grace.post(f"/api/threads/{tid}/mute", json={"on": True})).status_code == 200
    assert "Unmute this thread" in (await grace.get(path)).text
    assert (await grace.post(f"/api/threads/{tid}/mute", json={"on": False})).status_code == 200
    await warm(grace, path, "grace")

    r = await grace.post("/api/rules", json={"field": "author", "pattern": "ada", "score": -9999})
    assert r.status_code == 201, r.text
    assert "Hidden by your rules" in (await grace.get(path)).text
    assert (await grace.post(f"/api/rules/{r.json()['rule']['id']}/delete", json={})).status_code == 204
    page = await warm(grace, path, "grace")
    assert "Hidden by your rules" not in page and '<span class="count">' not in page

    # A reply by someone else to a thread she follows: a notification, and a new article.
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "More"})
    assert r.status_code == 201, r.text
    page = (await grace.get(path)).text
    assert page.count('class="newmark"') == 1 and '<span class="count">1</span>' in page

    # Marked unread again: the marks come back at once.
    await site.site.reads.flush()
    await warm(grace, path, "grace")
    r = await grace.post(f"/api/articles/{s['root']['id']}/unread", json={})
    assert r.status_code == 200, r.text
    assert (await grace.get(path)).text.count('class="newmark"') == 3


async def test_two_readers_never_share_kept_parts(site):
    s = await seed(site)
    path = f"/t/{s['thread']['id']}"
    grace, alan = await site.client("grace"), await site.client("alan")
    await grace.get(path)
    await site.site.reads.flush()
    await warm(grace, path, "grace")  # grace has read it all; alan has not
    page = (await alan.get(path)).text
    assert signed_in_as(page, "alan") and page.count('class="newmark"') == 2
    assert 'class="newmark"' not in (await grace.get(path)).text


async def test_a_sign_out_in_one_process_reaches_the_other_within_the_recheck_bound(tmp_path):
    from moot.store.db import Database
    from tests.db_support import one_thread_file

    db_path = str(tmp_path / "same.db")
    tid = (await one_thread_file(db_path, "Hello", "First post"))["thread"]["id"]
    db = await Database(db_path, read_connections=1).open()
    try:
        await accounts.create_user(db, "grace", PASSWORD, "Grace", password_hash=password_hash())
    finally:
        await db.close()
    procs = [start_process(db_path, str(tmp_path / f"server{n}.log")) for n in range(2)]
    try:
        urls = [proc.listening().url for proc in procs]
        first, second = (httpx.AsyncClient(base_url=url, timeout=20, verify=tls()) for url in urls)
        async with first, second:
            r = await first.post("/api/login", json={"username": "grace", "password": PASSWORD})
            assert r.status_code == 200, r.text
            second.cookies.set("moot_session", first.cookies["moot_session"])
            path = f"/t/{tid}"
            await warm(second, path, "grace")
            assert (await first.post("/api/logout", json={})).status_code in (200, 204)
            ended = time.monotonic()
            while signed_in_as((await second.get(path)).text, "grace"):
                # The recheck bound is a quarter of a second; allow a loaded machine plenty.
                assert time.monotonic() - ended < 10, "the other process kept a session that ended"
                await asyncio.sleep(0.05)
    finally:
        for proc in procs:
            stop_process(proc)


@contextlib.asynccontextmanager
async def database(tmp_path):
    db = Database(str(tmp_path / "recent.db"), read_connections=1)
    # made before open(), as the site makes its own
    yield db
    await db.close()


async def commit(db, sql="INSERT INTO settings (key, value) VALUES (?, 'v')", params=None):
    async with db.transaction() as conn:
        await conn.execute(sql, params if params is not None else (f"k{time.monotonic_ns()}",))


async def test_requests_that_miss_together_share_one_read_but_never_across_a_commit(tmp_path):
    async with database(tmp_path) as db:
        recent = Recent(db, ttl=60)
        await db.open()
        reads = []
        gate = asyncio.Event()

        async def read():
            n = len(reads)
            reads.append(n)
            await gate.wait()
            return f"value {n}", 60

        first = [asyncio.ensure_future(recent.value("k", read)) for _ in range(5)]
        await asyncio.sleep(0)
        assert len(reads) == 1  # five misses, one read
        await commit(db)  # a commit lands while it is under way: a later request reads afresh
        later = asyncio.ensure_future(recent.value("k", read))
        await asyncio.sleep(0)
        assert len(reads) == 2
        gate.set()
        assert {await f for f in first} == {"value 0"}
        assert await later == "value 1"
        assert recent.get("k") == "value 1"  # only the read begun after the commit is kept


async def test_values_of_watched_tables_outlive_other_commits(tmp_path):
    async with database(tmp_path) as db:
        kept = Recent(db, ttl=60, tables=("users", "sessions"))
        await db.open()
        ada = await accounts.create_user(db, "ada", PASSWORD, password_hash=password_hash())
        await accounts.start_session(db, ada, days=1)

        async def keep():
            kept.put("k", "v", kept.stamp())
            assert kept.get("k") == "v"

        await keep()
        await commit(db)  # a setting: not a table it watches
        await db.run(lambda conn: conn.execute("INSERT INTO settings (key, value) VALUES ('run', 'v')"))
        assert kept.get("k") == "v"
        for change in (
            "UPDATE users SET display_name = 'Ada L.' WHERE username = ?",
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)",
        ):
            await keep()
            await commit(db, change, ("ada",))
            assert kept.get("k") is None, change
        # a change to a watched table that was rolled back still counts at the next commit
        await keep()
        with contextlib.suppress(ValueError):
            async with db.transaction() as conn:
                await conn.execute("UPDATE users SET role = 'admin'")
                raise ValueError
        await commit(db)
        assert kept.get("k") is None


async def test_an_ignored_column_alone_keeps_the_values_and_others_still_clear_them(tmp_path):
    """The sessions' values outlive a post's count (users.posts) but not another
    change of the same row, nor a listener of the whole table."""
    async with database(tmp_path) as db:
        kept = Recent(db, ttl=60, tables=("users", "sessions"), ignoring=("users.posts",))
        whole = Recent(db, ttl=60, tables=("users",))
        await db.open()
        await accounts.create_user(db, "ada", PASSWORD, password_hash=password_hash())

        async def keep():
            for recent in (kept, whole):
                recent.put("k", "v", recent.stamp())

        await keep()
        await commit(db, "UPDATE users SET posts = posts + 1 WHERE username = ?", ("ada",))
        assert (kept.get("k"), whole.get("k")) == ("v", None)
        await keep()
        await commit(db, "UPDATE users SET posts = posts + 1, role = 'admin' WHERE username = ?", ("ada",))
        assert (kept.get("k"), whole.get("k")) == (None, None)


async def test_a_shared_read_that_fails_leaves_each_waiter_to_read_for_itself():
    recent = Recent(Database(":memory:"), ttl=60)
    gate = asyncio.Event()
    calls = 0

    async def failing():
        nonlocal calls
        calls += 1
        await gate.wait()
        raise RuntimeError("gone")

    async def working():
        return "fine", 60

    leader = asyncio.ensure_future(recent.value("k", failing))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(recent.value("k", working))
    await asyncio.sleep(0)
    gate.set()
    assert await waiter == "fine"
    with contextlib.suppress(RuntimeError):
        await leader
    assert calls == 1
