"""Connection hygiene for `moot serve`: what uvicorn's own settings leave open.

uvicorn (0.54, h11) bounds the idle time *between* requests on a kept-alive
connection (timeout_keep_alive) and can refuse requests past a number of open
connections (limit_concurrency), but it starts no clock while a connection
has sent nothing yet, or sends its request line, headers or body a byte at a
time: such a socket is held for as long as the client likes. Enough of them
use up the process's file descriptors, and with limit_concurrency set they
would turn every real request away with 503. RequestDeadline closes a
connection that has not finished sending a request within `timeout` seconds
of connecting (or of its previous response)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def request_deadline_protocol(timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on receiving each whole request."""

    class RequestDeadline(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _start_clock(self) -> None:
            self._stop_clock()
            self._deadline = self.loop.call_later(timeout, self._too_slow)

        def _stop_clock(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            # A request still arriving (or not begun): nothing has been
            # answered on it, so closing loses the client nothing it sent whole.
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_clock()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._stop_clock()  # the request is in whole (or the connection is done)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._start_clock()  # a kept-alive connection owes its next request in time too

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._stop_clock()  # /live has its own limits (MOOT_LIVE_IDLE_TIMEOUT)
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_clock()
            super().connection_lost(exc)

    return RequestDeadline
