"""Moderated groups and article states on every channel, over real sockets:
the group status policy (admins, logged); NNTP POST to a moderated group
held (240, no number) then approved and served with Approved; a forged
Approved held; a moderator's own post at once; a banned member refused; a
hidden article out of OVER/ARTICLE and back with its number; a removal seen
as a cancel. Mail: a member's mail held and acknowledged, a banned member
refused at SMTP time, no list mail to suspended or banned subscribers, an
approved stranger's mail shown under the stranger's address."""

from __future__ import annotations

import asyncio
import io
import smtplib
import sqlite3

import pytest

from moot.store import clock
from tests.conftest import ANY_PORT, PASSWORD, seed
from tests.mail_support import (  # noqa: F401 - relay is a fixture
    GROUP,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,
    send,
    subject_of,
    vouched,
)
from tests.maint_support import last_event
from tests.nntp_support import nntplib

MODERATED = "comp.lang.python.announce"


async def policy(client, group: str, **body):
    return await client.put(f"/api/groups/{group}/policy", json=body)


async def test_admins_set_a_groups_status_logged_and_announced(make_site):
    site = await make_site()
    s = await seed(site)
    admin, ada = s["admin"], s["ada"]
    mona = await site.client("mona", "moderator")
    r = await policy(mona, GROUP, archive_after_days=30)  # moderators keep the archive policy
    assert r.status_code == 200, r.text
    before = site.snapshot()
    for client, body, code in [
        (mona, {"status": "m"}, 403),
        (ada, {"status": "m"}, 403),
        (admin, {"status": "x"}, 400),
        (admin, {"status": ["m"]}, 400),
        (admin, {"status": None}, 400),
        (admin, {"status": "m", "reason": 5}, 400),
        (admin, {"status": "m", "archive_after_days": -1}, 400),
    ]:
        r = await policy(client, GROUP, **body)
        assert r.status_code == code, (body, r.text)
        assert "error" in r.json()
    assert (await policy(admin, "no.such.group", status="m")).status_code == 404
    assert site.snapshot() == before

    r = await policy(admin, GROUP, status="m", reason="announcements only")
    assert r.status_code == 200, r.text
    group, entry = r.json()["group"], r.json()["entry"]
    assert (
        group["status"] == "m" and group["archive_after_days"] == 30
    )  # status alone leaves the archive policy
    assert entry["action"] == "status" and entry["data"] == {"from": "y", "to": "m"}
    assert entry["reason"] == "announcements only" and entry["actor"]["username"] == "root"
    log = (await ada.get(f"/api/modlog?group={GROUP}")).json()["entries"]
    assert log[0]["action"] == "status" and log[0]["data"]["to"] == "m"
    page = (await ada.get("/modlog")).text
    assert "moderated (was open)" in page
    event = last_event(site)
    assert event["type"] == "group.updated" and event["data"]["group"]["status"] == "m"
    # The same status again changes nothing; the group now holds members' threads.
    assert (await policy(admin, GROUP, status="m")).json()["entry"] is None
    r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "S", "body": "B"})
    assert r.status_code == 202 and r.json()["held"]["why"] == "moderated"
    r = await policy(admin, GROUP, status="n")
    assert r.json()["entry"]["data"] == {"from": "m", "to": "n"}
    assert (
        await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "S", "body": "B"})
    ).status_code == 403


async def nntp_site(make_site, **settings):
    site = await make_site(nntp_port=ANY_PORT, **settings)
    s = await seed(site)
    r = await s["admin"].post("/api/groups", json={"name": MODERATED, "description": "News", "status": "m"})
    assert r.status_code == 201, r.text
    return site, s


def reader(site, user: str | None = None) -> nntplib.NNTP:
    auth = {"user": user, "password": PASSWORD} if user else {}
    return nntplib.NNTP("127.0.0.1", site.config.nntp_port, readermode=True, timeout=20, **auth)


def nntp_post(site, user: str, text: str) -> str:
    with reader(site, user) as n:
        return n.post(io.BytesIO(text.encode()))


def group_marks(site, group: str) -> tuple:
    """GROUP's count, low and high, and the numbers OVER lists."""
    with reader(site) as n:
        _, count, low, high, _ = n.group(group)
        try:
            numbers = [number for number, _ in n.over((low, high))[1]]
        except nntplib.NNTPTemporaryError:  # 423: none
            numbers = []
        return count, low, high, numbers


def article_lines(site, ref, group: str | None = None) -> list[bytes]:
    with reader(site) as n:
        if group:
            n.group(group)
        return n.article(ref)[1].lines


