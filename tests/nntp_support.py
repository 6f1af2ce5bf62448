"""NNTP test helpers: a Session over a fresh Site, nntplib imported without its
deprecation warning (Python 3.11-3.12 carry it; 3.13 dropped it from the
standard library, where the standard-nntplib package provides it), a
checker for reply streams, and a real `moot serve` over a prepared site."""

from __future__ import annotations

import asyncio
import re
import socket
import warnings

from moot.articles import groups, posting
from moot.people import accounts
from moot.store.db import Database
from tests.conftest import PASSWORD, password_hash
from tests.processes import start_process

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib  # noqa: F401  (re-exported for the tests)

STATUS = re.compile(rb"[1-5][0-9][0-9] [^\r\n]*\Z")
MULTI_LINE = {100, 101, 215, 220, 221, 222, 224, 225, 230, 231}


def replies(stream: bytes) -> list[tuple[int, list[bytes]]]:
    """Split a reply stream into (code, block lines) and assert it is well formed:
    CRLF lines, each reply a status line, multi-line ones ending in '.'."""
    assert stream == b"" or stream.endswith(b"\r\n"), stream[-80:]
    lines = stream.split(b"\r\n")[:-1]
    out = []
    i = 0
    while i < len(lines):
        status = lines[i]
        assert STATUS.match(status), status
        code = int(status[:3])
        i += 1
        block: list[bytes] = []
        # 211 is multi-line only from LISTGROUP, which says "list follows".
        if code in MULTI_LINE or (code == 211 and status.endswith(b"list follows")):
            while lines[i] != b".":
                assert not lines[i].startswith(b".") or lines[i].startswith(b".."), lines[i]
                block.append(lines[i][1:] if lines[i].startswith(b"..") else lines[i])
                i += 1
            i += 1
        out.append((code, block))
    return out


async def prepare(db_path: str) -> None:
    """Three groups (one read-only), ada, marta (moderator) and root (admin), a thread with a reply."""
    db = await Database(db_path, read_connections=1).open()
    try:
        users = {}
        for name, role in (("ada", "member"), ("marta", "moderator"), ("root", "admin")):
            users[name] = await accounts.create_user(
                db, name, PASSWORD, name.title(), role, password_hash=password_hash()
            )
        async with db.transaction() as conn:
            await groups.create_group(conn, None, "comp.lang.python", "Python, the language")
            await groups.create_group(conn, None, "comp.lang.c", "C")
            await groups.create_group(conn, None, "rec.music.folk", "Folk music")
            await groups.create_group(conn, None, "news.readonly", "Announcements", status="n")
            started = await posting.submit(
                conn,
                "test.moot",
                users["ada"],
                posting.Submission(
                    body="First post\n.starts with a dot", subject="Hello", group="comp.lang.python"
                ),
            )
            await posting.submit(
                conn,
                "test.moot",
                users["marta"],
                posting.Submission(
                    body="A reply from Märta", subject="Re: Héllo", parent=started["article"]["id"]
                ),
            )
    finally:
        await db.close()


class Server:
    def __init__(self, http: int, nntp: int, proc, db_path: str = ""):
        self.http, self.nntp, self.proc, self.db_path = http, nntp, proc, db_path
        self.url = f"http://127.0.0.1:{http}"

    def reader(self, **kwargs) -> nntplib.NNTP:
        return nntplib.NNTP("127.0.0.1", self.nntp, readermode=True, timeout=20, **kwargs)

    def poster(self, user: str = "ada") -> nntplib.NNTP:
        return self.reader(user=user, password=PASSWORD)

    def raw(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.nntp), timeout=20)
        assert read_reply(sock).startswith(b"200 ")
        return sock


def read_reply(sock: socket.socket, until: bytes = b"\r\n") -> bytes:
    data = b""
    while not data.endswith(until):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def serve(tmp_path, **settings) -> Server:
    """A real `moot serve` on free ports of its choosing over a prepared database (MOOT_<NAME> for each setting)."""
    db_path = str(tmp_path / "nntp.db")
    asyncio.run(prepare(db_path))
    proc = start_process(db_path, str(tmp_path / "server.log"), nntp="any", **settings)
    ports = proc.listening()
    return Server(ports.http, ports.nntp, proc, db_path)
