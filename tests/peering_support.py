"""Moot nodes as real `moot serve` processes for the peering tests: each its own
database, domain (its Path name), HTTP and NNTP ports; peers configured with
the real `moot peer` command; polling helpers with deadlines."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from moot import cli
from moot.articles import groups
from moot.people import accounts
from moot.store.db import Database
from tests.conftest import PASSWORD, password_hash
from tests.nntp_support import nntplib
from tests.processes import moot, reserved_port, start_process, stop_process, tls

GROUPS = ("comp.lang.python", "rec.music.folk")
# Seconds a node waits between looks at its peers table and idle queues.
POLL = "0.3"
WAIT = 30.0


async def _prepare(db_path: str) -> None:
    db = await Database(db_path, read_connections=1).open()
    try:
        for name, role in (("ada", "member"), ("marta", "moderator"), ("root", "admin")):
            await accounts.create_user(db, name, PASSWORD, name.title(), role, password_hash=password_hash())
        async with db.transaction() as conn:
            for group in GROUPS:
                await groups.create_group(conn, None, group, f"{group} for peering")
    finally:
        await db.close()


class Node:
    """One Moot node named `name` (its domain and Path name). Its two ports are
    its own for as long as the Node lives (reserved_port), so it comes back at
    the same address after a restart, where its peers look for it."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.name = name
        self.db = str(tmp_path / f"{name}.db")
        self.log = str(tmp_path / f"{name}.log")
        held = ExitStack()
        weakref.finalize(self, held.close)
        self.http, self.nntp = held.enter_context(reserved_port()), held.enter_context(reserved_port())
        self.url = f"http://127.0.0.1:{self.http}"
        self.proc: subprocess.Popen | None = None
        asyncio.run(_prepare(self.db))

    def start(self, **settings: object) -> Node:
        """`moot serve` for this node; MOOT_<NAME> for each extra setting."""
        self.proc = start_process(
            self.db,
            self.log,
            port=self.http,
            nntp=self.nntp,
            domain=self.name,
            peer_poll_interval=POLL,
            **settings,
        )
        self.proc.listening()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def peer(
        self,
        other: Node | str,
        *args: str,
        secret: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> subprocess.CompletedProcess:
        """`moot peer add` for `other` (a Node, or a Path name with `port`)."""
        name = other.name if isinstance(other, Node) else other
        port = other.nntp if isinstance(other, Node) else port
        extra = ["--password-stdin"] if secret else []
        return moot(
            "peer",
            "add",
            name,
            "--host",
            host,
            "--port",
            str(port),
            *extra,
            *args,
            "--db",
            self.db,
            input=(secret + "\n") if secret else None,
        )

    def peers(self) -> dict[str, dict]:
        """`moot peer list --json`, run in this process: tests poll it, and a
        Python process started per look costs more than the look."""
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli.main(["peer", "list", "--json", "--db", self.db]) == 0
        return {p["name"]: p for p in json.loads(out.getvalue())}

    def reader(self, user: str | None = None) -> nntplib.NNTP:
        kwargs: dict[str, Any] = {"user": user, "password": PASSWORD} if user else {}
        return nntplib.NNTP("127.0.0.1", self.nntp, readermode=True, timeout=20, **kwargs)

    def post(self, group: str, subject: str, body: str, references: str = "", user: str = "ada") -> str:
        """Post over NNTP as `user`; the new article's Message-ID."""
        head = f"Newsgroups: {group}\r\nSubject: {subject}\r\n"
        if references:
            head += f"References: {references}\r\n"
        with self.reader(user) as n:
            reply = n.post(io.BytesIO((head + "\r\n" + body + "\r\n").encode()))
        return reply.split()[-1]

    def overview(self, group: str) -> dict[str, tuple[str, str]]:
        """Message-ID -> (References, Subject) of every article in `group`."""
        with self.reader() as n:
            _, count, first, last, _ = n.group(group)
            if not count:
                return {}
            _, rows = n.over((first, last))
        return {fields["message-id"]: (fields["references"], fields["subject"]) for _, fields in rows}

    def article(self, message_id: str) -> dict | None:
        r = httpx.get(f"{self.url}/api/articles/{quote(message_id, safe='')}", timeout=10, verify=tls())
        return r.json()["article"] if r.status_code == 200 else None

    def cancel(self, message_id: str, user: str) -> dict:
        with httpx.Client(
            base_url=self.url, headers={"Origin": self.url}, timeout=10, verify=tls()
        ) as client:
            client.post("/api/login", json={"username": user, "password": PASSWORD}).raise_for_status()
            r = client.post(f"/api/articles/{quote(message_id, safe='')}/cancel", json={"reason": "test"})
            r.raise_for_status()
            return r.json()["article"]

    @contextmanager
    def signed_in(self, user: str) -> Iterator[httpx.Client]:
        with httpx.Client(
            base_url=self.url, headers={"Origin": self.url}, timeout=10, verify=tls()
        ) as client:
            client.post("/api/login", json={"username": user, "password": PASSWORD}).raise_for_status()
            yield client

    def thread_state(self, message_id: str) -> str | None:
        """The state of the thread `message_id` is in, or None when it is not here."""
        article = self.article(message_id)
        if article is None:
            return None
        return httpx.get(f"{self.url}/api/threads/{article['thread_id']}", timeout=10, verify=tls()).json()[
            "thread"
        ]["state"]

    def moderate(self, message_id: str, action: str, user: str = "marta") -> dict:
        with self.signed_in(user) as client:
            thread_id = client.get(f"/api/articles/{quote(message_id, safe='')}").json()["article"][
                "thread_id"
            ]
            r = client.post(f"/api/threads/{thread_id}/{action}", json={"reason": f"{action} in a test"})
            r.raise_for_status()
            return r.json()

    def set_home(self, group: str, node: Node) -> None:
        """`moot group home`: `node` splits, merges and moves in `group`."""
        moot("group", "home", group, node.name, "--db", self.db)

    def tree(self, message_id: str) -> tuple | None:
        """(group, thread subject, root's Message-ID, parent's Message-ID) of an article here."""
        article = self.article(message_id)
        if article is None:
            return None
        thread = httpx.get(f"{self.url}/api/threads/{article['thread_id']}", timeout=10, verify=tls()).json()
        by_id = {a["id"]: a["message_id"] for a in thread["articles"]}
        root = by_id.get(thread["thread"]["root_article_id"])
        return article["group"], thread["thread"]["subject"], root, by_id.get(article["parent_id"])

    def state(self) -> dict[str, dict[str, tuple]]:
        """What must converge: per group, each article's References, Subject and status."""
        out: dict[str, dict[str, tuple]] = {}
        for group in GROUPS:
            rows = self.overview(group)
            out[group] = {mid: (*fields, self.status(mid)) for mid, fields in rows.items()}
        return out

    def status(self, message_id: str) -> str | None:
        article = self.article(message_id)
        return article["status"] if article else None


def eventually(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `check` until it returns something true; AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, nntplib.NNTPError, httpx.HTTPError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s (last: {last!r})")


def raw_session(node: Node, secret: str | None = None) -> socket.socket:
    """A plain socket to `node`'s NNTP, greeted, and signed in with `secret` when given."""
    sock = socket.create_connection(("127.0.0.1", node.nntp), timeout=20)
    assert read_line(sock).startswith("200 ")
    if secret:
        assert send(sock, "AUTHINFO USER tester.test").startswith("381")
        assert send(sock, f"AUTHINFO PASS {secret}").startswith("281")
    return sock


_BUFFERS: dict[int, bytes] = {}


def read_line(sock: socket.socket) -> str:
    buffer = _BUFFERS.get(sock.fileno(), b"")
    while b"\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        buffer += chunk
    line, _, rest = buffer.partition(b"\r\n")
    _BUFFERS[sock.fileno()] = rest
    return line.decode("utf-8", "replace")


def read_block(sock: socket.socket) -> list[str]:
    """The lines of a multi-line block up to its "." (RFC 3977 §3.1.1)."""
    lines = []
    while (line := read_line(sock)) != ".":
        lines.append(line)
    return lines


def send(sock: socket.socket, line: str | bytes) -> str:
    sock.sendall(line if isinstance(line, bytes) else line.encode() + b"\r\n")
    return read_line(sock)


def wire_article(
    message_id: str,
    group: str,
    path: str,
    subject: str = "Offered",
    body: str = "Sent by a peer.",
    extra: str = "",
    date: str = "Tue, 01 Dec 2026 10:00:00 +0000",
) -> bytes:
    """A transit article as a peer sends it, dot-terminated (RFC 3977 §3.1.1)."""
    return (
        f"Path: {path}\r\nFrom: Peer Poster <poster@peer.test>\r\nNewsgroups: {group}\r\n"
        f"Subject: {subject}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\n"
        f"{extra}\r\n{body}\r\n.\r\n"
    ).encode()
