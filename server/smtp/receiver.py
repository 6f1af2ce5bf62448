"""The SMTP/LMTP receiver (aiosmtpd) for the list addresses: recipients are
checked at RCPT, each message goes to inbound.deliver, and its outcome is
the reply. Storage and every decision live in the domain (server/mail/inbound.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from ..mail import identity, inbound, mailing
from ..runtime.doors import DEADLINE, PROXY, ProxyError, read_proxy_header
from ..runtime.site import Site

log = logging.getLogger("moot.mail")

# RFC 5321 §4.5.3.1.8 asks servers to take at least 100 recipients; a list
# message has one or two, so a few more are refused with 452 (§4.5.3.1.10).
MAX_RECIPIENTS = 10
# Idle and connection limits are the site's (MOOT_SMTP_IDLE_TIMEOUT,
# MOOT_SMTP_MAX_CONNECTIONS, MOOT_SMTP_MAX_PER_ADDRESS, MOOT_FIRST_COMMAND_TIMEOUT),
# kept by its doors (runtime/doors.py).
TOO_MANY = "421 4.3.2 too many connections; try again later"
# A MAIL FROM or RCPT TO path of the plain form nearly all mail uses (a
# dot-atom address in angle brackets, then parameters): read with one
# match; anything else goes to aiosmtpd's RFC 5322 parser, which gives the
# same result for these (tests/test_mail_rules.py).
_PLAIN_PATH = re.compile(
    r"[ \t]*<([A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(?![( \t])"
)


def plain_path(arg: str, local_part_limit: int = 0) -> tuple[str, str] | None:
    """(address, parameters) of a MAIL FROM or RCPT TO argument of the plain
    form, as aiosmtpd's parser reads it; None for any other form (or a local
    part over `local_part_limit`), which that parser reads instead."""
    m = _PLAIN_PATH.match(arg)
    if m is None or (local_part_limit and m[1].index("@") > local_part_limit):
        return None
    return m[1], arg[m.end() :]


def _status(outcome: inbound.Outcome) -> str:
    """An SMTP reply line with an RFC 3463 enhanced status code."""
    enhanced = {250: "2.0.0", 451: "4.7.1", 552: "5.3.4"}.get(outcome.code, "5.7.1")
    return f"{outcome.code} {enhanced} {outcome.text}".replace("\r", " ").replace("\n", " ")[:500]


class Handler:
    """aiosmtpd's handler: RCPT checks the address, DATA delivers."""

    def __init__(self, site: Site, lmtp: bool) -> None:
        self.site = site
        self.lmtp = lmtp
        self.relays = [ipaddress.ip_network(r, strict=False) for r in site.config.mail_trusted_relays]

    def trusted(self, session: Session) -> bool:
        """LMTP (an MTA's local transport) and SMTP from a configured relay are
        trusted paths: their Authentication-Results are believed; the public port's are not."""
        if self.lmtp:
            return True
        try:
            peer = ipaddress.ip_address(str(session.peer[0]) if session.peer else "")
        except ValueError:
            return False
        return any(peer in network for network in self.relays)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        if not await self._known(address):
            return f"550 5.1.1 no list named {address[:100]} here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def _known(self, address: str) -> bool:
        config, secret = self.site.config, self.site.secret
        local, _, domain = address.rpartition("@")
        if domain.lower() != config.list_domain.lower():
            return False
        local = local.lower()
        if (
            mailing.reply_target(secret, local) is not None
            or mailing.bounce_target(secret, local) is not None
        ):
            return True
        if await inbound.list_exists(self.site, local):
            return True
        group, key = identity.split_local(local)  # a personal reply address: checked at DATA
        return key is not None and await inbound.list_exists(self.site, group)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from or ""
        trusted = self.trusted(session)
        outcomes = [
            await inbound.deliver(self.site, rcpt, data, mail_from, trusted=trusted)
            for rcpt in envelope.rcpt_tos
        ]
        if self.lmtp:
            # RFC 2033 §4.2: after DATA, one reply per accepted recipient, in order.
            return "\r\n".join(_status(o) for o in outcomes)
        refused = [o for o in outcomes if not o.accepted]
        return _status(refused[0] if refused else outcomes[0])


