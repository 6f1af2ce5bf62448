"""Site-wide suspensions: an admin suspends an account for some days with a
public reason; until then it reads but cannot post, reply, edit, propose or
endorse by any channel (the JSON API, NNTP through nntplib, list mail through
smtplib and `moot deliver`), and a refused attempt changes nothing; the
suspension is logged, shown on the profile, ends by itself on its date and at
once when lifted; only admins suspend, and never an admin."""

from __future__ import annotations

import asyncio
import smtplib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from moot.stewardship.permissions import User, can, require
from moot.store import clock
from moot.store.errors import Suspended
from tests.conftest import seed
from tests.mail_support import (
    AUTHSERV,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    vouched,
)
from tests.nntp_support import nntplib, serve
from tests.processes import moot, stop_process

REASON = "flooding comp.lang.python"


async def suspend(admin, name: str, days: object = 7, reason: object = REASON):
    return await admin.post(f"/api/users/{name}/suspend", json={"days": days, "reason": reason})


def assert_suspended(r, reason: str = REASON) -> None:
    """A 403 that names the suspension: its code, the reason and the end date."""
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "suspended" and error["reason"] == reason
    assert reason in error["message"] and error["until"][:10] in error["message"]


def content(site) -> dict:
    """The snapshot less the mail outbox, which the sender updates on its own time."""
    return {k: v for k, v in site.snapshot().items() if k != "mail_queue"}


async def test_a_suspended_member_reads_but_cannot_post_reply_edit_propose_or_endorse(make_site):
    site = await make_site()
    s = await seed(site)
    root, ada = s["admin"], s["ada"]
    bob = await site.client("bob")
    r = await bob.post("/api/proposals", json={"name": "rec.knitting", "description": "Yarn"})
    proposal = r.json()["proposal"]["id"]

    r = await suspend(root, "ada")
    assert r.status_code == 200, r.text
    until = r.json()["user"]["suspended_until"]
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs(clock.parse(until) - expected) < timedelta(minutes=1)
    assert r.json()["user"] == {"username": "ada", "suspended_until": until, "suspension_reason": REASON}

    before = site.snapshot()
    tid, root_id = s["thread"]["id"], s["root"]["id"]
    assert_suspended(
        await ada.post("/api/groups/comp.lang.python/threads", json={"subject": "S", "body": "B"})
    )
    assert_suspended(await ada.post(f"/api/articles/{root_id}/replies", json={"body": "more"}))
    assert_suspended(await ada.put(f"/api/articles/{root_id}", json={"body": "edited"}))
    assert_suspended(await ada.post("/api/proposals", json={"name": "rec.yarn", "description": "Yarn"}))
    assert_suspended(await ada.post(f"/api/proposals/{proposal}/endorse", json={}))
    assert site.snapshot() == before  # nothing a refused attempt could have written
    # Reading is as before.
    assert (await ada.get(f"/api/threads/{tid}")).status_code == 200
    assert (await ada.get("/g/comp.lang.python")).status_code == 200

    # The profile says so, in JSON and on the page, for anyone.
    anonymous = await site.client()
    profile = (await anonymous.get("/api/users/ada")).json()["user"]
    assert (profile["suspended_until"], profile["suspension_reason"]) == (until, REASON)
    page = (await anonymous.get("/u/ada")).text
    assert "Suspended until" in page and REASON in page and until[:10] in page
    # The public log names who, until when and why.
    entry = (await anonymous.get("/api/modlog")).json()["entries"][0]
    assert (entry["action"], entry["target"], entry["reason"]) == ("suspend", "ada", REASON)
    assert entry["actor"]["username"] == "root" and entry["data"] == {
        "username": "ada",
        "days": 7,
        "until": until,
    }
    assert "Suspended" in (await anonymous.get("/modlog")).text

    # Lifting it ends it at once, and is logged too.
    r = await root.post("/api/users/ada/unsuspend", json={"reason": "promised to stop"})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == {"username": "ada", "suspended_until": None, "suspension_reason": None}
    r = await ada.post(f"/api/articles/{root_id}/replies", json={"body": "back"})
    assert r.status_code == 201, r.text
    profile = (await anonymous.get("/api/users/ada")).json()["user"]
    assert profile["suspended_until"] is None and profile["suspension_reason"] is None
    assert "Suspended until" not in (await anonymous.get("/u/ada")).text
    entry = (await anonymous.get("/api/modlog")).json()["entries"][0]
    assert (entry["action"], entry["target"], entry["reason"]) == ("unsuspend", "ada", "promised to stop")
    assert entry["data"] == {"username": "ada", "was_until": until}


