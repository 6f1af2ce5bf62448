"""The `moot` command: thin adapters over the same functions the API uses."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import logging
import math
import os
import re
import socket
import sqlite3
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from .people import accounts
from .store.config import Config, ConfigError
from .store.db import Database
from .store.errors import MootError, NotFound
from .store.migrate import NotMoot, SchemaNewer

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import Message

    from .articles.importer import Report
    from .stewardship.permissions import User

T = TypeVar("T")


# `moot serve --port any` (and --nntp-port, --smtp-port): a free port, chosen
# when the listener is bound and announced once the server listens.
ANY_PORT = "any"
# --remove-days of `moot suspend` and `moot ban`: the one-action cleanup after a spam run.
REMOVE_DAYS_HELP = "also remove what they posted in the last D days (1-3650; at most 1000 articles)"


def _listen_port(text: str) -> int | str:
    """argparse type of the serve ports: a number, or `any`."""
    return ANY_PORT if text == ANY_PORT else int(text)


def _positive(text: str) -> int:
    """argparse type of a count that must be 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _site_url(text: str) -> str:
    """argparse type of a site's address as readers reach it: http or https, with a host."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// address")
    return text


def _config(args: argparse.Namespace) -> Config:
    def port(name: str) -> int | None:
        value = getattr(args, name, None)
        return None if value == ANY_PORT else value

    return Config.from_env(
        db_path=getattr(args, "db", None),
        host=getattr(args, "host", None),
        port=port("port"),
        nntp_host=getattr(args, "nntp_host", None),
        nntp_port=port("nntp_port"),
        nntps_port=port("nntps_port"),
        smtp_port=port("smtp_port"),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
    )


def _existing(config: Config) -> None:
    """Refuse (NotMoot) a database path where there is no file: a command that
    only reads or uses a site must not make an empty one (a mistyped path)."""
    if not Path(config.db_path).is_file():
        raise NotMoot(f"no database at {config.db_path} (`moot init` makes one)")


@asynccontextmanager
async def _database(config: Config) -> AsyncIterator[Database]:
    db = await Database(config.db_path, read_connections=1, synchronous=config.synchronous).open()
    try:
        yield db
    finally:
        await db.close()


def _on_database(config: Config, action: Callable[[Database], Awaitable[T]]) -> T:
    """Open the database, return `await action(db)`, close it: one CLI command's work."""

    async def run() -> T:
        async with _database(config) as db:
            return await action(db)

    return asyncio.run(run())


# Each listener: its name in messages, and the option and variable that set its port.
LISTENERS = {
    "http": ("HTTP", "--port, MOOT_PORT"),
    "nntp": ("NNTP", "--nntp-port, MOOT_NNTP_PORT; 0 turns it off"),
    "nntps": ("NNTPS", "--nntps-port, MOOT_NNTPS_PORT"),
    "smtp": ("SMTP", "--smtp-port, MOOT_SMTP_PORT"),
}


