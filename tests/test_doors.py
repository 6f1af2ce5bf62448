"""Budgets per client at every door of a real `moot serve`: a flood from one
address (or idle sockets from many) never shuts out another client. Several
clients come from different loopback addresses (127.0.0.2, 127.0.0.3, ...:
all loopback on Linux), with caps lowered through their MOOT_ variables.
Waits are polls with deadlines; nothing asserts how long anything took."""

from __future__ import annotations

import asyncio
import contextlib
import re
import smtplib
import socket
import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets

from tests.nntp_support import nntplib, prepare, read_reply
from tests.processes import MootProcess, Ports, start_process, stop_process, tls

GIVE_UP = 20.0  # far beyond any deadline set here, on a loaded machine


@contextlib.contextmanager
def running(tmp_path, **settings) -> Iterator[Ports]:
    """A `moot serve` with NNTP and SMTP on free ports, over the NNTP tests' groups."""
    db_path = str(tmp_path / "doors.db")
    with ThreadPoolExecutor(1) as thread:  # asyncio.run, even when called from a test's event loop
        thread.submit(asyncio.run, prepare(db_path)).result()
    proc: MootProcess = start_process(
        db_path,
        str(tmp_path / "server.log"),
        nntp="any",
        smtp="any",
        mail_domain="lists.test",
        metrics_allow="127.0.0.1",
        **settings,
    )
    try:
        yield proc.listening()
    finally:
        stop_process(proc)


