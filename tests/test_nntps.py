"""NNTPS (RFC 8143) end to end: a real `moot serve --nntps-port any` with a
certificate made by openssl, Python's nntplib.NNTP_SSL reading, signing in and
posting, raw sockets for clients that do not speak TLS there, and the texts
on the plain port that point readers without STARTTLS to NNTPS."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import socket
import ssl
import threading

import httpx
import pytest

from moot.nntp.tls import TLSConfigError
from tests.conftest import ANY_PORT, PASSWORD
from tests.nntp_support import nntplib, prepare, read_reply
from tests.processes import moot, start_process, stop_process, tls
from tests.tls_support import self_signed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")

GIVE_UP = 20.0  # far beyond the deadline set here, on a loaded machine
DEADLINE = 2  # MOOT_FIRST_COMMAND_TIMEOUT of the server: the handshake included


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    return self_signed(tmp_path_factory.mktemp("tls"), "localhost", "DNS:localhost", "IP:127.0.0.1")


@pytest.fixture(scope="module")
def ports(tmp_path_factory, certificate):
    folder = tmp_path_factory.mktemp("nntps")
    db_path = str(folder / "nntp.db")
    asyncio.run(prepare(db_path))
    cert, key = certificate
    proc = start_process(
        db_path,
        str(folder / "server.log"),
        nntp="any",
        nntps="any",
        nntp_tls_cert=cert,
        nntp_tls_key=key,
        first_command_timeout=DEADLINE,
        metrics_allow="127.0.0.1",
    )
    yield proc.listening()
    stop_process(proc)


def refused(ports) -> dict[tuple[str, str], float]:
    """moot_connections_refused_total by (listener, reason)."""
    text = httpx.get(ports.url + "/metrics", timeout=GIVE_UP, verify=tls()).text
    pattern = r'moot_connections_refused_total\{listener="([^"]+)",reason="([^"]+)"\} (\S+)'
    return {(m[0], m[1]): float(m[2]) for m in re.findall(pattern, text)}


def test_nntps_reads_signs_in_and_posts_without_starttls(ports, certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    with nntplib.NNTP_SSL("127.0.0.1", ports.nntps, ssl_context=context, timeout=GIVE_UP) as n:
        assert "NNTPS" in n.getwelcome()
        caps = n.getcapabilities()
        assert "STARTTLS" not in caps and "AUTHINFO" in caps  # RFC 8143 §3: TLS is on already
        _, count, _, _, _ = n.group("comp.lang.python")
        assert count == 2
        _, info = n.body("1")
        assert b"First post" in info.lines
        n.login("ada", PASSWORD)
        reply = n.post(
            io.BytesIO(b"Newsgroups: comp.lang.python\r\nSubject: Over NNTPS\r\n\r\nEncrypted.\r\n")
        )
        _, info = n.article(reply.split()[-1])
        assert b"Encrypted." in info.lines
        with pytest.raises(nntplib.NNTPPermanentError, match="502"):
            n._shortcmd("STARTTLS")


def test_a_client_without_tls_on_the_nntps_port_gets_nothing_and_is_dropped(ports):
    before = refused(ports).get(("nntps", "deadline"), 0)
    with socket.create_connection(("127.0.0.1", ports.nntps), timeout=GIVE_UP) as silent:
        assert read_reply(silent) == b""  # no greeting in clear; closed at the deadline
    assert refused(ports).get(("nntps", "deadline"), 0) == before + 1
    with socket.create_connection(("127.0.0.1", ports.nntps), timeout=GIVE_UP) as speaking:
        speaking.sendall(b"CAPABILITIES\r\nAUTHINFO USER ada\r\n")
        try:
            said = read_reply(speaking)
        except ConnectionResetError:
            said = b""
        assert b"101" not in said and b"381" not in said  # at most a TLS alert, then closed


def test_the_plain_port_names_the_nntps_port_in_its_greeting_483_and_480(ports):
    use = f"use STARTTLS or NNTPS port {ports.nntps}"
    with nntplib.NNTP("127.0.0.1", ports.nntp, timeout=GIVE_UP) as n:
        assert use in n.getwelcome()
        assert "STARTTLS" in n.getcapabilities()
        with pytest.raises(nntplib.NNTPTemporaryError, match="483") as error:
            n.login("ada", PASSWORD)
        assert use in str(error.value)
        with pytest.raises(nntplib.NNTPTemporaryError, match="480") as error:
            n.post(io.BytesIO(b"Newsgroups: comp.lang.python\r\nSubject: In clear\r\n\r\nNo.\r\n"))
        assert use in str(error.value)


async def test_a_part_that_fails_to_start_stops_the_parts_started_before_it(make_site):
    """NNTPS without a certificate fails after the database, the sweep, the
    search index and plain NNTP have started: each of them stops, so no
    database thread is left to keep the process from ending."""
    before = set(threading.enumerate())
    with pytest.raises(TLSConfigError):
        await make_site(nntps_port=ANY_PORT)
    left = [t for t in set(threading.enumerate()) - before if not t.name.startswith("asyncio")]
    for thread in left:
        thread.join(GIVE_UP)  # a stopped connection's thread ends at once; the bound is for a loaded machine
    assert [t.name for t in left if t.is_alive()] == []


def test_nntps_port_errors_stop_the_start(tmp_path, certificate):
    db = str(tmp_path / "x.db")
    done = moot("serve", "--db", db, "--port", "0", "--nntp-port", "0", "--nntps-port", "any", check=False)
    assert done.returncode == 2 and "MOOT_NNTP_TLS_CERT" in done.stderr  # NNTPS needs a certificate
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        done = moot(
            "serve", "--db", db, "--port", "0", "--nntp-port", "0", "--nntps-port", port, check=False,
            nntp_tls_cert=certificate[0], nntp_tls_key=certificate[1],
        )  # fmt: skip
    assert done.returncode != 0 and "--nntps-port" in done.stderr and port in done.stderr
