"""Recovery codes, a way back into an account without mail: ten shown once at
sign-up (page and API), only their hashes stored; a new set from the account
page needs the current password and the CSRF token and replaces the old one;
a code sets a new password once and ends every session; a wrong code and an
unknown name get the same answer and change nothing; the attempts are
limited per address and per account; the pages work as plain forms."""

from __future__ import annotations

import hashlib
import re

import httpx

from moot.people import recovery
from tests.conftest import PASSWORD
from tests.db_support import rows

NEW_PASSWORD = "a brand new password"
CODE = re.compile(r"<code>([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})</code>")


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def from_address(ts, host: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ts.app, client=(host, 40000)), base_url="http://testserver"
    )
    ts._clients.append(client)
    return client


async def codes_for(ts, name: str) -> list[str]:
    """A fresh set for `name`, made through the API with the password."""
    client = await ts.client(name)
    r = await client.post("/api/me/recovery-codes", json={"password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()["codes"]


async def signs_in(ts, name: str, password: str) -> bool:
    r = await (await ts.client()).post("/api/login", json={"username": name, "password": password})
    return r.status_code == 200


async def test_sign_up_shows_ten_codes_once_and_stores_only_hashes(make_site):
    ts = await make_site()
    anon = await ts.client()
    r = await anon.post("/api/register", json={"username": "zed", "password": PASSWORD})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", c) for c in codes)
    user_id = r.json()["user"]["id"]
    stored = rows(ts, "SELECT code_hash, user_id, used_at FROM recovery_codes")
    assert {h for h, _, _ in stored} == {
        hashlib.sha256(f"moot-recovery:{user_id}:{c.replace('-', '')}".encode()).hexdigest() for c in codes
    }
    assert all(uid == user_id and used is None for _, uid, used in stored)
    dump = repr(ts.snapshot())
    assert not any(c in dump or c.replace("-", "") in dump for c in codes)

    # The form: the page after signing up shows them, then never again.
    page = await anon.get("/register")
    r = await anon.post(
        "/register",
        data={"csrf": csrf(page.text), "username": "amy", "password": PASSWORD, "password2": PASSWORD},
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    shown = CODE.findall(r.text)
    assert len(shown) == 10 and "shown only this once" in r.text and "moot_session" in r.cookies
    account = await anon.get("/account")
    assert account.status_code == 200 and "<strong>10</strong> unused recovery codes" in account.text
    assert not any(c in account.text for c in shown)
    assert (await anon.get("/api/me/recovery-codes")).json() == {"remaining": 10}


async def test_new_codes_need_the_password_and_csrf_and_replace_the_old(make_site):
    ts = await make_site()
    old = await codes_for(ts, "ada")
    ada = await ts.client("ada")
    page = await ada.get("/account")
    assert "<strong>10</strong> unused" in page.text and 'action="/account/recovery-codes"' in page.text
    token = csrf(page.text)
    before = ts.snapshot()
    for data in (
        {"password": PASSWORD},  # no token
        {"password": PASSWORD, "csrf": "forged"},
    ):
        assert (await ada.post("/account/recovery-codes", data=data)).status_code == 403
    r = await ada.post("/account/recovery-codes", data={"password": "not my password", "csrf": token})
    assert r.status_code == 401 and "wrong password: give the password you sign in with" in r.text
    r = await ada.post("/api/me/recovery-codes", json={"password": "not my password"})
    assert r.status_code == 401
    r = await ada.post("/api/me/recovery-codes", data={"password": PASSWORD})  # a cross-site form
    assert r.status_code == 415
    r = await (await ts.client()).post("/api/me/recovery-codes", json={"password": PASSWORD})
    assert r.status_code == 401
    assert ts.snapshot() == before

    r = await ada.post("/account/recovery-codes", data={"password": PASSWORD, "csrf": token})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new = CODE.findall(r.text)
    assert len(new) == 10 and not set(new) & set(old)
    assert rows(ts, "SELECT count(*) FROM recovery_codes") == [(10,)]
    anon = await ts.client()
    r = await anon.post("/api/recover", json={"username": "ada", "code": old[0], "password": NEW_PASSWORD})
    assert r.status_code == 401  # the old set no longer works
    r = await anon.post("/api/recover", json={"username": "ada", "code": new[0], "password": NEW_PASSWORD})
    assert r.status_code == 200


async def test_a_code_sets_the_password_once_and_ends_every_session(make_site):
    ts = await make_site()
    codes = await codes_for(ts, "ada")
    ada = await ts.client("ada")
    assert (await ada.get("/api/me")).status_code == 200
    anon = await ts.client()
    typed = codes[3].lower().replace("-", " ")  # case and separators do not matter
    r = await anon.post("/api/recover", json={"username": "ada", "code": typed, "password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["username"] == "ada"
    assert (await ada.get("/api/me")).status_code == 401  # signed out everywhere
    assert rows(ts, "SELECT count(*) FROM sessions") == [(0,)]
    assert await signs_in(ts, "ada", NEW_PASSWORD) and not await signs_in(ts, "ada", PASSWORD)
    assert rows(ts, "SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL") == [(1,)]

    before = ts.snapshot()
    r = await anon.post(
        "/api/recover", json={"username": "ada", "code": codes[3], "password": "another one!"}
    )
    assert r.status_code == 401 and r.json()["error"]["message"] == recovery.REFUSED
    assert ts.snapshot() == before
    me = await ts.client("ada")
    assert (await me.get("/api/me/recovery-codes")).json() == {"remaining": 9}
    assert "<strong>9</strong> unused recovery codes" in (await me.get("/account")).text


async def test_wrong_codes_and_unknown_names_get_one_answer_and_change_nothing(make_site):
    ts = await make_site()
    codes = await codes_for(ts, "ada")
    await ts.user("cyd")  # no codes at all
    bob_code = (await codes_for(ts, "bob"))[0]
    before = ts.snapshot()
    answers = []
    for i, (name, code) in enumerate(
        [
            ("ada", "2222-2222"),  # well formed, not hers
            ("ada", bob_code),  # another account's code
            ("nobody", codes[0]),  # no such account
            ("cyd", codes[0]),
            ("ada", "not a code"),
            ("ada", ["list"]),
            (None, codes[0]),
            ("x" * 500, codes[0]),
        ]
    ):
        client = from_address(ts, f"192.0.2.{i + 1}")  # fresh limits for each
        r = await client.post("/api/recover", json={"username": name, "code": code, "password": NEW_PASSWORD})
        answers.append((r.status_code, r.json()))
    assert all(a == answers[0] for a in answers), answers
    assert answers[0][0] == 401 and answers[0][1]["error"]["message"] == recovery.REFUSED
    # A password that cannot be one is refused before the code is looked at.
    r = await from_address(ts, "192.0.2.99").post(
        "/api/recover", json={"username": "ada", "code": codes[0], "password": "short"}
    )
    assert r.status_code == 400
    assert ts.snapshot() == before
    assert await signs_in(ts, "ada", PASSWORD)


async def test_attempts_are_limited_per_address_and_per_account(make_site):
    ts = await make_site()
    codes = await codes_for(ts, "ada")
    one = from_address(ts, "198.51.100.1")
    for i in range(10):  # RESET_ATTEMPTS_PER_HOUR
        r = await one.post(
            "/api/recover", json={"username": f"n{i}", "code": "2222-2222", "password": NEW_PASSWORD}
        )
        assert r.status_code == 401
    r = await one.post("/api/recover", json={"username": "ada", "code": codes[0], "password": NEW_PASSWORD})
    assert r.status_code == 429  # this address is done for the hour, even with a good code
    # Per account: ten addresses, one wrong try each, and the eleventh is refused too.
    for i in range(10):
        r = await from_address(ts, f"203.0.113.{i + 1}").post(
            "/api/recover", json={"username": "ada", "code": "2222-2222", "password": NEW_PASSWORD}
        )
        assert r.status_code == 401
    before = ts.snapshot()
    r = await from_address(ts, "203.0.113.200").post(
        "/api/recover", json={"username": "ada", "code": codes[0], "password": NEW_PASSWORD}
    )
    assert r.status_code == 429
    assert ts.snapshot() == before and await signs_in(ts, "ada", PASSWORD)
    # Other accounts are not held up by ada's.
    await codes_for(ts, "bob")
    r = await from_address(ts, "203.0.113.201").post(
        "/api/recover", json={"username": "bob", "code": "2222-2222", "password": NEW_PASSWORD}
    )
    assert r.status_code == 401


async def test_the_recovery_page_works_as_a_plain_form(make_site):
    ts = await make_site()
    codes = await codes_for(ts, "ada")
    anon = await ts.client()
    login = await anon.get("/login")
    assert 'href="/recover"' in login.text
    page = await anon.get("/recover")
    assert (
        page.status_code == 200
        and 'action="/recover"' in page.text
        and "<script" not in page.text.split("<main", 1)[1].split("</main>", 1)[0]
    )
    assert 'href="/forgot"' not in page.text  # mail is off: no mailed link offered
    for name in ("username", "code", "password", "password2"):
        assert f'name="{name}"' in page.text
    token = csrf(page.text)
    fields = {"username": "ada", "code": codes[0], "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    before = ts.snapshot()
    assert (await anon.post("/recover", data=fields)).status_code == 403
    assert (await anon.post("/recover", data={**fields, "csrf": "forged"})).status_code == 403
    r = await anon.post("/recover", data={**fields, "password2": "something else", "csrf": token})
    assert r.status_code == 400 and "differ" in r.text and 'value="ada"' in r.text
    r = await anon.post("/recover", data={**fields, "code": "2222-2222", "csrf": token})
    assert r.status_code == 401 and recovery.REFUSED in r.text
    assert NEW_PASSWORD not in r.text
    assert ts.snapshot() == before
    r = await anon.post("/recover", data={**fields, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Faccount&changed=ada"
    page = (await anon.get(r.headers["location"])).text  # says it worked, the name filled in
    assert "Your new password is set: sign in with it." in page and 'value="ada"' in page
    assert await signs_in(ts, "ada", NEW_PASSWORD)
    r = await anon.post("/recover", data={**fields, "csrf": token})
    assert r.status_code == 401  # once
