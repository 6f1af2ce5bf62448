"""The outgoing news feed: one task per outgoing peer offers its queued
articles (peering's outbox) over NNTP, with CHECK/TAKETHIS when the peer
announces STREAMING (RFC 4644) and IHAVE otherwise (RFC 3977 §6.3.2).

A row leaves the queue only after the peer's answer says it has the article
or will never take it; a broken connection or a "try later" answer keeps it,
due again after a growing delay. The peer list is read again every
peer_poll_interval seconds, so `moot peer add` reaches a running server; the
same pass delivers held articles and structural actions whose wait is over
(intake.settle)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl

from aiosqlite import Connection

from ..articles import mbox
from ..articles.exports import EXPORT_SELECT
from ..news import cancellock, intake, news, peers
from ..runtime.site import Site
from ..store import clock
from ..store.db import fetch_all
from . import tls

log = logging.getLogger("moot.feed")

# Articles offered per round trip: CHECKs pipelined, then TAKETHIS for the wanted ones.
BATCH = 100
# Seconds an answer may take before the connection is given up as broken.
ANSWER_TIMEOUT = 60.0
# RFC 4644 §2.5 / RFC 3977 §6.3.2: answers after which the article leaves the queue.
DONE = {235, 239, 435, 437, 438, 439}


class PeerError(Exception):
    """The peer answered something that ends this connection (the message says what)."""


class Feeder:
    """The feed tasks of one Site, one per outgoing peer, kept in step with the peers table."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.workers: dict[int, PeerFeed] = {}
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.site.db.add_commit_listener(self._committed)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.site.db.remove_commit_listener(self._committed)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        for worker in list(self.workers.values()):
            await worker.stop()

    def _committed(self) -> None:
        for worker in self.workers.values():
            worker.wake.set()

    async def _run(self) -> None:
        while True:
            try:
                async with self.site.db.read() as conn:
                    outgoing = {row["id"]: row for row in await peers.outgoing_peers(conn)}
                    overdue = await intake.overdue(conn)
                if overdue:  # held articles and structural actions whose wait is over
                    async with self.site.db.transaction() as conn:
                        await intake.settle(conn, intake.Node.of(self.site.config, self.site.secret))
                for peer_id in set(self.workers) - set(outgoing):
                    await self.workers.pop(peer_id).stop()
                for peer_id, row in outgoing.items():
                    worker = self.workers.get(peer_id)
                    if worker is None or worker.changed(row):
                        if worker is not None:
                            await worker.stop()
                        self.workers[peer_id] = PeerFeed(self.site, row)
            except Exception:
                log.exception("reading the peers failed")
            await asyncio.sleep(self.site.config.peer_poll_interval)