async def test_an_nntp_submission_to_a_moderated_group_is_held_then_served_approved(make_site):
    site, s = await nntp_site(make_site)
    mona = await site.client("mona", "moderator")
    await site.user("ada")
    before = await asyncio.to_thread(group_marks, site, MODERATED)
    head = f"Newsgroups: {MODERATED}\r\nSubject: mylib 2.0\r\n"
    reply = await asyncio.to_thread(nntp_post, site, "ada", head + "\r\nOut now.\r\n")
    assert reply.startswith("240") and "held for the moderators" in reply
    # A forged Approved header from a member is ignored: held all the same.
    forged = head.replace("mylib 2.0", "Me too") + "Approved: mona@test.moot\r\n"
    reply = await asyncio.to_thread(nntp_post, site, "ada", forged + "\r\nApproved, says I.\r\n")
    assert reply.startswith("240") and "held for the moderators" in reply
    assert await asyncio.to_thread(group_marks, site, MODERATED) == before  # no numbers
    items = (await mona.get(f"/api/groups/{MODERATED}/queue")).json()["items"]
    assert sorted(i["channel"] for i in items) == ["nntp", "nntp"]
    assert all(i["why"] == "moderated" for i in items)
    first = next(i for i in items if i["article"]["subject"] == "mylib 2.0")
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{first['id']}/approve", json={})
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["approved"] == "Mona" and article["number"] == 1
    count, low, high, numbers = await asyncio.to_thread(group_marks, site, MODERATED)
    assert (count, high, numbers) == (1, 1, [1])
    lines = await asyncio.to_thread(article_lines, site, 1, MODERATED)
    assert b"Approved: Mona" in lines and b"Out now." in lines
    lines = await asyncio.to_thread(article_lines, site, article["message_id"])
    assert b"Approved: Mona" in lines
    shown = (await s["ada"].get(f"/api/articles/{article['id']}")).json()["article"]
    assert shown["approved"] == "Mona" and shown["author"]["username"] == "ada"
    page = (await s["ada"].get(f"/t/{article['thread_id']}")).text
    assert "Out now." in page
    # A moderator's own POST appears at once, approved by them.
    reply = await asyncio.to_thread(
        nntp_post, site, "mona", head.replace("mylib 2.0", "Rules") + "\r\nKind.\r\n"
    )
    assert reply.startswith("240 article received")
    lines = await asyncio.to_thread(article_lines, site, 2, MODERATED)
    assert b"Approved: Mona" in lines and b"Subject: Rules" in lines


async def test_a_member_banned_from_a_group_cannot_post_there_by_nntp(make_site):
    site, s = await nntp_site(make_site)
    ada = await site.user("ada")
    async with site.db.transaction() as conn:  # a ban as bans.ban writes it
        await conn.execute(
            "INSERT INTO bans (group_id, author, until, reason, created_at)"
            " SELECT id, ?, '2999-01-01T00:00:00.000000Z', 'spamming links', ? FROM groups WHERE name = ?",
            (f"user:{ada.id}", clock.now(), GROUP),
        )
    before = await asyncio.to_thread(group_marks, site, GROUP)
    text = f"Newsgroups: {GROUP}\r\nSubject: Buy\r\n\r\nCheap.\r\n"
    with pytest.raises(nntplib.NNTPTemporaryError) as refused:
        await asyncio.to_thread(nntp_post, site, "ada", text)
    assert str(refused.value).startswith("441") and f"banned from {GROUP}" in str(refused.value)
    assert "spamming links" in str(refused.value)
    assert await asyncio.to_thread(group_marks, site, GROUP) == before
    # Other groups are open to her.
    reply = await asyncio.to_thread(nntp_post, site, "ada", text.replace(GROUP, MODERATED))
    assert reply.startswith("240")


def over_numbers(site, group: str) -> list[int]:
    return group_marks(site, group)[3]


def served(site, group: str, number: int, message_id: str) -> list[str]:
    """The codes ARTICLE, HEAD and BODY answer by number, then by Message-ID."""
    out = []
    with reader(site) as n:
        n.group(group)
        for ref in (number, message_id):
            for command in (n.article, n.head, n.body):
                try:
                    out.append(command(ref)[0][:3])
                except nntplib.NNTPTemporaryError as e:
                    out.append(str(e)[:3])
    return out