def _bind_ports(args: argparse.Namespace, config: Config) -> tuple[Config, dict[str, socket.socket]]:
    """A listening socket for each listener that is on: on a free port for
    one asked for as `any` (and HTTP's port 0), and the configuration naming
    the ports they got. The servers are handed these sockets, so no port is
    let go between being chosen and being served, and every link and log line
    has the real port. A port that cannot be had (another server holds it; one
    below 1024 without the privilege) stops the start before anything is
    announced, naming the listener and its option."""
    wanted = {
        "http": ("port", config.host, args.port == ANY_PORT or config.port == 0),
        "nntp": ("nntp_port", config.nntp_host or config.host, args.nntp_port == ANY_PORT),
        "nntps": ("nntps_port", config.nntp_host or config.host, args.nntps_port == ANY_PORT),
        "smtp": ("smtp_port", config.smtp_host or config.host, args.smtp_port == ANY_PORT),
    }
    sockets: dict[str, socket.socket] = {}
    for name, (option, host, free) in wanted.items():
        fixed = 0 if free else getattr(config, option)
        if not (free or fixed):
            continue  # off
        family = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][0]
        try:
            sockets[name] = socket.create_server((host, fixed), family=family)
        except OSError as error:
            for sock in sockets.values():
                sock.close()
            hint = {
                errno.EADDRINUSE: ": another server listens there",
                errno.EACCES: ": ports below 1024 need root or CAP_NET_BIND_SERVICE",
            }.get(error.errno or 0, "")
            label, where = LISTENERS[name]
            reason = os.strerror(error.errno) if error.errno else str(error)
            print(
                f"moot: cannot listen for {label} on {host}:{fixed} ({where}): {reason}{hint}",
                file=sys.stderr,
            )
            raise SystemExit(2) from None
    ports = {wanted[name][0]: sock.getsockname()[1] for name, sock in sockets.items()}
    return config.replace(**ports), sockets


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from .app import create_app
    from .nntp import tls as nntp_tls
    from .web.connections import request_deadline_protocol
    from .web.ops import GracefulServer, configure_logging

    config = _config(args)
    configure_logging(config.log_format)
    config, sockets = _bind_ports(args, config)
    if config.nntp_port or config.nntps_port:
        try:
            nntp_tls.server_context(config)  # an unusable certificate stops the start, saying why
        except nntp_tls.TLSConfigError as error:
            print(f"moot: {error}", file=sys.stderr)
            return 2
    if config.tls_cert:
        try:  # an unusable certificate stops the start, saying why
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                config.tls_cert, config.tls_key or None
            )
        except (OSError, ssl.SSLError) as error:
            print(
                f"moot: cannot serve HTTPS with {config.tls_cert} (--tls-cert, MOOT_TLS_CERT): {error}",
                file=sys.stderr,
            )
            return 2
    if config.smtp_url:
        from .mail import signing

        try:
            signing.Signer.from_config(config)  # an unusable DKIM key stops the start, saying why
        except signing.DkimConfigError as error:
            print(f"moot: {error}", file=sys.stderr)
            return 2
    _on_database(config, _nothing)  # create or upgrade the database before serving
    web = f"{'https' if config.tls_cert else 'http'}://{config.host}:{config.port}/"
    print(f"Moot serving {config.db_path} at {web}", flush=True)
    if config.nntp_port:
        print(f"NNTP at nntp://{config.nntp_host or config.host}:{config.nntp_port}/", flush=True)
    if config.nntps_port:
        print(f"NNTPS at nntps://{config.nntp_host or config.host}:{config.nntps_port}/", flush=True)
    if config.smtp_port:
        print(
            f"{'LMTP' if config.smtp_lmtp else 'SMTP'} for @{config.list_domain} at"
            f" {config.smtp_host or config.host}:{config.smtp_port}",
            flush=True,
        )
    listening = [web]
    if config.nntp_port:
        listening.append(f"nntp://{config.nntp_host or config.host}:{config.nntp_port}/")
    if config.nntps_port:
        listening.append(f"nntps://{config.nntp_host or config.host}:{config.nntps_port}/")
    if config.smtp_port:
        scheme = "lmtp" if config.smtp_lmtp else "smtp"
        listening.append(f"{scheme}://{config.smtp_host or config.host}:{config.smtp_port}/")

    class Announcing(GracefulServer):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            # Logged once every listener is serving: scripts and tests that
            # asked for `any` port read the port from these lines.
            for url in listening:
                logging.getLogger("moot").info("listening on %s", url)

    # /live: no permessage-deflate (it costs ~34 KiB per connection and a third
    # more latency for small events); the frame limit refuses a huge message
    # before it is buffered, with the same 1009 the endpoint uses.
    # Connections: uvicorn's keep-alive timeout closes idle kept-alive
    # connections; limit_concurrency answers 503 at once past MOOT_MAX_CONNECTIONS
    # and MOOT_LIVE_MAX_CONNECTIONS together (below the usual 1,024 file
    # descriptors) instead of failing to accept;
    # and the request protocol (server/web/connections.py) caps a request's
    # head at 16 KiB and closes silent and trickling sockets, which no uvicorn
    # setting does.
    app = create_app(config, {k: v for k, v in sockets.items() if k != "http"})
    server = Announcing(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            http=request_deadline_protocol(config.request_timeout, app.state.site),
            timeout_keep_alive=config.keep_alive_timeout,
            # /live sockets have a budget of their own on top (server/web/connections.py).
            limit_concurrency=config.max_connections + config.live_max_connections
            if config.max_connections
            else None,
            ws_ping_interval=None,
            ws_per_message_deflate=False,
            ws_max_size=config.live_max_message,
            # X-Forwarded-For and -Proto are read by the app's own middleware, from
            # MOOT_TRUSTED_PROXIES only (server/app.py); uvicorn's stays off.
            proxy_headers=False,
            access_log=False,  # Moot logs each request itself (web/ops.py), without query strings
            log_config=None,  # configure_logging formats uvicorn's lines too
            # uvicorn takes whole seconds: rounded up, so the bound is never shortened
            timeout_graceful_shutdown=math.ceil(config.shutdown_timeout),
            ssl_certfile=config.tls_cert or None,
            ssl_keyfile=config.tls_key or None,
        ),
    )
    # uvicorn re-raises the SIGTERM it handled once it has stopped; a stop that
    # went as planned is a clean exit (status 0), not a death by signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run([sockets["http"]] if "http" in sockets else None)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


