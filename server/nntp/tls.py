"""TLS for NNTP (RFC 4642 STARTTLS, RFC 8143 NNTPS): the server's context, built once from the
configured certificate, and the context the feed uses to check a peer's.

A node with a certificate offers STARTTLS and, unless MOOT_NNTP_PLAIN_AUTH
says otherwise, takes AUTHINFO only under TLS (RFC 4643 §2.2: passwords are
not sent in clear where encryption is available). Without a certificate it
offers no STARTTLS and takes AUTHINFO in clear, as a loopback or
private-network server may."""

from __future__ import annotations

import ssl

from ..store.config import Config


class TLSConfigError(ValueError):
    """The certificate or key files cannot be used (the message says which and why)."""


def server_context(config: Config) -> ssl.SSLContext | None:
    """The context STARTTLS upgrades to and NNTPS speaks; None when no
    certificate is configured.

    Raises TLSConfigError when the files are missing, unreadable or do not match,
    or an NNTPS port has no certificate, so a misconfigured server fails at
    start, not at a client's first STARTTLS."""
    if not config.nntp_tls_cert:
        if config.nntps_port:
            raise TLSConfigError("MOOT_NNTPS_PORT (--nntps-port) needs a certificate: set MOOT_NNTP_TLS_CERT")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.nntp_tls_cert, config.nntp_tls_key or None)
    except (OSError, ssl.SSLError) as e:
        raise TLSConfigError(
            f"cannot use MOOT_NNTP_TLS_CERT {config.nntp_tls_cert!r}"
            f"{f' with MOOT_NNTP_TLS_KEY {config.nntp_tls_key!r}' if config.nntp_tls_key else ''}: {e}"
        ) from None
    return context


def client_context(config: Config) -> ssl.SSLContext:
    """The context for feeding a peer that offers STARTTLS: its certificate must
    chain to MOOT_NNTP_TLS_CA (or the system's authorities) and name its host."""
    try:
        return ssl.create_default_context(cafile=config.nntp_tls_ca or None)
    except (OSError, ssl.SSLError) as e:
        raise TLSConfigError(f"cannot use MOOT_NNTP_TLS_CA {config.nntp_tls_ca!r}: {e}") from None
