"""Profiles, the account page and password reset against the real app:
JSON and forms without JavaScript, `w3m -dump` of the pages, the CLI's reset
link, and refusals (wrong password, used or forged links, other people,
limits under concurrency) that change nothing."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess

from moot.people import accounts
from tests.conftest import PASSWORD, seed
from tests.db_support import rows
from tests.processes import moot
from tests.test_textbrowser import w3m

NEW_PASSWORD = "a brand new password"


def dump(html: str) -> str:
    out = subprocess.run(
        [w3m(), "-dump", "-T", "text/html", "-cols", "100", "-O", "UTF-8"],
        input=html.encode("utf-8"),
        capture_output=True,
        timeout=30,
        check=True,
    )
    return out.stdout.decode("utf-8")


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def test_profiles_json_page_paging_and_links(site):
    s = await seed(site)
    anon = await site.client()
    for n in range(3):
        await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"More {n}"})
    r = await anon.get("/api/users/ada", params={"limit": 2})
    got = r.json()
    assert got["user"] == {
        "username": "ada",
        "display_name": "Ada",
        "role": "member",
        "created_at": got["user"]["created_at"],
        "article_count": 5,
        "trust": "member",
        "suspended_until": None,
        "suspension_reason": None,
    }
    assert [a["body"] for a in got["articles"]] == ["More 2", "More 1"]
    r = await anon.get("/api/users/ada", params={"limit": 2, "cursor": got["next_cursor"]})
    assert [a["body"] for a in r.json()["articles"]] == ["More 0", "A reply"]
    assert (await anon.get("/api/users/nobody")).status_code == 404
    assert (await anon.get("/api/users/ada", params={"cursor": "x"})).status_code == 400

    page = (await anon.get("/u/ada")).text
    text = dump(page)
    assert re.search(r"Articles\s+5", text) and re.search(r"Username\s+ada", text), text
    assert "More 2" in text and 'href="/search?author=ada"' in page
    assert (await anon.get("/u/nobody")).status_code == 404
    # author names on thread pages lead to the profile
    thread = (await anon.get(f"/t/{s['thread']['id']}")).text
    assert '<a class="author" href="/u/ada" title="ada">Ada</a>' in thread


async def test_account_page_without_javascript_and_in_w3m(site):
    await seed(site)
    ada = await site.client("ada")
    page = (await ada.get("/account")).text
    text = dump(page)
    for words in (
        "Your account",
        "Display name",
        "Change the password",
        "Where you are signed in",
        "(this one)",
        "Sign out everywhere",
        "Delete your account",
    ):
        assert words in text, words
    token = csrf(page)
    r = await ada.post("/account/name", data={"csrf": token, "display_name": "Ada L."})
    assert r.status_code == 200 and "Your display name is changed." in r.text and "Ada L." in r.text
    r = await ada.post("/account/name", data={"csrf": token, "display_name": "x\x01"})
    assert r.status_code == 400 and 'class="form-error"' in r.text
    assert (
        await ada.post("/account/name", data={"csrf": "forged", "display_name": "Evil"})
    ).status_code == 403
    assert (await ada.get("/api/me")).json()["user"]["display_name"] == "Ada L."
    assert (await (await site.client()).get("/account")).headers["location"].startswith("/login")


async def test_password_change_ends_other_sessions_and_is_limited(site):
    await site.user("ada")
    here, there = await site.client("ada"), await site.client("ada")
    assert len((await here.get("/api/me/sessions")).json()["sessions"]) == 2
    before = site.snapshot()
    r = await here.post(
        "/api/me/password", json={"current_password": "wrong password", "new_password": NEW_PASSWORD}
    )
    # a signed-in member gave only a password: it is the password that is wrong
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("wrong password:")
    r = await here.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 400
    assert site.snapshot() == before
    r = await here.post("/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.json() == {"ended_sessions": 1}
    assert (await there.get("/api/me")).status_code == 401 and (await here.get("/api/me")).status_code == 200
    assert await accounts.authenticate(site.db, "ada", NEW_PASSWORD) is not None

    # Five attempts an hour per account (the wrong password above was one),
    # however many arrive at once; one address also has one password hash in
    # flight at a time, so a burst may get fewer through, never more.
    results = await asyncio.gather(
        *(
            here.post(
                "/api/me/password", json={"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD}
            )
            for _ in range(30)
        )
    )
    statuses = [r.status_code for r in results]
    assert set(statuses) <= {200, 429} and 1 <= statuses.count(200) <= 3

    r = await here.post("/api/me/sign-out-everywhere", json={})
    assert r.status_code == 204 and 'moot_session=""' in r.headers["set-cookie"]
    assert rows(site, "SELECT count(*) FROM sessions WHERE user_id = ?", (site.users["ada"].id,)) == [(0,)]


async def test_one_session_signs_out_by_its_public_id(site):
    await site.user("ada")
    await site.user("grace")
    here, there, phone = await site.client("ada"), await site.client("ada"), await site.client("ada")
    listed = (await here.get("/api/me/sessions")).json()["sessions"]
    assert len(listed) == 3
    other = next(s for s in listed if not s["current"])
    grace = await site.client("grace")
    before = site.snapshot()
    for bad in ("0" * 12, "ABCDEF012345", other["id"][:6], "x" * 200):
        assert (await here.delete(f"/api/me/sessions/{bad}")).status_code == 404
    assert (await grace.delete(f"/api/me/sessions/{other['id']}")).status_code == 404  # not hers
    assert (await (await site.client()).delete(f"/api/me/sessions/{other['id']}")).status_code == 401
    assert site.snapshot() == before
    assert (await here.delete(f"/api/me/sessions/{other['id']}")).status_code == 204
    assert (await here.delete(f"/api/me/sessions/{other['id']}")).status_code == 404  # gone already
    statuses = sorted([(await c.get("/api/me")).status_code for c in (here, there, phone)])
    assert statuses == [200, 200, 401]  # exactly the one named

    # The account page: a plain form per session; ending one's own signs out here.
    page = (await here.get("/account")).text
    assert page.count('action="/account/end-session"') == 2
    current = next(s for s in (await here.get("/api/me/sessions")).json()["sessions"] if s["current"])
    r = await here.post("/account/end-session", data={"csrf": csrf(page), "session": current["id"]})
    assert r.status_code == 303 and 'moot_session=""' in r.headers["set-cookie"]
    assert (await here.get("/api/me")).status_code == 401
    assert len(rows(site, "SELECT id FROM sessions WHERE user_id = ?", (site.users["ada"].id,))) == 1


async def test_deleting_an_account_keeps_articles_as_a_former_member(site):
    s = await seed(site)
    ada, anon = s["ada"], await site.client()
    bob = await site.client("bob")
    await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "hi @ada"})
    assert "Ada" in (await anon.get(f"/t/{s['thread']['id']}")).text  # the page is cached now
    before = site.snapshot()
    assert (await ada.post("/api/me/delete", json={"password": "wrong password"})).status_code == 401
    assert site.snapshot() == before
    r = await ada.post("/api/me/delete", json={"password": PASSWORD})
    assert r.status_code == 204
    page = (await anon.get(f"/t/{s['thread']['id']}")).text  # the cached page is dropped, not stale
    assert "former member" in page and ">Ada</a>" not in page
    thread = (await anon.get(f"/api/threads/{s['thread']['id']}")).json()["articles"]
    assert [a["author"] for a in thread[:2]] == [{"username": None, "display_name": "former member"}] * 2
    assert [a["body"] for a in thread[:2]] == ["First post", "A reply"]  # the words stay
    assert (await anon.get("/api/users/ada")).status_code == 404
    assert (await ada.get("/api/me")).status_code == 401
    assert await accounts.authenticate(site.db, "ada", PASSWORD) is None
    found = (await anon.get("/api/search", params={"q": "author:Ada"})).json()["results"]
    assert found == []
    assert rows(site, "SELECT count(*) FROM notifications WHERE user_id = ?", (site.users["ada"].id,)) == [
        (0,)
    ]
    assert moot("check", "--db", site.config.db_path, check=False).returncode == 0
    # The name is free again, and the new ada is someone else.
    r = await (await site.client()).post("/api/register", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 201
    # The last admin cannot leave.
    root = await site.client("root", "admin")
    assert (await root.post("/api/me/delete", json={"password": PASSWORD})).status_code == 409


async def test_reset_links_from_the_command_line_and_from_an_admin(site):
    await seed(site)
    ada_elsewhere = await site.client("ada")
    result = moot("reset-password", "ada", "--db", site.config.db_path, "--base-url", "http://testserver")
    link = result.stdout.strip()
    assert link.startswith("http://testserver/reset/") and "valid for 60 minutes" in result.stderr
    path = link.removeprefix("http://testserver")
    token = path.rsplit("/", 1)[1]
    assert rows(site, "SELECT count(*) FROM password_resets WHERE token_hash = ?", (token,)) == [
        (0,)
    ]  # hashed

    visitor = await site.client()
    page = (await visitor.get(path)).text
    assert "For the account <strong>ada</strong>" in page
    for forged in (path[:-1] + ("0" if path[-1] != "0" else "1"), "/reset/abc.def", "/reset/" + "x" * 200):
        assert (await visitor.get(forged)).status_code == 404
    r = await visitor.post(path, data={"csrf": csrf(page), "password": NEW_PASSWORD, "password2": "other"})
    assert r.status_code == 400 and "the passwords differ" in r.text
    r = await visitor.post(
        path, data={"csrf": csrf(page), "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faccount&changed=ada"
    assert (await ada_elsewhere.get("/api/me")).status_code == 401  # every session ended
    assert await accounts.authenticate(site.db, "ada", NEW_PASSWORD) is not None
    assert (await visitor.get(path)).status_code == 404  # used once
    r = await visitor.post("/api/reset", json={"token": token, "password": PASSWORD})
    assert r.status_code == 404

    # An admin issues one over the API; members cannot; it expires after an hour.
    admin = await site.client("root", "admin")
    assert (await (await site.client("bob")).post("/api/users/ada/reset-link", json={})).status_code == 403
    assert (await visitor.post("/api/users/ada/reset-link", json={})).status_code == 401
    assert (await admin.post("/api/users/nobody/reset-link", json={})).status_code == 404
    r = await admin.post("/api/users/ada/reset-link", json={})
    assert r.status_code == 201 and r.json()["expires_in"] == 3600
    fresh = r.json()["url"].rsplit("/", 1)[1]
    conn = sqlite3.connect(site.config.db_path)
    conn.execute("UPDATE password_resets SET expires_at = '2000-01-01T00:00:00.000Z'")
    conn.commit()
    conn.close()
    r = await visitor.post("/api/reset", json={"token": fresh, "password": PASSWORD})
    assert r.status_code == 404
    # Of two concurrent uses of one link, one wins.
    r = await admin.post("/api/users/ada/reset-link", json={})
    fresh = r.json()["url"].rsplit("/", 1)[1]
    results = await asyncio.gather(
        *(visitor.post("/api/reset", json={"token": fresh, "password": PASSWORD}) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 404]
    # From the profile page, shown once.
    page = (await admin.get("/u/ada")).text
    r = await admin.post("/u/ada/reset-link", data={"csrf": csrf(page)})
    assert r.status_code == 200 and re.search(r'value="http://testserver/reset/[^"]+"', r.text)


async def test_people_found_by_the_start_of_their_username_for_mentions(site):
    s = await seed(site)
    for name in ("chidi", "chiara", "charlie", "bob"):
        await site.client(name)
    await site.client("chx")
    anon = await site.client()
    assert (await anon.get("/api/people?prefix=ch")).status_code == 401
    r = await s["ada"].get("/api/people?prefix=CH")
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-cache"
    assert [p["username"] for p in r.json()["people"]] == ["charlie", "chiara", "chidi", "chx"]
    assert r.json()["people"][0] == {"username": "charlie", "display_name": "Charlie"}
    assert [p["username"] for p in (await s["ada"].get("/api/people?prefix=chi")).json()["people"]] == [
        "chiara",
        "chidi",
    ]
    assert (await s["ada"].get("/api/people?prefix=zz")).json() == {"people": []}
    # a deleted account is not offered
    chx = await site.client("chx")
    r = await chx.post("/api/me/delete", json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    found = (await s["ada"].get("/api/people?prefix=ch")).json()["people"]
    assert "chx" not in [p["username"] for p in found]
    for bad in ("", "a b", "x" * 33, "é", "%25"):
        r = await s["ada"].get("/api/people", params={"prefix": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid", (bad, r.text)
    assert (await s["ada"].get("/api/people")).status_code == 400


async def test_the_account_page_deletes_an_account_once_confirmed_and_says_it_is_gone(site):
    await seed(site)
    bob = await site.client("bob")
    token = re.search(r'name="csrf" value="([^"]+)"', (await bob.get("/account")).text).group(1)
    before = site.snapshot()
    r = await bob.post("/account/delete", data={"csrf": token, "password": PASSWORD})
    assert r.status_code == 400 and "tick the box to confirm" in r.text
    r = await bob.post("/account/delete", data={"csrf": token, "password": "not it", "confirm": "delete"})
    assert r.status_code == 401 and "wrong password" in r.text
    assert site.snapshot() == before
    r = await bob.post("/account/delete", data={"csrf": token, "password": PASSWORD, "confirm": "delete"})
    assert r.status_code == 303 and r.headers["location"] == "/?account-deleted"
    page = (await bob.get(r.headers["location"])).text
    assert "Your account is deleted." in page and 'href="/account"' not in page  # signed out