async def _nothing(db: Database) -> None:
    return None


def cmd_init(args: argparse.Namespace) -> int:
    config = _config(args)
    _on_database(config, _nothing)
    print(f"initialised {config.db_path}")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first


def cmd_adduser(args: argparse.Namespace) -> int:
    config = _config(args)
    role = "admin" if args.admin else "moderator" if args.moderator else "member"
    password = _read_password(args)
    user = _on_database(
        config,
        lambda db: accounts.create_user(
            db,
            args.username,
            password,
            args.display_name,
            role,
            welcome=accounts.Welcome(config.default_groups),
            n=config.scrypt_n,
        ),
    )
    print(f"added {user.username} ({user.role})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    config = _config(args)
    print(_on_database(config, lambda db: demo.build(db, config)))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .articles import groups, importer

    config = _config(args)

    importer.check_source(args.file)  # before a group is made for it

    async def run(db: Database) -> Report:
        if args.create:
            async with db.transaction() as conn:
                try:
                    await groups.get_group_row(conn, args.group)
                except NotFound:
                    await groups.create_group(conn, None, args.group, reason="import")
        return await importer.import_path(
            db, args.file, args.group, batch_size=args.batch, progress_stream=sys.stderr
        )

    report = _on_database(config, run)
    print(report.summary())
    return 0 if report.skipped == 0 else 1


def cmd_get(args: argparse.Namespace) -> int:
    from .app import create_app

    # In-process, with no listener: not even MOOT_NNTP_PORT's default, which a
    # running server (or another `moot get`) may hold.
    config = _config(args).replace(nntp_port=0, nntps_port=0, smtp_port=0)
    status, body = asyncio.run(request_in_process(create_app(config), "GET", args.path))
    try:
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    except ValueError:
        sys.stdout.write(body.decode("utf-8", "replace"))
    return 0 if status < 400 else 1


async def request_in_process(
    app: Starlette, method: str, target: str, body: bytes = b""
) -> tuple[int, bytes]:
    """Run one HTTP request through the ASGI app, lifespan included; no socket."""
    url = urlsplit(target)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": url.path or "/",
        "raw_path": (url.path or "/").encode(),
        "query_string": url.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 0),
        "server": ("localhost", 80),
        "app": app,
    }
    status = 0
    chunks: list[bytes] = []
    requested, answered = False, asyncio.Event()

    async def receive() -> Message:
        # The body once; then, as a server does, nothing until the client leaves:
        # a streaming response listens for that while it sends (asking again at
        # once, forever, would leave it no turn to send).
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    return status, b"".join(chunks)


