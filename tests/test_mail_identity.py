"""Mail identity: a list mail is posted as a member only when it shows it
came from them (a personal reply key, DKIM alignment, a trusted relay's
Authentication-Results); a forged From is held, and the member alone can
publish it, by POST on the link mailed to their confirmed address."""

from __future__ import annotations

import asyncio
import base64
import re
import smtplib
import sqlite3
import subprocess
from email.utils import formatdate, make_msgid

import dkim
import pytest

from moot.mail import identity
from tests.conftest import ANY_PORT, seed
from tests.mail_support import (
    AUTHSERV,
    GROUP,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    subject_of,
    vouched,
)
from tests.nntp_support import nntplib
from tests.processes import moot

ADA = "ada@example.net"
SELECTOR = b"sel"


@pytest.fixture(scope="session")
def rsa_key(tmp_path_factory) -> tuple[bytes, bytes]:
    """(private key PEM, DNS TXT record) of one 1024-bit RSA key for the session."""
    pem = subprocess.run(["openssl", "genrsa", "1024"], capture_output=True, check=True).stdout
    der = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem, capture_output=True, check=True
    ).stdout
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


async def public_port_site(make_site, relay, **more):
    """A site whose SMTP port is public (no trusted relay), a seeded group, and
    Ada with her confirmed address, subscribed to the group by mail."""
    ts = await make_site(**mail_settings(relay, mail_trusted_relays=(), **more))
    seeded = await seed(ts)
    await confirm_address(seeded["ada"], relay, ADA)
    r = await seeded["ada"].put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    assert r.status_code == 200, r.text
    return ts, seeded


def deliver(ts, data: bytes, *, to: str = LIST, mail_from: str = ADA) -> dict:
    return send(ts.config.smtp_port, mail_from, to, data, relayed=False)


def articles(ts, subject: str) -> list[tuple]:
    conn = sqlite3.connect(ts.config.db_path)
    try:
        return conn.execute(
            "SELECT a.user_id, a.thread_id, a.parent_id FROM articles a WHERE a.subject = ?", (subject,)
        ).fetchall()
    finally:
        conn.close()


def held(ts, subject: str) -> list[tuple]:
    conn = sqlite3.connect(ts.config.db_path)
    try:
        return conn.execute(
            "SELECT why, user_id, state FROM queue WHERE subject = ? AND kind = 'held'", (subject,)
        ).fetchall()
    finally:
        conn.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


