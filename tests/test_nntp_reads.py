"""What a newsreader's reading does to the web, and the codes of malformed
reading commands, over real sockets against a real `moot serve`: a signed-in
reader's ARTICLE and BODY mark the article read in the web's unread counts,
by number (served from the encoded blocks) and by Message-ID (served from the
database), while HEAD and STAT mark nothing; and a command line the grammar
refuses gets 501 before any state is looked at (RFC 3977 §3.2.1)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.nntp_support import read_reply, serve
from tests.processes import stop_process, tls

GROUP = "comp.lang.python"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = serve(tmp_path_factory.mktemp("nntp-reads"))
    yield running
    stop_process(running.proc)


def until(check: Callable[[], object], what: str, wait: float = 10.0) -> None:
    """Poll `check` until it is true; the marks are written shortly after the reply."""
    deadline = time.monotonic() + wait
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.02)


def test_articles_read_by_number_or_message_id_are_read_on_the_web(server):
    with server.poster("ada") as n:  # two fresh articles by ada, by Message-ID
        ids = [f"<read.{k}.{time.time_ns()}@example.org>" for k in (1, 2)]
        for mid in ids:
            text = f"Newsgroups: {GROUP}\r\nSubject: Mark {mid}\r\nMessage-ID: {mid}\r\n\r\nText\r\n"
            assert n.post(text.encode()).startswith("240")
    with (
        httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10, verify=tls()) as web,
        server.poster("root") as n,
    ):
        web.post("/api/login", json={"username": "root", "password": PASSWORD}).raise_for_status()

        def unread() -> int:
            groups = web.get("/api/groups").json()["groups"]
            return next(g["unread"] for g in groups if g["name"] == GROUP)

        def became(count: int) -> Callable[[], bool]:
            return lambda: unread() == count

        # Articles 1 and 2 from the prepared site, then ada's two; nothing read yet.
        _, _, first, last, _ = n.group(GROUP)
        assert (first, unread()) == (1, last)
        # By number, served from the group's encoded blocks: HEAD and STAT are not reading.
        assert n.head(1)[0].startswith("221") and n.stat(2)[0].startswith("223")
        assert n.body(2)[0].startswith("222")
        until(became(last - 1), "BODY 2 marks one article read")
        assert n.article(1)[0].startswith("220")
        until(became(last - 2), "ARTICLE 1 marks it read")
        # By Message-ID, from the database: again HEAD is not reading.
        assert n.head(ids[0])[0].startswith("221") and n.body(ids[1])[0].startswith("222")
        until(became(last - 3), "BODY <message-id> marks it read")
        # The current article (no argument), from the blocks: ada's first, number 3.
        assert n.stat(3)[0].startswith("223") and n.article()[0].startswith("220")
        until(became(last - 4), "ARTICLE of the current article marks it read")
        # Reading again changes nothing; every article of the group is read now.
        assert n.article(ids[1])[0].startswith("220") and n.article(1)[0].startswith("220")
        thread_id = web.get(f"/api/articles/{quote(ids[1], safe='')}").json()["article"]["thread_id"]
        articles = web.get(f"/api/threads/{thread_id}").json()["articles"]
        assert [a["unread"] for a in articles] == [False] and unread() == 0


def test_body_by_a_signed_in_reader_reads_the_notification_of_that_reply(server):
    stamp = time.time_ns()
    root_id, reply_id = f"<root.{stamp}@example.org>", f"<reply.{stamp}@example.org>"
    with server.poster("root") as n:
        text = f"Newsgroups: comp.lang.c\r\nSubject: Pointers\r\nMessage-ID: {root_id}\r\n\r\nA question\r\n"
        assert n.post(text.encode()).startswith("240")
    with server.poster("ada") as n:
        text = (
            f"Newsgroups: comp.lang.c\r\nSubject: Re: Pointers\r\nMessage-ID: {reply_id}\r\n"
            f"References: {root_id}\r\n\r\nAn answer\r\n"
        )
        assert n.post(text.encode()).startswith("240")
    with (
        httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10, verify=tls()) as web,
        server.poster("root") as n,
    ):
        web.post("/api/login", json={"username": "root", "password": PASSWORD}).raise_for_status()

        def unread_replies() -> list[str]:
            got = web.get("/api/notifications").json()["notifications"]
            return [x["article"]["message_id"] for x in got if not x["read"] and x["article"]]

        assert unread_replies() == [reply_id]
        _, _, _, last, _ = n.group("comp.lang.c")
        assert n.body(last)[0].startswith("222")  # by number: ada's reply is the group's newest
        until(lambda: unread_replies() == [], "BODY of the notified reply reads its notification")


def exchange(server, *lines: str) -> list[bytes]:
    """Send `lines` pipelined on a fresh connection; their status codes, in order."""
    sock = server.raw()
    try:
        sock.sendall("".join(line + "\r\n" for line in lines).encode())
        data = b""
        while data.count(b"\r\n") < len(lines):
            data += read_reply(sock)
    finally:
        sock.close()
    return [line[:3] for line in data.split(b"\r\n")[: len(lines)]]


def test_malformed_commands_get_501_before_any_state_is_checked(server):
    # No group selected: a state error (412) only for well-formed commands.
    refused = ["HEAD abc", "ARTICLE -1", "BODY 1x", "STAT -", "OVER abc", "XOVER 1-x", "HDR Subject x-"]
    refused += ["XHDR Subject abc", "DATE extra", "HELP me", "NEXT 1", "LAST x", "QUIT now"]
    assert exchange(server, *refused) == [b"501"] * len(refused)
    assert exchange(server, "HEAD 1", "OVER 1", "HDR Subject 1", "NEXT", "DATE") == [
        b"412",
        b"412",
        b"412",
        b"412",
        b"111",
    ]
