"""One NNTP reader session as a sans-I/O state machine: bytes in, complete
reply bytes out, one method per command gathered in a dispatch table (the
shape of aiosmtpd). It reads and writes only through the domain layer
(newsreading, news, posting, accounts) on the Site it is given."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from aiosqlite import Connection

from ..articles import posting
from ..news import intake, news, newsreading, peers
from ..people import accounts, newsrc, sessions
from ..runtime.site import Site
from ..stewardship import spam
from ..stewardship.permissions import User, require
from ..store import clock
from ..store.db import fetch_value
from ..store.errors import AuthRequired, Forbidden, MootError, NotFound, RateLimited
from . import blocks, parse, replies
from .parse import Command, Syntax

log = logging.getLogger("moot.nntp")

# A posted article larger than this is read to its end, refused with 441 and
# not stored: a body may be 64 KiB of UTF-8, which base64 grows by a third
# and quoted-printable by up to three times, plus room for headers.
POST_MAX = 256 * 1024
# Octets of unfinished command line kept while waiting for its LF: one line.
_COMMAND, _POSTING = "command", "posting"
# What _whole_article answers while an article's end has not come.
_WAIT = object()
# A CHECK command line, its Message-ID argument taken (streaming peers pipeline them).
CHECK_LINE = re.compile(rb"(?im)^CHECK[ \t]+(\S+)[ \t]*\r?$")

Handler = Callable[["Session", Command], Awaitable[bytes]]
COMMANDS: dict[str, Handler] = {}


def command(*keywords: str) -> Callable[[Handler], Handler]:
    """Register a method as the handler of these command keywords."""

    def register(fn: Handler) -> Handler:
        for keyword in keywords:
            COMMANDS[keyword] = fn
        return fn

    return register


HELP = (
    "ARTICLE [message-id|number]",
    "AUTHINFO USER name",
    "AUTHINFO PASS password",
    "BODY [message-id|number]",
    "CAPABILITIES",
    "DATE",
    "GROUP newsgroup",
    "HDR header [message-id|range]",
    "HEAD [message-id|number]",
    "HELP",
    "LAST",
    "LIST [ACTIVE|ACTIVE.TIMES|DISTRIB.PATS|HEADERS|NEWSGROUPS|OVERVIEW.FMT] [wildmat]",
    "LISTGROUP [newsgroup [range]]",
    "MODE READER",
    "NEWGROUPS yyyymmdd hhmmss [GMT]",
    "NEWNEWS wildmat yyyymmdd hhmmss [GMT]",
    "NEXT",
    "OVER [range|message-id]",
    "POST",
    "QUIT",
    "STARTTLS",
    "STAT [message-id|number]",
    "XHDR header [range|message-id]",
    "XOVER [range]",
    "IHAVE message-id (peers)",
    "MODE STREAM (peers)",
    "CHECK message-id (peers)",
    "TAKETHIS message-id (peers)",
)


class Session:
    """The state of one connection: selected group, current article, signed-in user."""

    def __init__(
        self,
        site: Site,
        peer: str = "",
        *,
        tls: bool = False,
        secure: bool = False,
        address_peer: Callable[[str], Awaitable[sqlite3.Row | None]] | None = None,
    ) -> None:
        """`tls`: a certificate is configured (STARTTLS is offered until TLS is on);
        `secure`: TLS is on from the start (NNTPS, RFC 8143); `address_peer`: the
        listener's lookup of a peer known by its address (else the database is read)."""
        self.site, self.peer = site, peer
        self.tls_offered, self.tls_active = tls, secure
        # Set by an accepted STARTTLS: the glue upgrades the connection, then calls tls_started.
        self.starting_tls = False
        self.domain = site.config.domain
        self.user: User | None = None
        self.pending_user: str | None = None
        self.group: dict | None = None  # {id, name} of the selected group
        self.current: int | None = None  # the current article number in it
        self.closed = False
        self._buffer = bytearray()
        self._mode = _COMMAND
        self._overlong = False  # discarding the rest of a too-long command line
        self._post: list[bytes] = []
        self._post_size = 0
        # The line being read in an article past POST_MAX had its start dropped
        # (see receive_parts): however it ends, it is text, not the end line.
        self._midline = False
        self._received: Callable[[bytes, int], Awaitable[bytes]] = self._posted
        self._streamed: str | None = None  # the Message-ID of the TAKETHIS article being read
        self.news_peer: sqlite3.Row | None = None  # the peers row this connection feeds as, once known
        self._address_checked = False
        self._address_peer = address_peer or self._read_address_peer
        self._known_ahead: dict[str, bool] = {}  # pipelined CHECKs' answers, read together

    @functools.cached_property
    def _node(self) -> intake.Node:
        """This site as the node that takes articles (its repetition rules
        included), made once per connection rather than once per article."""
        return intake.Node.of(self.site.config, self.site.secret)

    def greeting(self) -> bytes:
        """The initial reply (RFC 3977 §5.1): posting is possible once signed in."""
        name = self.site.config.site_name
        if self.tls_active:
            return replies.status(200, f"{name} NNTPS server ready (posting ok after AUTHINFO)")
        if self.tls_offered:
            return replies.status(
                200, f"{name} NNTP server ready (posting ok after AUTHINFO; {self._use_tls()})"
            )
        return replies.status(200, f"{name} NNTP server ready (posting ok after AUTHINFO)")

    async def receive(self, data: bytes) -> bytes:
        """Feed bytes from the client; the replies to every complete line in them, in order."""
        return await joined(await self.receive_parts(data))

    async def receive_parts(self, data: bytes) -> list[bytes | asyncio.Future[bytes]]:
        """receive() without waiting for streamed articles (TAKETHIS) to be stored:
        the replies in order, each streamed article's a future that has it once stored."""
        self._buffer += data
        if self.news_peer is not None:
            await self._look_ahead(data)
        out: list[bytes | asyncio.Future[bytes]] = []
        while not self.closed:
            if self._mode == _POSTING and not self._post_size:
                whole = self._whole_article()
                if isinstance(whole, tuple):
                    out.append(await self._article(*whole))
                    continue
                if whole is _WAIT:
                    break  # its end has not come yet: wait for it rather than read it line by line
            end = self._buffer.find(b"\n")
            if end < 0:
                if self._mode == _COMMAND and len(self._buffer) >= parse.LINE_MAX:
                    self._overlong = True  # keep no more than a line; answer at its end
                    del self._buffer[:]
                elif (
                    self._mode == _POSTING
                    and self._post_size + len(self._buffer) > POST_MAX
                    and self._buffer
                    and (self._midline or self._buffer not in (b".", b".\r"))
                ):
                    # An article past POST_MAX is read to its end, its text not kept: a
                    # part line is dropped, unless it may be the start of the end line.
                    self._post_size += len(self._buffer)
                    del self._buffer[:]
                    self._midline = True
                break
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._mode == _COMMAND:
                out.append(await self._command_line(line))
                if self.starting_tls:
                    # RFC 4642 §2.2.2: what was pipelined in clear after STARTTLS is
                    # dropped, never obeyed once the connection is encrypted.
                    del self._buffer[:]
                    break
            elif line in (b".\r\n", b".\n") and not self._midline:
                data, size, self._post = b"\r\n".join(self._post), self._post_size, []
                out.append(await self._article(data, size))
            else:
                self._post_line(line)
                self._midline = False
        # Answers read ahead live for this read only: one still here was for a
        # CHECK not reached yet (it is looked up when it is) or for a line in
        # an article, and would go stale.
        self._known_ahead.clear()
        return out

    async def _article(self, data: bytes, size: int) -> bytes | asyncio.Future[bytes]:
        """The reply to an article read whole: stored now (POST, IHAVE) or, streamed
        (TAKETHIS), by a task of its own, so the articles of one pipelined batch
        share a group commit; the replies still go out in order (RFC 4644 §2.5
        lets them be pipelined)."""
        self._mode = _COMMAND
        if self._streamed is None:
            return await self._received(data, size)
        self._streamed = None
        return asyncio.ensure_future(self._received(data, size))

    def _whole_article(self) -> tuple[bytes, int] | object | None:
        """The article at the start of the buffer (POST, IHAVE, TAKETHIS), taken
        from it whole when its end line has come and every line in it ends in
        CRLF (the usual case): (its lines joined by CRLF, dot-stuffing undone,
        RFC 3977 §3.1.1; its size on the wire as _post_line counts it). _WAIT
        when its end has not come and all so far is such lines; None leaves
        the buffer to be read line by line (a bare LF or CR, an empty article,
        more than POST_MAX octets)."""
        buffer = self._buffer
        if buffer[:3] == b".\r\n":
            return None
        end = buffer.find(b"\r\n.\r\n")
        lines = bytes(buffer[: end + 2]) if end >= 0 else bytes(buffer)
        newlines = lines.count(b"\n")
        if lines.count(b"\r\n") != newlines or lines.count(b"\r") - lines.endswith(b"\r") != newlines:
            return None
        if end < 0:
            return _WAIT if len(lines) <= POST_MAX else None
        del buffer[: end + 5]
        data = lines[:-2].replace(b"\r\n.", b"\r\n")
        return (data[1:] if data[:1] == b"." else data), len(lines)

    async def _command_line(self, line: bytes) -> bytes:
        if self._overlong or len(line) > parse.LINE_MAX:
            self._overlong = False
            return replies.status(501, f"command line longer than {parse.LINE_MAX} octets (RFC 3977 §3.1)")
        try:
            cmd = parse.command(line.rstrip(b"\r\n"))
        except Syntax as e:
            return replies.status(501, str(e))
        handler = COMMANDS.get(cmd.keyword)
        if handler is None:
            return replies.status(500, f"unknown command {cmd.keyword[:40]}")
        try:
            return await handler(self, cmd)
        except Syntax as e:
            return replies.status(501, str(e))
        except MootError as e:
            return replies.error(e, 403)
        except Exception:
            log.exception("NNTP command %s failed", cmd.keyword)
            return replies.status(403, "internal fault")

    # -- connection ---------------------------------------------------------------

    @command("CAPABILITIES")
    async def capabilities(self, cmd: Command) -> bytes:
        lines = [
            "VERSION 2",
            "IMPLEMENTATION Moot",
            "READER",
            "POST",
            "HDR",
            "OVER MSGID",
            "LIST ACTIVE ACTIVE.TIMES DISTRIB.PATS HEADERS NEWSGROUPS OVERVIEW.FMT",
            "NEWNEWS",
        ]
        if await self._feeding_peer() is not None:  # RFC 4644 §2.1; RFC 3977 §6.3.2
            lines += ["IHAVE", "STREAMING"]
        signed_in = self.user is not None or self._signed_in_peer()
        if self._starttls_offered():  # RFC 4642 §2.1
            lines.append("STARTTLS")
        if not signed_in and not self._needs_tls():  # RFC 4643 §2.2: not advertised once signed in
            lines.append("AUTHINFO USER")
        return replies.block(101, "capability list follows", lines)

    @command("MODE")
    async def mode(self, cmd: Command) -> bytes:
        words = [a.upper() for a in cmd.args]
        if words == ["STREAM"]:  # RFC 4644 §2.3
            if await self._feeding_peer() is None:
                return replies.status(
                    480, "streaming is for configured peers (AUTHINFO with the shared secret)"
                )
            return replies.status(203, "streaming permitted")
        if words != ["READER"]:
            raise Syntax("only MODE READER and MODE STREAM are supported")
        return replies.status(200, "reader mode, posting ok after AUTHINFO")

    @command("QUIT")
    async def quit(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax("QUIT takes no arguments")
        self.closed = True
        return replies.status(205, "closing connection")

    @command("DATE")
    async def date(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax("DATE takes no arguments")
        return replies.status(111, datetime.now(UTC).strftime("%Y%m%d%H%M%S"))

    @command("HELP")
    async def help(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax("HELP takes no arguments")
        offered = self._starttls_offered()  # listed only where CAPABILITIES lists it
        return replies.block(100, "help text follows", [h for h in HELP if h != "STARTTLS" or offered])

    def _starttls_offered(self) -> bool:
        """A certificate is configured, TLS is not on yet, and no one signed in (RFC 4642 §2.1)."""
        return self.tls_offered and not self.tls_active and self.user is None and not self._signed_in_peer()

    @command("STARTTLS")
    async def starttls(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax("STARTTLS takes no arguments")
        if not self.tls_offered:
            return replies.status(580, "TLS is not configured on this server")
        if self.tls_active:  # RFC 4642 §2.2.2
            return replies.status(502, "TLS is already active")
        if self.user is not None or self._signed_in_peer():
            return replies.status(502, "STARTTLS is not possible after authentication")
        self.starting_tls = True
        return replies.status(382, "continue with TLS negotiation")

    def tls_started(self) -> None:
        """The handshake after STARTTLS succeeded: forget what the client said in
        clear (RFC 4642 §2.2.2); it asks for CAPABILITIES again."""
        self.starting_tls, self.tls_active = False, True
        self.pending_user, self.group, self.current = None, None, None
        self.news_peer, self._address_checked = None, False

    def _needs_tls(self) -> bool:
        """AUTHINFO must wait for STARTTLS: a certificate is configured, TLS is not
        active yet, and the operator has not allowed passwords in clear."""
        return self.tls_offered and not self.tls_active and not self.site.config.nntp_plain_auth

    def _use_tls(self) -> str:
        """How to turn TLS on, naming only what this server offers."""
        port = self.site.config.nntps_port
        return f"use STARTTLS or NNTPS port {port}" if port else "use STARTTLS"

    # -- authentication (RFC 4643) ---------------------------------------------------

    @command("AUTHINFO")
    async def authinfo(self, cmd: Command) -> bytes:
        if not cmd.args:
            raise Syntax("AUTHINFO USER name or AUTHINFO PASS password")
        kind = cmd.args[0].upper()
        value = cmd.rest[len(cmd.args[0]) :].strip(" \t")
        if kind not in ("USER", "PASS"):
            raise Syntax("only AUTHINFO USER and PASS are supported")
        if not value:
            raise Syntax(f"AUTHINFO {kind} needs an argument")
        if self.user is not None or self._signed_in_peer():
            return replies.status(502, "already authenticated")
        if self._needs_tls():  # RFC 4643 §2.2
            return replies.status(483, f"encryption required: {self._use_tls()}, then AUTHINFO")
        if kind == "USER":
            self.pending_user = value
            return replies.status(381, "password required")
        if self.pending_user is None:
            return replies.status(482, "AUTHINFO USER first")
        username, self.pending_user = self.pending_user, None
        async with self.site.db.read() as conn:
            peer = await peers.peer_by_secret(conn, value)
        if peer is not None:  # a news peer signs in with the secret both ends hold
            self.news_peer = peer
            return replies.status(281, f"authentication accepted for peer {peer['name']}")
        # The session service the web signs in through: the same limits and keys.
        try:
            user = await sessions.authenticate(self.site, username, value, address=self.peer)
        except (AuthRequired, RateLimited) as error:
            return replies.status(481, error.message)
        self.user = user
        return replies.status(281, "authentication accepted")

    # -- groups ----------------------------------------------------------------------

    async def _select(self, name: str) -> tuple[int, int, int] | None:
        found = await self.site.recent.value(("nntp group", name), lambda: _group_marks(self.site, name))
        if found is _NO_GROUP:
            return None
        group_id, count, low, high = found
        self.group = {"id": group_id, "name": name}
        self.current = low if count else None
        return count, low, high

    @command("GROUP")
    async def group_(self, cmd: Command) -> bytes:
        if len(cmd.args) != 1:
            raise Syntax("GROUP newsgroup")
        marks = await self._select(cmd.args[0])
        if marks is None:
            return replies.status(411, "no such newsgroup")
        count, low, high = marks
        return replies.status(211, f"{count} {low} {high} {cmd.args[0]}")

    @command("LISTGROUP")
    async def listgroup(self, cmd: Command) -> bytes:
        if len(cmd.args) > 2:
            raise Syntax("LISTGROUP [newsgroup [range]]")
        low, high = parse.article_range(cmd.args[1]) if len(cmd.args) == 2 else (1, parse.NUMBER_MAX)
        if cmd.args:
            marks = await self._select(cmd.args[0])
            if marks is None:
                return replies.status(411, "no such newsgroup")
        elif self.group is None:
            return replies.status(412, "no newsgroup selected")
        else:
            marks = await self._select(self.group["name"])
            if marks is None:
                return replies.status(411, "the selected newsgroup no longer exists")
        assert self.group is not None
        async with self.site.db.read() as conn:
            found = await newsreading.numbers(conn, self.group["id"], low, high)
        count, first, last = marks
        return replies.block(
            211, f"{count} {first} {last} {self.group['name']} list follows", map(str, found)
        )

    @command("LIST")
    async def list_(self, cmd: Command) -> bytes:
        keyword = cmd.args[0].upper() if cmd.args else "ACTIVE"
        if len(cmd.args) > 2:
            raise Syntax("LIST [keyword [wildmat]]")
        if keyword in ("OVERVIEW.FMT", "DISTRIB.PATS") and len(cmd.args) > 1:
            raise Syntax(f"LIST {keyword} takes no argument")  # RFC 3977 §8.4, §7.6.5
        if keyword == "OVERVIEW.FMT":
            return replies.block(215, "order of fields in overview database", news.OVERVIEW_FMT)
        if keyword == "HEADERS":
            if len(cmd.args) > 1 and cmd.args[1].upper() not in ("MSGID", "RANGE"):
                raise Syntax("LIST HEADERS [MSGID|RANGE]")
            # RFC 3977 §8.6.2: ":" says HDR serves any header field, these and others alike
            return replies.block(215, "headers supported", [*news.HEADERS, ":", ":bytes", ":lines"])
        if keyword == "DISTRIB.PATS":
            return replies.block(215, "no distribution patterns", [])
        if keyword not in ("ACTIVE", "NEWSGROUPS", "ACTIVE.TIMES"):
            raise Syntax(f"unknown LIST keyword {keyword[:40]}")
        match = parse.wildmat(cmd.args[1]) if len(cmd.args) == 2 else parse.MATCH_ALL
        async with self.site.db.read() as conn:
            rows = [r for r in await newsreading.groups(conn) if match(r["name"])]
        if keyword == "NEWSGROUPS":
            lines = [f"{r['name']}\t{news.unfold(r['description'])}" for r in rows]
            return replies.block(215, "descriptions follow", lines)
        if keyword == "ACTIVE.TIMES":
            lines = [f"{r['name']} {int(clock.parse(r['created_at']).timestamp())} moot" for r in rows]
            return replies.block(215, "creation times follow", lines)
        return replies.block(215, "list of newsgroups follows", map(_active_line, rows))

    @command("NEWGROUPS")
    async def newgroups(self, cmd: Command) -> bytes:
        since = parse.date_time(cmd.args)
        async with self.site.db.read() as conn:
            rows = await newsreading.groups_since(conn, since)
        return replies.block(231, "list of new newsgroups follows", map(_active_line, rows))

    @command("NEWNEWS")
    async def newnews(self, cmd: Command) -> bytes:
        if len(cmd.args) not in (3, 4):
            raise Syntax("NEWNEWS wildmat yyyymmdd hhmmss [GMT]")
        match = parse.wildmat(cmd.args[0])
        since = parse.date_time(cmd.args[1:])
        ids: list[str] = []
        async with self.site.db.read() as conn:
            for row in await newsreading.groups(conn):
                if match(row["name"]) and len(ids) < newsreading.NEWNEWS_MAX:
                    ids += await newsreading.new_articles(
                        conn, row["id"], since, newsreading.NEWNEWS_MAX - len(ids)
                    )
        return replies.block(230, "list of new articles follows", ids)

    # -- articles --------------------------------------------------------------------

    async def _by_message_id(self, cmd: Command) -> bytes:
        """ARTICLE, HEAD, BODY or STAT of a Message-ID, from the database; numbered
        in the selected group when it is there, else 0 (RFC 3977 §6.2.1.2)."""
        mid = parse.message_id(cmd.args[0])
        async with self.site.db.read() as conn:
            row = await newsreading.by_message_id(conn, mid)
        if row is None:
            return replies.status(430, "no article with that message-id")
        n = row["number"] if self.group is not None and row["group_id"] == self.group["id"] else 0
        if cmd.keyword == "STAT":
            return replies.status(223, f"{n} {mid}")
        if cmd.keyword == "HEAD":
            return replies.block(221, f"{n} {mid}", news.head_lines(row, self.domain))
        self._read(row["group_id"], row["number"])
        if cmd.keyword == "BODY":
            return replies.block(222, f"{n} {mid}", news.body_lines(row))
        lines = news.head_lines(row, self.domain) + [""] + news.body_lines(row)
        return replies.block(220, f"{n} {mid}", lines)

    async def _numbered(self, cmd: Command) -> bytes:
        """ARTICLE, HEAD, BODY or STAT of a number (or the current article),
        from the group's encoded blocks (blocks.py)."""
        wanted = parse.number(cmd.args[0]) if cmd.args else self.current  # 501 before 412
        if self.group is None:
            return replies.status(412, "no newsgroup selected")
        if wanted is None:
            return replies.status(420, "no current article selected")
        found = await blocks.article(self.site, self.group, wanted)
        if found is None:
            if not cmd.args:
                return replies.status(420, "the current article is no longer in this group")
            return replies.status(423, "no article with that number")
        self.current = wanted
        if cmd.keyword == "STAT":
            return replies.status(223, f"{wanted} {found.message_id}")
        if cmd.keyword != "HEAD":
            self._read(self.group["id"], wanted)
        code, parts = {
            "HEAD": (221, (found.head,)),
            "BODY": (222, (found.body,)),
            "ARTICLE": (220, (found.head, b"\r\n", found.body)),
        }[cmd.keyword]
        status = f"{code} {wanted} {found.message_id}\r\n".encode("utf-8", "replace")
        return b"".join([status, *parts, b".\r\n"])

    def _read(self, group_id: int, number: int) -> None:
        """A signed-in reader who fetched an article's text has read it, as on the
        web: the same marks, written shortly after (never awaited here)."""
        if self.user is not None:
            self.site.reads.note(self.user.id, group_id, newsrc.of_numbers([number]))

    @command("ARTICLE", "HEAD", "BODY", "STAT")
    async def article(self, cmd: Command) -> bytes:
        if len(cmd.args) > 1:
            raise Syntax(f"{cmd.keyword} [message-id|number]")
        if cmd.args and parse.is_message_id(cmd.args[0]):
            return await self._by_message_id(cmd)
        return await self._numbered(cmd)

    @command("NEXT", "LAST")
    async def next_last(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax(f"{cmd.keyword} takes no arguments")
        if self.group is None:
            return replies.status(412, "no newsgroup selected")
        if self.current is None:
            return replies.status(420, "no current article selected")
        forward = cmd.keyword == "NEXT"
        async with self.site.db.read() as conn:
            n = await newsreading.neighbour(conn, self.group["id"], self.current, forward=forward)
            row = await newsreading.by_number(conn, self.group["id"], n) if n is not None else None
        if row is None:
            return replies.status(421 if forward else 422, f"no {'next' if forward else 'previous'} article")
        self.current = n
        return replies.status(223, f"{n} {row['message_id']}")

    async def _rows(
        self, cmd: Command, arg: str | None
    ) -> tuple[list[tuple[int, sqlite3.Row]] | None, bytes]:
        """Articles for OVER/HDR: by Message-ID (numbered 0), a range, or the
        current article; or the error reply."""
        if arg is not None and parse.is_message_id(arg):
            mid = parse.message_id(arg)
            async with self.site.db.read() as conn:
                row = await newsreading.by_message_id(conn, mid)
            if row is None:
                return None, replies.status(430, "no article with that message-id")
            return [(0, row)], b""
        low, high = parse.article_range(arg) if arg is not None else (self.current, self.current)
        if self.group is None:
            return None, replies.status(412, "no newsgroup selected")
        if low is None or high is None:
            return None, replies.status(420, "no current article selected")
        async with self.site.db.read() as conn:
            rows = await newsreading.in_range(conn, self.group["id"], low, high)
        if not rows:
            return None, replies.status(423 if arg is not None else 420, "no articles in that range")
        return [(r["number"], r) for r in rows], b""

    @command("OVER", "XOVER")
    async def over(self, cmd: Command) -> bytes:
        if len(cmd.args) > 1:
            raise Syntax(f"{cmd.keyword} [range|message-id]")
        arg = cmd.args[0] if cmd.args else None
        if arg is not None and parse.is_message_id(arg):
            rows, failure = await self._rows(cmd, arg)
            if rows is None:
                return failure
            fields = news.overview(rows[0][1], self.domain)
            fields[0] = "0"
            return replies.block(224, "overview information follows", ["\t".join(fields)])
        low, high = parse.article_range(arg) if arg is not None else (self.current, self.current)
        if self.group is None:
            return replies.status(412, "no newsgroup selected")
        if low is None or high is None:
            return replies.status(420, "no current article selected")
        async with self.site.db.read() as conn:
            last = await fetch_value(conn, "SELECT last_number FROM groups WHERE id = ?", (self.group["id"],))
        lines = await blocks.overview(self.site, self.group, low, high, last or 0)
        if not lines:
            return replies.status(423 if arg is not None else 420, "no articles in that range")
        return b"".join([b"224 overview information follows\r\n", *lines, b".\r\n"])

    @command("HDR", "XHDR")
    async def hdr(self, cmd: Command) -> bytes:
        if len(cmd.args) not in (1, 2):
            raise Syntax(f"{cmd.keyword} header [range|message-id]")
        rows, failure = await self._rows(cmd, cmd.args[1] if len(cmd.args) == 2 else None)
        if rows is None:
            return failure
        name = cmd.args[0]
        lines = []
        for n, row in rows:
            if name.lower() in (":bytes", ":lines"):
                fields = news.overview(row, self.domain)
                value: str | None = fields[6] if name.lower() == ":bytes" else fields[7]
            else:
                value = news.header_value(row, self.domain, name)
            if cmd.keyword == "XHDR":  # INN's form: the Message-ID when asked by one, "(none)" if absent
                lines.append(f"{n or row['message_id']} {value if value is not None else '(none)'}")
            else:
                lines.append(f"{n} {value or ''}")
        if cmd.keyword == "XHDR":
            return replies.block(221, f"{name} header follows", lines)
        return replies.block(225, "headers follow", lines)

    # -- posting ---------------------------------------------------------------------

    @command("POST")
    async def post(self, cmd: Command) -> bytes:
        if cmd.args:
            raise Syntax("POST takes no arguments")
        if self.user is None:
            tls = f"{self._use_tls()}, then " if self._needs_tls() else ""
            return replies.status(480, f"authentication required to post: {tls}AUTHINFO USER")
        # The account as it is now, not as it signed in: a connection may outlast
        # a suspension, a role change or the account itself.
        async with self.site.db.read() as conn:
            self.user = await accounts.current(conn, self.user)
        if self.user is None:
            return replies.status(480, "authentication required: the account is gone")
        try:
            require(self.user, "post")
        except Forbidden as error:  # RFC 3977 §6.3.1: 440, posting not permitted
            return replies.status(440, f"posting not permitted: {error.message}")
        self._mode, self._post, self._post_size, self._received = _POSTING, [], 0, self._posted
        self._streamed = None
        return replies.status(340, "send article to be posted; end with <CR-LF>.<CR-LF>")

    def _post_line(self, line: bytes) -> None:
        """One line of an article read line by line (see _whole_article)."""
        self._post_size += len(line)
        if self._post_size <= POST_MAX:
            text = line.rstrip(b"\r\n")
            self._post.append(text[1:] if text[:1] == b"." else text)  # RFC 3977 §3.1.1 dot-stuffing

    async def _posted(self, data: bytes, size: int) -> bytes:
        if size > POST_MAX:
            return replies.status(441, f"posting failed: the article is larger than {POST_MAX} octets")
        return await self._store(data)

    async def _store(self, data: bytes) -> bytes:
        try:
            posted = parse.posted_article(data)
        except parse.Rejected as e:
            return replies.status(441, f"posting failed: {e}")
        assert self.user is not None
        user = self.user
        if posted.cancels is not None:
            return await self._cancel(user, posted.cancels)
        repeat = self._node.repeat
        try:  # spamd reads the article as it came, before the write transaction opens
            verdict = await self.site.spam_verdict(user, data)
        except MootError as e:
            return replies.error(e, 441)

        async def store(conn: Any) -> dict:  # a ThreadConnection (Database.run)
            parent = await newsreading.last_known(conn, posted.references)
            if parent is not None and parent["group_name"] != posted.newsgroup:
                raise NotFound(
                    f"the article this follows up is in {parent['group_name']}, not {posted.newsgroup[:80]}"
                )
            submission = posting.Submission(
                body=posted.body,
                subject=posted.subject,
                group=posted.newsgroup,
                parent=parent["message_id"] if parent is not None else None,
                message_id=posted.message_id,
                channel="nntp",
                spam=verdict,
            )
            published = await posting.submit(
                conn, self.domain, user, submission, self.site.trust_rules, repeat=repeat
            )
            if posted.supersedes is not None:  # the old one goes as this one comes, or neither
                await posting.supersede(conn, user, posted.supersedes, published)
            return published

        try:
            result = await self.site.post(user, store)
        except MootError as e:
            return replies.error(e, 441)
        if "held" in result:  # a moderated group: 240 all the same, as INN answers
            held = result["held"]
            return replies.status(
                240, f"article {held['message_id']} held for the moderators of {held['group']}"
            )
        return replies.status(240, f"article received {result['article']['message_id']}")

    async def _cancel(self, user: User, message_id: str) -> bytes:
        """A reader's cancel (RFC 5537 §5.3) as the web's withdraw (not a post:
        no posting rate): its author's own article withdrawn, or removed by a
        moderator of its group; 441 for anyone else's, an unknown article or a
        moderation notice."""

        async def cancel(conn: Any) -> dict:
            return await posting.cancel(conn, user, message_id)

        try:
            await self.site.db.run(cancel)
        except MootError as e:
            return replies.error(e, 441)
        return replies.status(240, f"cancel of {message_id} applied")

    # -- news peers (RFC 3977 §6.3.2 IHAVE, RFC 4644 streaming) ----------------------

    def _signed_in_peer(self) -> bool:
        """Signed in with a peer's secret (a peer known by its address may still sign in as a user)."""
        return self.news_peer is not None and self.news_peer["password"] is not None

    async def _feeding_peer(self) -> sqlite3.Row | None:
        """The peers row this connection feeds as: signed in with a shared secret,
        or coming from the address of a peer configured without one."""
        if self.news_peer is None and not self._address_checked:
            self._address_checked = True
            self.news_peer = await self._address_peer(self.peer)
        return self.news_peer

    async def _read_address_peer(self, address: str) -> sqlite3.Row | None:
        async with self.site.db.read() as conn:
            candidates = await peers.address_peers(conn)
        for row in candidates:
            if address in await addresses(row["host"]):
                return row
        return None

    async def _offer(self, cmd: Command) -> tuple[str | None, bytes]:
        if len(cmd.args) != 1:
            raise Syntax(f"{cmd.keyword} message-id")
        mid = parse.message_id(cmd.args[0])
        if await self._feeding_peer() is None:
            return None, replies.status(
                480, "transfer is for configured peers (AUTHINFO with the shared secret)"
            )
        return mid, b""

    async def _known(self, mid: str) -> bool:
        async with self.site.db.read() as conn:
            return await intake.known(conn, mid)

    async def _look_ahead(self, data: bytes) -> None:
        """A feeding peer pipelines CHECKs by the hundred: the Message-IDs of
        the CHECK lines in `data`, just read, are looked up in one read, for
        check() to answer from while this read is handled, rather than one
        read each (a CHECK not reached in it, or split between reads, is
        looked up when it is reached). A TAKETHIS or IHAVE of one of them
        drops its answer, so a CHECK after it looks again. A line inside an
        article that looks like a CHECK costs a look-up, nothing else: only
        a CHECK command takes its answer."""
        ids = []
        for found in CHECK_LINE.findall(data):
            try:
                ids.append(parse.message_id(found.decode("utf-8", "replace")))
            except Syntax:
                continue
        if len(ids) < 2:
            return
        async with self.site.db.read() as conn:
            here = await intake.known_among(conn, ids)
        self._known_ahead = {mid: mid in here for mid in ids}

    @command("IHAVE")
    async def ihave(self, cmd: Command) -> bytes:
        mid, failure = await self._offer(cmd)
        if mid is None:
            return failure
        if await self._known(mid):
            return replies.status(435, "article not wanted: already here")
        self._start_transfer(mid, ok=(235, "article transferred OK"), retry=436, refuse=437)
        return replies.status(335, "send article to be transferred; end with <CR-LF>.<CR-LF>")

    @command("CHECK")
    async def check(self, cmd: Command) -> bytes:
        mid, failure = await self._offer(cmd)
        if mid is None:
            return failure
        known = self._known_ahead.pop(mid, None)
        if known if known is not None else await self._known(mid):
            return replies.status(438, f"{mid} not wanted")
        return replies.status(238, f"{mid} send it")

    @command("TAKETHIS")
    async def takethis(self, cmd: Command) -> bytes:
        # RFC 4644 §2.5: the article follows at once; read it whatever the answer
        # will be. An offer that is no Message-ID is refused once it is read
        # (transit_article takes only an article carrying the id offered, in its form).
        mid = " ".join(cmd.args)
        allowed = await self._feeding_peer() is not None
        self._start_transfer(
            mid,
            ok=(239, f"{mid} transferred OK"),
            retry=403 if allowed else 480,  # RFC 3977 §3.2.1: an internal fault, not "try later"
            refuse=439 if allowed else 480,
            deliver=intake.take,
        )
        return b""

    def _start_transfer(
        self,
        mid: str,
        *,
        ok: tuple[int, str],
        retry: int,
        refuse: int,
        deliver: Callable[
            [Connection, intake.Node, peers.Incoming], Coroutine[Any, Any, dict]
        ] = intake.receive,
    ) -> None:
        """Read the article offered; `deliver` stores it (IHAVE: receive, which may
        say "try later"; TAKETHIS: take, which holds an article that came early)."""

        node = self._node

        async def received(data: bytes, size: int) -> bytes:
            if refuse == 480:
                return replies.status(480, "transfer is for configured peers")
            if size > POST_MAX:
                return replies.status(refuse, f"{mid} larger than {POST_MAX} octets")
            try:
                item = parse.transit_article(data, mid)
                if item.control is None and self.site.spamd is not None and self.site.config.spamd_peers:
                    spam.judge_arrival(await self.site.spamd.verdict(data))
                # One hop to the writer, sharing a group commit with the rest of the batch.
                await self.site.db.run(lambda conn: deliver(conn, node, item))
            except parse.Rejected as e:
                return replies.status(refuse, f"{mid} rejected: {e}")
            except intake.Deferred as e:  # IHAVE only (RFC 3977 §6.3.2: 436); TAKETHIS holds it
                return replies.status(retry, f"{mid} try again later: {e.message}")
            except (intake.Duplicate, intake.Refused) as e:
                return replies.status(refuse, f"{mid} rejected: {e.message}")
            except MootError as e:
                return replies.status(refuse if e.status < 500 else retry, f"{mid} rejected: {e.message}")
            return replies.status(*ok)

        self._mode, self._post, self._post_size, self._received = _POSTING, [], 0, received
        self._streamed = mid if ok[0] == 239 else None
        self._known_ahead.pop(mid, None)  # a CHECK after it looks again


async def joined(parts: list[bytes | asyncio.Future[bytes]]) -> bytes:
    """The replies of receive_parts() as one block, once every one is ready."""
    return b"".join([await part if isinstance(part, asyncio.Future) else part for part in parts])


async def addresses(host: str) -> set[str]:
    """The addresses `host` stands for: itself if it is one, else what it resolves to."""
    try:
        return {str(ipaddress.ip_address(host))}
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {str(info[4][0]) for info in infos}


def _active_line(row: sqlite3.Row) -> str:
    """`name high low status` (RFC 3977 §7.6.3)."""
    _, low, high = newsreading.group_marks(row)
    return f"{row['name']} {high} {low} {row['status']}"


# A name that is no group, as site.recent keeps it (None there means "not kept").
_NO_GROUP = ()


async def _group_marks(site: Site, name: str) -> tuple[tuple, float]:
    """(id, count, low, high) of the group `name` (or _NO_GROUP), as GROUP and
    LISTGROUP answer from site.recent: read again after any commit of this
    process (a post on another connection is seen by the next GROUP) and
    within site.recent's ttl of any other process's (the live hub's bound)."""
    async with site.db.read() as conn:
        row = await newsreading.group(conn, name)
    if row is None:
        return _NO_GROUP, site.recent.ttl
    return (row["id"], *newsreading.group_marks(row)), site.recent.ttl
