"""Configuration: one frozen dataclass, read once from the environment and CLI flags.

Every field has a default and a line of help; the environment variable is
MOOT_ plus the field name in upper case. README.md lists them all."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import validate


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


class ConfigError(ValueError):
    """A setting that cannot be used; the message names its MOOT_ variable."""


@dataclass(frozen=True)
class Config:
    db_path: str = _f("moot.db", "SQLite database file; created and initialised when missing")
    host: str = _f("127.0.0.1", "address `moot serve` listens on")
    port: int = _f(8080, "HTTP port `moot serve` listens on")
    nntp_host: str = _f("", "address the NNTP listener binds; empty means the same as MOOT_HOST")
    nntp_port: int = _f(1119, "NNTP port `moot serve` listens on (0: no NNTP)")
    nntp_idle_timeout: float = _f(600.0, "seconds of silence after which an NNTP connection is closed")
    nntp_max_connections: int = _f(200, "NNTP connections served at once; more are refused with 400")
    nntp_max_per_address: int = _f(
        16,
        "NNTP connections one client (an address, or an IPv6 /64) may hold at once; more are refused with 400",
    )
    nntp_max_per_peer: int = _f(
        8,
        "NNTP connections from the address of each configured news peer, outside MOOT_NNTP_MAX_CONNECTIONS and MOOT_NNTP_MAX_PER_ADDRESS",
    )
    first_command_timeout: float = _f(
        30.0,
        "seconds an NNTP or SMTP connection has to send its first command (and a PROXY header) before it is closed; after it MOOT_NNTP_IDLE_TIMEOUT and MOOT_SMTP_IDLE_TIMEOUT apply",
    )
    proxy_protocol: tuple[str, ...] = _f(
        (),
        "addresses or networks (comma-separated) of proxies (haproxy, stunnel) whose NNTP and SMTP connections begin with a PROXY protocol header (v1 or v2) naming the client, whose limits then apply; required from them, refused from anyone else",
    )
    nntp_tls_cert: str = _f(
        "",
        "PEM file with the certificate chain NNTP's STARTTLS (RFC 4642) offers; empty: no STARTTLS",
    )
    nntp_tls_key: str = _f(
        "", "PEM file with the private key of MOOT_NNTP_TLS_CERT; empty: the key is in that file"
    )
    nntp_plain_auth: bool = _f(
        False,
        "with MOOT_NNTP_TLS_CERT set, still accept AUTHINFO before STARTTLS (passwords in clear); without a certificate AUTHINFO is always accepted in clear",
    )
    nntps_port: int = _f(
        0,
        "NNTPS port (RFC 8143: TLS from the first byte, 563 by convention) `moot serve` also listens on, with MOOT_NNTP_TLS_CERT; 0: none",
    )
    nntp_tls_ca: str = _f(
        "",
        "PEM file of the authorities whose certificates this node trusts when it feeds a peer over STARTTLS; empty: the system's",
    )
    domain: str = _f(
        "moot.localhost",
        "right-hand side of the Message-IDs this site assigns, and this node's name in Path headers (each node of a community needs its own)",
    )
    peer_poll_interval: float = _f(
        2.0,
        "seconds between looks at the peers table (`moot peer add` reaches a running server within this), at a peer's queue when nothing wakes it, and for held articles and structural actions whose wait is over (docs/PEERING.md)",
    )
    site_name: str = _f("Moot", "name shown in page titles and feeds")
    secret_key: str = _f("", "key that signs cookies; empty means a random key kept in the database")
    allowed_origins: tuple[str, ...] = _f(
        (),
        "extra origins (scheme://host:port) allowed to send state changes and open /live; the site's own origin is always allowed",
    )
    allowed_hosts: tuple[str, ...] = _f(
        (),
        "host names this site answers for (comma-separated; `*.example.org` covers subdomains); other Host headers get 400 and never count as this site's origin. Empty: any Host, trusted as sent (fine on a loopback or behind a proxy that sets it)",
    )
    secure_cookies: bool = _f(False, "mark cookies Secure (set this behind HTTPS)")
    session_days: int = _f(30, "days a session lasts")
    post_rate: float = _f(6.0, "articles a user may post per minute, sustained")
    post_burst: int = _f(10, "articles a user may post back to back before the rate applies")
    default_groups: tuple[str, ...] = _f(
        (),
        "groups (comma-separated) a new account is subscribed to; empty: every group there is when it joins",
    )
    edit_grace_minutes: int = _f(
        15,
        "minutes after posting during which the author may edit an article (0: no editing); after it, withdraw only",
    )
    register_rate: float = _f(
        20.0,
        "accounts (or applications) one address (IPv4, or IPv6 /64) may register per hour, a quarter of them (at least one) at once; counted in the database, so a restart forgets nothing",
    )
    register_confirm_mail: bool = _f(
        False,
        "with mail on (MOOT_SMTP_URL), an account at trust level new may not post until its mail address is confirmed",
    )
    login_attempts: int = _f(
        5,
        "failed sign-ins per account and address before that pair is throttled;"
        " also the failures per account from unknown addresses before its"
        " doubling backoff starts",
    )
    login_address_attempts: int = _f(
        20, "failed sign-ins from one address, whatever the accounts, before it is throttled"
    )
    login_window: int = _f(900, "seconds over which failed logins are counted")
    hash_queue: int = _f(
        16,
        "sign-ins and registrations that may wait for a password hash (two run"
        " at once) before more are refused with 503",
    )
    export_rate: float = _f(
        12.0,
        "whole-group mbox downloads per hour one address may make while signed out (bursts of a quarter)",
    )
    password_cost: int = _f(
        17,
        "scrypt cost of new password hashes, as the power of two of N (17: OWASP's minimum, ~0.4 s and 128 MiB a hash); a hash keeps its cost",
    )
    proposal_threshold: int = _f(3, "endorsements (the proposer's included) that create a proposed group")
    report_threshold: int = _f(
        3, "counted spam or abuse reports that hide an article pending the moderators' review"
    )
    rejected_keep_days: int = _f(
        30, "days a rejected submission stays in its group's queue for the moderators to see"
    )
    endorse_min_age_days: int = _f(
        7, "days an account must exist before its endorsements of group proposals count"
    )
    endorse_min_posts: int = _f(
        1, "articles an account must have posted (not withdrawn) before its endorsements count"
    )
    trust_new_days: float = _f(2.0, "days an account stays at trust level new (docs/MODERATION.md)")
    trust_new_posts: int = _f(3, "articles an account must have published to leave trust level new")
    trust_regular_days: float = _f(180.0, "days an account must exist to reach trust level regular")
    trust_regular_posts: int = _f(50, "articles an account must have published to reach trust level regular")
    trust_clean_days: float = _f(
        90.0,
        "days after a moderator removed one of its articles before an account can be regular again",
    )
    repeat_window_hours: float = _f(
        24.0,
        "hours over which the same text or link posted in several groups is held as repetition (docs/MODERATION.md; 0: no repetition checks)",
    )
    repeat_max_groups: int = _f(
        3, "groups anyone may post the same text or link to within the repetition window; more are held"
    )
    spamd: str = _f(
        "",
        "HOST:PORT of a running SpamAssassin spamd that scores every article before it is stored (docs/MODERATION.md); empty: no scoring",
    )
    spamd_timeout: float = _f(
        2.0,
        "seconds to wait for spamd's verdict; past it members' articles go on and new accounts' wait in the queue",
    )
    spamd_peers: bool = _f(False, "also score the articles news peers send (held or refused like the rest)")
    spam_hold: float = _f(5.0, "spamd score from which an article waits in its group's queue as spam")
    spam_refuse: float = _f(15.0, "spamd score from which an article is refused outright (GTUBE scores 1000)")
    trust_new_rate_fraction: float = _f(
        0.25, "share of MOOT_POST_RATE and MOOT_POST_BURST a new account may post at (at least one article)"
    )
    trust_new_links: int = _f(2, "links an article by a new account may carry at most")
    archive_after_days: int = _f(
        180, "site default: archive threads with no activity for this many days (0: never)"
    )
    archive_after_articles: int = _f(
        5000, "site default: archive threads with more articles than this (0: never)"
    )
    sweep_interval: int = _f(3600, "seconds between archive sweeps in a running server (0: no sweep)")
    event_retention_days: int = _f(7, "days the live-event outbox is kept for resuming clients")
    live_poll_interval: float = _f(
        0.25,
        "seconds between looks at the events table for other processes' commits (this process's own are seen at once)",
    )
    live_heartbeat: float = _f(
        25.0,
        "seconds of silence after which /live sends a heartbeat: under the 30-60 s idle cut-off of common proxies and NATs",
    )
    live_idle_timeout: float = _f(
        30.0,
        "seconds a /live connection may stay open without subscribing to anything before it is closed (code 4000)",
    )
    live_queue: int = _f(
        1000, "messages a /live connection may have waiting before it is closed as too slow (code 4008)"
    )
    live_max_subscriptions: int = _f(
        100, "groups (or group patterns) and threads one /live connection may follow"
    )
    live_max_message: int = _f(
        16384,
        "largest message in bytes a /live client may send, room for a full subscription list (larger closes with 1009)",
    )
    live_max_errors: int = _f(5, "malformed messages a /live client may send before it is closed (code 1008)")
    request_timeout: float = _f(
        20.0,
        "seconds a connection has to send a whole request (line, headers and body) after it opens or after its previous response; slower or silent sockets are closed",
    )
    keep_alive_timeout: int = _f(5, "seconds an idle kept-alive HTTP connection stays open between requests")
    max_connections: int = _f(
        600,
        "open HTTP connections besides /live's past which uvicorn answers new requests 503 at once, before Moot sees them (0: no limit)",
    )
    http_max_per_address: int = _f(
        32,
        "HTTP requests one client (an address, or an IPv6 /64; behind MOOT_TRUSTED_PROXIES the forwarded one) may have in flight at once; more are answered 503 with Retry-After (0: no limit)",
    )
    live_max_connections: int = _f(
        300,
        "open /live sockets, a budget apart from MOOT_MAX_CONNECTIONS so they never crowd out requests; more are closed with 1013 (0: no limit)",
    )
    live_max_per_address: int = _f(
        32, "open /live sockets one client may hold; more are closed with 1013 (0: no limit)"
    )
    read_connections: int = _f(4, "SQLite read connections")
    page_cache_mb: int = _f(
        64,
        "memory for encoded JSON and rendered pages (and their compressed forms), dropped when events touch them (0: off)",
    )
    shared_cache_seconds: int = _f(
        10,
        "seconds a shared cache (a reverse proxy) may serve an anonymous page"
        " or cached JSON before asking again, and as long again while it"
        " revalidates; browsers always revalidate",
    )
    trusted_proxies: tuple[str, ...] = _f(
        (),
        "addresses or CIDR networks (comma-separated) of reverse proxies"
        " whose X-Forwarded-For and X-Forwarded-Proto are believed"
        " (empty: those headers are ignored)",
    )
    synchronous: str = _f(
        "FULL", "SQLite synchronous mode: FULL (every commit survives power loss) or NORMAL"
    )
    log_requests: bool = _f(
        True,
        "log one line per HTTP request: client address, method, path (no query string), status, duration, request id",
    )
    log_format: str = _f("text", "log lines as text or json (one JSON object per line)")
    metrics_allow: tuple[str, ...] = _f(
        (),
        "addresses or networks (127.0.0.1, 10.0.0.0/8) allowed to read /metrics in Prometheus format; empty: /metrics is off",
    )
    public_url: str = _f(
        "",
        "the site's address as readers reach it (https://forum.example.org), for links in mail; empty: http://MOOT_HOST:MOOT_PORT",
    )
    federation: bool = _f(
        False,
        "ActivityPub (docs/FEDERATION.md): each group a Group actor that fediverse users follow and reply to; needs an https MOOT_PUBLIC_URL",
    )
    federation_allow_private: bool = _f(
        False,
        "let federation fetch from and deliver to loopback, private and link-local addresses and plain http (for tests only)",
    )
    federation_give_up_hours: float = _f(
        48.0, "hours a delivery to a fediverse inbox is retried, with backoff, before it is given up"
    )
    tls_cert: str = _f(
        "", "PEM certificate chain `moot serve` answers HTTPS with (uvicorn's TLS); empty: plain HTTP"
    )
    tls_key: str = _f("", "PEM private key of MOOT_TLS_CERT; empty: the key is in that file")
    smtp_url: str = _f(
        "",
        "relay for outgoing mail: smtp://host:25, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465 (?cafile=PATH trusts a private CA); empty: mail is off",
    )
    smtp_host: str = _f("", "address the incoming-mail listener binds; empty means the same as MOOT_HOST")
    smtp_port: int = _f(0, "port of the incoming-mail listener for the list addresses (0: off)")
    smtp_idle_timeout: float = _f(300.0, "seconds of silence after which an SMTP connection is closed")
    smtp_max_connections: int = _f(100, "SMTP connections served at once; more are refused with 421")
    smtp_max_per_address: int = _f(
        10,
        "SMTP connections one client (an address, or an IPv6 /64) may hold at once (not for LMTP); more are refused with 421",
    )
    smtp_lmtp: bool = _f(False, "speak LMTP instead of SMTP on MOOT_SMTP_PORT (for an MTA's transport)")
    mail_domain: str = _f(
        "", "right-hand side of the list addresses (GROUP@MOOT_MAIL_DOMAIN); empty: MOOT_DOMAIN"
    )
    mail_max_bytes: int = _f(1048576, "largest incoming message in bytes; larger is refused (552)")
    mail_recipient_rate: int = _f(100, "mails one address may be sent per hour; more wait their turn")
    mail_retries: int = _f(8, "delivery attempts before a mail goes to the dead letters")
    mail_retry_delay: float = _f(
        60.0, "seconds before the first retry of a failed delivery; each next waits twice as long"
    )
    mail_lease: float = _f(
        120.0,
        "seconds a sender holds the mail it is handing to the relay; past it (after a crash) the mail is sent again, with the same Message-ID",
    )
    mail_poll_interval: float = _f(
        2.0,
        "seconds between looks at the mail queue for other processes' mail (this process's own is seen at once)",
    )
    mail_digest_interval: int = _f(
        86400, "seconds between digests to digest subscribers and daily notification summaries"
    )
    mail_bounce_limit: int = _f(
        3,
        "delivery failures reported to an address's return path before it is marked bouncing and mailed no more",
    )
    mail_confirm_hours: int = _f(
        48, "hours a confirmation link stays valid (an address's, or a held list mail's)"
    )
    mail_reply_key_days: int = _f(
        90,
        "days a member's personal reply address (GROUP+KEY@MOOT_MAIL_DOMAIN, in the list mail sent to them) keeps proving that a reply is theirs",
    )
    mail_authserv_id: str = _f(
        "",
        "authserv-id of the trusted relay's Authentication-Results header (RFC 8601), believed only from LMTP, `moot deliver` and MOOT_MAIL_TRUSTED_RELAYS; the relay must remove incoming headers with this id. Empty: none is believed",
    )
    mail_trusted_relays: tuple[str, ...] = _f(
        (),
        "addresses or CIDR networks (comma-separated) of relays whose SMTP connections to MOOT_SMTP_PORT count as a trusted path for MOOT_MAIL_AUTHSERV_ID; anyone else's are the public port",
    )
    mail_dkim_key: str = _f(
        "",
        "PEM file of the RSA private key that signs every mail Moot sends with DKIM (d= the list domain; `moot check` prints the DNS record to publish; docs/MAIL.md: rotation). Empty: mail goes unsigned",
    )
    mail_dkim_selector: str = _f(
        "moot",
        "DKIM selector of MOOT_MAIL_DKIM_KEY: its record is SELECTOR._domainkey.MOOT_MAIL_DOMAIN (or MOOT_DOMAIN)",
    )
    shutdown_timeout: float = _f(
        10.0,
        "seconds a stopping server (SIGTERM) lets in-flight requests finish before cancelling them (their transactions roll back)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build a Config from MOOT_* variables, then explicit overrides (CLI flags) on top."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = environ.get("MOOT_" + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).checked()

    def checked(self) -> Config:
        if not 10 <= self.password_cost <= 20:
            raise ConfigError("MOOT_PASSWORD_COST must be between 10 and 20")
        if self.synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError("MOOT_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
        if not 0 <= self.nntp_port <= 65535:
            raise ConfigError("MOOT_NNTP_PORT must be between 0 and 65535")
        if not 0 <= self.nntps_port <= 65535:
            raise ConfigError("MOOT_NNTPS_PORT must be between 0 and 65535")
        if not 0 <= self.smtp_port <= 65535:
            raise ConfigError("MOOT_SMTP_PORT must be between 0 and 65535")
        if self.smtp_url and urlsplit(self.smtp_url).scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ConfigError("MOOT_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        if self.log_format not in ("text", "json"):
            raise ConfigError("MOOT_LOG_FORMAT must be text or json")
        if not 1 <= self.read_connections <= 64:
            raise ConfigError("MOOT_READ_CONNECTIONS must be between 1 and 64")
        if self.session_days < 1:
            raise ConfigError("MOOT_SESSION_DAYS must be 1 or more")
        if self.edit_grace_minutes < 0:
            raise ConfigError("MOOT_EDIT_GRACE_MINUTES must be 0 or more")
        if self.repeat_window_hours < 0 or self.repeat_max_groups < 1:
            raise ConfigError(
                "MOOT_REPEAT_WINDOW_HOURS must be 0 or more and MOOT_REPEAT_MAX_GROUPS 1 or more"
            )
        if self.spamd and not _host_port(self.spamd):
            raise ConfigError("MOOT_SPAMD must be HOST:PORT")
        if self.spam_refuse < self.spam_hold:
            raise ConfigError("MOOT_SPAM_REFUSE must be at least MOOT_SPAM_HOLD")
        if not 0 < self.trust_new_rate_fraction <= 1:
            raise ConfigError("MOOT_TRUST_NEW_RATE_FRACTION must be more than 0 and at most 1")
        if self.trust_new_links < 0:
            raise ConfigError("MOOT_TRUST_NEW_LINKS must be 0 or more")
        if self.federation and urlsplit(self.public_url).scheme != "https":
            raise ConfigError("MOOT_FEDERATION needs MOOT_PUBLIC_URL to be an https:// address")
        if self.federation_give_up_hours <= 0:
            raise ConfigError("MOOT_FEDERATION_GIVE_UP_HOURS must be more than 0")
        for name in self.default_groups:
            validate.group_name(name)  # an Invalid names the bad entry
        for name in ("trusted_proxies", "mail_trusted_relays", "proxy_protocol"):
            for proxy in getattr(self, name):
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError as error:
                    raise ConfigError(f"MOOT_{name.upper()}: {error}") from None
        return self

    @property
    def scrypt_n(self) -> int:
        """The scrypt N of new password hashes (2 ** MOOT_PASSWORD_COST)."""
        return 2**self.password_cost

    @property
    def list_domain(self) -> str:
        """The right-hand side of list addresses: MOOT_MAIL_DOMAIN, else MOOT_DOMAIN."""
        return self.mail_domain or self.domain

    @property
    def spamd_address(self) -> tuple[str, int] | None:
        """(host, port) of MOOT_SPAMD; None when scoring is off."""
        return _host_port(self.spamd) if self.spamd else None

    @property
    def site_url(self) -> str:
        """The base of links written into mail, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes).checked()


def _host_port(text: str) -> tuple[str, int] | None:
    """HOST:PORT (an IPv6 host in brackets) as (host, port); None when malformed."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        return None
    return host, int(port)


# What a boolean setting may be written as.
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
KINDS = {int: "a whole number", float: "a number"}


def _convert(f: dataclasses.Field, raw: str) -> Any:
    """The value of MOOT_<NAME>=`raw` for field `f`; ConfigError naming the
    variable when it is not of the field's kind."""
    kind: Any = type(f.default)  # every field has a default of its own type
    name = "MOOT_" + f.name.upper()
    if kind is bool:
        word = raw.strip().lower()
        if word not in TRUE + FALSE:
            raise ConfigError(f"{name}={raw!r} is not true or false (1, true, yes, on; 0, false, no, off)")
        return word in TRUE
    if kind is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {KINDS.get(kind, 'valid')}") from None


def help_table() -> str:
    """The configuration table in Markdown, as README.md shows it."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Config):
        default = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        rows.append(f"| `MOOT_{f.name.upper()}` | `{default}` | {f.metadata['help']} |")
    return "\n".join(rows)
