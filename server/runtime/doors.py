"""Budgets per client at every door: HTTP requests in flight, open /live
sockets, NNTP, NNTPS and SMTP connections. A client is its address, or its /64 for
IPv6 (one host there holds a whole /64); behind a trusted proxy it is the
address the proxy names (X-Forwarded-For for HTTP, the PROXY protocol for NNTP
and SMTP, read here). Each door counts its refusals by reason for /metrics.
No I/O framework here: the adapters call `enter` and `leave`."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import struct
from collections import Counter

from ..store.config import Config
from .metrics import Allowed

# Reasons a door refuses or closes a connection, as /metrics labels them:
# past the cap per client or in total; no first command within its deadline;
# a PROXY header missing, malformed or untrusted; a silent connection closed
# to make room for a new one when the listener is full (NNTP).
PER_CLIENT, TOTAL, DEADLINE, PROXY, EVICTED = "per_client", "total", "deadline", "proxy", "evicted"


@functools.lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """Who a budget is kept for: an IPv4 address, or the /64 of an IPv6 one
    (an IPv4-mapped address is its IPv4 address); anything else as given.
    Remembered for the addresses seen last: each connection asks several times."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Door:
    """What one listener admits: at most `per_client` at once from one client
    and `total` from everyone (0: no limit)."""

    def __init__(self, per_client: int, total: int = 0) -> None:
        self.per_client, self.total = per_client, total
        self.open: Counter[str] = Counter()  # client key -> admitted now
        self.count = 0
        self.refused: Counter[str] = Counter()  # reason -> refusals since start

    def full(self, address: str) -> str | None:
        """Why `address` would be refused now, or None."""
        if self.per_client and self.open[client_key(address)] >= self.per_client:
            return PER_CLIENT
        if self.total and self.count >= self.total:
            return TOTAL
        return None

    def enter(self, address: str) -> str | None:
        """Count `address` in and return None (then `leave` it), or return
        why it is refused, counted."""
        reason = self.full(address)
        if reason is not None:
            return self.refuse(reason)
        self.open[client_key(address)] += 1
        self.count += 1
        return None

    def leave(self, address: str) -> None:
        key = client_key(address)
        self.count -= 1
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]

    def refuse(self, reason: str) -> str:
        self.refused[reason] += 1
        return reason


class Doors:
    """The doors of one site, by listener name (the /metrics label)."""

    def __init__(self, c: Config) -> None:
        self.http = Door(c.http_max_per_address)
        # Sockets a client connecting directly may hold: its requests and /live sockets.
        both = c.http_max_per_address + c.live_max_per_address
        self.connections = Door(both if c.http_max_per_address and c.live_max_per_address else 0)
        self.live = Door(c.live_max_per_address, c.live_max_connections)
        self.nntp = Door(c.nntp_max_per_address, c.nntp_max_connections)
        self.nntps = Door(c.nntp_max_per_address, c.nntp_max_connections)  # the same caps, its own count
        self.nntp_peers = Door(c.nntp_max_per_peer)  # configured peers, outside the other budgets
        self.smtp = Door(0 if c.smtp_lmtp else c.smtp_max_per_address, c.smtp_max_connections)
        self.proxies = Allowed(c.proxy_protocol)

    def by_listener(self) -> dict[str, Door]:
        return {
            "http": self.http,
            "http-connections": self.connections,
            "live": self.live,
            "nntp": self.nntp,
            "nntps": self.nntps,
            "nntp-peers": self.nntp_peers,
            "smtp": self.smtp,
        }


# The PROXY protocol (haproxy's proxy-protocol.txt): a header a proxy sends
# first on each connection it makes, naming the client it stands for.

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest v1 line, CRLF included


class ProxyError(Exception):
    """A PROXY header that is malformed, or missing where one is owed."""


def looks_like_proxy(line: bytes) -> bool:
    """Whether a client's first bytes are a PROXY header (v1 or v2)."""
    return line.startswith((b"PROXY ", V2_SIGNATURE[:5]))


async def read_proxy_header(reader: asyncio.StreamReader) -> str | None:
    """The client address a PROXY header (v1 or v2) names, read off the front
    of `reader`; None for a connection the proxy makes on its own behalf
    (v1 UNKNOWN, v2 LOCAL or an unspecified family). Raises ProxyError."""
    try:
        start = await reader.readexactly(12)
        if start == V2_SIGNATURE:
            command, family, length = struct.unpack("!BBH", await reader.readexactly(4))
            body = await reader.readexactly(length)
            if command >> 4 != 2 or command & 0xF > 1:
                raise ProxyError("unknown PROXY v2 version or command")
            if command & 0xF == 0 or family >> 4 == 0:  # LOCAL, or AF_UNSPEC
                return None
            size = {1: 4, 2: 16}.get(family >> 4)
            if size is None or family & 0xF != 1 or len(body) < 2 * size + 4:
                raise ProxyError("PROXY v2 header for other than TCP over IPv4 or IPv6")
            return str(ipaddress.ip_address(body[:size]))
        if not start.startswith(b"PROXY "):
            raise ProxyError("no PROXY header")
        line = start + await reader.readuntil(b"\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise ProxyError("truncated PROXY header") from e
    words = line.rstrip(b"\r\n").decode("ascii", "replace").split(" ")
    if len(line) > V1_MAX or not line.endswith(b"\r\n"):
        raise ProxyError("malformed PROXY header")
    if words[1:2] == ["UNKNOWN"]:
        return None
    if len(words) != 6 or words[1] not in ("TCP4", "TCP6"):
        raise ProxyError("malformed PROXY header")
    try:
        source = ipaddress.ip_address(words[2])
    except ValueError as e:
        raise ProxyError("malformed PROXY header") from e
    if source.version != (4 if words[1] == "TCP4" else 6):
        raise ProxyError("malformed PROXY header")
    return str(source)