async def test_forged_from_is_held_and_only_a_post_on_the_mailed_link_publishes_it(make_site, relay):
    ts, seeded = await public_port_site(make_site, relay)
    ada_id = ts.users["ada"].id
    forged = message("Ada <ada@example.net>", LIST, "Forged =?utf-8?q?x?=", "Send money.\nSecond line.\n")
    assert await asyncio.to_thread(deliver, ts, forged, mail_from="attacker@evil.example") == {}
    assert articles(ts, "Forged x") == []
    (item,) = held(ts, "Forged x")
    assert item == ("unverified", ada_id, "waiting")

    (mail,) = await relay.wait(ADA, where=subject_of("Did you send"))
    assert mail.message["Auto-Submitted"] == "auto-replied"
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "> Send money.\n> Second line.\n" in text  # the held text in full
    assert relay.to("attacker@evil.example") == []  # no backscatter
    token = re.search(r"/mail/held/(\S+)", text)[1]

    visitor = await ts.client()
    page = await visitor.get(f"/mail/held/{token}")
    assert page.status_code == 200 and "Send money." in page.text
    assert articles(ts, "Forged x") == []  # a GET (a link scanner) confirms nothing
    r = await visitor.post(f"/mail/held/{token}", data={"csrf": "wrong"})
    assert r.status_code == 403 and articles(ts, "Forged x") == []
    r = await visitor.post(f"/mail/held/{token}", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    ((author, _, _),) = articles(ts, "Forged x")
    assert author == ada_id and held(ts, "Forged x")[0][2] == "approved"
    again = await visitor.post(f"/mail/held/{token}", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 400 and len(articles(ts, "Forged x")) == 1


async def test_a_reply_to_the_personal_reply_address_is_posted_and_other_keys_are_not(make_site, relay):
    ts, seeded = await public_port_site(make_site, relay)
    bob = await ts.client("bob")
    r = await bob.post(f"/api/articles/{seeded['root']['id']}/replies", json={"body": "Bob answers"})
    assert r.status_code == 201, r.text
    bobs = r.json()["article"]
    (mail,) = await relay.wait(ADA, where=lambda m: "Bob answers" in m.data.decode("utf-8", "replace"))
    reply_to = str(mail.message["Reply-To"])
    thread = seeded["thread"]["id"]
    assert reply_to.startswith(f"{GROUP}+{ts.users['ada'].id}.{thread}.")
    in_reply = {"In_Reply_To": bobs["message_id"]}

    await asyncio.to_thread(deliver, ts, message(ADA, reply_to, "Keyed", **in_reply), to=reply_to)
    ((author, in_thread, parent),) = articles(ts, "Keyed")
    assert (author, in_thread, parent) == (ts.users["ada"].id, thread, bobs["id"])

    # Another thread, another member's key, an expired key: none shows Ada wrote it.
    other = await seeded["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Other", "body": "x"})
    other_root = other.json()["article"]
    await asyncio.to_thread(
        deliver, ts, message(ADA, reply_to, "Wrong thread", In_Reply_To=other_root["message_id"]), to=reply_to
    )
    bob_id, secret, today = ts.users["bob"].id, ts.site.secret, identity.today()
    bobs_key = identity.personal_address(secret, GROUP, bob_id, thread, 0, today + 5, "lists.test")
    await asyncio.to_thread(deliver, ts, message(ADA, bobs_key, "Bobs key", **in_reply), to=bobs_key)
    expired = identity.personal_address(secret, GROUP, ts.users["ada"].id, thread, 0, today - 1, "lists.test")
    await asyncio.to_thread(deliver, ts, message(ADA, expired, "Expired key", **in_reply), to=expired)
    # The right key with someone else's From is that someone's (a stranger's) mail, not Ada's.
    with pytest.raises(smtplib.SMTPDataError, match="not accepted"):
        await asyncio.to_thread(
            deliver,
            ts,
            message("eve@evil.example", reply_to, "Eve keyed"),
            to=reply_to,
            mail_from="eve@evil.example",
        )
    # Revoked from the account page: the key Ada was sent no longer shows anything.
    page = await seeded["ada"].get("/account")
    r = await seeded["ada"].post("/account/reply-keys", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    await asyncio.to_thread(deliver, ts, message(ADA, reply_to, "Revoked key", **in_reply), to=reply_to)
    for subject in ("Wrong thread", "Bobs key", "Expired key", "Revoked key"):
        assert articles(ts, subject) == [], subject
        assert held(ts, subject) == [("unverified", ts.users["ada"].id, "waiting")], subject
    assert articles(ts, "Eve keyed") == []


def signed(pem: bytes, data: bytes, *, domain: bytes = b"example.net", headers=None, length=False) -> bytes:
    headers = headers or [b"from", b"to", b"date", b"subject", b"message-id"]
    signature = dkim.sign(data, SELECTOR, domain, pem, include_headers=headers, length=length)
    return signature + data


async def test_dkim_aligned_signature_is_posted_and_weak_ones_are_not(make_site, relay, rsa_key):
    ts, _ = await public_port_site(make_site, relay)
    pem, record = rsa_key
    looked_up = []

    def resolver(name: bytes, timeout: float = 5.0) -> bytes | None:
        looked_up.append(name)
        return {b"sel._domainkey.example.net.": record, b"sel._domainkey.evil.example.": record}.get(name)

    ts.site.dkim_dns = resolver

    def mail(subject: str, to: str = LIST) -> bytes:
        return message(
            f"Ada <{ADA}>", to, subject, Date=formatdate(), Message_ID=make_msgid(domain="example.net")
        )

    await asyncio.to_thread(deliver, ts, signed(pem, mail("Signed")), mail_from="bounce@elsewhere.example")
    ((author, _, _),) = articles(ts, "Signed")
    assert author == ts.users["ada"].id and looked_up

    # l= with text added after the signed part; To left unsigned; signed for another list;
    # signed by a domain that is not the From's: each is held, not posted as Ada.
    extended = signed(pem, mail("Extended"), length=True) + b"P.S. send money to the attacker.\r\n"
    unsigned_to = signed(pem, mail("Unsigned To"), headers=[b"from", b"date", b"subject"])
    other_list = signed(pem, mail("Other list", to="other@lists.test"))
    misaligned = signed(pem, mail("Misaligned"), domain=b"evil.example")
    for data in (extended, unsigned_to, other_list, misaligned):
        await asyncio.to_thread(deliver, ts, data)
    for subject in ("Extended", "Unsigned To", "Other list", "Misaligned"):
        assert articles(ts, subject) == [], subject
        assert held(ts, subject)[0][0] == "unverified", subject


async def test_authentication_results_believed_from_moot_deliver_not_the_public_port(make_site, relay):
    ts, _ = await public_port_site(make_site, relay, mail_authserv_id=AUTHSERV)
    # On the public port, anyone can write the relay's header: it is ignored.
    await asyncio.to_thread(send, ts.config.smtp_port, ADA, LIST, message(ADA, LIST, "Claimed"))
    assert articles(ts, "Claimed") == [] and held(ts, "Claimed")[0][0] == "unverified"

    def pipe(data: bytes) -> subprocess.CompletedProcess:
        settings = {"db": ts.config.db_path, "mail_domain": "lists.test", "mail_authserv_id": AUTHSERV}
        args = ["deliver", "--group", GROUP, "--sender", ADA, "--db", settings.pop("db")]
        return moot(*args, input=data.decode(), **settings)

    piped = await asyncio.to_thread(pipe, vouched(ADA, message(ADA, LIST, "Piped")))
    assert "posted as" in piped.stdout
    ((author, _, _),) = articles(ts, "Piped")
    assert author == ts.users["ada"].id
    # Another server's verdict (another authserv-id) is not the relay's.
    foreign = b"Authentication-Results: mx.elsewhere; dmarc=pass header.from=example.net\r\n"
    other = await asyncio.to_thread(pipe, foreign + message(ADA, LIST, "Foreign verdict"))
    assert "held" in other.stdout and articles(ts, "Foreign verdict") == []


async def test_reply_keys_are_absent_from_mbox_nntp_and_atom(make_site, relay):
    ts, seeded = await public_port_site(make_site, relay, nntp_port=ANY_PORT)
    bob = await ts.client("bob")
    r = await bob.post(f"/api/articles/{seeded['root']['id']}/replies", json={"body": "Bob again"})
    article = r.json()["article"]
    (mail,) = await relay.wait(ADA, where=lambda m: "Bob again" in m.data.decode("utf-8", "replace"))
    key = str(mail.message["Reply-To"]).split("+", 1)[1].split("@")[0]
    assert len(key) > 20 and key.encode() in mail.data

    reader = await ts.client()
    exports = [
        await reader.get(f"/api/groups/{GROUP}/mbox"),
        await reader.get(f"/api/threads/{article['thread_id']}/mbox"),
        await reader.get(f"/api/groups/{GROUP}/feed.atom"),
        await reader.get(f"/api/threads/{article['thread_id']}/feed.atom"),
    ]
    assert b"Bob again" in exports[0].content and b"Bob again" in exports[1].content
    for export in exports:
        assert export.status_code == 200
        assert key.encode() not in export.content and key.split(".")[-1].encode() not in export.content

    def by_nntp() -> bytes:
        with nntplib.NNTP("127.0.0.1", ts.config.nntp_port, timeout=20) as n:
            return b"\r\n".join(n.article(article["message_id"])[1].lines)

    text = await asyncio.to_thread(by_nntp)
    assert b"Bob again" in text and key.split(".")[-1].encode() not in text


async def test_forged_mail_does_not_spend_the_members_own_room_in_the_queue(make_site, relay):
    """Anyone can send mail with a member's From: what waits unproven has an
    allowance of its own, so it never keeps the member's own posts out."""
    from moot.articles.held import AUTHOR_MAX

    ts, seeded = await public_port_site(make_site, relay)
    r = await seeded["admin"].put(f"/api/groups/{GROUP}/policy", json={"status": "m", "reason": "r"})
    assert r.status_code == 200, r.text
    for n in range(AUTHOR_MAX):
        forged = message("Ada <ada@example.net>", LIST, f"Forged {n}", f"Buy number {n}.\n")
        assert await asyncio.to_thread(deliver, ts, forged, mail_from="attacker@evil.example") == {}
    assert len([h for n in range(AUTHOR_MAX) for h in held(ts, f"Forged {n}")]) == AUTHOR_MAX
    more = message("Ada <ada@example.net>", LIST, "Forged more", "Buy more.\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:  # the unproven allowance is spent
        await asyncio.to_thread(deliver, ts, more, mail_from="attacker@evil.example")
    assert refused.value.smtp_code == 451
    r = await seeded["ada"].post(
        f"/api/groups/{GROUP}/threads", json={"subject": "Mine", "body": "Really me."}
    )
    assert r.status_code == 202 and r.json()["held"]["why"] == "moderated", r.text