def connect(port: int, source: str) -> socket.socket:
    """A TCP connection to the server's `port` from loopback address `source`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP, source_address=(source, 0))
    return sock


def replies(sock: socket.socket, count: int) -> list[bytes]:
    """The next `count` reply lines, however the segments split them."""
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n")[:count]


def closed_by_server(sock: socket.socket) -> bool:
    """Reads what the server still says; True once it closes, False if it keeps silent past GIVE_UP."""
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def refused(ports: Ports) -> dict[tuple[str, str], float]:
    """moot_connections_refused_total by (listener, reason)."""
    text = httpx.get(ports.url + "/metrics", timeout=GIVE_UP, verify=tls()).text
    pattern = r'moot_connections_refused_total\{listener="([^"]+)",reason="([^"]+)"\} (\S+)'
    return {(m[0], m[1]): float(m[2]) for m in re.findall(pattern, text)}


def until(probe, what: str):
    deadline = time.monotonic() + GIVE_UP
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {GIVE_UP}s for {what}")
        time.sleep(0.05)
    return value


async def open_live(ports: Ports, source: str):
    return await websockets.connect(
        f"ws://127.0.0.1:{ports.http}/live",
        origin=ports.url,
        compression=None,
        ping_interval=None,
        local_addr=(source, 0),
        open_timeout=GIVE_UP,
    )


async def test_a_flood_of_live_sockets_and_requests_from_one_address_leaves_others_served(tmp_path):
    cap = 20
    with running(tmp_path, live_max_per_address=cap, http_max_per_address=3, request_timeout=60) as ports:
        flood = [await open_live(ports, "127.0.0.2") for _ in range(cap)]
        try:
            for _ in range(5):  # past the cap: accepted only to be closed with 1013 "try again later"
                ws = await open_live(ports, "127.0.0.2")
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), GIVE_UP)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
                await ws.wait_closed()  # the server's side too: the address's connections are given back
            for ws in flood:  # the flood holds its share
                await ws.send('{"type": "ping"}')
                assert '"pong"' in await asyncio.wait_for(ws.recv(), GIVE_UP)

            # Another address: its pages load and its /live opens.
            async with httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(local_address="127.0.0.3", verify=tls()), timeout=GIVE_UP
            ) as other:
                assert (await other.get(ports.url + "/")).status_code == 200
                assert (await other.get(ports.url + "/api/groups")).status_code == 200
            ws = await open_live(ports, "127.0.0.3")
            await ws.send('{"type": "subscribe", "groups": ["comp.lang.c"]}')
            assert '"subscribed"' in await asyncio.wait_for(ws.recv(), GIVE_UP)
            await ws.close()
        finally:
            for ws in flood:
                await ws.close()

        # Requests in flight: three bodies the client never sends hold the
        # address's budget; its next request is 503 with Retry-After, another's is served.
        held = []
        for _ in range(3):
            sock = connect(ports.http, "127.0.0.4")
            sock.sendall(
                b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n"
            )
            held.append(sock)

        def busy() -> httpx.Response | None:
            with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.4", verify=tls())) as c:
                answer = c.get(ports.url + "/api/health", timeout=GIVE_UP)
            return answer if answer.status_code == 503 else None

        answer = until(busy, "the fourth request in flight refused")  # the three arrive in their time
        assert answer.headers["Retry-After"] == "1" and answer.json()["error"]["code"] == "busy"
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.5", verify=tls())) as c:
            assert c.get(ports.url + "/api/health", timeout=GIVE_UP).status_code == 200
        for sock in held:
            sock.close()
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.4", verify=tls())) as c:
            until(lambda: c.get(ports.url + "/api/health").status_code == 200, "the budget given back")

        counts = refused(ports)
        assert counts[("live", "per_client")] == 5
        assert counts[("http", "per_client")] >= 1


def test_idle_smtp_connections_leave_real_senders_served_and_are_dropped(tmp_path):
    with running(tmp_path, smtp_max_per_address=5, first_command_timeout=1) as ports:
        # Five connections from one address that said EHLO, then nothing: its cap.
        holders = []
        for _ in range(5):
            sock = connect(ports.smtp, "127.0.0.2")
            assert read_reply(sock).startswith(b"220 ")
            sock.sendall(b"EHLO holder.test\r\n")
            assert read_reply(sock, b"250 HELP\r\n").startswith(b"250")
            holders.append(sock)
        sixth = connect(ports.smtp, "127.0.0.2")
        assert read_reply(sixth).startswith(b"421 ")
        assert closed_by_server(sixth)

        # A real sender from another address is served all the way.
        with smtplib.SMTP("127.0.0.1", ports.smtp, timeout=GIVE_UP, source_address=("127.0.0.3", 0)) as s:
            s.ehlo("sender.test")
            assert s.mail("stranger@sender.test")[0] == 250
            assert s.rcpt("comp.lang.c@lists.test")[0] == 250
            code, _ = s.data(b"From: stranger@sender.test\r\nSubject: hello\r\n\r\nHi.\r\n")
            assert code in (250, 550, 554)  # the list's answer to a stranger, not the door's

        # Silent connections are closed after the first-command deadline (1 s);
        # the ones that spoke are still open.
        silent = [connect(ports.smtp, "127.0.0.4") for _ in range(3)]
        for sock in silent:
            assert read_reply(sock).startswith(b"220 ")
            assert closed_by_server(sock)
        holders[0].sendall(b"NOOP\r\n")
        assert read_reply(holders[0]).startswith(b"250 ")

        counts = refused(ports)
        assert counts[("smtp", "per_client")] == 1
        assert counts[("smtp", "deadline")] >= 3
        for sock in [*holders, *silent, sixth]:
            sock.close()


def test_idle_nntp_connections_from_many_addresses_do_not_stop_a_new_reader(tmp_path):
    addresses = [f"127.0.0.{i}" for i in range(2, 8)]
    with running(tmp_path, nntp_max_per_address=2, nntp_max_connections=12) as ports:
        idle = []
        for source in addresses:  # 6 addresses x 2: the listener is full of silent sockets
            for _ in range(2):
                sock = connect(ports.nntp, source)
                assert read_reply(sock).startswith(b"200 ")
                idle.append(sock)
        third = connect(ports.nntp, addresses[0])  # an address past its own cap is refused
        assert read_reply(third).startswith(b"400 ")
        assert closed_by_server(third)

        # A new reader comes in: the longest-silent connection makes room.
        with nntplib.NNTP("127.0.0.1", ports.nntp, readermode=True, timeout=GIVE_UP) as reader:
            assert reader.group("comp.lang.python")[0].startswith("211")
        assert closed_by_server(idle[0])
        counts = refused(ports)
        assert counts[("nntp", "per_client")] == 1 and counts[("nntp", "evicted")] >= 1
        for sock in [*idle, third]:
            sock.close()


def proxy_v2(source: str) -> bytes:
    """A PROXY protocol v2 header for a TCP over IPv4 connection from `source`."""
    body = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40000, 119)
    return b"\r\n\r\n\x00\r\nQUIT\n" + struct.pack("!BBH", 0x21, 0x11, len(body)) + body


def test_proxy_protocol_from_a_trusted_proxy_names_the_client_and_is_refused_from_others(tmp_path):
    proxy = "127.0.0.9"
    with running(
        tmp_path,
        proxy_protocol=proxy,
        nntp_max_per_address=2,
        smtp_max_per_address=1,
        first_command_timeout=1,
    ) as ports:
        # NNTP: two connections through the proxy for 203.0.113.7 fill that client's cap...
        through = []
        for header in (b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 119\r\n", proxy_v2("203.0.113.7")):
            sock = connect(ports.nntp, proxy)
            sock.sendall(header + b"DATE\r\n")  # a command: past the first-command deadline
            assert [line[:4] for line in replies(sock, 2)] == [b"200 ", b"111 "]
            through.append(sock)
        sock = connect(ports.nntp, proxy)
        sock.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40001 119\r\n")
        assert read_reply(sock).startswith(b"400 ")
        sock.close()
        # ...while another client through the same proxy is served.
        sock = connect(ports.nntp, proxy)
        sock.sendall(b"PROXY TCP6 2001:db8::1 ::1 40000 119\r\nDATE\r\n")
        assert [line[:4] for line in replies(sock, 2)] == [b"200 ", b"111 "]
        sock.close()
        # A connection from the proxy without a header, or with a malformed one, is refused.
        sock = connect(ports.nntp, proxy)
        sock.sendall(b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n")
        assert read_reply(sock).startswith(b"400 ")
        sock.close()
        sock = connect(ports.nntp, proxy)
        assert read_reply(sock).startswith(b"400 ")  # no header within the first-command deadline
        sock.close()
        # From an address not configured as a proxy the header is refused.
        sock = connect(ports.nntp, "127.0.0.1")
        assert read_reply(sock).startswith(b"200 ")
        sock.sendall(b"PROXY TCP4 203.0.113.8 127.0.0.1 40000 119\r\n")
        assert read_reply(sock).startswith(b"400 ")
        assert closed_by_server(sock)
        sock.close()

        # SMTP: the same, with its own 421.
        first = connect(ports.smtp, proxy)
        first.sendall(b"PROXY TCP4 198.51.100.4 127.0.0.1 40000 25\r\nNOOP\r\n")
        assert [line[:4] for line in replies(first, 2)] == [b"220 ", b"250 "]
        second = connect(ports.smtp, proxy)
        second.sendall(b"PROXY TCP4 198.51.100.4 127.0.0.1 40001 25\r\n")
        assert read_reply(second).startswith(b"421 ")
        second.close()
        other = connect(ports.smtp, proxy)
        other.sendall(proxy_v2("198.51.100.5"))
        assert read_reply(other).startswith(b"220 ")
        direct = connect(ports.smtp, "127.0.0.1")
        assert read_reply(direct).startswith(b"220 ")
        direct.sendall(b"PROXY TCP4 198.51.100.6 127.0.0.1 40000 25\r\n")
        assert read_reply(direct).startswith(b"421 ")
        assert closed_by_server(direct)

        counts = refused(ports)
        assert counts[("nntp", "per_client")] == 1 and counts[("nntp", "proxy")] == 3
        assert counts[("smtp", "per_client")] == 1 and counts[("smtp", "proxy")] == 1
        for sock in [*through, first, other, direct]:
            sock.close()
