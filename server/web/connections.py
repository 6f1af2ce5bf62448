"""Connection hygiene for `moot serve`: what uvicorn's own settings leave open.

uvicorn (0.54, httptools) bounds the idle time *between* requests on a
kept-alive connection (timeout_keep_alive) and can refuse requests past a
number of open connections (limit_concurrency), but it starts no clock while
a connection has sent nothing yet, or sends its request line, headers or body
a byte at a time: such a socket is held for as long as the client likes.
Enough of them use up the process's file descriptors, and with
limit_concurrency set they would turn every real request away with 503.
Nor does its httptools parser bound the size of a request's head.

RequestDeadline closes a connection that has not finished sending a request
within `timeout` seconds of connecting (or of its previous response), and
answers 431 and closes when a request line and headers pass MAX_HEAD bytes.

uvicorn counts connections (limit_concurrency) before any of Moot runs, and
knows only the socket's address: behind a proxy, everyone's. ClientBudget
keeps the budgets of each client where it is known (after X-Forwarded-For
from a trusted proxy): requests in flight (503 with Retry-After past
MOOT_HTTP_MAX_PER_ADDRESS) and open /live sockets (closed with 1013 "try
again later" past MOOT_LIVE_MAX_PER_ADDRESS or MOOT_LIVE_MAX_CONNECTIONS).
`moot serve` raises uvicorn's limit by MOOT_LIVE_MAX_CONNECTIONS, so /live
sockets can never take the room MOOT_MAX_CONNECTIONS keeps for requests; and
RequestDeadline refuses a client that connects directly (not through a
trusted proxy) past those two budgets together, before uvicorn counts its
connection: half-open handshakes from one address cannot fill uvicorn's count."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..runtime.metrics import Allowed
from ..runtime.site import Site
from ..store.errors import Busy
from .common import error_response

CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 §7.4.1 (IANA registry): the server is overloaded

# Request line and headers together: room for a long URL and a few cookies.
MAX_HEAD = 16 * 1024

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\nRequest header fields too large\n"
)


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 39\r\nconnection: close\r\n\r\nToo many connections from your address\n"
)


def request_deadline_protocol(timeout: float, site: Site | None = None) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a deadline on receiving each whole
    request and a bound on its head; with `site`, a cap on the connections
    one address opens (its requests in flight and /live sockets together),
    except from a trusted proxy, which speaks for many clients."""
    doors = site.doors if site is not None else None
    proxies = Allowed(site.config.trusted_proxies if site is not None else ())

    class RequestDeadline(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _receiving = False  # a request has begun and is not yet in whole
        _head = 0  # bytes of this request's line and headers so far
        _address: str | None = None  # counted in the door of connections per address
        _refused = False

        def _start_clock(self) -> None:
            self._stop_clock()
            self._deadline = self.loop.call_later(timeout, self._too_slow)

        def _stop_clock(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _answering(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _too_slow(self) -> None:
            self._deadline = None
            # A request still arriving, or none begun while nothing is being
            # answered: closing loses the client nothing it sent whole.
            if (self._receiving or not self._answering()) and not self.transport.is_closing():
                self.transport.close()

        def _count(self, n: int) -> None:
            self._head += n
            if self._head > MAX_HEAD:
                # Stops the parser; uvicorn then answers a malformed request (below).
                raise ValueError("request head too large")

        def send_400_response(self, msg: str) -> None:
            if self._head > MAX_HEAD:
                self.transport.write(_TOO_LARGE)
                self.transport.close()
            else:
                super().send_400_response(msg)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            peer = transport.get_extra_info("peername")
            address = str(peer[0]) if peer else ""
            if doors is not None and address not in proxies:
                if doors.connections.enter(address) is not None:
                    # Refused before uvicorn counts it against everyone's connections.
                    self._refused = True
                    transport.write(_BUSY)
                    transport.close()
                    return
                self._address = address
            super().connection_made(transport)
            self._start_clock()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._receiving, self._head = True, 0

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._receiving = False
            self._stop_clock()  # the request is in whole

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A kept-alive connection owes its next request in time too (unless
            # one it sent whole already is being answered).
            if not self.transport.is_closing() and (self._receiving or not self._answering()):
                self._start_clock()

        def _leave(self) -> None:
            if doors is not None and self._address is not None:
                doors.connections.leave(self._address)
                self._address = None

        def handle_websocket_upgrade(self) -> None:
            self._stop_clock()  # /live has its own limits (MOOT_LIVE_IDLE_TIMEOUT)
            # The socket passes to uvicorn's WebSocket protocol, and into the /live
            # budget (ClientBudget): this protocol never hears of it again.
            self._leave()
            super().handle_websocket_upgrade()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._leave()
            self._stop_clock()
            super().connection_lost(exc)

    return RequestDeadline


class ClientBudget:
    """ASGI middleware: the per-client budgets of requests in flight and of open /live sockets."""

    def __init__(self, app: ASGIApp, site: Site) -> None:
        self.app, self.doors = app, site.doors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        http = scope["type"] == "http"
        door = self.doors.http if http else self.doors.live
        address = scope["client"][0] if scope.get("client") else ""
        if door.enter(address) is None:
            try:
                return await self.app(scope, receive, send)
            finally:
                door.leave(address)
        if http:
            busy = Busy("too many requests from your address at once; try again shortly", retry_after=1)
            return await error_response(busy)(scope, receive, send)
        # Accepted only to say why: a refused handshake reaches a browser as a bare failure.
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send(
            {"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER, "reason": "too many /live sockets"}
        )
