"""Groups by email, end to end: a real relay (aiosmtpd) receives what the
site sends; smtplib hands mail to the site's real receiver; the web JSON,
/live and NNTP show what arrived."""

from __future__ import annotations

import asyncio
import os
import shutil
import smtplib
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ANY_PORT, seed
from tests.live_support import events_until, live_site, subscribe  # noqa: F401  (fixture)
from tests.mail_support import (
    GROUP,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,  # noqa: F401  (fixture)
    send,
    subject_of,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tests.nntp_support import nntplib


async def test_list_mail_and_a_reply_by_mail_under_its_parent_on_web_live_and_nntp(live_site, relay):
    live = await live_site(**mail_settings(relay), nntp_port=ANY_PORT)
    ts = live.test_site
    seeded = await seed(ts, GROUP)
    bob, ada = await ts.client("bob"), seeded["ada"]
    await confirm_address(bob, relay, "bob@example.org")
    await confirm_address(ada, relay, "ada@example.net")
    r = await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    assert r.json() == {"subscription": {"group": GROUP, "mail": "each"}}
    assert (await bob.get(f"/api/groups/{GROUP}/subscription")).json()["subscription"]["mail"] == "each"
    assert (await ada.get(f"/api/groups/{GROUP}")).json()["address"] == LIST

    r = await ada.post(
        f"/api/groups/{GROUP}/threads", json={"subject": "Mail me", "body": "Line one\n> quoted\n\n-- \nAda"}
    )
    root = r.json()["article"]
    (received,) = await relay.wait("bob@example.org", where=subject_of("Mail me"))
    mail = received.message
    assert mail["Message-ID"] == root["message_id"]
    assert mail["From"].addresses[0].display_name == "Ada"
    assert mail["From"].addresses[0].addr_spec == LIST  # the list's address, never the author's
    assert mail["List-Id"] == f'"Python" <{GROUP}.lists.test>'  # RFC 2919
    assert mail["List-Post"] == f"<mailto:{LIST}>"
    assert mail["List-Archive"] == f"<https://forum.test/g/{GROUP}>"
    assert mail["List-Unsubscribe"].startswith("<https://forum.test/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # RFC 8058
    assert mail["Precedence"] == "list" and mail["Auto-Submitted"] == "auto-generated"
    assert received.mail_from.startswith("bounces+") and received.mail_from.endswith("@lists.test")
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Line one\n> quoted\n\n-- \nAda")
    assert f"https://forum.test/m/{quote(root['message_id'], safe='@')}" in text

    # The author's own article is not mailed back to her.
    r = await ada.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    assert r.status_code == 200, r.text
    ws = await live.connect()
    await subscribe(ws, groups=[GROUP])
    reply = message(
        "Bob <bob@example.org>",
        LIST,
        "Re: Mail me",
        "I agree.\n\n> Line one\n",
        Message_ID="<reply-1@example.org>",
        In_Reply_To=root["message_id"],
        References=root["message_id"],
    )
    assert await asyncio.to_thread(send, ts.config.smtp_port, "bob@example.org", LIST, reply) == {}

    (event,) = await events_until(ws, 1)
    assert event["type"] == "article.created"
    assert event["data"]["parent_id"] == root["id"] and event["data"]["message_id"] == "<reply-1@example.org>"
    thread = (await ada.get(f"/api/threads/{root['thread_id']}")).json()
    posted = [a for a in thread["articles"] if a["message_id"] == "<reply-1@example.org>"]
    assert posted[0]["parent_id"] == root["id"] and posted[0]["author"]["username"] == "bob"
    assert posted[0]["body"] == "I agree.\n\n> Line one\n" or posted[0]["body"].startswith("I agree.")

    def over_nntp() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with nntplib.NNTP("127.0.0.1", ts.config.nntp_port) as news:
                _, info = news.article("<reply-1@example.org>")
                return b"\n".join(info.lines).decode()

    article = await asyncio.to_thread(over_nntp)
    assert f"References: {root['message_id']}" in article and "I agree." in article

    # The reply went out to the list too, threaded under the root (but not back to bob).
    (copy,) = await relay.wait("ada@example.net", where=subject_of("Re: Mail me"))
    assert not [m for m in relay.to("bob@example.org") if "Re: Mail me" in str(m.message["Subject"])]
    assert copy.message["In-Reply-To"] == root["message_id"]
    assert copy.message["References"] == root["message_id"]

    # mutt, where installed, reads the mail as a threaded list message.
    if shutil.which("mutt"):
        await check_with_mutt(ts, received.data, copy.data)


async def check_with_mutt(ts, *mails: bytes) -> None:
    """mutt, driven in tmux, threads the list mails under each other and shows the list headers."""
    from tests.test_nntp_newsreader import Tmux

    if shutil.which("tmux") is None:
        return
    folder, home = Path(ts.config.db_path + ".mbox"), Path(ts.config.db_path + ".home")
    (home / "Mail").mkdir(parents=True)
    with open(folder, "wb") as out:
        for data in mails:
            out.write(
                b"From moot@lists.test Sat Jan  1 00:00:00 2000\n" + data.replace(b"\r\n", b"\n") + b"\n"
            )
    (home / ".muttrc").write_text(
        "set sort=threads\nset ascii_chars=yes\nset mark_old=no\nset folder=~/Mail\n"
        "set spoolfile=''\n"
        "ignore *\nunignore from: subject: list-id: list-post:\n"
    )
    env = {"HOME": str(home), "TERM": "xterm", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    tmux = Tmux(f"moot-mutt-{os.getpid()}", env)
    try:
        tmux.start(f"mutt -R -f {folder}")
        # the reply is drawn under its parent
        index = await asyncio.to_thread(tmux.wait_for, "`->", "Mail me", "Bob")
        assert "Mail me" in index and "Bob" in index.split("`->")[0].splitlines()[-1]
        await asyncio.to_thread(tmux.keys, "Enter")
        shown = await asyncio.to_thread(tmux.wait_for, "List-Id:", "List-Post:", "Line one")
        assert f"List-Post: <mailto:{LIST}>" in shown and "Line one" in shown
    finally:
        tmux.stop()


async def test_strangers_and_auto_replies_are_refused_and_change_nothing(make_site, relay):
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    await confirm_address(seeded["ada"], relay, "ada@example.net")
    port = ts.config.smtp_port
    before = ts.snapshot()
    stranger = message("Eve <eve@example.com>", LIST, "Hello list")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, port, "eve@example.com", LIST, stranger)
    assert refused.value.smtp_code == 550 and b"only members post by mail" in refused.value.smtp_error

    for auto in [
        message("Ada <ada@example.net>", LIST, "Out of office", Auto_Submitted="auto-replied"),
        message("Ada <ada@example.net>", LIST, "Away", Precedence="bulk"),
        message("Ada <ada@example.net>", LIST, "Loop", List_Id=f"<{GROUP}.lists.test>"),
        message("Ada <ada@example.net>", LIST, "Ours", Message_ID="<x.1@test.moot>"),
    ]:
        assert await asyncio.to_thread(send, port, "ada@example.net", LIST, auto) == {}
    bounce = message("MAILER-DAEMON <mailer-daemon@example.net>", LIST, "Undeliverable")
    assert await asyncio.to_thread(send, port, "", LIST, bounce) == {}
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(
            send,
            port,
            "ada@example.net",
            "no.such.group@lists.test",
            message("Ada <ada@example.net>", "x@lists.test", "Hi"),
        )
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(
            send,
            port,
            "ada@example.net",
            f"{GROUP}@elsewhere.test",
            message("Ada <ada@example.net>", "x@lists.test", "Hi"),
        )
    assert ts.snapshot() == before


async def test_a_redelivered_mail_is_posted_once_and_a_new_list_is_found_at_once(make_site, relay):
    """An MTA's retry of a posted mail is answered 250 and stores nothing more
    (the Message-ID is looked up in the write's own hop); a list refused while
    it did not exist takes mail as soon as it is created."""
    ts = await make_site(**mail_settings(relay))
    seeded = await seed(ts, GROUP)
    await confirm_address(seeded["ada"], relay, "ada@example.net")
    port = ts.config.smtp_port
    sent = message("Ada <ada@example.net>", LIST, "Twice", Message_ID="<twice.1@example.net>")
    assert await asyncio.to_thread(send, port, "ada@example.net", LIST, sent) == {}
    after_first = ts.snapshot()
    assert await asyncio.to_thread(send, port, "ada@example.net", LIST, sent) == {}
    assert ts.snapshot() == after_first
    r = await seeded["ada"].get("/api/articles/<twice.1@example.net>")
    assert r.json()["article"]["subject"] == "Twice"

    later = "comp.lang.later@lists.test"
    hello = message("Ada <ada@example.net>", later, "First on the new list")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await asyncio.to_thread(send, port, "ada@example.net", later, hello)
    admin = seeded["admin"]
    r = await admin.post("/api/groups", json={"name": "comp.lang.later", "description": "Later"})
    assert r.status_code == 201, r.text
    assert await asyncio.to_thread(send, port, "ada@example.net", later, hello) == {}
    r = await admin.get("/api/groups/comp.lang.later/threads")
    assert [t["subject"] for t in r.json()["threads"]] == ["First on the new list"]


async def test_the_sender_stops_even_when_stopped_as_a_commit_wakes_it(make_site, relay):
    """A commit sets the sender's wake event; a stop landing in the same turn of
    the loop must still end it (asyncio.wait_for on 3.11 swallowed that cancel,
    and the site never finished shutting down)."""
    from moot.smtp.sender import MailSender

    site = await make_site(**mail_settings(relay, mail_poll_interval=3600.0))
    for _ in range(5):
        sender = MailSender(site.site)
        await sender.start()
        while (
            not sender.wake._waiters
        ):  # until it idles, waiting for the event (its first drain found nothing)
            await asyncio.sleep(0)
        sender.wake.set()
        await asyncio.sleep(0)  # the event's waiter is done; the sender has not run yet
        async with asyncio.timeout(20):
            await sender.stop()
        assert sender.task is not None and sender.task.cancelled()
