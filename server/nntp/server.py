"""Thin asyncio glue around Session: accept, read, feed, write each reply in
one go, and enforce the connection limits and the idle timeout."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from ..news import peers
from ..runtime.doors import DEADLINE, EVICTED, PROXY, TOTAL, ProxyError, looks_like_proxy, read_proxy_header
from ..runtime.site import Site
from . import replies, tls
from .session import Session, addresses

log = logging.getLogger("moot.nntp")

# Bytes read per call: a few lines of pipelined commands or a slice of a POST.
READ_CHUNK = 64 * 1024
# Seconds a client has to finish the TLS handshake after STARTTLS's 382.
TLS_HANDSHAKE_TIMEOUT = 30.0
# How long the addresses of peers known by address are kept before they are
# read and resolved again: a flood of connections costs no lookups.
PEER_ADDRESSES_TTL = 30.0


class NewsServer:
    """The NNTP listener of one Site: connection caps per client and in total
    (the site's doors), the first-command deadline and the PROXY protocol."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.config = site.config
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task] = set()
        # Connections yet to send a command, oldest first: the first to go when full.
        self.silent: dict[asyncio.Task, None] = {}
        self.tls = tls.server_context(self.config)  # raises TLSConfigError on unusable files
        self._peer_addresses: tuple[float, frozenset[str]] | None = None  # (when read, addresses)
        self._peer_lookup = asyncio.Lock()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on nntp_port, or on `sock` when given (a socket already bound to it)."""
        if sock is not None:
            self.server = await asyncio.start_server(self._serve, sock=sock, limit=READ_CHUNK)
            return
        host = self.config.nntp_host or self.config.host
        self.server = await asyncio.start_server(
            self._serve, host, self.config.nntp_port, limit=READ_CHUNK, reuse_address=True
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is None:
            return
        self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Each reply is one write; without Nagle it leaves at once, so a client
            # that delays its ACKs never waits ~40 ms for the next segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        doors = self.site.doors
        door = doors.nntp
        try:
            if address in doors.proxies:  # haproxy or stunnel names the client first
                proxied = await asyncio.wait_for(read_proxy_header(reader), self.config.first_command_timeout)
                address = proxied or address
        except (ProxyError, TimeoutError) as e:
            door.refuse(PROXY)
            log.info("NNTP connection from proxy %s refused: %s", address, e)
            return await _refuse(writer, "PROXY header missing or malformed")
        reason = door.full(address)
        if reason == TOTAL and self.silent:
            # Full: the connection that has waited longest without a command makes room.
            victim = next(iter(self.silent))
            victim.cancel()
            await asyncio.wait([victim], timeout=5)
            door.refuse(EVICTED)
            reason = door.full(address)
        if reason is not None and await self._is_peer(address):
            door = doors.nntp_peers  # configured peers have a budget of their own
            reason = door.full(address)
        if reason is not None:
            door.refuse(reason)
            return await _refuse(writer, "too many connections; try again later")
        door.enter(address)
        self.connections.add(task)
        try:
            await self._converse(Session(self.site, address, tls=self.tls is not None), reader, writer)
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
            await _close(writer)

    async def _is_peer(self, address: str) -> bool:
        """Whether `address` is that of a peer configured without a secret (known
        by address); the peers' addresses are read and resolved at most every
        PEER_ADDRESSES_TTL seconds, however many connections ask."""
        async with self._peer_lookup:
            now = asyncio.get_running_loop().time()
            if self._peer_addresses is None or now - self._peer_addresses[0] > PEER_ADDRESSES_TTL:
                async with self.site.db.read() as conn:
                    rows = await peers.address_peers(conn)
                found: set[str] = set()
                for row in rows:
                    found |= await addresses(row["host"])
                self._peer_addresses = (now, frozenset(found))
        return address in self._peer_addresses[1]

    async def _converse(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(session.greeting())
        loop = asyncio.get_running_loop()
        # Until its first command is answered, a connection has first_command_timeout
        # in all (trickling bytes does not extend it); then nntp_idle_timeout per wait.
        first = loop.time() + min(self.config.first_command_timeout, self.config.nntp_idle_timeout)
        answered = False
        task = asyncio.current_task()
        assert task is not None
        self.silent[task] = None
        while not session.closed:
            wait = self.config.nntp_idle_timeout if answered else first - loop.time()
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), max(wait, 0))
            except TimeoutError:
                if not answered:
                    self.site.doors.nntp.refuse(DEADLINE)
                writer.write(replies.status(400, "idle timeout, closing connection"))
                return
            if not data:  # the client closed its side: nothing more will come
                return
            if not answered and looks_like_proxy(data):
                self.site.doors.nntp.refuse(PROXY)
                writer.write(replies.status(400, "PROXY header from an address not configured as a proxy"))
                return
            out = await session.receive(data)
            if out:
                answered = True
                self.silent.pop(task, None)
                writer.write(out)
                await writer.drain()  # a client that does not read stops us reading it
            if session.starting_tls:
                await self._start_tls(session, reader, writer)

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


async def _refuse(writer: asyncio.StreamWriter, text: str) -> None:
    # RFC 3977 §5.1.1: 400 is the greeting of a server that will not serve now.
    writer.write(replies.status(400, text))
    await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 5)
    except (TimeoutError, ConnectionError, OSError):
        pass


async def start(site: Site, sock: socket.socket | None = None) -> NewsServer | None:
    """Start the NNTP listener of `site` (None when nntp_port is 0), on `sock`
    when given: a listening socket already bound to nntp_port."""
    if site.config.nntp_port == 0:
        return None
    server = NewsServer(site)
    await server.start(sock)
    log.info("NNTP listening on %s:%d", site.config.nntp_host or site.config.host, server.port)
    return server


async def stop(server: NewsServer | None) -> None:
    if server is not None:
        await server.stop()
