"""Groups by email, rule by rule, against the real receiver and a real relay:
hostile input, HTML and attachments, the reply address, digests, one-click
unsubscribe, confirmation links, bounces, retries, dead letters, rate limits,
LMTP, `moot deliver`."""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import sqlite3
import time
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from moot.mail import mailing, mailqueue
from moot.store import clock
from tests.conftest import seed
from tests.db_support import rows
from tests.mail_support import (
    AUTHSERV,
    GROUP,
    LIST,
    Relay,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    subject_of,
    until,
    vouched,
)
from tests.processes import moot


async def members(ts, relay, *, subscribe_bob: str | None = "each"):
    """comp.lang.python with ada (ada@example.net) and bob (bob@example.org), both confirmed."""
    seeded = await seed(ts, GROUP)
    bob = await ts.client("bob")
    await confirm_address(seeded["ada"], relay, "ada@example.net")
    await confirm_address(bob, relay, "bob@example.org")
    if subscribe_bob:
        r = await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": subscribe_bob})
        assert r.status_code == 200, r.text
    return seeded, bob


def thread_bodies(ts, thread_id: int) -> list[tuple]:
    return rows(
        ts, "SELECT subject, body, parent_id FROM articles WHERE thread_id = ? ORDER BY id", (thread_id,)
    )


async def deliver(ts, data: bytes, to: str = LIST, mail_from: str = "ada@example.net"):
    return await asyncio.to_thread(send, ts.config.smtp_port, mail_from, to, data)


# Hostile input