class PeerFeed:
    """The feed to one peer: a connection kept open while there is work."""

    def __init__(self, site: Site, peer: sqlite3.Row) -> None:
        self.site, self.peer = site, peer
        self.domain = site.config.domain
        self.wake = asyncio.Event()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.streaming = False
        self.tls: ssl.SSLContext | None = None  # made at the first STARTTLS
        self.task = asyncio.create_task(self._run())

    def changed(self, row: sqlite3.Row) -> bool:
        return any(row[k] != self.peer[k] for k in ("host", "port", "password", "groups", "direction"))

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self._close()

    async def _run(self) -> None:
        while True:
            try:
                # Cleared before looking, so a commit after the look still wakes the wait.
                self.wake.clear()
                async with self.site.db.read() as conn:
                    rows = await peers.due(conn, self.peer["id"], BATCH)
                    upcoming = None if rows else await peers.next_due(conn, self.peer["id"])
                if not rows:
                    await self._idle(upcoming)
                    continue
                await self._send(rows)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feeding %s failed", self.peer["name"])
                await asyncio.sleep(1)

    async def _idle(self, upcoming: str | None) -> None:
        """Wait for a commit, the next retry, or the poll interval, whichever is first."""
        wait = self.site.config.peer_poll_interval
        if upcoming is not None:
            wait = min(wait, max(0.05, (clock.parse(upcoming) - clock.parse(clock.now())).total_seconds()))
        with contextlib.suppress(TimeoutError):  # not wait_for: see smtp.sender.MailSender._run
            async with asyncio.timeout(wait):
                await self.wake.wait()

    async def _send(self, rows: list[sqlite3.Row]) -> None:
        done: list[int] = []
        retry: list[int] = []
        error = ""
        try:
            await self._connect()
            texts = {}
            async with self.site.db.read() as conn:
                articles = await _articles(
                    conn, [row["article_id"] for row in rows if row["kind"] != "control"]
                )
            for row in rows:
                text = self._text(row, articles.get(row["article_id"]))
                if text is None:
                    done.append(row["id"])  # nothing left to send (withdrawn or gone)
                else:
                    texts[row["id"]] = (row, text)
            offers = [texts[i] for i in texts]
            if self.streaming:
                answers = await self._stream(offers)
            else:
                answers = [await self._ihave(row, text) for row, text in offers]
            for (row, _), (code, line) in zip(offers, answers, strict=True):
                if code in DONE:
                    done.append(row["id"])
                else:
                    retry.append(row["id"])
                    error = line
        except (
            OSError,
            EOFError,
            PeerError,
            TimeoutError,
            asyncio.IncompleteReadError,
            tls.TLSConfigError,
        ) as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            retry = [r["id"] for r in rows if r["id"] not in done]
            await self._close()
        async with self.site.db.transaction() as conn:
            if done:
                await peers.finished(conn, self.peer["id"], done)
            if retry:
                await peers.retry_later(conn, self.peer["id"], retry, error)

    # -- the wire -------------------------------------------------------------------

    async def _connect(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            return
        peer = self.peer
        async with asyncio.timeout(ANSWER_TIMEOUT):
            self.reader, self.writer = await asyncio.open_connection(peer["host"], peer["port"])
        code, line = await self._answer()
        if code not in (200, 201):  # RFC 3977 §5.1.1
            raise PeerError(f"greeting: {line}")
        capabilities = await self._capabilities()
        if "STARTTLS" in (capabilities or ()):  # RFC 4642: encrypt whenever the peer can
            code, line = await self._command("STARTTLS")
            if code != 382:
                raise PeerError(f"STARTTLS: {line}")
            if self.tls is None:
                self.tls = tls.client_context(self.site.config)
            assert self.writer is not None
            await self.writer.start_tls(self.tls, server_hostname=peer["host"])
            capabilities = await self._capabilities()
        if peer["password"] is not None:  # RFC 4643 §2.3
            code, line = await self._command(f"AUTHINFO USER {self.domain}")
            if code == 381:
                code, line = await self._command(f"AUTHINFO PASS {peer['password']}")
            if code != 281:
                raise PeerError(f"AUTHINFO: {line}")
            capabilities = await self._capabilities()  # a peer lists IHAVE and STREAMING once it knows us
        self.streaming = False
        if capabilities is None or "STREAMING" in capabilities:
            # RFC 4644 §2.3: MODE STREAM; a peer without CAPABILITIES (old INN) may still stream.
            code, line = await self._command("MODE STREAM")
            self.streaming = code == 203

    async def _capabilities(self) -> frozenset[str] | None:
        """The capability labels the peer lists now (RFC 3977 §5.2); None from a
        peer that does not know CAPABILITIES (an old INN)."""
        code, _ = await self._command("CAPABILITIES")
        if code != 101:
            return None
        return frozenset(c.split()[0].upper() for c in await self._block() if c.split())

    async def _close(self) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(b"QUIT\r\n")
                writer.close()
                async with asyncio.timeout(2):
                    await writer.wait_closed()

    async def _answer(self) -> tuple[int, str]:
        assert self.reader is not None
        async with asyncio.timeout(ANSWER_TIMEOUT):
            raw = await self.reader.readline()
        if not raw:
            raise EOFError("the peer closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        try:
            return int(line[:3]), line
        except ValueError:
            raise PeerError(f"not an NNTP answer: {line[:80]!r}") from None

    async def _block(self) -> list[str]:
        assert self.reader is not None
        lines: list[str] = []
        while True:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                raw = await self.reader.readline()
            if not raw:
                raise EOFError("the peer closed the connection")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == ".":
                return lines
            lines.append(line[1:] if line.startswith("..") else line)

    async def _command(self, line: str) -> tuple[int, str]:
        assert self.writer is not None
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()
        return await self._answer()

    async def _ihave(self, row: sqlite3.Row, text: bytes) -> tuple[int, str]:
        code, line = await self._command(f"IHAVE {row['message_id']}")
        if code != 335:
            return code, line
        assert self.writer is not None
        self.writer.write(text)
        await self.writer.drain()
        return await self._answer()

    async def _stream(self, offers: list[tuple[sqlite3.Row, bytes]]) -> list[tuple[int, str]]:
        """CHECK every offer (pipelined), then TAKETHIS the wanted ones (RFC 4644 §2.4-2.5)."""
        assert self.writer is not None
        self.writer.write(b"".join(f"CHECK {row['message_id']}\r\n".encode() for row, _ in offers))
        await self.writer.drain()
        answers = [await self._answer() for _ in offers]
        wanted = [i for i, (code, _) in enumerate(answers) if code == 238]
        for i in wanted:
            row, text = offers[i]
            self.writer.write(f"TAKETHIS {row['message_id']}\r\n".encode() + text)
        await self.writer.drain()
        for i in wanted:
            answers[i] = await self._answer()
        return answers

    def _text(self, row: sqlite3.Row, article: sqlite3.Row | None) -> bytes | None:
        """The article a queue row offers (`article`: the one it names, None when
        it is gone), dot-stuffed and ended with "." (RFC 3977 §3.1.1)."""
        if row["kind"] == "control":
            lines = row["control"].split("\n")
        else:
            if article is None:
                return None
            # RFC 8315: what this node injected is locked, and its cancels carry the key.
            here = news.injected_here(article)
            if row["kind"] == "cancel":
                key = cancellock.key(self.site.secret, article["message_id"]) if here else None
                lines = _cancel_lines(article, self.domain, row["message_id"], key)
            elif row["kind"] == "state":
                lines = _state_lines(article, self.domain, row["message_id"], row["control"])
            elif article["status"] != "ok":
                # Withdrawn before it left (its cancel follows), or hidden pending
                # review: dropped now, queued again if shown (peers.queue_shown).
                return None
            else:
                # Xref is this node's numbering (RFC 5536 §3.2.14): not sent on.
                fields = [(k, v) for k, v in news.headers(article, self.domain) if k != "Xref"]
                if here:
                    fields.append(("Cancel-Lock", cancellock.lock(self.site.secret, article["message_id"])))
                lines = news.head_lines(article, self.domain, fields) + [""] + news.body_lines(article)
        out = ["." + line if line.startswith(".") else line for line in lines]
        return ("\r\n".join(out) + "\r\n.\r\n").encode("utf-8", "replace")


async def _articles(conn: Connection, ids: list[int]) -> dict[int, sqlite3.Row]:
    """The articles of `ids` as exports read them, by id, in one statement
    (a batch of the queue: BATCH ids at most)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {row["id"]: row for row in await fetch_all(conn, EXPORT_SELECT + f" WHERE a.id IN ({marks})", ids)}


def _cancel_lines(article: sqlite3.Row, domain: str, cancel_id: str, key: str | None) -> list[str]:
    """A cancel control article (RFC 5537 §5.3) for `article`, in its author's name,
    with the Cancel-Key `key` (RFC 8315) when this node has the article's."""
    target = article["message_id"]
    sender = mbox.address(article["author_name"], news.author_address(article, domain))
    authenticated = [f"Cancel-Key: {key}"] if key else []
    now = news.news_date(clock.now())
    return [
        f"Path: {domain}!not-for-mail",
        f"From: {sender}",
        f"Newsgroups: {mbox.header_text(article['group_name'])}",
        f"Subject: cmsg cancel {target}",
        f"Control: cancel {target}",
        f"Message-ID: {cancel_id}",
        f"Date: {now}",
        f"Injection-Date: {now}",
        *authenticated,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"This cancels {target}, withdrawn on {domain}.",
    ]


def _state_lines(root: sqlite3.Row, domain: str, message_id: str, control: str) -> list[str]:
    """A thread state change (docs/PEERING.md) as a control article; `control` is
    `action time reason` (peers.queue_state), the time its Date."""
    action, stamp, reason = (control.split(" ", 2) + ["", ""])[:3]
    target = root["message_id"]
    return [
        f"Path: {domain}!not-for-mail",
        f"From: moderators <moderators@{domain}>",
        f"Newsgroups: {mbox.header_text(root['group_name'])}",
        f"Subject: cmsg {peers.STATE_CONTROL} {action}",
        f"Control: {peers.STATE_CONTROL} {action} {target}",
        f"Message-ID: {message_id}",
        f"Date: {news.news_date(stamp)}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        reason or f"{action} of the thread of {target} on {domain}",
    ]


async def start(site: Site) -> Feeder:
    """Start the outgoing feed of `site`."""
    feeder = Feeder(site)
    await feeder.start()
    return feeder


async def stop(feeder: Feeder | None) -> None:
    if feeder is not None:
        await feeder.stop()
