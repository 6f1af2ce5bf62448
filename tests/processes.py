"""`moot` as real processes for tests: one-shot commands, and `moot serve` on
free loopback ports that it picks and announces, logging to a file, stopped
when the block ends."""

from __future__ import annotations

import functools
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# `moot serve` logs one such line per listener once it serves (as text or JSON).
LISTENING = re.compile(r"\blistening on (\w+)://[^\s\"]+:(\d+)/")
START_WAIT = 60.0  # seconds a `moot serve` may take to start on a loaded 2-core machine


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context of this test process's httpx clients (`verify=tls()`),
    made once: without it httpx loads the trusted CAs anew for every client
    and transport, about 45 ms of CPU each, which a run paid hundreds of times."""
    return ssl.create_default_context()


@contextmanager
def reserved_port() -> Iterator[int]:
    """A loopback port held for the block by a bound socket that never listens.
    Connecting to it is refused, and no other program is given it; a server
    that sets SO_REUSEADDR (uvicorn and asyncio's servers do, so `moot serve`
    does) may still listen on it. For a server that must come back at the same
    address after a restart, and for an address where nothing answers."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def moot_env(**settings) -> dict:
    """The environment for a test's `moot`: generous posting limits, a test
    domain, accounts that start as members (as conftest's sites), then
    MOOT_<NAME> for each keyword."""
    return {
        **os.environ,
        "MOOT_DOMAIN": "test.moot",
        "MOOT_POST_RATE": "100000",
        "MOOT_POST_BURST": "100000",
        "MOOT_REGISTER_RATE": "100000",
        "MOOT_PASSWORD_COST": "10",  # as conftest's ACCOUNT_HASH_N: sign-ins need not cost 0.4 s of CPU
        "MOOT_TRUST_NEW_DAYS": "0",
        "MOOT_TRUST_NEW_POSTS": "0",
        # Every test client comes from 127.0.0.1: budgets per address off
        # unless a test sets them (tests/test_doors.py).
        "MOOT_HTTP_MAX_PER_ADDRESS": "0",
        "MOOT_LIVE_MAX_PER_ADDRESS": "0",
        **{f"MOOT_{k.upper()}": str(v) for k, v in settings.items()},
    }


def moot(*args, input=None, check=True, **settings) -> subprocess.CompletedProcess:
    """Run one `moot` command to completion."""
    return subprocess.run(
        [sys.executable, "-m", "moot", *args],
        cwd=ROOT,
        env=moot_env(**settings),
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@dataclass(frozen=True)
class Ports:
    """The ports a `moot serve` listens on, as it announced them."""

    http: int
    nntp: int = 0
    smtp: int = 0
    nntps: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"


def read_listening(log_path, proc: subprocess.Popen, want=("http",), offset: int = 0) -> Ports:
    """The ports announced in `log_path` (from byte `offset`) by `moot serve`
    running as `proc`, once it has announced every listener in `want`."""
    deadline = time.monotonic() + START_WAIT
    while True:
        with open(log_path, "rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        found = {
            scheme.replace("lmtp", "smtp").replace("https", "http"): int(port)
            for scheme, port in LISTENING.findall(text)
        }
        if all(name in found for name in want):
            return Ports(**found)
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"moot serve did not start (log {log_path}):\n{text[-2000:]}")
        time.sleep(0.02)


class MootProcess(subprocess.Popen):
    """`moot serve` as its own process, logging to a file; `listening()` waits
    until it serves and gives the ports it announced."""

    def __init__(self, args: list[str], log_path, want: tuple[str, ...], env: dict) -> None:
        self.log_path, self.want = log_path, want
        with open(log_path, "ab") as log:
            self.offset = log.tell()  # a restart logs to the same file after its predecessor
            super().__init__(args, cwd=ROOT, env=env, stdout=log, stderr=log)

    def listening(self) -> Ports:
        return read_listening(self.log_path, self, self.want, self.offset)


