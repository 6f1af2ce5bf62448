"""A local stand-in for the fediverse's inboxes: one plain-HTTP/1.1 server
on a loopback port that takes any POST, records it, and answers the status
`answer(path, count)` gives (202 by default; `count` is how many POSTs that
path had before). Followers made with `followers()` each have their own
shared inbox on it, so a fan-out to N followers is N inboxes on one server."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from moot.federation import outbox


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def activity(self) -> dict:
        return json.loads(self.body)


@dataclass
class Sink:
    answer: Callable[[str, int], int] = lambda path, count: 202
    received: list[Received] = field(default_factory=list)
    by_path: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> Sink:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status = self.answer(target, self.by_path[target])
                self.by_path[target] += 1
                if 200 <= status < 300:
                    self.received.append(Received(target, headers, body))
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Poll until at least `count` POSTs were taken (2xx), or fail at the deadline."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} deliveries arrived"
            await asyncio.sleep(0.02)
        return self.received


def followers(sink_base: str, n: int, *, first: int = 0) -> list[tuple]:
    """ap_actors rows (uri, host, inbox, shared_inbox, key_id, public_pem,
    handle, name, url, fetched_at) of `n` followers on the sink, each with
    its own shared inbox."""
    rows = []
    for i in range(first, first + n):
        uri = f"{sink_base}/users/{i}"
        rows.append(
            (
                uri,
                "127.0.0.1",
                f"{uri}/inbox",
                f"{sink_base}/shared/{i}/inbox",
                f"{uri}#main-key",
                "unused",
                f"u{i}@127.0.0.1",
                f"U {i}",
                uri,
                "2026-01-01T00:00:00.000Z",
            )
        )
    return rows


FOLLOWERS_SQL = (
    "INSERT INTO ap_actors (uri, host, inbox, shared_inbox, key_id, public_pem, handle, name, url, fetched_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FOLLOW_SQL = (
    "INSERT INTO ap_followers (group_id, actor, follow_id, state, created_at)"
    " SELECT id, ?, ?, 'accepted', '2026-01-01T00:00:00.000Z' FROM groups WHERE name = ?"
)


def add_followers_sql(group: str, rows: list[tuple]) -> list[tuple[str, list[tuple]]]:
    """The statements that make `rows` accepted followers of `group`."""
    return [(FOLLOWERS_SQL, rows), (FOLLOW_SQL, [(r[0], r[0] + "#follow", group) for r in rows])]


async def expanded(site) -> None:
    """Wait until the site's delivery task has turned every event so far into
    deliveries (federation.outbox's cursor at the newest event)."""
    async with site.db.read() as conn:
        last = (await conn.execute_fetchall("SELECT coalesce(max(id), 0) FROM events"))[0][0]
    deadline = time.monotonic() + 10
    while True:
        async with site.db.read() as conn:
            if (await outbox.cursor(conn) or 0) >= last:
                return
        assert time.monotonic() < deadline, "the delivery task did not read the events"
        await asyncio.sleep(0.02)