def cmd_role(args: argparse.Namespace) -> int:
    from .stewardship import maintenance

    config = _config(args)

    async def change(db: Database) -> User:
        async with db.transaction() as conn:
            return await maintenance.change_role(conn, None, args.username, args.role, args.reason)

    user = _on_database(config, change)
    print(f"{user.username} is now {user.role}")
    return 0


def cmd_suspend(args: argparse.Namespace) -> int:
    from .stewardship import suspensions

    config = _config(args)

    async def suspend(db: Database) -> dict:
        async with db.transaction() as conn:
            return await suspensions.suspend(
                conn, None, args.username, args.days, args.reason, remove_days=args.remove_days
            )

    found = _on_database(config, suspend)
    print(f"{found['user']['username']} is suspended until {found['user']['suspended_until']}")
    _print_removed(found, args.remove_days)
    return 0


def _print_removed(found: dict, remove_days: int | None) -> None:
    if remove_days is not None:
        print(
            f"{found['removed']} articles of the last {remove_days} days removed (log entry {found['entry_id']})"
        )


def cmd_ban(args: argparse.Namespace) -> int:
    from .stewardship import bans

    config = _config(args)

    async def ban(db: Database) -> dict:
        async with db.transaction() as conn:
            return await bans.ban(
                conn, None, args.group, args.author, args.days, args.reason, remove_days=args.remove_days
            )

    found = _on_database(config, ban)
    print(f"{found['ban']['author']} is banned from {args.group} until {found['ban']['until']}")
    _print_removed(found, args.remove_days)
    return 0


def cmd_unban(args: argparse.Namespace) -> int:
    from .stewardship import bans

    config = _config(args)

    async def unban(db: Database) -> dict:
        async with db.transaction() as conn:
            return await bans.unban(conn, None, args.group, args.author, args.reason)

    found = _on_database(config, unban)
    print(f"{found['ban']['author']} is no longer banned from {args.group}")
    return 0


