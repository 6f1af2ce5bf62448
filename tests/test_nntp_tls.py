"""STARTTLS (RFC 4642) end to end: a real `moot serve` with a certificate made
by openssl, Python's nntplib upgrading the connection, raw sockets for what
nntplib will not send, and the peer feed encrypting when its peer offers TLS."""

from __future__ import annotations

import io
import shutil
import socket
import ssl

import pytest

from tests.conftest import PASSWORD
from tests.nntp_support import nntplib, read_reply, serve
from tests.peering_support import Node, eventually
from tests.processes import moot, stop_process
from tests.tls_support import self_signed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    return self_signed(tmp_path_factory.mktemp("tls"), "localhost", "DNS:localhost", "IP:127.0.0.1")


@pytest.fixture(scope="module")
def server(tmp_path_factory, certificate):
    cert, key = certificate
    running = serve(tmp_path_factory.mktemp("nntps"), nntp_tls_cert=cert, nntp_tls_key=key)
    yield running
    stop_process(running.proc)


def test_starttls_then_authinfo_read_and_post(server, certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    with nntplib.NNTP("127.0.0.1", server.nntp, timeout=20) as n:
        caps = n.getcapabilities()
        assert "STARTTLS" in caps and "AUTHINFO" not in caps
        assert "STARTTLS" in n.help()[1]
        with pytest.raises(nntplib.NNTPTemporaryError, match="483"):
            n.login("ada", PASSWORD)  # no password in clear where TLS is offered
    with nntplib.NNTP("127.0.0.1", server.nntp, timeout=20) as n:
        n.starttls(context)
        assert "STARTTLS" not in n.getcapabilities() and "STARTTLS" not in n.help()[1]
        n.login("ada", PASSWORD)
        reply = n.post(io.BytesIO(b"Newsgroups: comp.lang.python\r\nSubject: Over TLS\r\n\r\nEncrypted.\r\n"))
        message_id = reply.split()[-1]
        _, info = n.article(message_id)
        assert b"Encrypted." in info.lines
        with pytest.raises(nntplib.NNTPPermanentError, match="502"):
            n._shortcmd("STARTTLS")  # already encrypted


def test_commands_pipelined_in_clear_after_starttls_are_dropped(server, certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    sock = socket.create_connection(("127.0.0.1", server.nntp), timeout=20)
    assert read_reply(sock).startswith(b"200 ")
    sock.sendall(b"STARTTLS\r\nAUTHINFO USER ada\r\n")
    assert read_reply(sock).startswith(b"382 ")
    with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        tls.sendall(f"AUTHINFO PASS {PASSWORD}\r\n".encode())
        assert read_reply(tls).startswith(b"482 ")  # the USER sent in clear was never obeyed


def test_a_certificate_that_cannot_be_read_stops_the_start(tmp_path):
    done = moot(
        "serve", "--db", str(tmp_path / "x.db"), check=False, nntp_tls_cert=str(tmp_path / "none.pem")
    )
    assert done.returncode == 2
    assert "MOOT_NNTP_TLS_CERT" in done.stderr and "none.pem" in done.stderr


def test_the_feed_encrypts_to_a_peer_that_offers_tls_and_checks_its_certificate(tmp_path, certificate):
    cert, key = certificate
    a, b, c = Node(tmp_path, "a.test"), Node(tmp_path, "b.test"), Node(tmp_path, "c.test")
    secret, other = "a-b-secret-0123", "c-b-secret-0123"
    b.peer(a, "--incoming-only", secret=secret)
    b.peer(c, "--incoming-only", secret=other)
    a.peer(b, "--outgoing-only", secret=secret)
    c.peer(b, "--outgoing-only", secret=other)
    b.start(nntp_tls_cert=cert, nntp_tls_key=key)  # passwords only under TLS
    a.start(nntp_tls_ca=cert)  # trusts b's certificate
    c.start()  # trusts only the system's authorities: b's self-signed certificate fails
    try:
        trusted = a.post("comp.lang.python", "From a", "Sent over TLS.")
        eventually(lambda: b.article(trusted) is not None, "a's article on b")
        refused = c.post("comp.lang.python", "From c", "Never sent in clear.")
        eventually(
            lambda: "certificate verify failed" in (c.peers()["b.test"]["last_error"] or "").lower(),
            "c's error",
        )
        assert b.article(refused) is None
    finally:
        for node in (a, b, c):
            node.stop()
