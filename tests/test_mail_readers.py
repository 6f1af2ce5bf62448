"""Mail for readers, end to end against a real relay (aiosmtpd): notifications
by mail (each, or a daily summary) with their one-click off, threads followed
by mail in list form (carried over a split, never twice), and killfiles
keeping what they hide out of every kind of list mail; mail from strangers
held for a group's moderators."""

from __future__ import annotations

import asyncio
import re
import smtplib
from urllib.parse import quote

import pytest

from moot.articles import held as held_submissions
from moot.mail import mailqueue, noticemail
from tests.conftest import seed
from tests.db_support import rows
from tests.mail_support import (
    GROUP,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    subject_of,
    until,
)

BOB = "bob@example.org"


def queued(ts, kind: str) -> list[tuple]:
    """(user_id, status) of every mail of `kind` in the outbox."""
    return rows(ts, "SELECT user_id, status FROM mail_queue WHERE kind = ? ORDER BY id", (kind,))


async def one_click(ts, mail) -> None:
    """RFC 8058: POST List-Unsubscribe=One-Click to the mail's link, without cookies."""
    path = mail.message["List-Unsubscribe"].strip("<>").removeprefix("https://forum.test")
    anonymous = await ts.client()
    r = await anonymous.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and "No more mail" in r.text, r.text


async def bob_with_thread(ts, relay):
    """Seeded comp.lang.python; bob (confirmed) starts "Bob asks", ada will answer."""
    seeded = await seed(ts, GROUP)
    bob = await ts.client("bob")
    await confirm_address(bob, relay, BOB)
    r = await bob.post(f"/api/groups/{GROUP}/threads", json={"subject": "Bob asks", "body": "Anyone?"})
    assert r.status_code == 201, r.text
    return seeded, bob, r.json()["article"]


