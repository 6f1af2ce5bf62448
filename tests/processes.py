"""`moot` as real processes for tests: one-shot commands, and `moot serve` on a
free loopback port, logging to a file, stopped when the block ends."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moot_env(**settings) -> dict:
    """The environment for a test's `moot`: generous posting limits, a test
    domain, then MOOT_<NAME> for each keyword."""
    return {
        **os.environ,
        "MOOT_DOMAIN": "test.moot",
        "MOOT_POST_RATE": "100000",
        "MOOT_POST_BURST": "100000",
        "MOOT_REGISTER_RATE": "100000",
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


def start_process(db_path, port: int, log_path, nntp_port: int = 0, **settings) -> subprocess.Popen:
    """`moot serve` as its own process (see wait_listening and stop_process);
    NNTP only on `nntp_port` when given, so parallel tests never share 1119."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moot",
                "serve",
                "--db",
                str(db_path),
                "--port",
                str(port),
                "--nntp-port",
                str(nntp_port),
            ],
            cwd=ROOT,
            env=moot_env(**settings),
            stdout=log,
            stderr=log,
        )


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moot serve on port {port} did not start") from None
            time.sleep(0.05)


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
    port = free_port()
    proc = start_process(db_path, port, log_path, **settings)
    try:
        wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}"
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