async def test_header_injection_through_subject_and_name_never_reaches_subscribers(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, _ = await members(ts, relay)
    # An encoded word that decodes to CRLF + a header, and a raw 8-bit (Latin-1) display name.
    raw = (
        b"From: =?utf-8?q?Ada=0D=0ABcc:_victim@example.com?= <ada@example.net>\r\n"
        b"To: " + LIST.encode() + b"\r\nSubject: =?utf-8?q?Hi=0D=0ABcc:_victim@example.com?=\r\n"
        b"Message-ID: <inject-1@example.net>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nBody\r\n"
    )
    await deliver(ts, raw)
    (mail,) = await relay.wait(
        "bob@example.org", where=lambda r: r.message["Message-ID"] == "<inject-1@example.net>"
    )
    assert mail.message["Bcc"] is None and b"\r\nBcc:" not in mail.data
    assert " ".join(mail.message["Subject"].split()) == "Hi Bcc: victim@example.com"  # one line, as text
    assert "victim" not in str(mail.message["From"])  # the From is the account's display name
    latin = (
        "From: Ada <ada@example.net>\r\nTo: " + LIST + "\r\nSubject: Caf\xe9 au lait\r\n"
        "Message-ID: <latin-1@example.net>\r\n\r\nOui.\r\n"
    ).encode("latin-1")
    await deliver(ts, latin)
    (mail,) = await relay.wait(
        "bob@example.org", where=lambda r: r.message["Message-ID"] == "<latin-1@example.net>"
    )
    assert mail.message["Subject"] == "Café au lait"


async def test_giant_malformed_and_attached_mail_is_refused_and_changes_nothing(make_site, relay):
    ts = await make_site(**mail_settings(relay, mail_max_bytes=20000))
    await members(ts, relay)
    before = ts.snapshot()
    giant = message("Ada <ada@example.net>", LIST, "Big", "x" * 30000 + "\n")
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        await deliver(ts, giant)
    assert refused.value.smtp_code == 552  # RFC 1870: too large
    with_file = EmailMessage()
    with_file["From"], with_file["To"], with_file["Subject"] = "Ada <ada@example.net>", LIST, "See file"
    with_file.set_content("Attached.\n")
    with_file.add_attachment(
        b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="x.bin"
    )
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await deliver(ts, with_file.as_bytes())
    assert refused.value.smtp_code == 550 and b"attachments are not accepted" in refused.value.smtp_error
    broken = (
        b"From: Ada <ada@example.net>\r\nTo: " + LIST.encode() + b"\r\nSubject: Broken\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"no boundary ever starts\r\n"
    )
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await deliver(ts, broken)
    assert refused.value.smtp_code == 550 and b"MIME" in refused.value.smtp_error
    assert ts.snapshot() == before


async def test_html_only_mail_becomes_text_and_the_reply_address_finds_the_parent(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, bob = await members(ts, relay)
    root = seeded["root"]
    html = EmailMessage()
    html["From"], html["To"], html["Subject"] = "Ada <ada@example.net>", LIST, "Rich"
    html.set_content(
        "<html><head><style>p{}</style></head><body><p>Hello <b>there</b></p>"
        "<script>alert(1)</script><p>Second &amp; last</p></body></html>",
        subtype="html",
    )
    await deliver(ts, html.as_bytes())
    (mail,) = await relay.wait("bob@example.org", where=subject_of("Rich"))
    started = [
        t for t in (await bob.get(f"/api/groups/{GROUP}/threads")).json()["threads"] if t["subject"] == "Rich"
    ][0]
    ((_, body, _),) = thread_bodies(ts, started["id"])
    assert body.strip() == "Hello there\n\nSecond & last" and "<" not in body
    # A reply with no In-Reply-To or References, sent to the signed reply address of the seed's root.
    reply_to = mailing.reply_address(ts.site.secret, root["id"], "lists.test")
    # The list mail's own Reply-To is bob's personal address for its thread.
    assert str(mail.message["Reply-To"]).startswith(f"{GROUP}+{ts.users['bob'].id}.{started['id']}.")
    await deliver(
        ts, message("Bob <bob@example.org>", reply_to, "Answer"), to=reply_to, mail_from="bob@example.org"
    )
    bodies = thread_bodies(ts, root["thread_id"])
    assert bodies[-1][0] == "Answer" and bodies[-1][2] == root["id"]
    forged = reply_to.replace("reply+", "reply+9")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await deliver(
            ts, message("Bob <bob@example.org>", forged, "Forged"), to=forged, mail_from="bob@example.org"
        )


async def test_mail_to_a_list_stays_in_its_group_whatever_its_references_name(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, _ = await members(ts, relay)
    r = await seeded["admin"].post("/api/groups", json={"name": "comp.other", "description": "Elsewhere"})
    assert r.status_code == 201, r.text
    r = await seeded["ada"].post("/api/groups/comp.other/threads", json={"subject": "There", "body": "x"})
    elsewhere = r.json()["article"]
    own = seeded["root"]["message_id"]
    # In-Reply-To names the other group's article; so does the nearest of References, but not all of them.
    for subject, refs in (
        ("Crossed", elsewhere["message_id"]),
        ("Answered", f"{own} {elsewhere['message_id']}"),
    ):
        data = message(
            "Ada <ada@example.net>", LIST, subject, In_Reply_To=elsewhere["message_id"], References=refs
        )
        await deliver(ts, data)
    ((parent_id, group),) = rows(
        ts,
        "SELECT a.parent_id, g.name FROM articles a JOIN groups g ON g.id = a.group_id WHERE a.subject = 'Crossed'",
    )
    assert group == GROUP and parent_id is None  # a thread of its own in the group it was sent to
    ((parent_id, group),) = rows(
        ts,
        "SELECT a.parent_id, g.name FROM articles a JOIN groups g ON g.id = a.group_id WHERE a.subject = 'Answered'",
    )
    assert group == GROUP and parent_id == seeded["root"]["id"]  # the nearest reference known in that group
    assert rows(ts, "SELECT count(*) FROM articles WHERE thread_id = ?", (elsewhere["thread_id"],)) == [(1,)]
    for subject in ("Crossed", "Answered"):  # the group's list mail of each, sent before the test ends
        await relay.wait("bob@example.org", where=subject_of(subject))


def mail_article_id(ts, mail) -> int:
    ((article_id,),) = rows(ts, "SELECT id FROM articles WHERE message_id = ?", (mail.message["Message-ID"],))
    return article_id


async def test_the_same_message_twice_posts_once(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, _ = await members(ts, relay)
    data = message("Ada <ada@example.net>", LIST, "Twice", Message_ID="<twice@example.net>")
    await deliver(ts, data)
    await deliver(ts, data)  # an MTA retry, or the list and the reply address both
    # Both at once: one posts, the other finds it posted; neither is refused.
    again = message("Ada <ada@example.net>", LIST, "Racing", Message_ID="<race@example.net>")
    assert await asyncio.gather(deliver(ts, again), deliver(ts, again)) == [{}, {}]
    for message_id in ("<twice@example.net>", "<race@example.net>"):
        count = rows(ts, "SELECT count(*) FROM articles WHERE message_id = ?", (message_id,))
        assert count == [(1,)], message_id
    # The sender's account is kept between mails (site.members), never past a change to it.
    r = await seeded["admin"].post("/api/users/ada/suspend", json={"days": 1, "reason": "r"})
    assert r.status_code == 200, r.text
    after = message("Ada <ada@example.net>", LIST, "Suspended", Message_ID="<suspended@example.net>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await deliver(ts, after)
    assert refused.value.smtp_code == 550 and b"suspended" in refused.value.smtp_error
    assert rows(ts, "SELECT count(*) FROM articles WHERE message_id = '<suspended@example.net>'") == [(0,)]


# Digests and unsubscribing


async def test_daily_digest_is_a_mime_digest_of_the_new_articles(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, _ = await members(ts, relay, subscribe_bob="digest")
    ada = seeded["ada"]
    for n in (1, 2):
        r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": f"News {n}", "body": f"Item {n}"})
        assert r.status_code == 201
    async with ts.db.transaction() as conn:
        assert await mailqueue.queue_digests(conn, "lists.test") == 1
        assert await mailqueue.queue_digests(conn, "lists.test") == 0  # nothing new since
    (mail,) = await relay.wait("bob@example.org", where=subject_of("digest"))
    msg = mail.message
    assert msg.get_content_type() == "multipart/digest"  # RFC 2046 §5.1.5
    parts = [p.get_content() for p in msg.iter_parts()]
    assert all(p.get_content_type() == "message/rfc822" for p in msg.iter_parts())
    assert [str(p["Subject"]) for p in parts[1:]] == ["News 1", "News 2"]
    assert "Item 2" in parts[2].get_body(("plain",)).get_content()
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Each-mode subscribers got nothing per article while on digest.
    assert not [m for m in relay.to("bob@example.org") if str(m.message["Subject"]) == "News 1"]


async def test_one_click_unsubscribe(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, bob = await members(ts, relay)
    await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Bye", "body": "x"})
    (mail,) = await relay.wait("bob@example.org", where=subject_of("Bye"))
    path = mail.message["List-Unsubscribe"].strip("<>").removeprefix("https://forum.test")
    anonymous = await ts.client()  # RFC 8058: no cookies, the token alone
    assert (await anonymous.get(path)).status_code == 200  # a page with a button, which changes nothing
    assert (await bob.get(f"/api/groups/{GROUP}/subscription")).json()["subscription"]["mail"] == "each"
    r = await anonymous.post(
        path + "x",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    r = await anonymous.post(
        path, content=b"nothing", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 400
    assert (await bob.get(f"/api/groups/{GROUP}/subscription")).json()["subscription"]["mail"] == "each"
    r = await anonymous.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "No more mail" in r.text
    assert (await bob.get(f"/api/groups/{GROUP}/subscription")).json()["subscription"]["mail"] == "none"


async def test_one_click_unsubscribe_as_multipart_form_data(make_site, relay):
    """RFC 8058 §3.2: the POST may be multipart/form-data, the field List-Unsubscribe
    holding One-Click; the same link works again after subscribing again."""
    ts = await make_site(**mail_settings(relay))
    seeded, bob = await members(ts, relay)
    await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Bye", "body": "x"})
    (mail,) = await relay.wait("bob@example.org", where=subject_of("Bye"))
    path = mail.message["List-Unsubscribe"].strip("<>").removeprefix("https://forum.test")
    anonymous = await ts.client()

    async def mail_mode() -> str:
        return (await bob.get(f"/api/groups/{GROUP}/subscription")).json()["subscription"]["mail"]

    # Not the field's value: the text elsewhere, another value, another field.
    for fields in (
        {"note": "List-Unsubscribe=One-Click"},
        {"List-Unsubscribe": "Two-Clicks"},
        {"List-Unsubscribe-Post": "One-Click"},
    ):
        r = await anonymous.post(path, files={k: (None, v) for k, v in fields.items()})
        assert r.request.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert r.status_code == 400, fields
    broken = {"content-type": "multipart/form-data; boundary=x"}
    r = await anonymous.post(path, content=b"--x\r\nList-Unsubscribe=One-Click\r\n--x--", headers=broken)
    assert r.status_code == 400 and await mail_mode() == "each"
    r = await anonymous.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200 and "No more mail" in r.text and await mail_mode() == "none"
    assert (await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})).status_code == 200
    r = await anonymous.post(path, data={"List-Unsubscribe": "One-Click"})  # urlencoded, as before
    assert r.status_code == 200 and await mail_mode() == "none"


# Addresses


async def test_confirmation_links_work_once_expire_and_addresses_stay_private(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    ada = await ts.client("ada")
    r = await ada.put("/api/me/email", json={"email": "Ada <ada@example.net>\r\nBcc: x@y"})
    assert r.status_code == 400
    for bad in ["", "no-at-sign", "a@b", "a b@example.org", "x" * 300 + "@example.org"]:
        if bad:
            assert (await ada.put("/api/me/email", json={"email": bad})).status_code == 400, bad
    assert (await ada.put("/api/me/email", json={"email": "ada@example.net"})).status_code == 200
    (mail,) = await relay.wait("ada@example.net", where=subject_of("Confirm"))
    token = mail.message.get_body(("plain",)).get_content().split("/confirm/")[1].split()[0]
    me = (await ada.get("/api/me")).json()
    assert me["email"] == {"address": "ada@example.net", "confirmed": False, "bouncing": False}
    page = await ada.get(f"/confirm/{token}")
    assert page.status_code == 200 and "Confirm" in page.text
    assert (await ada.post("/api/confirm", json={"token": token})).status_code == 200
    assert (await ada.get("/api/me")).json()["email"]["confirmed"] is True
    assert (await ada.post("/api/confirm", json={"token": token})).status_code == 400  # single use
    # Another account cannot take a confirmed address.
    bob = await ts.client("bob")
    assert (await bob.put("/api/me/email", json={"email": "ADA@example.net"})).status_code == 409
    # An old link (signed 49 hours ago for the pending nonce) has expired.
    assert (await bob.put("/api/me/email", json={"email": "bob@example.org"})).status_code == 200
    ((user_id, nonce),) = rows(
        ts, "SELECT user_id, nonce FROM mail_addresses WHERE email = 'bob@example.org'"
    )

    class Past(URLSafeTimedSerializer):
        def make_signer(self, *args):
            signer = super().make_signer(*args)
            signer.get_timestamp = lambda: int(time.time()) - 49 * 3600
            return signer

    old = Past(ts.site.secret, salt="moot-mail-confirm").dumps({"u": user_id, "n": nonce})
    r = await bob.post("/api/confirm", json={"token": old})
    assert r.status_code == 400 and "expired" in r.json()["error"]["message"]
    # Nobody else sees an address: not in the other account's /api/me, nor anywhere public.
    assert (await bob.get("/api/me")).json()["email"]["address"] == "bob@example.org"
    anonymous = await ts.client()
    assert (await anonymous.get("/api/me")).status_code == 401
    assert "ada@example.net" not in (await anonymous.get("/api/groups")).text


async def test_mail_features_say_so_when_mail_is_off(make_site):
    ts = await make_site()
    await seed(ts, GROUP)
    bob = await ts.client("bob")
    r = await bob.put("/api/me/email", json={"email": "bob@example.org"})
    assert r.status_code == 409 and "mail is off" in r.json()["error"]["message"]
    r = await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    assert r.status_code == 409
    r = await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "weekly"})
    assert r.status_code in (400, 409)


# Bounces, retries, dead letters, rates


def dsn(queue_address: str) -> bytes:
    """A delivery status notification as an MTA sends it (RFC 3464)."""
    return (
        b"From: MAILER-DAEMON@example.org\r\nTo: " + queue_address.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; example.org\r\n\r\n"
        b"Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--r--\r\n"
    )


async def test_bounces_to_the_return_path_mark_an_address_bouncing(make_site, relay):
    ts = await make_site(**mail_settings(relay, mail_bounce_limit=2))
    seeded, bob = await members(ts, relay)
    ada = seeded["ada"]
    for n in (1, 2):
        await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": f"B{n}", "body": "x"})
        (mail,) = await relay.wait("bob@example.org", where=subject_of(f"B{n}"))
        # An auto-reply to the return path is not a bounce.
        await deliver(
            ts, message("Bob <bob@example.org>", mail.mail_from, "Away"), to=mail.mail_from, mail_from=""
        )
        await deliver(ts, dsn(mail.mail_from), to=mail.mail_from, mail_from="")
        expected = n >= 2
        assert (await bob.get("/api/me")).json()["email"]["bouncing"] is expected
    r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "B3", "body": "x"})
    queued = rows(ts, "SELECT count(*) FROM mail_queue WHERE article_id = ?", (r.json()["article"]["id"],))
    assert queued == [(0,)]  # a bouncing address gets nothing more
    # Setting the address again starts over.
    await confirm_address(bob, relay, "bob@example.org")
    assert (await bob.get("/api/me")).json()["email"]["bouncing"] is False


async def test_retries_with_backoff_then_dead_letters_for_admins(make_site, relay):
    ts = await make_site(**mail_settings(relay, mail_retries=3, mail_retry_delay=0.05))
    seeded, bob = await members(ts, relay)
    relay.refuse["bob@example.org"] = "451 4.3.0 try again later"
    await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Retry", "body": "x"})
    admin = seeded["admin"]
    dead = await until(lambda: dead_list(admin), "a dead letter")
    assert dead[0]["recipient"] == "bob@example.org" and dead[0]["attempts"] == 3
    assert "451" in dead[0]["last_error"] and dead[0]["kind"] == "article"
    assert (await bob.get("/api/admin/mail/dead")).status_code == 403
    # A 5xx refusal is final at once.
    relay.refuse["bob@example.org"] = "550 5.1.1 no such user"
    await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Final", "body": "x"})

    async def two_dead():
        found = await dead_list(admin)
        return len(found) == 2 and found

    dead = await until(two_dead, "a second dead letter")
    assert dead[0]["attempts"] == 1 and "550" in dead[0]["last_error"]
    # An admin sends one again once the relay takes it.
    del relay.refuse["bob@example.org"]
    r = await admin.post(f"/api/admin/mail/dead/{dead[0]['id']}/retry", json={})
    assert r.status_code == 204
    await relay.wait("bob@example.org", where=subject_of("Final"))


async def dead_list(admin) -> list:
    r = await admin.get("/api/admin/mail/dead")
    assert r.status_code == 200
    return r.json()["dead_letters"]


async def test_per_recipient_rate_defers_mail_without_losing_it(make_site, relay):
    # Three an hour: bob's confirmation mail and two articles; the third article waits.
    ts = await make_site(**mail_settings(relay, mail_recipient_rate=3))
    seeded, _ = await members(ts, relay)
    for n in (1, 2, 3):
        await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": f"Rate {n}", "body": "x"})
    await relay.wait("bob@example.org", 2, where=subject_of("Rate"))

    def third_deferred():
        return rows(
            ts,
            "SELECT status, next_at FROM mail_queue WHERE kind = 'article'"
            " AND status = 'queued' AND next_at > ?",
            (clock.later(seconds=600),),
        )

    deferred = await until(third_deferred, "the third mail deferred")
    assert len(deferred) == 1 and len([m for m in relay.to("bob@example.org") if subject_of("Rate")(m)]) == 2


# Other doors: LMTP, moot deliver, STARTTLS with a login


async def test_lmtp_receiver_answers_per_recipient(make_site, relay):
    ts = await make_site(**mail_settings(relay, smtp_lmtp=True))
    seeded, _ = await members(ts, relay)
    data = message("Ada <ada@example.net>", LIST, "Via LMTP")
    assert await asyncio.to_thread(send, ts.config.smtp_port, "ada@example.net", LIST, data, lmtp=True) == {}
    await relay.wait("bob@example.org", where=subject_of("Via LMTP"))


def test_moot_deliver_reads_one_message_on_stdin(tmp_path):
    db = str(tmp_path / "site.db")
    moot("init", "--db", db)
    moot("adduser", "ada", "--password-stdin", "--db", db, input="correct horse battery\n")
    moot("adduser", "root", "--admin", "--password-stdin", "--db", db, input="correct horse battery\n")
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO mail_addresses (user_id, email, confirmed_at, created_at)"
        " SELECT id, 'ada@example.net', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'"
        " FROM users WHERE username = 'ada'"
    )
    conn.execute("INSERT INTO groups (name, created_at) VALUES ('misc.test', '2026-01-01T00:00:00.000Z')")
    conn.commit()
    conn.close()
    # As the MTA pipes it, topped with its Authentication-Results (`moot deliver` is a trusted path).
    data = vouched(
        "ada@example.net", message("Ada <ada@example.net>", "misc.test@test.moot", "Piped")
    ).decode()
    ok = moot(
        "deliver",
        "--group",
        "misc.test",
        "--sender",
        "ada@example.net",
        "--db",
        db,
        input=data,
        mail_authserv_id=AUTHSERV,
    )
    assert ok.returncode == 0 and "posted as" in ok.stdout
    stranger = message("Eve <eve@example.com>", "misc.test@test.moot", "Piped").decode()
    refused = moot("deliver", "--group", "misc.test", "--db", db, input=stranger, check=False, public_url="")
    assert refused.returncode == 77 and "only members post by mail" in refused.stderr  # EX_NOPERM
    # Without MOOT_PUBLIC_URL the refusal names the site, not an address made up from MOOT_HOST and MOOT_PORT.
    assert "account settings on Moot." in refused.stderr and "http" not in refused.stderr
    named = moot(
        "deliver",
        "--group",
        "misc.test",
        "--db",
        db,
        input=stranger,
        check=False,
        public_url="https://forum.example.org/",
    )
    assert "account settings at https://forum.example.org/." in named.stderr
    unknown = moot("deliver", "--group", "no.such", "--db", db, input=data, check=False)
    assert unknown.returncode == 67  # EX_NOUSER
    bounce = moot("deliver", "--group", "misc.test", "--sender", "", "--db", db, input=data, check=False)
    assert bounce.returncode == 0 and "dropped" in bounce.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM articles WHERE subject = 'Piped'").fetchone() == (1,)
    conn.close()


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
# aiosmtpd warns about AUTH without STARTTLS even when the whole connection is TLS (smtps).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_tls_relay_with_login(make_site, tmp_path, scheme):
    import shutil
    import ssl

    from tests.tls_support import self_signed

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = self_signed(tmp_path, "127.0.0.1", "IP:127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with Relay(context, implicit_tls=scheme == "smtps", auth=("moot", "s3cret/pass")) as tls_relay:
        url = f"{scheme}://moot:s3cret%2Fpass@127.0.0.1:{tls_relay.port}?cafile={cert}"
        ts = await make_site(**{**mail_settings(tls_relay), "smtp_url": url})
        ada = await ts.client("ada")
        assert (await ada.put("/api/me/email", json={"email": "ada@example.net"})).status_code == 200
        (mail,) = await tls_relay.wait("ada@example.net", where=subject_of("Confirm"))
        assert tls_relay.logins == ["moot"]
        assert (
            email.message_from_bytes(mail.data, policy=email.policy.default)["Auto-Submitted"]
            == "auto-generated"
        )


async def test_group_page_names_the_list_address_only_when_mail_is_on(make_site, relay):
    on = await make_site(**mail_settings(relay))
    await seed(on, GROUP)
    page = await (await on.client()).get(f"/g/{GROUP}")
    assert f'href="mailto:{LIST}"' in page.text
    off = await make_site()
    await seed(off, GROUP)
    page = await (await off.client()).get(f"/g/{GROUP}")
    assert "Mail is off" not in page.text and "mailto:" not in page.text


async def test_receiver_refuses_connections_past_its_cap_with_421(make_site, relay):
    cap = 12
    ts = await make_site(**mail_settings(relay, smtp_max_connections=cap, smtp_max_per_address=0))
    opened = []
    try:
        for _ in range(cap):
            reader, writer = await asyncio.open_connection("127.0.0.1", ts.config.smtp_port)
            opened.append(writer)
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220 ")
        reader, writer = await asyncio.open_connection("127.0.0.1", ts.config.smtp_port)
        opened.append(writer)
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"421 ")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and closed
        opened.pop().close()
        opened.pop(0).close()

        # A place is free again: the next client is greeted.
        async def greeted():
            r, w = await asyncio.open_connection("127.0.0.1", ts.config.smtp_port)
            opened.append(w)
            return (await asyncio.wait_for(r.readline(), 10)).startswith(b"220 ")

        assert await until(greeted, "a greeting after a connection closed")
    finally:
        for writer in opened:
            writer.close()


async def test_the_confirmation_page_confirms_with_its_form_once(make_site, relay):
    import re

    ts = await make_site(**mail_settings(relay))
    ada = await ts.client("ada")
    assert (await ada.put("/api/me/email", json={"email": "ada@example.net"})).status_code == 200
    (mail,) = await relay.wait("ada@example.net", where=subject_of("Confirm"))
    link = re.search(r"https://forum.test(/confirm/\S+)", mail.message.get_body(("plain",)).get_content())[1]
    browser = await ts.client()  # the link may be opened anywhere, signed in or not
    page = await browser.get(link)
    assert (await ada.get("/api/me")).json()["email"]["confirmed"] is False  # opening it changes nothing
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    assert (await browser.post(link, data={"csrf": "forged"})).status_code == 403
    done = await browser.post(link, data={"csrf": csrf})
    assert done.status_code == 200 and "ada@example.net is confirmed" in done.text
    assert (await ada.get("/api/me")).json()["email"]["confirmed"] is True
    again = await browser.post(link, data={"csrf": csrf})
    assert again.status_code == 400 and "already used" in again.text


async def test_other_features_queue_notices_in_their_own_transaction(make_site, relay):
    """The hook for password resets and notifications: queue_mail(conn, "notice", ...)."""
    ts = await make_site(**mail_settings(relay))
    with pytest.raises(RuntimeError):
        async with ts.db.transaction() as conn:
            await mailqueue.queue_mail(
                conn, "notice", "ada@example.net", data={"subject": "Never", "text": "rolled back"}
            )
            raise RuntimeError("the action failed")
    async with ts.db.transaction() as conn:
        with pytest.raises(Exception, match="email must be"):
            await mailqueue.queue_mail(conn, "notice", "ada@example.net\r\nBcc: x@y", data={})
        await mailqueue.queue_mail(
            conn,
            "notice",
            "ada@example.net",
            domain_for_id="test.moot",
            data={"subject": "Reset your password", "text": "Follow https://forum.test/reset/x\n"},
        )
        await mailqueue.queue_mail(conn, "notice", "ada@example.net", data={"subject": "Broken"})
    (mail,) = await relay.wait("ada@example.net")
    assert mail.message["Subject"] == "Reset your password" and mail.message["Message-ID"].endswith(
        "@test.moot>"
    )
    assert "https://forum.test/reset/x" in mail.message.get_body(("plain",)).get_content()
    admin = await ts.client("root", "admin")
    dead = await until(lambda: dead_list(admin), "the notice without a text in the dead letters")
    assert "cannot be written" in dead[0]["last_error"]
    assert not [m for m in relay.to("ada@example.net") if "Never" in str(m.message["Subject"])]


def test_plain_paths_read_as_aiosmtpd_reads_them():
    """The receiver reads plain MAIL FROM / RCPT TO paths with one match: the
    same (address, parameters) aiosmtpd's RFC 5322 parser gives; any other
    form is left to that parser."""
    from aiosmtpd.smtp import SMTP

    from moot.smtp.receiver import plain_path

    parser = SMTP.__new__(SMTP)  # only its address reading, no connection
    parser.local_part_limit = 0
    plain = [
        "<a@b.c>",
        "<Author.Name+tag@mail.example-host.org> SIZE=1234 BODY=8BITMIME",
        " <x_y@host>\tSMTPUTF8 ",
        "<a@b.c>  ",
    ]
    for arg in plain:
        assert plain_path(arg) == parser._getaddr(arg) != (None, None), arg
    for arg in [
        "<>",
        "<a..b@c.d>",
        '<"q p"@c.d>',
        "<a@[192.0.2.1]>",
        "<a@b.c> (comment) SIZE=1",
        "<ü@b.c>",
        "a@b.c",
    ]:
        assert plain_path(arg) is None, arg
    assert plain_path("<abcdef@b.c>", local_part_limit=5) is None
    assert plain_path("<abcde@b.c>", local_part_limit=5) == ("abcde@b.c", "")


_FIELD_NAMES = [
    "From", "Subject", "Message-ID", "Date", "References", "In-Reply-To", "Auto-Submitted",
    "Precedence", "List-Id", "X-Autoreply", "Authentication-Results", "DKIM-Signature",
    "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Content-Disposition",
]  # fmt: skip
_FIELD_VALUES = [
    "Ada <ada@example.net>", "=?utf-8?q?Caf=C3=A9?= talk", "<a.1@example.net>", "",
    "Sat, 01 Jan 2000 00:00:00 +0000", "auto-replied", "bulk", "<g.lists.example.org>",
    "mx.test; dmarc=pass header.from=example.net", "v=1; d=example.net", "text/plain",
    "text/plain; charset=utf-8", "TEXT/Plain; charset=iso-8859-1", "text/plain; name=a.txt",
    "text/html", "multipart/mixed; boundary=x", "7bit", "8bit", "quoted-printable", "base64",
    "attachment; filename=a.txt", "inline", "1.0", "Ünïcode wörds", "no",
]  # fmt: skip


def _raw_value(text: str, latin: bool) -> bytes:
    return text.encode("latin-1" if latin and all(ord(c) < 256 for c in text) else "utf-8")


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(_FIELD_NAMES),
            st.sampled_from(_FIELD_VALUES),
            st.sampled_from(["", "\n ", "\n\t"]),  # a fold, or none
            st.booleans(),  # Latin-1 bytes where the value has non-ASCII
        ),
        max_size=10,
    ),
    body=st.lists(
        st.sampled_from(["A line.", "> quoted", "", "café ☕", "-- ", "=41", "x" * 90, "\tindented"]),
        max_size=8,
    ),
    crlf=st.booleans(),
    latin_body=st.booleans(),
)
def test_a_plain_message_reads_the_same_without_the_email_package(fields, body, crlf, latin_body):
    """List mail of one plain text part is read by a few string operations
    (messages.plain_message); whenever it is, its header fields, its text and
    every check on them are what the email package's reading gives."""
    from email import message_from_bytes
    from email.policy import compat32

    from moot.articles import messages
    from moot.mail import inbound
    from moot.store.errors import MootError

    lines = []
    for name, value, fold, latin in fields:
        cut = len(value) // 2
        text = value[:cut] + fold + value[cut:] if fold and " " in value[cut:] else value
        lines.append(name.encode() + b": " + _raw_value(text, latin))
    text = "\n".join(body)
    lines += [b"", _raw_value(text, latin_body)]
    data = b"\n".join(lines)
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    fast = inbound._read(data)
    if fast.msg is not None:
        return  # the slow path: the email package reads it, as before
    msg = message_from_bytes(data, policy=compat32)
    slow = inbound._Read(messages.head_of(msg), msg.get_content_type(), msg)
    assert fast.head.fields == slow.head.fields
    assert fast.content_type == slow.content_type == "text/plain"
    assert inbound._mime_problem(msg) is None
    for mail_from in ("a@example.net", "<>"):
        assert inbound._automatic(fast, mail_from, "forum.test", "lists.forum.test") == inbound._automatic(
            slow, mail_from, "forum.test", "lists.forum.test"
        )
    outcomes = []
    for read in (fast, slow):
        read.head.first.setdefault("date", "Sat, 01 Jan 2000 00:00:00 +0000")
        try:
            outcomes.append(messages.parse_read(read.head, read.text(), data))
        except MootError as error:
            outcomes.append((type(error), error.message))
    assert outcomes[0] == outcomes[1]