async def test_a_suspended_author_may_still_withdraw_their_own_article(make_site):
    site = await make_site()
    s = await seed(site)
    assert (await suspend(s["admin"], "ada")).status_code == 200
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    assert r.status_code == 200 and r.json()["article"]["status"] == "cancelled", r.text


async def test_only_admins_suspend_and_what_they_send_is_checked(make_site):
    site = await make_site()
    s = await seed(site)
    root = s["admin"]
    marta = await site.client("marta", "moderator")
    await site.client("other", "admin")
    anonymous, bob = await site.client(), await site.client("bob")
    before = site.snapshot()
    assert (await suspend(anonymous, "ada")).status_code == 401
    for client in (marta, bob):
        r = await suspend(client, "ada")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
        r = await client.post("/api/users/ada/unsuspend", json={})
        assert r.status_code == 403, r.text
    for days in (0, 3651, -1, 1.5, "seven", None, True):
        r = await suspend(root, "ada", days=days)
        assert r.status_code == 400 and "days" in r.json()["error"]["message"], (days, r.text)
    for reason in (None, "", "   ", "x" * 501):
        r = await suspend(root, "ada", reason=reason)
        assert r.status_code == 400 and "reason" in r.json()["error"]["message"], (reason, r.text)
    r = await suspend(root, "nobody")
    assert r.status_code == 404, r.text
    r = await suspend(root, "root")
    assert r.status_code == 403 and "yourself" in r.json()["error"]["message"], r.text
    r = await suspend(root, "other")
    assert r.status_code == 403 and "admins cannot be suspended" in r.json()["error"]["message"], r.text
    r = await root.post("/api/users/ada/unsuspend", json={})
    assert r.status_code == 409 and "not suspended" in r.json()["error"]["message"], r.text
    assert site.snapshot() == before

    # The longest suspension is accepted; a moderator can be suspended too.
    assert (await suspend(root, "ada", days=3650)).status_code == 200
    assert (await suspend(root, "marta", days=1)).status_code == 200
    r = await marta.post("/api/groups/comp.lang.python/threads", json={"subject": "S", "body": "B"})
    assert_suspended(r)


async def test_a_suspension_ends_by_itself_when_its_date_passes(make_site):
    site = await make_site()
    s = await seed(site)
    assert (await suspend(s["admin"], "ada", days=1)).status_code == 200
    assert_suspended(await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "x"}))
    async with site.db.transaction() as conn:  # a day goes by
        await conn.execute(
            "UPDATE users SET suspended_until = ? WHERE username = 'ada'", (clock.ago(seconds=1),)
        )
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "x"})
    assert r.status_code == 201, r.text
    profile = (await s["admin"].get("/api/users/ada")).json()["user"]
    assert profile["suspended_until"] is None
    r = await s["admin"].post("/api/users/ada/unsuspend", json={})
    assert r.status_code == 409  # nothing left to lift


def test_the_permission_check_reads_the_clock():
    later, earlier = clock.later(hours=1), clock.ago(seconds=1)
    ada = User(1, "ada", "Ada", "member", suspended_until=later, suspension_reason="spam")
    assert ada.suspended and not can(ada, "post") and not can(ada, "endorse")
    assert can(ada, "track") and can(ada, "withdraw")
    with pytest.raises(Suspended) as refused:
        require(ada, "propose")
    assert refused.value.extra == {"until": later, "reason": "spam"}
    gone = User(1, "ada", "Ada", "member", suspended_until=earlier, suspension_reason="spam")
    assert not gone.suspended and require(gone, "post") is gone


