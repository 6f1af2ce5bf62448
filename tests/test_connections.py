"""Connection hygiene of a real `moot serve`: sockets that stay silent or
send their request a byte at a time are closed after MOOT_REQUEST_TIMEOUT,
and do not keep real requests out. Waits here are bounded by socket
timeouts; nothing asserts how long anything took."""

from __future__ import annotations

import socket
import time

import httpx

from tests.processes import moot_server, tls

TIMEOUT = 1.0  # MOOT_REQUEST_TIMEOUT for these servers
GIVE_UP = 15.0  # far beyond TIMEOUT on a loaded machine: a socket still open then is held


def open_socket(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=GIVE_UP)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes the socket before GIVE_UP seconds pass."""
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def read_responses(sock: socket.socket, count: int = 1) -> list[bytes]:
    """`count` whole HTTP/1.1 responses (heads and Content-Length bodies),
    however many segments they arrive in and wherever those segments split."""

    def more() -> bytes:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("the server closed the connection before the whole response")
        return chunk

    responses: list[bytes] = []
    data = b""
    while len(responses) < count:
        while b"\r\n\r\n" not in data:
            data += more()
        head, _, data = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(data) < length:
            data += more()
        responses.append(head + b"\r\n\r\n" + data[:length])
        data = data[length:]
    return responses


def read_response(sock: socket.socket) -> bytes:
    return read_responses(sock)[0]


def test_silent_and_trickling_sockets_are_closed_and_do_not_crowd_out_requests(tmp_path):
    with moot_server(
        tmp_path / "moot.db", tmp_path / "log", request_timeout=TIMEOUT, max_connections=40
    ) as base:
        silent = [open_socket(base) for _ in range(30)]
        assert all(closed_by_server(s) for s in silent)
        for s in silent:
            s.close()

        trickler = open_socket(base)
        trickler.settimeout(0.2)
        request = b"GET /api/groups HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 400
        sent_whole, closed = True, False
        for byte in request:  # one byte every 0.1 s: 40 s for the whole request
            try:
                trickler.sendall(bytes([byte]))
                if trickler.recv(1) == b"":
                    closed = True
                    sent_whole = False
                    break
            except TimeoutError:
                time.sleep(0.1)
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed, sent_whole = True, False
                break
        trickler.close()
        assert closed and not sent_whole

        # A kept-alive connection is served, then closed once idle.
        keeper = open_socket(base)
        keeper.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(keeper).startswith(b"HTTP/1.1 200")
        assert closed_by_server(keeper)
        keeper.close()

        assert httpx.get(base + "/api/health", timeout=GIVE_UP, verify=tls()).status_code == 200


def test_a_slow_but_steady_body_within_the_deadline_is_served(tmp_path):
    with moot_server(tmp_path / "moot.db", tmp_path / "log", request_timeout=5.0) as base:
        sock = open_socket(base)
        body = b'{"username": "nobody", "password": "long enough"}'
        sock.sendall(
            b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        for i in range(0, len(body), 10):
            sock.sendall(body[i : i + 10])
            time.sleep(0.05)
        answer = sock.recv(4096)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 401")


def test_a_huge_request_head_is_refused_and_pipelined_requests_are_answered(tmp_path):
    with moot_server(tmp_path / "moot.db", tmp_path / "log", request_timeout=TIMEOUT) as base:
        # Just under the cap: served.
        sock = open_socket(base)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 15_000 + b"\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.close()
        # Past it, in one header or in many: 431, and the connection is closed.
        for head in (
            b"X-Big: " + b"a" * 17_000 + b"\r\n",
            b"".join(b"X-%d: %s\r\n" % (i, b"b" * 100) for i in range(200)),
        ):
            sock = open_socket(base)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 431")
            assert closed_by_server(sock)
            sock.close()
        # Two requests in one segment get two answers.
        sock = open_socket(base)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        assert [r[:12] for r in read_responses(sock, 2)] == [b"HTTP/1.1 200"] * 2
        sock.close()
        assert httpx.get(base + "/api/health", timeout=GIVE_UP, verify=tls()).status_code == 200
