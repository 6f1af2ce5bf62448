"""A forgotten password reset by mail, against the real app and a real relay
(aiosmtpd): the mail arrives with the one-time link and the link works once;
every name gets the same answer and only a confirmed, non-bouncing address
gets mail; mail off is 409; both limits hold under 100 concurrent requests;
the form checks its CSRF token."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import httpx

from moot.people import resets
from tests.conftest import PASSWORD
from tests.db_support import rows
from tests.mail_support import (
    confirm_address,
    mail_settings,
    relay,  # noqa: F401  (fixture)
    subject_of,
)

NEW_PASSWORD = "a brand new password"
SENT = {"status": "sent if the account has a confirmed address"}


def notices(ts) -> list:
    return rows(ts, "SELECT recipient, user_id FROM mail_queue WHERE kind = 'notice' ORDER BY id")


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def from_address(ts, host: str) -> httpx.AsyncClient:
    """An anonymous client whose requests come from `host`."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ts.app, client=(host, 40000)), base_url="http://testserver"
    )
    ts._clients.append(client)
    return client


async def test_the_mail_brings_the_link_and_the_link_works_once(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    await confirm_address(await ts.client("ada"), relay, "ada@example.net")
    visitor = await ts.client()

    r = await visitor.post("/api/password-reset", json={"username": "ada"})
    assert (r.status_code, r.json()) == (202, SENT)
    [mail] = await relay.wait("ada@example.net", where=subject_of("Reset your password"))
    body = mail.message.get_body(("plain",)).get_content()
    # The link `moot reset-password` prints, on the public URL (never the request's Host).
    link = re.search(rf"(https://forum\.test{resets.PATH}(\S+))", body)
    assert link and "within 60 minutes" in body, body
    token = link[2]
    [(stored,)] = rows(ts, "SELECT token_hash FROM password_resets")
    assert stored != token and token not in stored  # kept hashed

    page = await visitor.get(f"{resets.PATH}{token}")
    assert page.status_code == 200 and "ada" in page.text
    r = await visitor.post("/api/reset", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    r = await visitor.post("/api/reset", json={"token": token, "password": "yet another password"})
    assert r.status_code == 404
    assert (
        await visitor.post("/api/login", json={"username": "ada", "password": PASSWORD})
    ).status_code == 401
    r = await visitor.post("/api/login", json={"username": "ada", "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text


async def test_every_name_gets_the_same_answer_and_only_a_confirmed_address_gets_mail(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    bob = await ts.client("bob")
    r = await bob.put("/api/me/email", json={"email": "bob@example.org"})  # never confirmed
    assert r.status_code == 200, r.text
    await confirm_address(await ts.client("cyd"), relay, "cyd@example.com")
    conn = sqlite3.connect(ts.config.db_path)
    with conn:
        conn.execute(
            "UPDATE mail_addresses SET bouncing_at = '2026-01-01T00:00:00.000Z' WHERE email = ?",
            ("cyd@example.com",),
        )
    conn.close()
    await ts.user("dee")  # no address at all
    visitor = await ts.client()
    answers = [
        await visitor.post("/api/password-reset", json={"username": name})
        for name in ("nobody", "bob", "cyd", "dee", "", None, 42, "x" * 500)
    ]
    assert {(r.status_code, r.text) for r in answers} == {(202, answers[0].text)}
    assert answers[0].json() == SENT
    assert notices(ts) == [] and rows(ts, "SELECT count(*) FROM password_resets") == [(0,)]


async def test_mail_off_is_409_and_the_form_says_so(make_site):
    ts = await make_site()
    await ts.user("ada")
    visitor = await ts.client()
    r = await visitor.post("/api/password-reset", json={"username": "ada"})
    assert r.status_code == 409 and "mail is off" in r.json()["error"]["message"], r.text
    page = await visitor.get("/forgot")
    assert page.status_code == 200 and "sends no mail" in page.text and 'name="username"' not in page.text
    token = csrf((await visitor.get("/login")).text)  # the form is not shown; a posted one is refused
    r = await visitor.post("/forgot", data={"csrf": token, "username": "ada"})
    assert r.status_code == 409 and "mail is off" in r.text
    assert rows(ts, "SELECT count(*) FROM password_resets") == [(0,)]


async def test_the_form_checks_csrf_and_mails_the_link(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    await confirm_address(await ts.client("ada"), relay, "ada@example.net")
    visitor = await ts.client()
    assert 'href="/recover"' in (await visitor.get("/login")).text
    assert 'href="/forgot"' in (await visitor.get("/recover")).text  # both ways back are offered
    page = await visitor.get("/forgot")
    assert page.status_code == 200 and 'action="/forgot"' in page.text
    r = await visitor.post("/forgot", data={"csrf": "forged", "username": "ada"})
    assert r.status_code == 403
    r = await visitor.post("/forgot", data={"username": "ada"})
    assert r.status_code == 403
    assert notices(ts) == []
    for name in ("nobody", "ada"):
        r = await visitor.post("/forgot", data={"csrf": csrf(page.text), "username": name})
        assert r.status_code == 200 and "If the account has a confirmed address" in r.text
    assert notices(ts) == [("ada@example.net", ts.users["ada"].id)]
    [mail] = await relay.wait("ada@example.net", where=subject_of("Reset your password"))
    token = re.search(
        rf"https://forum\.test{resets.PATH}(\S+)", mail.message.get_body(("plain",)).get_content()
    )[1]
    form = await visitor.get(f"{resets.PATH}{token}")
    r = await visitor.post(
        f"{resets.PATH}{token}",
        data={"csrf": csrf(form.text), "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert r.status_code == 303
    assert (await visitor.get(f"{resets.PATH}{token}")).status_code == 404


async def test_limits_per_account_and_per_address_hold_under_100_concurrent_requests(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    await confirm_address(await ts.client("ada"), relay, "ada@example.net")
    # One account asked about from 100 addresses: every asker gets the same answer,
    # the account one mail (one per window), and nobody is refused for the name.
    clients = [from_address(ts, f"10.0.{n // 200}.{n % 200 + 1}") for n in range(100)]
    answers = await asyncio.gather(
        *(c.post("/api/password-reset", json={"username": "ada"}) for c in clients)
    )
    assert sorted(r.status_code for r in answers) == [202] * 100
    assert all(r.json() == SENT for r in answers)
    assert len(notices(ts)) == 1
    assert rows(ts, "SELECT count(*) FROM password_resets WHERE used_at IS NULL") == [(1,)]
    # The same answer whether or not the account exists.
    answers = await asyncio.gather(
        *(c.post("/api/password-reset", json={"username": "ghost"}) for c in clients)
    )
    assert sorted(r.status_code for r in answers) == [202] * 100

    # One address asking about 100 accounts: only the address's few pass.
    one = from_address(ts, "192.0.2.7")
    answers = await asyncio.gather(
        *(one.post("/api/password-reset", json={"username": f"user{n}"}) for n in range(100))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] * 10 + [429] * 90, codes
    assert "Retry-After" in next(r for r in answers if r.status_code == 429).headers
    assert len(notices(ts)) == 1
