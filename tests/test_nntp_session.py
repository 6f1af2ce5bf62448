"""The NNTP session without a socket: every command against a real site, the
posting rules, and a fuzz test that throws random lines and bytes at it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.nntp.session import POST_MAX, Session
from moot.runtime.ratelimit import Lockout
from moot.runtime.site import Site
from moot.store.config import Config
from moot.store.db import Database
from tests.conftest import PASSWORD, seed
from tests.db_support import one_thread_file
from tests.nntp_support import replies


async def talk(session: Session, *lines: str | bytes) -> list[tuple[int, list[bytes]]]:
    data = b"".join(x if isinstance(x, bytes) else x.encode() + b"\r\n" for x in lines)
    return replies(await session.receive(data))


async def signed_in(site, username: str = "ada") -> Session:
    await site.user(username)
    session = Session(site.site, "192.0.2.1")
    got = await talk(session, f"AUTHINFO USER {username}", f"AUTHINFO PASS {PASSWORD}")
    assert [c for c, _ in got] == [381, 281]
    return session


def article(
    group: str = "comp.lang.python", subject: str = "Subject line", body: str = "Body", *extra: str
) -> bytes:
    head = [f"Newsgroups: {group}", f"Subject: {subject}", "From: someone@example.org", *extra]
    return ("\r\n".join(head) + "\r\n\r\n" + body + "\r\n.\r\n").encode()


async def test_reading_commands_against_a_seeded_group(site):
    s = await seed(site)
    session = Session(site.site, "192.0.2.1")
    assert replies(session.greeting())[0][0] == 200
    got = await talk(
        session,
        "CAPABILITIES",
        "MODE READER",
        "DATE",
        "HELP",
        "GROUP comp.lang.python",
        "STAT",
        "NEXT",
        "LAST",
        "LAST",
        "ARTICLE 2",
        "BODY",
        "HEAD 1",
        f"STAT {s['reply']['message_id']}",
        "LISTGROUP comp.lang.python 2-",
        "OVER 1-2",
        "XOVER 2",
        "HDR Subject 1-",
        "XHDR Message-ID 1",
        "HDR :lines 1-",
        "LIST OVERVIEW.FMT",
        "LIST HEADERS",
        "LIST DISTRIB.PATS",
        "LIST ACTIVE.TIMES",
        "LIST NEWSGROUPS comp.*",
        "NEWGROUPS 20000101 000000 GMT",
        "NEWNEWS comp.* 20000101 000000",
        "NEWNEWS rec.* 20000101 000000",
    )
    codes = [c for c, _ in got]
    assert codes == [
        101,
        200,
        111,
        100,
        211,
        223,
        223,
        223,
        422,
        220,
        222,
        221,
        223,
        211,
        224,
        224,
        225,
        221,
        225,
        215,
        215,
        215,
        215,
        215,
        231,
        230,
        230,
    ]
    blocks = [b for _, b in got]
    assert b"VERSION 2" in blocks[0] and b"AUTHINFO USER" in blocks[0]
    assert b"POST" in blocks[3] and b"STARTTLS" not in blocks[3]  # HELP: no certificate, no STARTTLS
    assert blocks[9][blocks[9].index(b"") + 1 :] == [b"A reply"]
    assert f"References: {s['root']['message_id']}".encode() in blocks[9]
    assert blocks[10] == [b"A reply"]
    assert blocks[13] == [b"2"]
    over = blocks[14][1].split(b"\t")
    assert over[:2] == [b"2", b"Re: Hello"] and over[4] == s["reply"]["message_id"].encode()
    assert over[5] == s["root"]["message_id"].encode() and over[8] == b"Xref: test.moot comp.lang.python:2"
    assert blocks[16] == [b"1 Hello", b"2 Re: Hello"]
    assert blocks[17] == [f"1 {s['root']['message_id']}".encode()]
    assert blocks[18] == [b"1 1", b"2 1"]
    assert blocks[24] == [b"comp.lang.python 2 1 y"]
    assert blocks[25] == [s["root"]["message_id"].encode(), s["reply"]["message_id"].encode()]
    assert blocks[26] == []


async def test_error_codes_of_reading(site):
    await seed(site)
    session = Session(site.site, "192.0.2.1")
    got = await talk(
        session,
        "ARTICLE",
        "NEXT",
        "OVER",
        "LISTGROUP",
        "HDR Subject 1",
        "GROUP no.such.group",
        "ARTICLE <missing@nowhere>",
        "OVER <missing@x>",
        "GROUP comp.lang.python",
        "ARTICLE 99",
        "OVER 50-60",
        "STAT 1x",
        "ARTICLE <bad",
        "FROB",
        "LIST FROB",
        "MODE WRITER",
        "GROUP",
        "OVER 1 2",
        "NEWNEWS * 2026 00",
        "LIST ACTIVE [x]",
        "STARTTLS",
        "AUTHINFO PASS x",
        "AUTHINFO SASL PLAIN",
        "POST",
    )
    assert [c for c, _ in got] == [
        412,
        412,
        412,
        412,
        412,
        411,
        430,
        430,
        211,
        423,
        423,
        501,
        501,
        500,
        501,
        501,
        501,
        501,
        501,
        501,
        580,
        482,
        501,
        480,
    ]


async def test_long_lines_and_pipelining(site):
    await seed(site)
    session = Session(site.site, "192.0.2.1")
    assert await session.receive(b"GROUP comp.lang.py") == b""  # no reply before the LF
    got = await talk(session, b"thon\r\nSTAT 1\r\n" + b"X" * 600, b"\r\nDATE\r\n")
    assert [c for c, _ in got] == [211, 223, 501, 111]
    got = await talk(session, b"GROUP " + b"a" * 520 + b"\r\n")  # 512 octets, CRLF included
    assert [c for c, _ in got] == [501]
    got = await talk(session, "QUIT", "DATE")
    assert [c for c, _ in got] == [205] and session.closed


async def test_authinfo_uses_the_web_sign_in_limits(site):
    await site.user("ada")
    c = site.config
    # Time stands still for the limits: the per-name backoff (1 s after the last
    # failure) must not run out while slow password hashes are checked.
    site.site.lockout = Lockout(c.login_attempts, c.login_address_attempts, c.login_window, clock=lambda: 1e6)
    session = Session(site.site, "192.0.2.7")
    limit = c.login_attempts
    for _ in range(limit):
        assert [c for c, _ in await talk(session, "AUTHINFO USER ada", "AUTHINFO PASS wrong-password")] == [
            381,
            481,
        ]
    got = await talk(session, "AUTHINFO USER ada", f"AUTHINFO PASS {PASSWORD}")
    assert got[1][0] == 481 and session.user is None  # throttled even with the right password
    client = await site.client()
    r = await client.post("/api/login", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 429  # the web sees the same failures
    other = Session(site.site, "192.0.2.8")
    await site.user("bruno")
    assert [
        c
        for c, _ in await talk(
            other, "AUTHINFO USER bruno", f"AUTHINFO PASS {PASSWORD}", "AUTHINFO USER bruno", "CAPABILITIES"
        )
    ][:3] == [381, 281, 502]
    assert b"AUTHINFO USER" not in (await talk(other, "CAPABILITIES"))[0][1]


async def test_starttls_rules(make_site):
    site = await make_site()
    await site.user("ada")
    plain = Session(site.site, "192.0.2.1")  # no certificate: no STARTTLS, AUTHINFO in clear
    (caps,) = await talk(plain, "CAPABILITIES")
    assert b"STARTTLS" not in caps[1] and b"AUTHINFO USER" in caps[1]
    assert [c for c, _ in await talk(plain, "STARTTLS")] == [580]

    session = Session(site.site, "192.0.2.1", tls=True)
    (caps,) = await talk(session, "CAPABILITIES")
    assert b"STARTTLS" in caps[1] and b"AUTHINFO USER" not in caps[1]
    assert [c for c, _ in await talk(session, "AUTHINFO USER ada", "STARTTLS now")] == [483, 501]
    # What is pipelined in clear after STARTTLS is dropped, not obeyed.
    assert [c for c, _ in await talk(session, "GROUP nowhere", "STARTTLS", "AUTHINFO USER ada")] == [411, 382]
    assert session.starting_tls
    session.tls_started()
    (caps,) = await talk(session, "CAPABILITIES")
    assert b"STARTTLS" not in caps[1] and b"AUTHINFO USER" in caps[1]
    got = await talk(session, "STARTTLS", "AUTHINFO PASS x", "AUTHINFO USER ada", f"AUTHINFO PASS {PASSWORD}")
    assert [c for c, _ in got] == [502, 482, 381, 281]
    assert session.user is not None and session.user.username == "ada"

    lenient = await make_site(nntp_plain_auth=True)
    await lenient.user("ada")
    session = Session(lenient.site, "192.0.2.1", tls=True)
    got = await talk(session, "AUTHINFO USER ada", f"AUTHINFO PASS {PASSWORD}", "STARTTLS")
    assert [c for c, _ in got] == [381, 281, 502]  # no STARTTLS once authenticated (RFC 4642)


async def test_post_new_thread_and_followup_by_last_resolvable_reference(site):
    s = await seed(site)
    session = await signed_in(site)
    got = await talk(session, "POST", article(subject="=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", body="..dotted\r\nline"))
    assert [c for c, _ in got] == [340, 240]
    client = await site.client()
    threads = (await client.get("/api/groups/comp.lang.python/threads")).json()["threads"]
    new = next(t for t in threads if t["subject"] == "Grüße")
    root = (await client.get(f"/api/threads/{new['id']}")).json()["articles"][0]
    assert root["body"] == ".dotted\nline" and root["author"]["username"] == "ada"
    refs = f"References: <unknown@elsewhere> {s['root']['message_id']} <gone@nowhere>"
    got = await talk(
        session,
        "POST",
        article("comp.lang.python", "Re: Hello", "follow", refs, "Message-ID: <own.id@client.example>"),
    )
    assert [c for c, _ in got] == [340, 240]
    reply = (await client.get("/api/articles/<own.id@client.example>")).json()["article"]
    assert reply["parent_id"] == s["root"]["id"] and reply["thread_id"] == s["thread"]["id"]


async def test_a_posted_article_is_read_the_same_whole_or_line_by_line(site):
    """An article whose lines all end in CRLF is taken whole once its end line
    is in; split anywhere across reads, with bare LFs or a stray CR it is read
    line by line: the stored article is the same either way."""
    await seed(site)
    session = await signed_in(site)
    body = "..first line dotted\r\n\r\n...two dots\r\nlast."
    wanted = ".first line dotted\n\n..two dots\nlast."
    forms = {
        "CRLF": article(subject="CRLF", body=body),
        "LF": article(subject="LF", body=body).replace(b"\r\n", b"\n"),
        "mixed": article(subject="mixed", body=body).replace(b"dotted\r\n", b"dotted\n"),
    }
    for name, data in forms.items():
        assert [c for c, _ in await talk(session, "POST", data)] == [340, 240], name
    split = article(subject="split", body=body)
    assert (
        await session.receive(b"POST\r\n") == b"340 send article to be posted; end with <CR-LF>.<CR-LF>\r\n"
    )
    parts = [await session.receive(split[i : i + 7]) for i in range(0, len(split), 7)]
    assert b"".join(parts).startswith(b"240 ") and not any(parts[:-1])
    assert [c for c, _ in await talk(session, "POST", b".\r\n")] == [340, 441]  # an empty article
    client = await site.client()
    threads = (await client.get("/api/groups/comp.lang.python/threads")).json()["threads"]
    for subject in ("CRLF", "LF", "mixed", "split"):
        thread = next(t for t in threads if t["subject"] == subject)
        root = (await client.get(f"/api/threads/{thread['id']}")).json()["articles"][0]
        assert root["body"] == wanted, subject


async def test_post_refusals_store_nothing(site):
    s = await seed(site)
    admin = s["admin"]
    await admin.post("/api/groups", json={"name": "ro.group", "status": "n"})
    await admin.post("/api/groups", json={"name": "other.group"})
    mod = await site.client("marta", "moderator")
    r = await mod.post("/api/groups/comp.lang.python/threads", json={"subject": "To lock", "body": "x"})
    locked = r.json()["article"]["message_id"]
    await mod.post(f"/api/threads/{r.json()['thread']['id']}/lock", json={"reason": "done"})
    r = await mod.post("/api/groups/comp.lang.python/threads", json={"subject": "To archive", "body": "x"})
    archived = r.json()["article"]["message_id"]
    await mod.post(f"/api/threads/{r.json()['thread']['id']}/archive", json={"reason": "done"})
    session = await signed_in(site)
    before = site.snapshot()
    cases = [
        (article("no.such.group"), "no group"),
        (article("ro.group"), "read-only"),
        (article("comp.lang.python,other.group"), "cross-posting"),
        (article("other.group", "s", "b", f"References: {s['root']['message_id']}"), "comp.lang.python"),
        (article("comp.lang.python", "s", "b", f"References: {locked}"), "locked"),
        (article("comp.lang.python", "s", "b", f"References: {archived}"), "archived"),
        (article("comp.lang.python", "s", "b", f"Message-ID: {s['root']['message_id']}"), "in use"),
        (article("comp.lang.python", "s", "b", "Message-ID: <no-at-sign>"), "Message-ID"),
        (article("comp.lang.python", "s", "   "), "empty"),
        (article("comp.lang.python", "s", "x" * (70 * 1024)), "limit"),
        (article("comp.lang.python", "s", "x\r\n" * (POST_MAX // 3)), str(POST_MAX)),
    ]
    for data, reason in cases:
        got = await talk(session, "POST", data)
        assert [c for c, _ in got] == [340, 441], (reason, got)
        assert reason in (await session.receive(b"POST\r\n" + data)).decode().split("\r\n")[1], reason
    assert site.snapshot() == before


@pytest.mark.parametrize(
    "pieces",
    [
        [b".", b"\r\n"],  # the end line split after its dot
        [b".\r", b"\n"],  # or before its LF
        [b"a long last line, its end in the next read", b".\r\n", b"more text\r\n.", b"\r\n"],
    ],
)
async def test_an_article_past_the_limit_is_read_to_its_own_end_however_the_reads_split_it(site, pieces):
    await seed(site)
    session = await signed_in(site)
    before = site.snapshot()
    assert [c for c, _ in await talk(session, "POST")] == [340]
    head = b"Newsgroups: comp.lang.python\r\nSubject: big\r\n\r\n"
    assert await session.receive(head + (b"z" * 999 + b"\r\n") * 300) == b""
    answers = b""
    for piece in pieces:
        answers += await session.receive(piece)
    assert [c for c, _ in replies(answers)] == [441], answers
    assert b"larger than" in answers
    assert [c for c, _ in await talk(session, "DATE")] == [111]  # in step: the next command is a command
    assert site.snapshot() == before


async def test_a_readers_cancel_and_supersede_act_on_its_own_articles_only(site):
    s = await seed(site)
    await s["admin"].post("/api/groups", json={"name": "comp.lang.python.announce", "status": "m"})
    ada = await signed_in(site, "ada")
    got = await talk(
        ada, "POST", article("comp.lang.python", "Mine", "First", "Message-ID: <mine@example.org>")
    )
    assert [c for c, _ in got] == [340, 240]
    await site.user("marta", "moderator")
    bob, marta = await signed_in(site, "bob"), await signed_in(site, "marta")

    def superseding(group: str = "comp.lang.python") -> bytes:
        return article(
            group, "Mine", "Second", "Message-ID: <mine.2@example.org>", "Supersedes: <mine@example.org>"
        )

    # What tin and slrn send to cancel or supersede: each refused with its reason, changing nothing.
    before = site.snapshot()
    for session, data, reason in [
        (
            bob,
            article("comp.lang.python", "cmsg cancel", "x", "Control: cancel <mine@example.org>"),
            "only the",
        ),
        (bob, superseding(), "only its author may supersede"),
        (marta, superseding(), "only its author may supersede"),  # a moderator removes, with a reason
        (ada, superseding("comp.lang.python.announce"), "waits for the moderators"),
        (
            ada,
            article("comp.lang.python", "cmsg newgroup", "x", "Control: newgroup comp.x"),
            "other than cancel",
        ),
        (
            ada,
            article("comp.lang.python", "s", "x", "Control: cancel <no-such@example.org>"),
            "no such article",
        ),
    ]:
        got = await talk(session, "POST", data)
        assert [c for c, _ in got] == [340, 441], (reason, got)
        assert reason in (await session.receive(b"POST\r\n" + data)).decode().split("\r\n")[1], reason
    assert site.snapshot() == before

    async def status(message_id: str) -> dict:
        return (await s["ada"].get(f"/api/articles/{message_id}")).json()["article"]

    # Superseded by its author: the old text withdrawn, the new one posted, in one step.
    assert [c for c, _ in await talk(ada, "POST", superseding())] == [340, 240]
    assert (await status("<mine@example.org>"))["status"] == "cancelled"
    assert (await status("<mine.2@example.org>"))["body"] == "Second"
    # Cancelled, by its author and by a moderator: withdrawn; a cancel stores no article of its own.
    got = await talk(
        ada, "POST", article("comp.lang.python", "Third", "x", "Message-ID: <mine.3@example.org>")
    )
    assert [c for c, _ in got] == [340, 240]
    count = len(site.snapshot()["articles"])
    for session, target in ((ada, "<mine.2@example.org>"), (marta, "<mine.3@example.org>")):
        got = await talk(
            session, "POST", article("comp.lang.python", "cmsg cancel", "x", f"Control: cancel {target}")
        )
        assert [c for c, _ in got] == [340, 240], got
        assert (await status(target))["status"] == "cancelled"
    assert len(site.snapshot()["articles"]) == count
    log = (await s["ada"].get("/api/modlog")).json()["entries"]
    assert [(e["action"], e["target"]) for e in log if e["action"] == "cancel"] == [
        ("cancel", "<mine.3@example.org>")
    ]


async def test_a_readers_cancel_spends_no_posting_rate(make_site):
    site = await make_site(post_rate=1.0, post_burst=2)
    await seed(site)  # ada posted twice on the web: her burst is spent
    session = await signed_in(site)
    assert b"too fast" in (await session.receive(b"POST\r\n" + article())).split(b"\r\n")[1]
    mine = (await (await site.client("ada")).get("/api/groups/comp.lang.python/threads")).json()["threads"][0]
    root = (await (await site.client("ada")).get(f"/api/threads/{mine['id']}")).json()["articles"][0]
    cancel = article("comp.lang.python", "cmsg cancel", "x", f"Control: cancel {root['message_id']}")
    assert [c for c, _ in await talk(session, "POST", cancel)] == [340, 240]


async def test_list_forms_and_message_ids_as_rfc_3977_words_them(site):
    await seed(site)
    session = Session(site.site, "192.0.2.1")
    got = await talk(
        session,
        "LIST HEADERS",
        "LIST HEADERS MSGID",
        "LIST HEADERS x",
        "LIST OVERVIEW.FMT *",
        "LIST DISTRIB.PATS *",
        "STAT <abc>",
        "HEAD <no-such@example.org>",
        "STAT <a b>",
    )
    assert [c for c, _ in got] == [215, 215, 501, 501, 501, 430, 430, 501]
    assert b":" in got[0][1] and b":bytes" in got[0][1]  # HDR serves any header field (§8.6.2)


async def test_post_rate_limit_is_the_webs(make_site):
    site = await make_site(post_rate=1.0, post_burst=2)
    await seed(site)  # ada posted twice on the web: her burst is spent
    session = await signed_in(site)
    got = await talk(session, "POST", article())
    assert got[1][0] == 441
    assert b"too fast" in (await session.receive(b"POST\r\n" + article())).split(b"\r\n")[1]


async def test_split_keeps_numbers_and_move_leaves_gaps(site):
    s = await seed(site)
    ada = s["ada"]
    r = await ada.post(f"/api/articles/{s['reply']['id']}/replies", json={"body": "deeper"})
    deeper = r.json()["article"]
    admin = s["admin"]
    await admin.post("/api/groups", json={"name": "comp.other"})
    mod = await site.client("marta", "moderator")
    r = await mod.post(
        f"/api/threads/{s['thread']['id']}/split", json={"article_id": s["reply"]["id"], "reason": "drift"}
    )
    assert r.status_code == 201, r.text
    session = Session(site.site, "192.0.2.1")
    got = await talk(session, "LISTGROUP comp.lang.python", f"STAT {deeper['message_id']}", "ARTICLE 4")
    assert got[0][1] == [b"1", b"2", b"3", b"4"]  # a split in one group keeps numbers
    assert got[1][0] == 223
    assert any(line.startswith(b"Subject: Split:") for line in got[2][1])
    r = await mod.post(
        f"/api/threads/{r.json()['thread']['id']}/move",
        json={"group": "comp.other", "reason": "belongs there"},
    )
    assert r.status_code == 200, r.text
    got = await talk(
        session,
        "LISTGROUP comp.lang.python",
        "LISTGROUP comp.other",
        f"HEAD {deeper['message_id']}",
        "GROUP comp.lang.python",
    )
    assert got[0][1] == [b"1", b"4"]  # moved away: gaps stay
    assert got[1][1] == [b"1", b"2"]  # new numbers there
    assert b"Xref: test.moot comp.other:2" in got[2][1]
    assert got[3][0] == 211


def _fuzz_lines():
    keywords = st.sampled_from(
        [
            "ARTICLE",
            "HEAD",
            "BODY",
            "STAT",
            "GROUP",
            "LISTGROUP",
            "NEXT",
            "LAST",
            "OVER",
            "XOVER",
            "HDR",
            "XHDR",
            "LIST",
            "NEWNEWS",
            "NEWGROUPS",
            "POST",
            "MODE",
            "DATE",
            "HELP",
            "CAPABILITIES",
            "AUTHINFO",
            "STARTTLS",
            "",
            ".",
        ]
    )
    args = st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "comp.lang.python",
                    "1",
                    "1-",
                    "0-5",
                    "3-1",
                    "<x@y>",
                    "*",
                    "!comp.*",
                    "GMT",
                    "20260101",
                    "000000",
                    "ACTIVE",
                    "NEWSGROUPS",
                    "HEADERS",
                    "Subject",
                    ":bytes",
                    "READER",
                    "USER",
                    "ada",
                ]
            ),
            st.text(max_size=20),
        ),
        max_size=4,
    )
    line = st.builds(lambda k, a: (" ".join([k, *a])).encode("utf-8", "surrogatepass"), keywords, args)
    ending = st.sampled_from([b"\r\n", b"\n", b"", b"\r"])
    chunk = st.one_of(st.builds(lambda x, e: x + e, line, ending), st.binary(max_size=700))
    return st.lists(chunk, min_size=1, max_size=12)


_TEMPLATE: dict[str, str] = {}


async def _fuzz(chunks: list[bytes], path: str) -> None:
    config = Config(
        db_path=path,
        domain="test.moot",
        nntp_port=0,
        read_connections=1,
        post_rate=100000.0,
        post_burst=100000,
    ).checked()
    site = Site(config, Database(path, read_connections=1))
    await site.start()
    try:
        session = Session(site, "192.0.2.9")
        for chunk in chunks:
            if session.closed:
                break
            replies(await session.receive(chunk))  # asserts well-formed status lines
    finally:
        await site.stop()


@settings(
    max_examples=int(os.environ.get("MOOT_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_fuzz_lines())
def test_fuzz_never_crashes_and_every_reply_is_a_status_line(chunks):
    if "path" not in _TEMPLATE:
        _TEMPLATE["dir"] = tempfile.mkdtemp(prefix="moot-nntp-fuzz-")
        _TEMPLATE["path"] = os.path.join(_TEMPLATE["dir"], "template.db")
        asyncio.run(one_thread_file(_TEMPLATE["path"], "Hi", ".x\n.", "re"))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "fuzz.db")
        shutil.copy(_TEMPLATE["path"], path)
        asyncio.run(_fuzz(chunks, path))


async def test_overview_format_lists_bytes_and_lines_in_the_rfc_2980_form(site):
    """The sixth and seventh overview fields are listed as `Bytes:` and `Lines:`
    (RFC 3977 §8.4.2 allows it): slrn 1.0.3 compares the list with that form and,
    at `:bytes`, turns XOVER off and fetches one HEAD per article instead."""
    session = Session(site.site, "192.0.2.1")
    [(code, fields)] = await talk(session, "LIST OVERVIEW.FMT")
    assert code == 215
    assert fields == [
        b"Subject:",
        b"From:",
        b"Date:",
        b"Message-ID:",
        b"References:",
        b"Bytes:",
        b"Lines:",
        b"Xref:full",
    ]
