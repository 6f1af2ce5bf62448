"""Mail test harness: a real SMTP relay (aiosmtpd on a loopback port, in its
own thread) that keeps what it is handed, helpers that poll with deadlines,
the steps every mail test needs (a confirmed address, a subscription), and
`strict`: a mail Moot sent, read by Python's strict parser and, when a DKIM
key is published, verified with dkimpy."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re
import smtplib
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

import dkim
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import ANY_PORT

WAIT = 20.0  # seconds any single expected mail may take on a loaded 2-core machine


class FreePortController(Controller):
    """aiosmtpd's threaded controller, listening on a free port the system
    picks; `port` names it once started."""

    def _create_server(self):
        return self._listen()

    def _factory_invoker(self):
        protocol = super()._factory_invoker()
        self.__dict__.setdefault("connections", []).append(protocol)
        return protocol

    def settle(self, limit: float = 5.0) -> None:
        """Wait (at most `limit` seconds) for every client to leave: one still
        talking when the loop stops (a sender's thread finishing its batch)
        leaves its socket to the garbage collector, and a ResourceWarning to
        whichever test runs then."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and any(
            p.transport is not None and not p.transport.is_closing()
            for p in self.__dict__.get("connections", [])
        ):
            time.sleep(0.01)

    async def _listen(self):
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def strict(self, dns=None) -> EmailMessage:
        return strict(self.data, dns)

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class Relay:
    """aiosmtpd as the site's relay: it records each message before it answers
    DATA; `hold` makes it wait before answering (a relay slow to reply), and
    `refuse[address]` answers that RCPT with the given reply."""

    def __init__(
        self,
        tls_context: ssl.SSLContext | None = None,
        *,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.refuse: dict[str, str] = {}
        self.logins: list[str] = []
        kwargs: dict = {}
        if tls_context is not None and not implicit_tls:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if implicit_tls:
            # The whole connection is TLS (RFC 8314), which aiosmtpd's AUTH check does not see.
            kwargs.update(ssl_context=tls_context, auth_require_tls=False)
        if auth is not None:
            kwargs.update(authenticator=self._authenticator(auth), auth_required=True)
        self.controller = FreePortController(self, hostname="127.0.0.1", **kwargs)

    def _authenticator(self, auth: tuple[str, str]):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        def check(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == auth
            if ok:
                self.logins.append(data.login.decode())
            return AuthResult(success=ok)

        return check

    def __enter__(self) -> Relay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.controller.settle()
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
            )
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    async def wait(self, address: str, count: int = 1, where=lambda r: True) -> list[Received]:
        """Poll (deadline WAIT) until `count` mails for `address` matching `where` arrived."""
        return await until(
            lambda: (found := [r for r in self.to(address) if where(r)])[count - 1 :] and found,
            f"{count} mail(s) to {address}",
        )

    def wait_sync(self, address: str, count: int = 1, where=lambda r: True) -> list[Received]:
        deadline = time.monotonic() + WAIT
        while True:
            found = [r for r in self.to(address) if where(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} mail(s) to {address} within {WAIT}s: {len(found)}")
            time.sleep(0.05)


# What Moot's DKIM-Signature must cover when present (server/mail/signing.py signs more).
DKIM_SIGNED = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
)


def strict(data: bytes, dns=None) -> EmailMessage:
    """`data` parsed with email.policy.strict (raise on any defect), asserting
    that no part nor header of it records a defect either. With `dns` (a DKIM key
    lookup, as site.dkim_dns), its one DKIM-Signature must verify with dkimpy:
    relaxed/relaxed, no l=, over DKIM_SIGNED."""
    msg = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(msg, EmailMessage)
    for part in msg.walk():
        assert not part.defects, part.defects
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (name, value, value.defects)
    if dns is not None:
        d = dkim.DKIM(data)
        try:
            valid = d.verify(dnsfunc=dns)
        except dkim.DKIMException as error:
            raise AssertionError(f"DKIM: {error}") from None
        assert valid, data[:2000]
        assert len(msg.get_all("DKIM-Signature")) == 1
        fields = d.signature_fields
        assert fields[b"c"] == b"relaxed/relaxed" and b"l" not in fields
        assert set(DKIM_SIGNED) <= {h.decode() for h in d.include_headers}
    return msg


def dkim_key(folder) -> tuple[str, bytes]:
    """(path of a new 1024-bit RSA private key's PEM file in `folder`, its DKIM
    TXT record as openssl derives it)."""
    pem = subprocess.run(["openssl", "genrsa", "1024"], capture_output=True, check=True).stdout
    der = subprocess.run(
        ["openssl", "rsa", "-pubout", "-outform", "DER"], input=pem, capture_output=True, check=True
    ).stdout
    path = folder / "dkim.pem"
    path.write_bytes(pem)
    return str(path), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


async def until(probe, what: str, timeout: float = WAIT):
    """Poll `probe()` (sync or async) until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        await asyncio.sleep(0.03)


def subject_of(kind: str):
    return lambda r: kind in str(r.message["Subject"])


def confirmation_token(received: Received) -> str:
    body = received.message.get_body(("plain",)).get_content()
    return re.search(r"/confirm/(\S+)", body)[1]


async def confirm_address(client, relay: Relay, address: str) -> None:
    """Set the signed-in user's address and follow the link mailed to it."""
    earlier = len([r for r in relay.to(address) if subject_of("Confirm")(r)])
    r = await client.put("/api/me/email", json={"email": address})
    assert r.status_code == 200, r.text
    mails = await relay.wait(address, earlier + 1, where=subject_of("Confirm"))
    r = await client.post("/api/confirm", json={"token": confirmation_token(mails[-1])})
    assert r.status_code == 200, r.text


# The authserv-id of the site's relay in mail_settings: loopback is that relay.
AUTHSERV = "mx.lists.test"


def vouched(mail_from: str, data: bytes | str) -> bytes | str:
    """`data` as the site's relay hands on mail it authenticated: topped with its
    Authentication-Results saying DMARC passed for the envelope sender's domain."""
    if "@" not in mail_from:
        return data
    line = f"Authentication-Results: {AUTHSERV}; dmarc=pass header.from={mail_from.rpartition('@')[2]}\r\n"
    return line + data if isinstance(data, str) else line.encode("ascii") + data


def send(
    port: int, mail_from: str, to: str, data: bytes | str, *, lmtp: bool = False, relayed: bool = True
) -> dict:
    """Hand one message to Moot's receiver with smtplib (or its LMTP client);
    returns smtplib's refused-recipients dict, raises its errors. `relayed`:
    as the site's relay passes it on (`vouched`), else as sent by anyone."""
    if relayed:
        data = vouched(mail_from, data)
    client = smtplib.LMTP("127.0.0.1", port) if lmtp else smtplib.SMTP("127.0.0.1", port, timeout=WAIT)
    try:
        return client.sendmail(mail_from, [to], data)
    finally:
        client.quit()


def message(from_: str, to: str, subject: str, body: str = "Hello there.\n", **headers: str) -> bytes:
    """A plain text mail as a mail client writes it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = from_, to, subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


GROUP = "comp.lang.python"
LIST = f"{GROUP}@lists.test"


def mail_settings(relay: Relay, **more) -> dict:
    """A site's settings for mail through `relay`, with its own receiver port;
    loopback is the trusted relay whose Authentication-Results are believed."""
    return {
        "smtp_url": relay.url,
        "smtp_port": ANY_PORT,
        "mail_domain": "lists.test",
        "public_url": "https://forum.test",
        "mail_poll_interval": 0.1,
        "mail_authserv_id": AUTHSERV,
        "mail_trusted_relays": ("127.0.0.1",),
        **more,
    }


@pytest.fixture
def relay():
    """A real SMTP relay (aiosmtpd) that keeps what Moot hands it; afterwards
    every mail it received must parse clean under email.policy.strict."""
    with Relay() as running:
        yield running
    for received in running.received:
        strict(received.data)
