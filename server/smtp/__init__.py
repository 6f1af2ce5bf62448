"""The mail adapter: the SMTP/LMTP receiver for the list addresses and the
sender that hands the mail queue to the relay. Imports no web framework;
every decision lives in the domain (mailing, inbound, mailformat). The
receiver (and aiosmtpd under it) is imported only when MOOT_SMTP_PORT asks
for it, so every other `moot` process starts without them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..runtime.site import Site
from . import sender

if TYPE_CHECKING:
    from .receiver import MailReceiver


@dataclass
class Running:
    receiver: MailReceiver | None
    sender: sender.MailSender | None


async def start(site: Site, sock: socket.socket | None = None) -> Running:
    """Start what the configuration asks for: the receiver (MOOT_SMTP_PORT, on
    `sock` when given, a listening socket bound to it), the sender (MOOT_SMTP_URL)."""
    mail_in = None
    if site.config.smtp_port:
        from . import receiver

        mail_in = await receiver.start(site, sock)
    return Running(mail_in, await sender.start(site))


async def stop(running: Running) -> None:
    if running.receiver is not None:
        await running.receiver.stop()
    await sender.stop(running.sender)
