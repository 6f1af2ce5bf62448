"""Registration that can be closed (docs/MODERATION.md, "Registration"): the
site's mode (open, approval, invite, closed) set by an admin and logged, the
sign-up form and API in each mode, applications accepted and refused,
single-use expiring invitations, the per-address limit kept in the database,
and mail confirmation before a new account posts, on the web and over NNTP."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3

import httpx

from moot.runtime.doors import client_key
from tests.conftest import ANY_PORT, PASSWORD
from tests.mail_support import confirm_address, mail_settings, relay  # noqa: F401  (a fixture)
from tests.nntp_support import nntplib

NEW_PASSWORD = "a long new password"


async def csrf_of(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    page = await client.get(path)
    return page, re.search(r'name="csrf" value="([^"]+)"', page.text)[1]


async def set_mode(client: httpx.AsyncClient, mode: str, **more) -> httpx.Response:
    return await client.put("/api/registration", json={"mode": mode, **more})


async def test_only_admins_switch_the_mode_each_switch_logged_and_closed_refuses(site):
    admin = await site.client("root", "admin")
    mod, member, anon = await site.client("moe", "moderator"), await site.client("bea"), await site.client()
    assert (await anon.get("/api/registration")).json() == {"mode": "open", "question": ""}
    before = site.snapshot()
    for client, body, status in [
        (anon, {"mode": "closed"}, 401),
        (member, {"mode": "closed"}, 403),
        (mod, {"mode": "closed"}, 403),
        (admin, {"mode": "shut"}, 400),
        (admin, {"mode": "approval"}, 400),  # approval needs a question
        (admin, {"mode": "approval", "question": "x" * 501}, 400),
        (admin, {"mode": ["closed"]}, 400),
    ]:
        r = await client.put("/api/registration", json=body)
        assert r.status_code == status, (body, r.text)
    assert site.snapshot() == before

    r = await set_mode(admin, "closed", reason="a spam wave")
    assert r.status_code == 200 and r.json()["mode"] == "closed"
    entry = (await anon.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "registration" and entry["reason"] == "a spam wave"
    assert entry["data"]["from"] == "open" and entry["data"]["to"] == "closed"
    assert "Made registration closed (was open)" in (await anon.get("/modlog")).text

    before = site.snapshot()
    r = await anon.post("/api/register", json={"username": "zed", "password": NEW_PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "registration_closed"
    page = await anon.get("/register")
    assert (
        page.status_code == 403
        and "Registration is closed" in page.text
        and 'name="username"' not in page.text
    )
    _, csrf = await csrf_of(anon, "/login")
    form = {"csrf": csrf, "username": "zed", "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    r = await anon.post("/register", data=form)
    assert r.status_code == 403 and "registration is closed" in r.text
    assert site.snapshot() == before


async def test_approval_applications_accepted_and_refused_through_the_api_and_the_page(site):
    admin = await site.client("root", "admin")
    mod, member, anon = await site.client("moe", "moderator"), await site.client("bea"), await site.client()
    r = await set_mode(admin, "approval", question="Which newsreader did you first use?")
    assert r.status_code == 200
    page, csrf = await csrf_of(anon, "/register")
    assert "Which newsreader did you first use?" in page.text and 'name="answer"' in page.text

    before = site.snapshot()
    for body in [
        {"username": "zed", "password": NEW_PASSWORD},  # no answer
        {"username": "zed", "password": NEW_PASSWORD, "answer": "   "},
        {"username": "zed", "password": NEW_PASSWORD, "answer": "x" * 2001},
        {"username": "zed", "password": NEW_PASSWORD, "answer": 7},
    ]:
        r = await anon.post("/api/register", json=body)
        assert r.status_code == 400, r.text
    assert site.snapshot() == before

    r = await anon.post(
        "/api/register", json={"username": "zed", "password": NEW_PASSWORD, "answer": "tin, in 1994"}
    )
    assert r.status_code == 202 and "moot_session" not in r.cookies
    app = r.json()["application"]
    assert app["state"] == "waiting" and app["answer"] == "tin, in 1994" and "password_hash" not in app
    again = await anon.post(
        "/api/register", json={"username": "zed", "password": NEW_PASSWORD, "answer": "again"}
    )
    assert again.status_code == 409
    r = await anon.post("/api/login", json={"username": "zed", "password": NEW_PASSWORD})
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_accepted"
    assert "waits for a moderator" in r.json()["error"]["message"]

    # The form (with its CSRF token) applies too.
    form = {
        "csrf": csrf,
        "username": "yan",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "answer": "slrn",
    }
    r = await anon.post("/register", data=form)
    assert r.status_code == 200 and "waits for a moderator" in r.text
    assert (
        await anon.post("/register", data={**form, "csrf": "forged", "username": "xi"})
    ).status_code == 403

    assert (await member.get("/api/registration/applications")).status_code == 403
    assert (await member.get("/admin/registration")).status_code == 403
    waiting = (await mod.get("/api/registration/applications")).json()["applications"]
    assert [a["username"] for a in waiting] == ["zed", "yan"]
    zed, yan = waiting[0]["id"], waiting[1]["id"]

    before = site.snapshot()
    assert (await member.post(f"/api/registration/applications/{zed}/accept", json={})).status_code == 403
    assert (await mod.post(f"/api/registration/applications/{zed}/refuse", json={})).status_code == 400
    assert (await mod.post(f"/api/registration/applications/{zed}/ponder", json={})).status_code == 404
    assert (await mod.post("/api/registration/applications/999/accept", json={})).status_code == 404
    assert site.snapshot() == before

    r = await mod.post(f"/api/registration/applications/{zed}/accept", json={})
    assert r.status_code == 200 and r.json()["application"]["state"] == "accepted"
    assert r.json()["application"]["user"] == "zed" and r.json()["application"]["decided_by"] == "moe"
    assert (await mod.post(f"/api/registration/applications/{zed}/accept", json={})).status_code == 409
    r = await anon.post("/api/login", json={"username": "zed", "password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["role"] == "member"

    # Refused from the page: the applicant is told why, and no account exists.
    page, csrf = await csrf_of(mod, "/admin/registration")
    assert "slrn" in page.text and f"/admin/registration/applications/{yan}/refuse" in page.text
    r = await mod.post(
        f"/admin/registration/applications/{yan}/refuse",
        data={"csrf": csrf, "reason": "we only take tin users"},
    )
    assert r.status_code == 303
    r = await anon.post("/api/login", json={"username": "yan", "password": NEW_PASSWORD})
    assert r.status_code == 401 and "refused: we only take tin users" in r.json()["error"]["message"]
    assert (await anon.get("/api/users/yan")).status_code == 404
    assert (await mod.get("/api/registration/applications?state=refused")).json()["applications"][0][
        "id"
    ] == yan
    assert (await mod.get("/api/registration/applications?state=maybe")).status_code == 400


async def test_invitations_are_single_use_and_expire(site):
    admin = await site.client("root", "admin")
    mod, member, anon = await site.client("moe", "moderator"), await site.client("bea"), await site.client()
    assert (await set_mode(admin, "invite")).status_code == 200
    page = await anon.get("/register")
    assert 'name="invite"' in page.text

    before = site.snapshot()
    assert (await member.post("/api/registration/invites", json={})).status_code == 403
    assert (await mod.post("/api/registration/invites", json={"days": 0})).status_code == 400
    assert (await mod.post("/api/registration/invites", json={"days": 91})).status_code == 400
    r = await anon.post("/api/register", json={"username": "zed", "password": NEW_PASSWORD})
    assert r.status_code == 400 and "invitation code" in r.json()["error"]["message"]
    r = await anon.post(
        "/api/register", json={"username": "zed", "password": NEW_PASSWORD, "invite": "guessed"}
    )
    assert r.status_code == 403
    assert site.snapshot() == before

    r = await mod.post("/api/registration/invites", json={"days": 3, "note": "for zed"})
    assert r.status_code == 201
    code = r.json()["code"]
    r = await anon.post("/api/register", json={"username": "zed", "password": NEW_PASSWORD, "invite": code})
    assert r.status_code == 201 and r.json()["user"]["username"] == "zed"
    r = await anon.post("/api/register", json={"username": "zoe", "password": NEW_PASSWORD, "invite": code})
    assert r.status_code == 403 and "already used" in r.json()["error"]["message"]
    listed = (await mod.get("/api/registration/invites")).json()["invites"]
    assert listed[0]["note"] == "for zed" and listed[0]["used_by"] == "zed" and "code" not in listed[0]

    # An expired code opens nothing; a code made on the page, shown once, works from the form.
    page, csrf = await csrf_of(mod, "/admin/registration")
    r = await mod.post("/admin/registration/invites", data={"csrf": csrf, "days": "1", "note": "late"})
    assert r.status_code == 201
    late = re.search(r"shown only now: <code>([^<]+)</code>", r.text)[1]
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE invites SET expires_at = '2000-01-01T00:00:00.000Z' WHERE note = 'late'")
    _, anon_csrf = await csrf_of(anon, "/register")
    form = {
        "csrf": anon_csrf,
        "username": "zoe",
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "invite": late,
    }
    r = await anon.post("/register", data=form)
    assert r.status_code == 403 and "expired" in r.text
    r = await mod.post("/admin/registration/invites", data={"csrf": csrf, "days": "1"})
    fresh = re.search(r"shown only now: <code>([^<]+)</code>", r.text)[1]
    page, csrf = await csrf_of(anon, f"/register?invite={fresh}")
    assert f'value="{fresh}"' in page.text
    r = await anon.post("/register", data={**form, "csrf": csrf, "invite": fresh})
    assert r.status_code == 201 and "moot_session" in r.cookies and 'id="recovery-codes"' in r.text


def test_the_limit_counts_ipv6_by_its_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("203.0.113.7") == "203.0.113.7" and client_key("::ffff:203.0.113.7") == "203.0.113.7"


async def test_the_per_address_limit_outlives_the_process(make_site):
    settings = {"register_rate": 1.0, "trusted_proxies": ("127.0.0.0/8",)}
    first = await make_site(**settings)

    async def register(site, name: str, address: str) -> int:
        client = await site.client()
        r = await client.post(
            "/api/register",
            json={"username": name, "password": NEW_PASSWORD},
            headers={"X-Forwarded-For": address},
        )
        return r.status_code

    assert await register(first, "first1", "2001:db8:5:5::1") == 201
    assert await register(first, "second2", "2001:db8:5:5::2") == 429  # the same /64
    # A fresh process on the same database (a restart) remembers the sign-up.
    again = await make_site(db_path=first.config.db_path, **settings)
    assert await register(again, "third3", "2001:db8:5:5:ffff::3") == 429
    assert await register(again, "fourth4", "203.0.113.9") == 201
    with sqlite3.connect(first.config.db_path) as conn:
        assert sorted(r[0] for r in conn.execute("SELECT address FROM signups")) == [
            "2001:db8:5:5::/64",
            "203.0.113.9",
        ]


def nntp_post(site, user: str, text: str) -> str:
    """POST `text` over NNTP as `user`: the server's answer, refusal or not."""
    with nntplib.NNTP("127.0.0.1", site.config.nntp_port, user=user, password=PASSWORD, timeout=20) as n:
        try:
            return n.post(io.BytesIO(text.encode()))
        except nntplib.NNTPError as error:
            return str(error)