def cmd_unsuspend(args: argparse.Namespace) -> int:
    from .stewardship import suspensions

    config = _config(args)

    async def unsuspend(db: Database) -> dict:
        async with db.transaction() as conn:
            return await suspensions.unsuspend(conn, None, args.username, args.reason)

    found = _on_database(config, unsuspend)
    print(f"{found['username']} is no longer suspended")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    from .people import accounts, resets

    config = _config(args)

    async def issue(db: Database) -> tuple:
        secret = config.secret_key or await accounts.get_secret(db)
        async with db.transaction() as conn:
            return await resets.issue(conn, secret, args.username)

    user, token = _on_database(config, issue)
    base = (args.base_url or f"http://{config.host}:{config.port}").rstrip("/")
    print(f"{base}{resets.PATH}{token}")
    print(
        f"One use, valid for {resets.VALID_SECONDS // 60} minutes: it sets a new password for "
        f"{user.username} and signs out their sessions.",
        file=sys.stderr,
    )
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .mail import queuemail
    from .stewardship import sweep

    config = _config(args)
    print(json.dumps(_on_database(config, lambda db: sweep.sweep(db, config, jobs=[queuemail.job]))))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from .store import migrate

    config = _config(args)
    if args.status:
        conn = migrate.connect(config.db_path)
        try:
            version = migrate.schema_version(conn)
            print(f"{config.db_path}: schema version {version}; this Moot's is {migrate.SCHEMA_VERSION}")
            for row in migrate.history(conn):
                print(
                    f"  {row['version']:>3} {row['name']:<24} {row['started_at']} -> "
                    f"{row['finished_at'] or 'unfinished'}  backup: {row['backup'] or '-'}"
                )
        finally:
            conn.close()
        return 0 if version == migrate.SCHEMA_VERSION else 1
    before = migrate.upgrade(config.db_path, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if before == migrate.SCHEMA_VERSION:
        print(f"{config.db_path} is at schema version {before}: nothing to do")
    else:
        print(f"{config.db_path} upgraded from schema version {before} to {migrate.SCHEMA_VERSION}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from .store import backup

    config = _config(args)
    _existing(config)
    if not Path(args.file).resolve().parent.is_dir():
        raise NotMoot(f"no folder {Path(args.file).resolve().parent} to write the copy {args.file} in")
    report = backup.backup(config.db_path, args.file)
    if not report.ok:
        print(report.text(), file=sys.stderr)
        print(f"moot: the copy at {args.file} fails its check", file=sys.stderr)
        return 1
    print(f"backed up {config.db_path} to {args.file} (checked)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .store import backup

    config = _config(args)
    kept = backup.restore(args.file, config.db_path)
    print(
        f"restored {config.db_path} from {args.file}"
        + (f"; the database it replaced is kept at {kept}" if kept else "")
    )
    return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    """One message on stdin for a group's address, as an MTA's pipe transport
    hands it over; the exit status is a sysexits.h code the MTA understands
    (0 taken, 65 unreadable, 67 no such list, 75 try later, 77 refused). A
    database that is missing or cannot be used is 75: the MTA keeps the
    message and tries again, where a 67 would bounce it for good."""
    from .mail import inbound
    from .mail.mailing import group_address
    from .runtime.site import Site

    config = _config(args)
    try:
        _existing(config)
    except NotMoot as error:
        print(f"moot: 451 {error}; try later", file=sys.stderr)
        return os.EX_TEMPFAIL
    data = sys.stdin.buffer.read(config.mail_max_bytes + 1)
    sender = args.sender
    if sender is None:  # without --sender, the Return-Path the MTA wrote (RFC 5321 §4.4)
        head = data.split(b"\n\n", 1)[0]
        found = re.search(rb"^Return-Path:[ \t]*<([^>\r\n]*)>", head, re.I | re.M)
        sender = found[1].decode("latin-1") if found else "unknown"

    async def run() -> inbound.Outcome:
        site = Site(config, Database(config.db_path, read_connections=1, synchronous=config.synchronous))
        await site.start()
        try:
            # The MTA's pipe is a trusted path: its Authentication-Results are believed.
            address = group_address(args.group, config.list_domain)
            return await inbound.deliver(site, address, data, sender, trusted=True)
        finally:
            await site.stop()

    try:
        outcome = asyncio.run(run())
    except (sqlite3.DatabaseError, NotMoot, SchemaNewer) as error:
        print(
            f"moot: 451 the database at {config.db_path} cannot be used: {error}; try later", file=sys.stderr
        )
        return os.EX_TEMPFAIL
    print(f"moot: {outcome.code} {outcome.text}", file=sys.stderr if not outcome.accepted else sys.stdout)
    return outcome.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    from .store import check

    config = _config(args)
    _existing(config)
    report = check.check(config.db_path, quick=args.quick)
    print(f"spam scoring: {asyncio.run(_spamd_status(config))}")  # before the verdict, the last line
    dkim_ok = _dkim_status(config)
    print(report.text())
    return 0 if report.ok and dkim_ok else 1


def _dkim_status(config: Config) -> bool:
    """Print whether mail is signed with DKIM (MOOT_MAIL_DKIM_KEY) and the DNS
    record to publish for it; False when the key cannot be used."""
    from .mail import signing

    try:
        signer = signing.Signer.from_config(config)
    except signing.DkimConfigError as error:
        print(f"DKIM signing: error: {error}")
        return False
    if signer is None:
        print("DKIM signing: off (MOOT_MAIL_DKIM_KEY is empty)")
        return True
    print(f"DKIM signing: on, d={signer.domain} s={signer.selector}, RSA {signer.bits} bits; publish:")
    print(f"  {signer.record()}")
    return True


async def _spamd_status(config: Config) -> str:
    """Whether articles are scored by spamd (MOOT_SPAMD), and whether it answers."""
    from .runtime.spamd import Spamd
    from .stewardship.spam import Policy

    address = config.spamd_address
    if address is None:
        return "off (MOOT_SPAMD is empty)"
    return "on, " + await Spamd(*address, config.spamd_timeout, Policy.from_config(config)).ping()


def cmd_peer(args: argparse.Namespace) -> int:
    from .news import peers

    config = _config(args)
    if args.peer_command == "add":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        direction = "incoming" if args.incoming_only else "outgoing" if args.outgoing_only else "both"

        async def add(db: Database) -> dict:
            async with db.transaction() as conn:
                return await peers.add_peer(
                    conn,
                    args.name,
                    args.peer_host,
                    args.peer_port,
                    groups=args.groups,
                    direction=direction,
                    password=password,
                )

        peer = _on_database(config, add)
        print(
            f"added peer {peer['name']} ({peer['host']}:{peer['port']}, {peer['direction']},"
            f" groups {peer['groups']}{', shared secret' if peer['authenticated'] else ''})"
        )
        return 0
    if args.peer_command == "remove":

        async def remove(db: Database) -> None:
            async with db.transaction() as conn:
                await peers.remove_peer(conn, args.name)

        _on_database(config, remove)
        print(f"removed peer {args.name}")
        return 0

    async def listing(db: Database) -> list[dict]:
        async with db.read() as conn:
            return await peers.list_peers(conn)

    listed = _on_database(config, listing)
    if args.json:
        print(json.dumps(listed, indent=2))
        return 0
    print(f"{'name':<24} {'address':<28} {'direction':<9} {'backlog':>7}  groups / last error")
    for p in listed:
        print(
            f"{p['name']:<24} {p['host'] + ':' + str(p['port']):<28} {p['direction']:<9} {p['backlog']:>7}"
            f"  {p['groups']}"
            + (f"\n{'':<24} last error {p['last_error_at']}: {p['last_error']}" if p["last_error"] else "")
        )
    return 0


GROUP_STATUSES = {"y": "open", "m": "moderated", "n": "read-only"}


def cmd_group(args: argparse.Namespace) -> int:
    from .articles import groups
    from .stewardship import actions

    config = _config(args)
    if args.group_command == "create":

        async def create(db: Database) -> dict:
            async with db.transaction() as conn:
                return await groups.create_group(
                    conn, None, args.name, args.description, args.charter, args.status
                )

        found = _on_database(config, create)
        print(f"created {found['name']} ({GROUP_STATUSES[found['status']]})")
        return 0

    async def home(db: Database) -> dict:
        if args.node is None:
            async with db.read() as conn:
                return actions.home_json(await groups.get_group_row(conn, args.name), config.domain)
        async with db.transaction() as conn:
            await actions.set_home(conn, None, args.name, args.node, args.reason)
            return actions.home_json(await groups.get_group_row(conn, args.name), config.domain)

    found = _on_database(config, home)
    print(f"{args.name}: home node {found['node']}{' (this node)' if found['here'] else ''}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="moot", description="Moot, a USENET-style discussion server.")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, fn: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--db", help="database file (default: $MOOT_DB_PATH or moot.db)")
        p.set_defaults(fn=fn)
        return p

    p = command("serve", cmd_serve, "serve the web site, API and live updates")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=_listen_port, help="listen port (default 8080; 0 or `any`: a free port)")
    p.add_argument("--nntp-host", help="NNTP listen address (default: the same as --host)")
    p.add_argument(
        "--nntp-port",
        type=_listen_port,
        help="NNTP listen port (default 1119; 0 turns NNTP off; `any`: a free port)",
    )
    p.add_argument(
        "--nntps-port",
        type=_listen_port,
        help="NNTPS (TLS from the first byte) listen port, usually 563; needs MOOT_NNTP_TLS_CERT"
        " (default 0: off; `any`: a free port)",
    )
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain (MOOT_TLS_CERT)")
    p.add_argument(
        "--tls-key", help="the PEM private key of --tls-cert, when not in that file (MOOT_TLS_KEY)"
    )
    p.add_argument(
        "--smtp-port",
        type=_listen_port,
        help="SMTP (or LMTP) port for the list addresses (default 0: off; `any`: a free port)",
    )
    command("init", cmd_init, "create and initialise the database")
    p = command("adduser", cmd_adduser, "add an account (password read from the terminal or stdin)")
    p.add_argument("username")
    p.add_argument("--display-name")
    role = p.add_mutually_exclusive_group()
    role.add_argument("--admin", action="store_true")
    role.add_argument("--moderator", action="store_true")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("demo", cmd_demo, "fill the database with a small demo site (skipped if it has groups)")
    p = command("import", cmd_import, "import an mbox file or a Maildir folder into a group")
    p.add_argument("file", help="an mbox file or a Maildir folder")
    p.add_argument("--group", required=True, help="the group that receives the articles")
    p.add_argument("--create", action="store_true", help="create the group if it does not exist")
    p.add_argument("--batch", type=_positive, default=1000, help="messages per transaction (default 1000)")
    p = command("get", cmd_get, "run one API GET in-process and print the JSON")
    p.add_argument("path", help="for example /api/groups")
    p = command("role", cmd_role, "grant or revoke a role (logged publicly)")
    p.add_argument("username")
    p.add_argument("role", choices=["member", "moderator", "admin"])
    p.add_argument("--reason", default="", help="shown in the moderation log")
    p = command(
        "suspend",
        cmd_suspend,
        "suspend an account site-wide: it reads but cannot post, reply, edit, propose or endorse"
        " (logged publicly)",
    )
    p.add_argument("username")
    p.add_argument("--days", type=int, required=True, help="how long, in whole days (1-3650)")
    p.add_argument("--reason", required=True, help="why; shown on their profile and in the moderation log")
    p.add_argument("--remove-days", type=_positive, help=REMOVE_DAYS_HELP + ", in every group")
    p = command("unsuspend", cmd_unsuspend, "end an account's suspension now (logged publicly)")
    p.add_argument("username")
    p.add_argument("--reason", default="", help="shown in the moderation log")
    p = command(
        "ban", cmd_ban, "ban an author from one group: they read but cannot post there (logged publicly)"
    )
    p.add_argument("author", help="a username, or mail:ADDRESS, domain:NAME or peer:NODE")
    p.add_argument("--group", required=True, help="the group they are banned from")
    p.add_argument("--days", type=int, required=True, help="how long, in whole days (1-3650)")
    p.add_argument("--reason", required=True, help="why; shown in the moderation log")
    p.add_argument("--remove-days", type=_positive, help=REMOVE_DAYS_HELP + " in the group")
    p = command("unban", cmd_unban, "end an author's ban from a group now (logged publicly)")
    p.add_argument("author", help="a username, or mail:ADDRESS, domain:NAME or peer:NODE")
    p.add_argument("--group", required=True, help="the group they were banned from")
    p.add_argument("--reason", default="", help="shown in the moderation log")
    p = command(
        "reset-password",
        cmd_reset_password,
        "print a one-time link (valid for an hour) that sets a new password for an account",
    )
    p.add_argument("username")
    p.add_argument(
        "--base-url", type=_site_url, help="the site's address as readers reach it (default http://HOST:PORT)"
    )
    command("sweep", cmd_sweep, "run the archive and queue sweep once and print what it did")
    p = command("migrate", cmd_migrate, "upgrade the database to this Moot's schema (backup taken first)")
    p.add_argument(
        "--status",
        action="store_true",
        help="only show the schema version and the upgrades applied (exit 1 if behind)",
    )
    p = command("backup", cmd_backup, "copy the database to FILE while the site runs, then check the copy")
    p.add_argument("file")
    p = command(
        "restore",
        cmd_restore,
        "replace the database with a checked backup (refused while a server has it open)",
    )
    p.add_argument("file")
    p = command(
        "deliver", cmd_deliver, "post one mail read on stdin to a group, as an MTA's pipe delivers it"
    )
    p.add_argument("--group", required=True, help="the group whose address the mail was sent to")
    p.add_argument(
        "--sender", help="the envelope sender (empty for a bounce); default: the Return-Path header"
    )
    p = command("check", cmd_check, "check the database's integrity, counters, trees and indexes")
    p.add_argument("--quick", action="store_true", help="SQLite's quick_check instead of the full one")
    p = command("peer", cmd_peer, "configure news peers (docs/PEERING.md); a running server picks changes up")
    peer = p.add_subparsers(dest="peer_command", required=True)
    add = peer.add_parser("add", help="add a peer; NAME is its Path name (its pathhost)")
    add.add_argument("name")
    add.add_argument("--host", dest="peer_host", required=True, help="the peer's NNTP host")
    add.add_argument(
        "--port", dest="peer_port", type=int, default=119, help="the peer's NNTP port (default 119)"
    )
    add.add_argument("--groups", default="*", help="wildmat of the groups exchanged (default *)")
    direction = add.add_mutually_exclusive_group()
    direction.add_argument("--incoming-only", action="store_true", help="only accept articles from it")
    direction.add_argument("--outgoing-only", action="store_true", help="only send articles to it")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a secret shared with the peer from stdin (AUTHINFO both ways)",
    )
    rm = peer.add_parser("remove", help="remove a peer and its queue")
    rm.add_argument("name")
    ls = peer.add_parser("list", help="peers with their backlog and last error")
    ls.add_argument("--json", action="store_true")
    for sp in (add, rm, ls):
        sp.add_argument("--db", help="database file (default: $MOOT_DB_PATH or moot.db)")
        sp.set_defaults(fn=cmd_peer)
    p = command(
        "group", cmd_group, "create a group; a group's settings across peered nodes (docs/PEERING.md)"
    )
    group = p.add_subparsers(dest="group_command", required=True)
    create = group.add_parser("create", help="create a group, as an admin (logged publicly)")
    create.add_argument("name", help="the group's name, such as rec.music.folk")
    create.add_argument("--description", default="", help="one line shown in group lists")
    create.add_argument("--charter", default="", help="what the group is for, shown on its page")
    create.add_argument(
        "--status",
        choices=list(GROUP_STATUSES),
        default="y",
        help="y open to members (the default), m moderated, n read-only",
    )
    create.add_argument("--db", help="database file (default: $MOOT_DB_PATH or moot.db)")
    create.set_defaults(fn=cmd_group)
    home = group.add_parser(
        "home", help="show or set the node (Path name) where splits, merges and moves of a group are made"
    )
    home.add_argument("name", help="the group")
    home.add_argument("node", nargs="?", help="the home node's Path name (its MOOT_DOMAIN); omit to show it")
    home.add_argument("--reason", help="shown in the public moderation log")
    home.add_argument("--db", help="database file (default: $MOOT_DB_PATH or moot.db)")
    home.set_defaults(fn=cmd_group)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except MootError as error:
        print(f"moot: {error.message}", file=sys.stderr)
        return 2
    except (NotMoot, ConfigError) as error:
        print(f"moot: {error}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as error:  # not a database, or one SQLite cannot open or write
        where = getattr(args, "db", None) or os.environ.get("MOOT_DB_PATH") or "moot.db"
        print(f"moot: the database {where} cannot be used: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of the output left early (`moot get ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 1
