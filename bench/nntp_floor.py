"""The least a Python news server does to take a POST: the floor that Moot's
NNTP POST rows are read against.

    python bench/nntp_floor.py DB PORT [FULL|OFF]

Answers the greeting, MODE READER, POST and QUIT on 127.0.0.1:PORT (and 500 to
anything else), and prints "ready" once it listens. A posted article is split
into headers and body, stored as one row with its Message-ID unique, and
indexed by an external-content FTS5 table, in SQLite's WAL mode at the
synchronous level given (FULL by default: the article is on disk before its
240). One writer thread commits whatever arrived while it was writing, so one
fsync covers every connection waiting (a group commit), and a connection hears
240 only after the commit that holds its article.

What it leaves out is everything a real server does besides: accounts and
sign-in, checks, threading, overview, outboxes, notifications. Run at OFF
(no fsync, as INN2 stores an article) it shows what the same Python costs
without the disk's wait, so the distance between its FULL and OFF rates is
the price of the durability promise alone. bench/nntp.py runs it beside INN2
and Moot."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import sys
import threading
import time
import uuid

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, newsgroups TEXT NOT NULL,
    subject TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(subject, body, content='articles', content_rowid='id');
"""

Pending = tuple[asyncio.AbstractEventLoop, asyncio.Future[None], tuple[str, ...]]


def writer(conn: sqlite3.Connection, pending: queue.SimpleQueue[Pending]) -> None:
    """Commit what is pending, all of it in one transaction, then wake its posters."""
    while True:
        batch = [pending.get()]
        while True:
            try:
                batch.append(pending.get_nowait())
            except queue.Empty:
                break
        conn.execute("BEGIN IMMEDIATE")
        for _, _, row in batch:
            cur = conn.execute(
                "INSERT INTO articles (message_id, newsgroups, subject, author, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
            conn.execute(
                "INSERT INTO articles_fts (rowid, subject, body) VALUES (?, ?, ?)",
                (cur.lastrowid, row[2], row[4]),
            )
        conn.execute("COMMIT")
        for loop, done, _ in batch:
            loop.call_soon_threadsafe(done.set_result, None)


def record(lines: list[bytes]) -> tuple[str, ...]:
    """The stored row of a posted article's lines (dot-stuffing undone)."""
    text = b"".join(line[1:] if line.startswith(b"..") else line for line in lines).decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    headers = dict(h.split(": ", 1) for h in head.split("\r\n") if ": " in h)
    return (
        headers.get("Message-ID") or f"<{uuid.uuid4().hex}@floor.invalid>",
        headers.get("Newsgroups", ""),
        headers.get("Subject", ""),
        headers.get("From", ""),
        body,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


async def converse(
    pending: queue.SimpleQueue[Pending], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    loop = asyncio.get_running_loop()
    writer.write(b"200 floor ready, posting allowed\r\n")
    while line := await reader.readline():
        verb = line.split(None, 1)[0].upper() if line.strip() else b""
        if verb == b"POST":
            writer.write(b"340 send the article\r\n")
            lines = []
            while (part := await reader.readline()) not in (b".\r\n", b""):
                lines.append(part)
            done: asyncio.Future[None] = loop.create_future()
            pending.put((loop, done, record(lines)))
            await done
            writer.write(b"240 article posted\r\n")
        elif verb == b"MODE":
            writer.write(b"200 reader mode, posting allowed\r\n")
        elif verb == b"QUIT":
            writer.write(b"205 closing\r\n")
            break
        else:
            writer.write(b"500 not here\r\n")
    writer.close()


async def main(path: str, port: int, synchronous: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(SCHEMA)
    pending: queue.SimpleQueue[Pending] = queue.SimpleQueue()
    threading.Thread(target=writer, args=(conn, pending), daemon=True).start()
    server = await asyncio.start_server(lambda r, w: converse(pending, r, w), "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    level = sys.argv[3].upper() if len(sys.argv) > 3 else "FULL"
    if level not in ("FULL", "OFF"):
        raise SystemExit("synchronous must be FULL or OFF")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), level))