async def test_a_new_account_confirms_its_address_before_posting(make_site, relay):  # noqa: F811
    site = await make_site(
        **mail_settings(relay), nntp_port=ANY_PORT, register_confirm_mail=True, trust_new_days=2.0
    )
    admin, newbie = await site.client("root", "admin"), await site.client("newbie")
    assert (await admin.post("/api/groups", json={"name": "comp.lang.python"})).status_code == 201
    r = await newbie.post("/api/groups/comp.lang.python/threads", json={"subject": "Hi", "body": "Hello"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "unconfirmed"
    assert "confirm your mail address" in r.json()["error"]["message"]
    article = "From: newbie@example.org\r\nNewsgroups: comp.lang.python\r\nSubject: Hi\r\n\r\nHello\r\n"
    said = await asyncio.to_thread(nntp_post, site, "newbie", article)
    assert said.startswith("441") and "confirm your mail address" in said
    r = await admin.post(
        "/api/groups/comp.lang.python/threads", json={"subject": "Admin", "body": "Not held"}
    )
    assert r.status_code == 201  # admins and moderators are never held by this
    await confirm_address(newbie, relay, "newbie@example.org")
    r = await newbie.post("/api/groups/comp.lang.python/threads", json={"subject": "Hi", "body": "Hello"})
    assert r.status_code == 201