async def test_notification_mail_each_with_links_killfile_and_one_click_off(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, bob, root = await bob_with_thread(ts, relay)
    ada, carol = seeded["ada"], await ts.client("carol")
    assert (await bob.get("/api/me")).json()["notification_mail"] == "off"
    for bad in ["weekly", None, 1, ""]:
        r = await bob.put("/api/me/notification-mail", json={"mode": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid", bad
    r = await carol.put("/api/me/notification-mail", json={"mode": "immediately"})
    assert r.status_code == 409 and "confirm an address" in r.json()["error"]["message"]
    r = await bob.put("/api/me/notification-mail", json={"mode": "immediately"})
    assert r.json() == {"notification_mail": "immediately"}
    assert (await bob.get("/api/me")).json()["notification_mail"] == "immediately"

    r = await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "Me!\nSecond line"})
    reply = r.json()["article"]
    (mail,) = await relay.wait(BOB, where=subject_of("Reply from Ada"))
    msg = mail.message
    assert str(msg["Subject"]) == f"Reply from Ada in {GROUP}: Re: Bob asks"
    assert (
        msg["Auto-Submitted"] == "auto-generated"
        and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )
    text = msg.get_body(("plain",)).get_content()
    assert "> Me!\n> Second line" in text.replace("\r\n", "\n")
    assert f"https://forum.test/m/{quote(reply['message_id'], safe='@')}" in text
    assert "https://forum.test/notifications" in text
    assert mail.mail_from.startswith("bounces+")  # VERP, so a bounce counts against the address

    # A muted author notifies nothing, so nothing is mailed; carol's reply still is.
    assert (await bob.post("/api/users/ada/mute", json={"on": True})).status_code == 200
    await ada.post(f"/api/articles/{root['id']}/replies", json={"body": "Muted words"})
    await carol.post(f"/api/articles/{root['id']}/replies", json={"body": "Carol here"})
    await relay.wait(BOB, where=subject_of("Reply from Carol"))
    assert len([m for m in relay.to(BOB) if subject_of("Reply from")(m)]) == 2

    await one_click(ts, mail)
    assert (await bob.get("/api/me")).json()["notification_mail"] == "off"
    before = len(queued(ts, "notification"))
    await carol.post(f"/api/articles/{root['id']}/replies", json={"body": "Again"})
    assert len(queued(ts, "notification")) == before  # off: nothing queued with the notification


async def test_daily_summary_lists_the_unread_notifications_since_the_last(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded, bob, root = await bob_with_thread(ts, relay)
    ada = seeded["ada"]
    r = await bob.put("/api/me/notification-mail", json={"mode": "daily"})
    assert r.status_code == 200
    replies = []
    for n in (1, 2, 3):
        r = await ada.post(f"/api/articles/{root['id']}/replies", json={"body": f"Answer {n}"})
        replies.append(r.json()["article"])
    assert queued(ts, "notification") == []  # daily: nothing per notification
    inbox = (await bob.get("/api/notifications")).json()["notifications"]
    read = next(n["id"] for n in inbox if n["article"]["id"] == replies[0]["id"])
    assert (await bob.post("/api/notifications/read", json={"ids": [read]})).status_code == 200
    async with ts.db.transaction() as conn:
        assert await noticemail.queue_summaries(conn, "lists.test") == 1
        assert await noticemail.queue_summaries(conn, "lists.test") == 0  # nothing new since
    (mail,) = await relay.wait(BOB, where=subject_of("unread notification"))
    msg = mail.message
    assert str(msg["Subject"]) == "2 unread notifications on Moot"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["List-Unsubscribe"]
    text = msg.get_body(("plain",)).get_content()
    assert text.count("- Reply from Ada") == 2 and "https://forum.test/notifications" in text
    await one_click(ts, mail)
    assert (await bob.get("/api/me")).json()["notification_mail"] == "off"


async def test_a_thread_followed_by_mail_comes_in_list_form_once_and_survives_a_split(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    ada, admin, thread = seeded["ada"], seeded["admin"], seeded["thread"]
    bob, carol = await ts.client("bob"), await ts.client("carol")
    await confirm_address(bob, relay, BOB)
    await confirm_address(carol, relay, "carol@example.org")
    tid = thread["id"]
    assert (
        await carol.post(f"/api/threads/{tid}/follow", json={"on": False, "mail": True})
    ).status_code == 400
    assert (
        await carol.post(f"/api/threads/{tid}/follow", json={"on": True, "mail": "yes"})
    ).status_code == 400
    r = await carol.post(f"/api/threads/{tid}/follow", json={"on": True, "mail": True})
    assert r.json() == {"thread_id": tid, "following": True, "mail": True}
    assert (await carol.get(f"/api/threads/{tid}/follow")).json()["mail"] is True
    # bob gets the group's every article already: following by mail sends nothing twice.
    assert (await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})).status_code == 200
    assert (await bob.post(f"/api/threads/{tid}/follow", json={"on": True, "mail": True})).status_code == 200

    r = await ada.post(f"/api/articles/{seeded['reply']['id']}/replies", json={"body": "Deeper"})
    deeper = r.json()["article"]
    (mail,) = await relay.wait("carol@example.org", where=subject_of("Re: Hello"))
    msg = mail.message
    assert msg["Message-ID"] == deeper["message_id"] and msg["In-Reply-To"] == seeded["reply"]["message_id"]
    assert msg["List-Id"] == f'"Python" <{GROUP}.lists.test>' and msg["Precedence"] == "list"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    await relay.wait(BOB, where=lambda m: m.message["Message-ID"] == deeper["message_id"])
    assert len([m for m in relay.to(BOB) if m.message["Message-ID"] == deeper["message_id"]]) == 1

    # A split carries the follow by mail over to the new thread.
    r = await admin.post(f"/api/threads/{tid}/split", json={"article_id": deeper["id"], "reason": "tangent"})
    assert r.status_code == 201, r.text
    new_tid = r.json()["thread"]["id"]
    assert (await carol.get(f"/api/threads/{new_tid}/follow")).json() == {
        "thread_id": new_tid,
        "following": True,
        "mail": True,
    }
    await ada.post(f"/api/articles/{deeper['id']}/replies", json={"body": "In the split-off part"})
    await relay.wait("carol@example.org", 2, where=subject_of("Re: Hello"))

    # The mail's one-click link stops that thread's mail; carol still follows it.
    await one_click(ts, mail)
    assert (await carol.get(f"/api/threads/{tid}/follow")).json() == {
        "thread_id": tid,
        "following": True,
        "mail": False,
    }


async def test_the_thread_page_offers_follow_by_mail_without_javascript(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    carol = await ts.client("carol")
    tid = seeded["thread"]["id"]
    page = (await carol.get(f"/t/{tid}")).text
    assert "Follow by mail" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert (
        await carol.post(f"/t/{tid}/follow", data={"csrf": "nope", "on": "1", "mail": "1"})
    ).status_code == 403
    r = await carol.post(f"/t/{tid}/follow", data={"csrf": token, "on": "1", "mail": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{tid}"
    assert (await carol.get(f"/api/threads/{tid}/follow")).json()["mail"] is True
    assert "Stop mailing me this thread" in (await carol.get(f"/t/{tid}")).text
    r = await carol.post(f"/t/{tid}/follow", data={"csrf": token, "on": "1", "mail": "0"})
    assert (await carol.get(f"/api/threads/{tid}/follow")).json() == {
        "thread_id": tid,
        "following": True,
        "mail": False,
    }
    # Without mail on the site there is no such button, and the API says why.
    plain = await make_site()
    s = await seed(plain, GROUP)
    dan = await plain.client("dan")
    assert "Follow by mail" not in (await dan.get(f"/t/{s['thread']['id']}")).text
    r = await dan.post(f"/api/threads/{s['thread']['id']}/follow", json={"on": True, "mail": True})
    assert r.status_code == 409


async def test_killfiles_keep_what_they_hide_out_of_each_and_digest_mail(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    ada, bob, carol = seeded["ada"], await ts.client("bob"), await ts.client("carol")
    await confirm_address(bob, relay, BOB)
    await confirm_address(carol, relay, "carol@example.org")
    await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    await carol.put(f"/api/groups/{GROUP}/subscription", json={"mail": "digest"})
    for client in (bob, carol):
        r = await client.post("/api/rules", json={"field": "subject", "pattern": "crypto", "score": -200})
        assert r.status_code == 201, r.text
    for subject in ("Crypto riches", "Decorators"):
        r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": subject, "body": "x"})
        assert r.status_code == 201
    await relay.wait(BOB, where=subject_of("Decorators"))
    assert not [m for m in relay.to(BOB) if subject_of("Crypto")(m)]
    statuses = await until(
        lambda: "queued" not in (found := [s for _, s in queued(ts, "article")]) and found, "outcomes"
    )
    assert sorted(statuses) == ["dropped", "sent"]  # decided when sent
    async with ts.db.transaction() as conn:
        assert await mailqueue.queue_digests(conn, "lists.test") == 1
    (digest,) = await relay.wait("carol@example.org", where=subject_of("digest"))
    parts = [p.get_content() for p in digest.message.iter_parts()][1:]
    assert [str(p["Subject"]) for p in parts] == ["Decorators"]
    assert str(digest.message["Subject"]) == f"{GROUP} digest: 1 new article"


# Mail from strangers, held for the moderators


def stranger(subject: str, **headers: str) -> bytes:
    return message("Eve Outsider <eve@example.com>", LIST, subject, "Hello from outside.\n", **headers)


async def test_stranger_mail_waits_for_a_moderator_who_approves_or_rejects_it(make_site, relay, monkeypatch):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    ada, root = seeded["ada"], seeded["root"]
    bob, mod = await ts.client("bob"), await ts.client("mona", "moderator")
    await confirm_address(bob, relay, BOB)
    await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    port = ts.config.smtp_port
    assert (await ada.get(f"/api/groups/{GROUP}")).json()["group"]["stranger_mail"] == "bounce"
    with pytest.raises(smtplib.SMTPDataError) as refused:  # the default: a polite refusal
        await asyncio.to_thread(send, port, "eve@example.com", LIST, stranger("Hi"))
    assert refused.value.smtp_code == 550 and b"only members post by mail" in refused.value.smtp_error

    url = f"/api/groups/{GROUP}/stranger-mail"
    assert (await ada.put(url, json={"stranger_mail": "moderate"})).status_code == 403
    r = await mod.put(url, json={"stranger_mail": "open"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid"
    r = await mod.put(url, json={"stranger_mail": "moderate", "reason": "questions welcome"})
    assert r.status_code == 200 and r.json()["group"]["stranger_mail"] == "moderate"
    assert r.json()["entry"]["action"] == "stranger_mail"

    answer = stranger("Re: Hello", Message_ID="<eve-1@example.com>", In_Reply_To=root["message_id"])
    for data in (answer, answer, stranger("Question", Message_ID="<eve-2@example.com>")):
        assert await asyncio.to_thread(send, port, "eve@example.com", LIST, data) == {}
    auto = stranger("Away", Auto_Submitted="auto-replied", Message_ID="<eve-3@example.com>")
    assert await asyncio.to_thread(send, port, "eve@example.com", LIST, auto) == {}  # dropped first

    r = await mod.get(f"/api/groups/{GROUP}/held-mail", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"/api/groups/{GROUP}/queue"
    queue_url = f"/api/groups/{GROUP}/queue"
    assert (await ada.get(queue_url)).status_code == 403
    held = (await mod.get(queue_url)).json()["items"]
    assert [(h["article"]["subject"], h["why"], h["channel"]) for h in held] == [
        ("Re: Hello", "stranger", "mail"),
        ("Question", "stranger", "mail"),
    ]
    assert held[0]["author"] == {
        "username": None,
        "display_name": "Eve Outsider",
        "address": "eve@example.com",
        "actor": None,
    }
    assert (await ada.post(f"{queue_url}/{held[0]['id']}/approve", json={})).status_code == 403
    assert (await mod.post(f"{queue_url}/{held[0]['id']}/publish", json={})).status_code == 400

    r = await mod.post(f"{queue_url}/{held[0]['id']}/approve", json={"reason": "on topic"})
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["parent_id"] == root["id"] and article["message_id"] == "<eve-1@example.com>"
    # published under the stranger's address, never as an account
    assert article["author"] == {"username": None, "display_name": "Eve Outsider"}
    assert article["approved"] == "Mona"
    (mail,) = await relay.wait(BOB, where=lambda m: m.message["Message-ID"] == "<eve-1@example.com>")
    assert mail.message["In-Reply-To"] == root["message_id"]
    stored = "SELECT user_id, author_addr FROM articles WHERE message_id = '<eve-1@example.com>'"
    assert rows(ts, stored) == [(None, "eve@example.com")]
    assert (await mod.post(f"{queue_url}/{held[0]['id']}/approve", json={})).status_code == 409

    r = await mod.post(f"{queue_url}/{held[1]['id']}/reject", json={"reason": "please sign up"})
    assert r.status_code == 200 and r.json()["entry"]["action"] == "reject"
    assert (await mod.get(queue_url)).json()["items"] == []
    # No backscatter: an unverified stranger is never mailed about the rejection.
    assert rows(ts, "SELECT id FROM mail_queue WHERE recipient LIKE '%eve@example.com%'") == []
    assert relay.to("eve@example.com") == []
    log = (await ada.get("/api/modlog", params={"group": GROUP})).json()["entries"]
    assert [e["action"] for e in log[:3]] == ["reject", "approve", "stranger_mail"]
    assert "eve@example.com" not in str(log)  # the public log names no address

    # The queue is bounded: past it, strangers are told to try later (451).
    monkeypatch.setattr(held_submissions, "AUTHOR_MAX", 1)
    assert await asyncio.to_thread(send, port, "eve@example.com", LIST, stranger("One")) == {}
    with pytest.raises(smtplib.SMTPDataError) as later:
        await asyncio.to_thread(send, port, "eve@example.com", LIST, stranger("Two"))
    assert later.value.smtp_code == 451


async def test_the_queue_page_takes_stranger_mail_with_forms_for_moderators_only(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    mod = await ts.client("mona", "moderator")
    page_url = f"/g/{GROUP}/queue"
    r = await mod.get(f"/g/{GROUP}/held-mail", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == page_url
    assert (await seeded["ada"].get(page_url)).status_code == 403
    page = (await mod.get(page_url)).text
    assert "Nothing is waiting" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"stranger_mail": "moderate"}
    assert (await mod.post(f"/g/{GROUP}/stranger-mail", data={**form, "csrf": "nope"})).status_code == 403
    r = await mod.post(f"/g/{GROUP}/stranger-mail", data={**form, "csrf": token})
    assert r.status_code == 303 and r.headers["location"] == page_url
    data = stranger("From the page")
    assert await asyncio.to_thread(send, ts.config.smtp_port, "eve@example.com", LIST, data) == {}
    page = (await mod.get(page_url)).text
    held_id = re.search(r'id="q(\d+)"', page).group(1)
    assert "From the page" in page and "eve@example.com" in page and "stranger mail" in page
    r = await mod.post(f"{page_url}/{held_id}/approve", data={"csrf": token, "reason": ""})
    assert r.status_code == 303
    threads = (await mod.get(f"/api/groups/{GROUP}/threads")).json()["threads"]
    assert "From the page" in [t["subject"] for t in threads]
    r = await mod.post(f"{page_url}/{held_id}/reject", data={"csrf": token})
    assert r.status_code == 409 and "approved already by mona" in r.text