def start_process(
    db_path,
    log_path,
    *,
    port: int | str = 0,
    nntp: int | str = 0,
    smtp: int | str = 0,
    nntps: int | str = 0,
    **settings,
) -> MootProcess:
    """`moot serve` as its own process (see MootProcess and stop_process) on
    any free port, or `port`; NNTP, SMTP and NNTPS only when `nntp`, `smtp`
    or `nntps` is a port or "any", so parallel tests never share 1119."""
    args = [sys.executable, "-m", "moot", "serve", "--db", str(db_path), "--port", str(port)]
    args += ["--nntp-port", str(nntp), "--smtp-port", str(smtp), "--nntps-port", str(nntps)]
    want = ("http", *(name for name, value in (("nntp", nntp), ("smtp", smtp), ("nntps", nntps)) if value))
    return MootProcess(args, log_path, want, moot_env(**settings))


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def moot_server(db_path, log_path, **settings):
    """A running `moot serve` for the block; yields its base URL."""
    proc = start_process(db_path, log_path, **settings)
    try:
        yield proc.listening().url
    finally:
        stop_process(proc)


def loopback_nginx_config(moot_port: int, port: int, cache: Path, *, limits: bool = True) -> str:
    """docs/nginx.conf for loopback: no TLS, these ports, this checkout's static files
    (and without its per-client request limit when `limits` is false, for load tests)."""
    text = (ROOT / "docs" / "nginx.conf").read_text()
    if not limits:
        text = re.sub(r"\n\s*limit_(req|conn) [^;]*;", "", text)
    text = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", text, count=1, flags=re.S)
    text = text.replace("    listen 443 ssl;\n", f"    listen 127.0.0.1:{port};\n")
    text = re.sub(r"    (listen \[::\]:443 ssl|http2 on|ssl_\w+ [^;]*|add_header Strict[^;]*);\n", "", text)
    text = text.replace("127.0.0.1:8080", f"127.0.0.1:{moot_port}")
    text = text.replace("/var/cache/nginx/moot", str(cache)).replace("/srv/moot/static", str(ROOT / "static"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {cache.parent}/nginx.pid;\nerror_log {cache.parent}/error.log;\n"
        f"events {{ worker_connections 256; }}\nhttp {{\naccess_log off;\n"
        f"client_body_temp_path {cache.parent}/body;\nproxy_temp_path {cache.parent}/proxy;\n"
        f"fastcgi_temp_path {cache.parent}/fcgi;\nuwsgi_temp_path {cache.parent}/uwsgi;\n"
        f"scgi_temp_path {cache.parent}/scgi;\n{text}\n}}\n"
    )


class NginxUnusable(Exception):
    """nginx refuses the configuration (`nginx -t`); the message is its complaint."""


def start_nginx(
    nginx: str, folder: Path, moot_port: int, *, limits: bool = True
) -> tuple[subprocess.Popen, int]:
    """nginx in the foreground with loopback_nginx_config in front of Moot on
    `moot_port`, and the port it listens on. Its configuration must name the
    port, so a free one is picked; should another program take it before nginx
    binds it, nginx exits saying so and the next free port is tried. nginx has
    bound its port once it writes its pid file."""
    conf, pid, errors = folder / "nginx.conf", folder / "nginx.pid", folder / "error.log"
    for _ in range(10):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        conf.write_text(loopback_nginx_config(moot_port, port, folder / "cache", limits=limits))
        check = subprocess.run(
            [nginx, "-t", "-p", str(folder), "-c", str(conf)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise NginxUnusable(check.stderr.strip()[-300:])
        pid.unlink(missing_ok=True)
        errors.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [nginx, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_WAIT
        while proc.poll() is None and not pid.exists():
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"nginx did not start on port {port}")
            time.sleep(0.02)
        if proc.poll() is None:
            return proc, port
        log = errors.read_text() if errors.exists() else ""
        if "Address already in use" not in log:
            raise RuntimeError(f"nginx stopped on port {port}:\n{log[-2000:]}")
    raise RuntimeError("nginx found no free port in ten tries")