def test_moot_suspend_and_unsuspend_and_moot_deliver_refuses(tmp_path):
    db = str(tmp_path / "site.db")
    moot("init", "--db", db)
    for name, flag in (("ada", ()), ("root", ("--admin",))):
        moot("adduser", name, *flag, "--password-stdin", "--db", db, input="correct horse battery\n")
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO mail_addresses (user_id, email, confirmed_at, created_at)"
        " SELECT id, 'ada@example.net', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'"
        " FROM users WHERE username = 'ada'"
    )
    conn.execute("INSERT INTO groups (name, created_at) VALUES ('misc.test', '2026-01-01T00:00:00.000Z')")
    conn.commit()
    conn.close()

    refused = moot("suspend", "ada", "--days", "0", "--reason", "x", "--db", db, check=False)
    assert refused.returncode == 2 and "days must be" in refused.stderr
    refused = moot("suspend", "root", "--days", "3", "--reason", "x", "--db", db, check=False)
    assert refused.returncode == 2 and "admins cannot be suspended" in refused.stderr
    refused = moot("suspend", "nobody", "--days", "3", "--reason", "x", "--db", db, check=False)
    assert refused.returncode == 2 and "no user" in refused.stderr
    done = moot("suspend", "ada", "--days", "3", "--reason", "piping spam", "--db", db)
    assert done.stdout.startswith("ada is suspended until ")

    # As the MTA pipes it, with its Authentication-Results (`moot deliver` is a trusted path).
    data = vouched(
        "ada@example.net", message("Ada <ada@example.net>", "misc.test@test.moot", "Piped")
    ).decode()
    relay = {"mail_authserv_id": AUTHSERV}
    refused = moot(
        "deliver",
        "--group",
        "misc.test",
        "--sender",
        "ada@example.net",
        "--db",
        db,
        input=data,
        check=False,
        **relay,
    )
    assert refused.returncode == 77  # EX_NOPERM: refused
    assert "suspended until" in refused.stderr and "piping spam" in refused.stderr

    assert (
        moot("unsuspend", "ada", "--reason", "sorted out", "--db", db).stdout
        == "ada is no longer suspended\n"
    )
    ok = moot(
        "deliver", "--group", "misc.test", "--sender", "ada@example.net", "--db", db, input=data, **relay
    )
    assert ok.returncode == 0 and "posted as" in ok.stdout
    refused = moot("unsuspend", "ada", "--db", db, check=False)
    assert refused.returncode == 2 and "not suspended" in refused.stderr
    conn = sqlite3.connect(db)
    try:
        log = conn.execute("SELECT action, actor_id, target, reason FROM modlog ORDER BY id").fetchall()
    finally:
        conn.close()
    # From the command line the site itself acts (no actor), as with `moot role`.
    assert log == [("suspend", None, "ada", "piping spam"), ("unsuspend", None, "ada", "sorted out")]


def test_nntp_post_is_refused_with_440_for_a_suspended_account(tmp_path):
    server = serve(tmp_path)
    db = str(tmp_path / "nntp.db")
    new = b"Newsgroups: rec.music.folk\r\nSubject: A tune\r\n\r\nFiddle away.\r\n"
    try:
        with server.poster("ada") as n:  # signed in before the suspension, and still connected
            moot("suspend", "ada", "--days", "2", "--reason", "posting flame bait", "--db", db)
            before = n.group("rec.music.folk")[1:4]
            with pytest.raises(nntplib.NNTPTemporaryError) as refused:
                n.post(new)
            assert str(refused.value).startswith("440 posting not permitted: your account is suspended until")
            assert "posting flame bait" in str(refused.value)
            assert n.group("rec.music.folk")[1:4] == before  # nothing was stored
            moot("unsuspend", "ada", "--db", db)
            assert n.post(new).startswith("240")  # lifted: the same connection posts again
    finally:
        stop_process(server.proc)


async def test_list_mail_from_a_suspended_member_is_refused_during_the_smtp_dialogue(make_site, relay):
    site = await make_site(**mail_settings(relay))
    s = await seed(site)
    await confirm_address(s["ada"], relay, "ada@example.net")
    assert (await suspend(s["admin"], "ada", reason="mail flood")).status_code == 200
    data = message("Ada <ada@example.net>", LIST, "By mail")
    before = content(site)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, site.config.smtp_port, "ada@example.net", LIST, data)
    assert refused.value.smtp_code == 550
    assert b"suspended until" in refused.value.smtp_error and b"mail flood" in refused.value.smtp_error
    assert content(site) == before
    assert (await s["admin"].post("/api/users/ada/unsuspend", json={})).status_code == 200
    assert await asyncio.to_thread(send, site.config.smtp_port, "ada@example.net", LIST, data) == {}