async def test_a_hidden_article_leaves_nntp_and_comes_back_with_its_number(make_site):
    site, s = await nntp_site(make_site, report_threshold=2)
    reply, mona = s["reply"], await site.client("mona", "moderator")
    mid, number = reply["message_id"], reply["number"]
    # Read first, so the block cache holds the article when it is hidden.
    assert await asyncio.to_thread(over_numbers, site, GROUP) == [1, 2]
    assert await asyncio.to_thread(served, site, GROUP, number, mid) == ["220", "221", "222"] * 2
    for name in ("bea", "cyd"):
        r = await (await site.client(name)).post(
            f"/api/articles/{reply['id']}/report", json={"reason": "spam"}
        )
    assert r.json()["article"]["status"] == "hidden"
    assert await asyncio.to_thread(over_numbers, site, GROUP) == [1]
    assert await asyncio.to_thread(served, site, GROUP, number, mid) == ["423"] * 3 + ["430"] * 3
    # The block read while it was hidden is dropped when a moderator keeps it.
    (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    r = await mona.post(f"/api/groups/{GROUP}/queue/{item['id']}/approve", json={"reason": "fine"})
    assert r.status_code == 200 and r.json()["article"]["number"] == number
    assert await asyncio.to_thread(over_numbers, site, GROUP) == [1, 2]
    assert await asyncio.to_thread(served, site, GROUP, number, mid) == ["220", "221", "222"] * 2
    # Removed from the queue: a cancel, its text replaced by the notice for NNTP readers.
    for name in ("dot", "eve"):
        await (await site.client(name)).post(f"/api/articles/{reply['id']}/report", json={"reason": "abuse"})
    (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    r = await mona.post(f"/api/groups/{GROUP}/queue/{item['id']}/reject", json={"reason": "rude"})
    assert r.status_code == 200 and r.json()["article"]["status"] == "cancelled"
    lines = await asyncio.to_thread(article_lines, site, number, GROUP)
    assert b"[This article was withdrawn by a moderator.]" in lines and b"A reply" not in lines


async def test_a_hidden_article_in_a_block_below_the_high_water_mark_comes_back(make_site):
    """The NNTP block cache keeps a block wholly below the group's last number
    until an event touches one of its threads: a hidden article's thread counts."""
    site, s = await nntp_site(make_site, report_threshold=1)
    ada, mona = s["ada"], await site.client("mona", "moderator")
    async with site.db.transaction() as conn:  # a busy group: its numbers are past 300
        await conn.execute("UPDATE groups SET last_number = 299 WHERE name = ?", (GROUP,))
    r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Alone", "body": "In its block"})
    article = r.json()["article"]
    assert article["number"] == 300
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE groups SET last_number = 600 WHERE name = ?", (GROUP,))
    mid = article["message_id"]
    assert (await asyncio.to_thread(served, site, GROUP, 300, mid))[0] == "220"
    r = await mona.post(f"/api/articles/{article['id']}/report", json={"reason": "spam"})
    assert r.json()["article"]["status"] == "hidden"
    assert (await asyncio.to_thread(served, site, GROUP, 300, mid))[0] == "423"  # the block, built again
    (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    assert (await mona.post(f"/api/groups/{GROUP}/queue/{item['id']}/approve", json={})).status_code == 200
    assert await asyncio.to_thread(served, site, GROUP, 300, mid) == ["220", "221", "222"] * 2


# -- mail ------------------------------------------------------------------------------


async def mail_site(make_site, relay):
    site = await make_site(**mail_settings(relay), nntp_port=ANY_PORT)
    s = await seed(site)
    return site, s


def smtp_dialogue(port: int, data: bytes) -> tuple[int, bytes]:
    """Ada's mail to the list, step by step: RCPT accepted, then DATA's reply."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    try:
        client.ehlo()
        client.mail("ada@example.net")
        assert client.rcpt(LIST)[0] == 250
        return client.data(data)
    finally:
        client.quit()


async def test_a_members_mail_to_a_moderated_list_is_held_and_acknowledged(make_site, relay):
    site, s = await mail_site(make_site, relay)
    await confirm_address(s["ada"], relay, "ada@example.net")
    assert (await policy(s["admin"], GROUP, status="m")).status_code == 200
    before = site.snapshot()["articles"]
    data = vouched("ada@example.net", message("Ada <ada@example.net>", LIST, "By mail, moderated"))
    code, text = await asyncio.to_thread(smtp_dialogue, site.config.smtp_port, data)
    assert code == 250 and b"held for the moderators of comp.lang.python" in text
    assert site.snapshot()["articles"] == before
    (ack,) = await relay.wait("ada@example.net", 1, where=subject_of("waits for its moderators"))
    assert "By mail, moderated" in ack.message.get_body(("plain",)).get_content()
    mona = await site.client("mona", "moderator")
    (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    assert item["channel"] == "mail" and item["author"]["username"] == "ada"


def mail_queue(site, article_id: int) -> set[str]:
    """Who list mail of the article was queued for."""
    conn = sqlite3.connect(site.config.db_path)
    try:
        rows = conn.execute("SELECT recipient FROM mail_queue WHERE article_id = ?", (article_id,)).fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


async def test_a_banned_member_is_refused_at_smtp_time_and_gets_no_list_mail(make_site, relay):
    site, s = await mail_site(make_site, relay)
    bea = await site.client("bea")
    cyd = await site.client("cyd")
    for client, address in (
        (s["ada"], "ada@example.net"),
        (bea, "bea@example.net"),
        (cyd, "cyd@example.net"),
    ):
        await confirm_address(client, relay, address)
    for client in (bea, cyd):
        r = await client.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
        assert r.status_code == 200, r.text
    bea_id, cyd_id = site.users["bea"].id, site.users["cyd"].id
    async with site.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO bans (group_id, author, until, reason, created_at)"
            " SELECT id, ?, '2999-01-01T00:00:00.000000Z', 'link spam', ? FROM groups WHERE name = ?",
            (f"user:{bea_id}", clock.now(), GROUP),
        )
        await conn.execute(
            "UPDATE users SET suspended_until = '2999-01-01T00:00:00.000000Z', suspension_reason = 'x'"
            " WHERE id = ?",
            (cyd_id,),
        )
    before = site.snapshot()["articles"]
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(
            send,
            site.config.smtp_port,
            "bea@example.net",
            LIST,
            message("Bea <bea@example.net>", LIST, "Spam"),
        )
    assert refused.value.smtp_code == 550
    assert (
        b"banned from comp.lang.python" in refused.value.smtp_error
        and b"link spam" in refused.value.smtp_error
    )
    assert site.snapshot()["articles"] == before
    # Ada posts; neither the banned nor the suspended subscriber is sent it.
    r = await s["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Listed", "body": "To the list"})
    assert r.status_code == 201
    queued = mail_queue(site, r.json()["article"]["id"])
    assert queued == set(), queued  # bea banned, cyd suspended, ada its author
    # Lift the ban: bea is sent the next one.
    async with site.db.transaction() as conn:
        await conn.execute("DELETE FROM bans")
    r = await s["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Again", "body": "To the list"})
    assert mail_queue(site, r.json()["article"]["id"]) == {"bea@example.net"}
    await relay.wait("bea@example.net", 1, where=subject_of("Again"))
    assert not [m for m in relay.to("cyd@example.net") if subject_of("Listed")(m) or subject_of("Again")(m)]


async def test_an_approved_stranger_mail_is_shown_under_the_strangers_address(make_site, relay):
    site, s = await mail_site(make_site, relay)
    r = await s["admin"].put(f"/api/groups/{GROUP}/stranger-mail", json={"stranger_mail": "moderate"})
    assert r.status_code == 200, r.text
    data = message("Ada Lovelace <ada@elsewhere.example>", LIST, "From outside", "Stranger text.\n")
    assert await asyncio.to_thread(send, site.config.smtp_port, "ada@elsewhere.example", LIST, data) == {}
    mona = await site.client("mona", "moderator")
    (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    assert item["why"] == "stranger" and item["channel"] == "mail"
    r = await mona.post(f"/api/groups/{GROUP}/queue/{item['id']}/approve", json={})
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    shown = (await s["ada"].get(f"/api/articles/{article['id']}")).json()["article"]
    assert shown["author"]["username"] is None and shown["body"].startswith("Stranger text.")
    assert shown["approved"] == "Mona"
    lines = await asyncio.to_thread(article_lines, site, article["message_id"])
    assert any(line.startswith(b"From: ") and b"ada@elsewhere.example" in line for line in lines)
    assert b"Approved: Mona" in lines
    # A ban of the stranger's domain refuses their next mail at SMTP time.
    async with site.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO bans (group_id, author, until, reason, created_at)"
            " SELECT id, 'domain:elsewhere.example', '2999-01-01T00:00:00.000000Z', 'spam run', ?"
            " FROM groups WHERE name = ?",
            (clock.now(), GROUP),
        )
    again = message("Ada Lovelace <ada@elsewhere.example>", LIST, "Again", "More.\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, site.config.smtp_port, "ada@elsewhere.example", LIST, again)
    assert refused.value.smtp_code == 550 and b"spam run" in refused.value.smtp_error
