"""Thin asyncio glue around Session: accept, read, feed, write each reply in
one go, and enforce the connection limits and the idle timeout. One NewsServer
serves the NNTP port (STARTTLS on demand), another the NNTPS port (RFC 8143:
TLS from the first byte)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import ssl
from collections import deque
from collections.abc import Awaitable, Callable

from ..news import peers
from ..runtime.doors import (
    DEADLINE,
    EVICTED,
    PROXY,
    TOTAL,
    Door,
    ProxyError,
    looks_like_proxy,
    read_proxy_header,
)
from ..runtime.site import Site
from . import replies, tls
from .session import Session, addresses, joined

log = logging.getLogger("moot.nntp")

# Bytes read per call: a few lines of pipelined commands or a slice of a POST.
READ_CHUNK = 64 * 1024
# Blocks of replies a connection may have waiting for their streamed articles
# to be stored while its next commands are read.
STREAMING_DEPTH = 4
# Seconds a client has to finish the TLS handshake after STARTTLS's 382.
TLS_HANDSHAKE_TIMEOUT = 30.0
# How long the addresses of peers known by address are kept before they are
# read and resolved again: a flood of connections costs no lookups.
PEER_ADDRESSES_TTL = 30.0


class NewsServer:
    """The NNTP (or, `implicit_tls`, NNTPS) listener of one Site: connection
    caps per client and in total (the site's doors), the first-command deadline
    (a TLS handshake included) and the PROXY protocol (NNTP only)."""

    def __init__(self, site: Site, *, implicit_tls: bool = False) -> None:
        self.site = site
        self.config = site.config
        self.implicit_tls = implicit_tls
        self.door = site.doors.nntps if implicit_tls else site.doors.nntp
        self.server: asyncio.Server | None = None
        # NNTPS: its listening socket, and the task accepting from it.
        self.listener: socket.socket | None = None
        self.accepting: asyncio.Task | None = None
        self.connections: set[asyncio.Task] = set()
        # Connections yet to send a command, oldest first: the first to go when full.
        self.silent: dict[asyncio.Task, None] = {}
        self.tls = tls.server_context(self.config)  # raises TLSConfigError on unusable files
        # The peers known by address, by each address they resolve to, and when read.
        self._address_peers: tuple[float, dict[str, sqlite3.Row]] | None = None
        self._peer_lookup = asyncio.Lock()
        self._greeting: bytes | None = None

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on nntp_port (nntps_port), or on `sock` when given (a socket already bound to it)."""
        if self.implicit_tls:
            # Connections are accepted bare and their handshake begun once they are
            # admitted, so it is under the doors and the deadline. (A stream would
            # read the client's first TLS bytes before a handshake could take them.)
            host = self.config.nntp_host or self.config.host
            self.listener = sock or socket.create_server((host, self.config.nntps_port))
            self.listener.setblocking(False)
            self.accepting = asyncio.create_task(self._accept(self.listener))
            return
        if sock is not None:
            self.server = await asyncio.start_server(self._serve, sock=sock, limit=READ_CHUNK)
            return
        host = self.config.nntp_host or self.config.host
        self.server = await asyncio.start_server(
            self._serve, host, self.config.nntp_port, limit=READ_CHUNK, reuse_address=True
        )

    @property
    def port(self) -> int:
        if self.listener is not None:
            return self.listener.getsockname()[1]
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.accepting is not None:
            self.accepting.cancel()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
        if self.listener is not None:
            self.listener.close()

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listener)
            except OSError as e:  # out of file descriptors, say: try again shortly
                log.warning("NNTPS accept failed: %s", e)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.create_task(self._serve_tls(conn, str(peer[0])))
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)

    async def _serve_tls(self, conn: socket.socket, address: str) -> None:
        """An NNTPS connection: admitted as on the NNTP port, then TLS from the first byte."""
        loop = asyncio.get_running_loop()
        first = self._first_deadline()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        door = None
        try:
            door = await self._admit(address)
        finally:
            if door is None:  # refused: no TLS yet to say why in, so just closed
                conn.close()
        if door is None:
            return

        async def handshake() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader = asyncio.StreamReader(limit=READ_CHUNK)
            protocol = asyncio.StreamReaderProtocol(reader)
            try:
                transport, _ = await asyncio.wait_for(
                    loop.connect_accepted_socket(lambda: protocol, conn, ssl=self.tls),
                    max(first - loop.time(), 0),
                )
            except BaseException as e:
                conn.close()
                if isinstance(e, TimeoutError):
                    self.door.refuse(DEADLINE)
                raise
            return reader, asyncio.StreamWriter(transport, protocol, reader, loop)

        await self._hold(door, address, first, handshake)

    def _first_deadline(self) -> float:
        """When a connection made now must have sent its first command: it has
        first_command_timeout in all from connecting (a PROXY header and a TLS
        handshake included; trickling bytes does not extend it)."""
        timeout = min(self.config.first_command_timeout, self.config.nntp_idle_timeout)
        return asyncio.get_running_loop().time() + timeout

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """An NNTP connection: a PROXY header when from a proxy, admission, the conversation."""
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Each reply is one write; without Nagle it leaves at once, so a client
            # that delays its ACKs never waits ~40 ms for the next segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = self._first_deadline()
        try:
            if address in self.site.doors.proxies:  # haproxy or stunnel names the client first
                proxied = await asyncio.wait_for(read_proxy_header(reader), self.config.first_command_timeout)
                address = proxied or address
        except (ProxyError, TimeoutError) as e:
            self.door.refuse(PROXY)
            log.info("NNTP connection from proxy %s refused: %s", address, e)
            return await _refuse(writer, "PROXY header missing or malformed")
        door = await self._admit(address)
        if door is None:
            return await _refuse(writer, "too many connections; try again later")

        async def opened() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return reader, writer

        await self._hold(door, address, first, opened)

    async def _admit(self, address: str) -> Door | None:
        """The door `address` enters by, or None when it is refused (counted)."""
        door = self.door
        reason = door.full(address)
        if reason == TOTAL and self.silent:
            # Full: the connection that has waited longest without a command makes room.
            victim = next(iter(self.silent))
            victim.cancel()
            await asyncio.wait([victim], timeout=5)
            door.refuse(EVICTED)
            reason = door.full(address)
        if reason is not None and await self._is_peer(address):
            door = self.site.doors.nntp_peers  # configured peers have a budget of their own
            reason = door.full(address)
        if reason is not None:
            door.refuse(reason)
            return None
        door.enter(address)
        return door

    async def _hold(
        self,
        door: Door,
        address: str,
        first: float,
        open: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
    ) -> None:
        """Serve an admitted connection, once `open` gives its streams, until it ends."""
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        self.silent[task] = None
        writer = None
        try:
            reader, writer = await open()
            session = Session(
                self.site,
                address,
                tls=self.tls is not None,
                secure=self.implicit_tls,
                address_peer=self.address_peer,
            )
            await self._converse(session, reader, writer, first)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except (ssl.SSLError, TimeoutError) as e:  # a failed or abandoned handshake: the client's fault
            log.info("NNTP TLS handshake with %s failed: %s", address, e)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("NNTP connection from %s failed", address)
        finally:
            self.connections.discard(task)
            self.silent.pop(task, None)
            door.leave(address)
            if writer is not None:
                await _close(writer)

    async def _is_peer(self, address: str) -> bool:
        """Whether `address` is that of a peer configured without a secret (known
        by address); the peers' addresses are read and resolved at most every
        PEER_ADDRESSES_TTL seconds, however many connections ask."""
        return address in await self._peer_addresses(stale=False)

    async def address_peer(self, address: str) -> sqlite3.Row | None:
        """The peers row of a peer known by `address`, for a session that asks
        to feed (MODE STREAM, CHECK, IHAVE, TAKETHIS): from the addresses read
        within PEER_ADDRESSES_TTL, so a peer's connection waits for no database
        read before it streams; an address not among them is looked up afresh,
        so a peer added since is known at once."""
        found = (await self._peer_addresses(stale=False)).get(address)
        if found is None:
            found = (await self._peer_addresses(stale=True)).get(address)
        return found

    async def _peer_addresses(self, *, stale: bool) -> dict[str, sqlite3.Row]:
        """The peers known by address, by address; read again when older than
        PEER_ADDRESSES_TTL or, `stale`, whatever their age."""
        async with self._peer_lookup:
            now = asyncio.get_running_loop().time()
            known = self._address_peers
            if known is None or stale or now - known[0] > PEER_ADDRESSES_TTL:
                async with self.site.db.read() as conn:
                    rows = await peers.address_peers(conn)
                found: dict[str, sqlite3.Row] = {}
                for row in reversed(rows):  # the first configured wins an address both resolve to
                    found |= dict.fromkeys(await addresses(row["host"]), row)
                known = self._address_peers = (now, found)
        return known[1]

    async def _converse(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: float
    ) -> None:
        """Greet, then answer until the session ends: by `first` (a loop time) its
        first command, then within nntp_idle_timeout each. Replies go out in
        order, each block in one write; while streamed articles (TAKETHIS) are
        being stored, the next commands are read and their articles join the
        same group commits (up to STREAMING_DEPTH blocks of replies waiting)."""
        if self._greeting is None:  # the same for every connection of this listener
            self._greeting = session.greeting()
        writer.write(self._greeting)
        loop = asyncio.get_running_loop()
        answered = False
        task = asyncio.current_task()
        assert task is not None
        sending: deque[asyncio.Future[None]] = deque()  # blocks waiting for stored articles
        deadline = _ReadDeadline(task)

        async def flush() -> None:
            while sending:
                await sending.popleft()

        try:
            while not session.closed:
                try:
                    # A deadline on the read itself, not a task wrapped round it (wait_for)
                    # nor a timer per read: a reader's round trip (ARTICLE, then the next)
                    # costs no task, no extra hop and no timer of its own.
                    data = await deadline.read(
                        reader, loop.time() + self.config.nntp_idle_timeout if answered else first
                    )
                except TimeoutError:
                    if not answered:
                        self.door.refuse(DEADLINE)
                    await flush()
                    writer.write(replies.status(400, "idle timeout, closing connection"))
                    return
                if not data:  # the client closed its side: nothing more will come
                    break
                if not answered and looks_like_proxy(data):
                    self.door.refuse(PROXY)
                    writer.write(
                        replies.status(400, "PROXY header from an address not configured as a proxy")
                    )
                    return
                parts = await session.receive_parts(data)
                if parts:
                    answered = True
                    self.silent.pop(task, None)
                if not all(type(part) is bytes for part in parts):  # a streamed article's future
                    previous = sending[-1] if sending else None
                    sending.append(asyncio.ensure_future(_send(writer, parts, previous)))
                    if len(sending) > STREAMING_DEPTH:
                        await sending.popleft()
                elif parts:
                    await flush()
                    writer.write(b"".join(parts))  # type: ignore[arg-type]  # bytes only here
                    await writer.drain()  # a client that does not read stops us reading it
                if session.starting_tls:
                    await flush()
                    await self._start_tls(session, reader, writer)
            await flush()
        finally:
            deadline.stop()
            for pending in sending:
                pending.cancel()

    async def _start_tls(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Upgrade the connection after STARTTLS's 382 (RFC 4642 §2.2.2)."""
        assert self.tls is not None
        # Bytes that came in clear after STARTTLS, before the handshake, would be read
        # as if they had been encrypted (the command injection of CVE-2011-0411). A
        # client waits for the 382 before it speaks, so any such bytes end the connection.
        if getattr(reader, "_buffer", b""):
            raise ConnectionAbortedError("data in clear after STARTTLS")
        await writer.start_tls(self.tls, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT)
        session.tls_started()


class _ReadDeadline:
    """The deadline of a connection's reads, by one timer per connection rather
    than one per read: a read only moves `when` on, and the timer, when it
    fires before that, is set again for it; one that fires during a read past
    its deadline cancels the connection's task, and the read raises TimeoutError."""

    def __init__(self, task: asyncio.Task) -> None:
        self.task, self.loop = task, asyncio.get_running_loop()
        self.when = 0.0
        self.reading = self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    async def read(self, reader: asyncio.StreamReader, when: float) -> bytes:
        """reader.read(READ_CHUNK) by loop time `when`, else TimeoutError."""
        self.when = when
        if self.timer is None or self.timer.when() > when:
            self._arm()
        self.reading = True
        try:
            return await reader.read(READ_CHUNK)
        except asyncio.CancelledError:
            if not self.expired:
                raise
            self.task.uncancel()
            raise TimeoutError from None
        finally:
            self.reading = False

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_at(self.when, self._due)

    def _due(self) -> None:
        self.timer = None
        if self.loop.time() < self.when:
            self._arm()  # a read since moved the deadline on
        elif self.reading:
            self.expired = True
            self.task.cancel()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


async def _send(
    writer: asyncio.StreamWriter,
    parts: list[bytes | asyncio.Future[bytes]],
    previous: asyncio.Future[None] | None,
) -> None:
    """Write a block of replies once its articles are stored and the block before it is out."""
    out = await joined(parts)
    if previous is not None:
        await previous
    writer.write(out)
    await writer.drain()


async def _refuse(writer: asyncio.StreamWriter, text: str) -> None:
    # RFC 3977 §5.1.1: 400 is the greeting of a server that will not serve now.
    writer.write(replies.status(400, text))
    await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        if writer.transport.get_write_buffer_size() == 0:
            return  # nothing left to send: the transport closes on its own
        async with asyncio.timeout(5):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        pass


async def start(
    site: Site, sock: socket.socket | None = None, *, implicit_tls: bool = False
) -> NewsServer | None:
    """Start the NNTP listener of `site` (None when nntp_port is 0), or with
    `implicit_tls` its NNTPS listener (None when nntps_port is 0), on `sock`
    when given: a listening socket already bound to that port."""
    if (site.config.nntps_port if implicit_tls else site.config.nntp_port) == 0:
        return None
    server = NewsServer(site, implicit_tls=implicit_tls)
    await server.start(sock)
    name = "NNTPS" if implicit_tls else "NNTP"
    log.info("%s listening on %s:%d", name, site.config.nntp_host or site.config.host, server.port)
    return server


async def stop(server: NewsServer | None) -> None:
    if server is not None:
        await server.stop()
