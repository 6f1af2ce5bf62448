"""The mail adapter: the SMTP/LMTP receiver for the list addresses and the
sender that hands the mail queue to the relay. Imports no web framework;
every decision lives in the domain (mailing, inbound, mailformat)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..runtime.site import Site
from . import receiver, sender


@dataclass
class Running:
    receiver: receiver.MailReceiver | None
    sender: sender.MailSender | None


async def start(site: Site, sock: socket.socket | None = None) -> Running:
    """Start what the configuration asks for: the receiver (MOOT_SMTP_PORT, on
    `sock` when given, a listening socket bound to it), the sender (MOOT_SMTP_URL)."""
    return Running(await receiver.start(site, sock), await sender.start(site))


async def stop(running: Running) -> None:
    await receiver.stop(running.receiver)
    await sender.stop(running.sender)