class MailReceiver:
    """The listener of one Site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.server: asyncio.Server | None = None

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on smtp_port, or on `sock` when given (a socket already bound to it)."""
        config = self.site.config
        handler = Handler(self.site, config.smtp_lmtp)
        kind: Any = LMTP if config.smtp_lmtp else SMTP

        doors = self.site.doors
        door = doors.smtp

        class Counted(kind):
            """The protocol within the site's SMTP door: a PROXY header first from a
            configured proxy, a cap per client and in total (421 in place of the
            greeting, RFC 5321 §3.1), and a short deadline for the first command."""

            address: str | None = None  # the client counted in, once admitted

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                if self.address is None:  # not the restart after STARTTLS
                    self._reset_timeout(config.first_command_timeout)
                    self._first = True

            async def _handle_client(self) -> None:
                assert self.session is not None and self.transport is not None
                address = str(self.session.peer[0]) if self.session.peer else ""
                if address in doors.proxies:  # haproxy or stunnel names the client first
                    try:
                        address = await read_proxy_header(self._reader) or address
                    except ProxyError as e:
                        door.refuse(PROXY)
                        log.info("SMTP connection from proxy %s refused: %s", address, e)
                        return await self._refuse("421 4.7.0 PROXY header missing or malformed")
                    self.session.peer = (address, 0)
                if door.enter(address) is not None:
                    return await self._refuse(TOO_MANY)
                self.address = address
                await super()._handle_client()

            async def _refuse(self, reply: str) -> None:
                await self.push(reply)
                assert self.transport is not None
                self.transport.close()

            def _reset_timeout(self, duration: float | None = None) -> None:
                if duration is None and getattr(self, "_first", False):
                    self._first = False  # the first command came: the long wait from now on
                super()._reset_timeout(duration)

            def _timeout_cb(self) -> None:
                if getattr(self, "_first", False):
                    door.refuse(DEADLINE)
                super()._timeout_cb()

            def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
                plain = plain_path(arg, self.local_part_limit)
                return plain if plain is not None else super()._getaddr(arg)

            async def smtp_PROXY(self, arg: str) -> None:
                door.refuse(PROXY)  # from an address not configured as a proxy
                await self._refuse("421 4.7.0 PROXY header from an address not configured as a proxy")

            def connection_lost(self, error: Exception | None) -> None:
                if self.address is not None:
                    door.leave(self.address)
                    self.address = None
                super().connection_lost(error)

        def protocol() -> SMTP:
            return Counted(
                handler,
                data_size_limit=config.mail_max_bytes,
                enable_SMTPUTF8=True,
                hostname=config.list_domain,
                ident="Moot",
                timeout=config.smtp_idle_timeout,
            )

        loop = asyncio.get_running_loop()
        if sock is not None:
            self.server = await loop.create_server(protocol, sock=sock)
            return
        self.server = await loop.create_server(
            protocol, config.smtp_host or config.host, config.smtp_port, reuse_address=True
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def start(site: Site, sock: socket.socket | None = None) -> MailReceiver | None:
    """Start the receiver when MOOT_SMTP_PORT is set (None otherwise), on `sock`
    when given: a listening socket already bound to smtp_port."""
    if not site.config.smtp_port:
        return None
    receiver = MailReceiver(site)
    await receiver.start(sock)
    log.info(
        "%s listening on %s:%d for @%s",
        "LMTP" if site.config.smtp_lmtp else "SMTP",
        site.config.smtp_host or site.config.host,
        receiver.port,
        site.config.list_domain,
    )
    return receiver
