"""Scenario: replies per second with 16 concurrent posters through the HTTP
API with every reply scored by a real SpamAssassin spamd (started here on a
loopback port), against the same with scoring off, in alternating rounds of
the same run. spamd's rules cost tens of milliseconds of CPU per message, so
this shows what scoring costs a busy site, not a target to meet.

    python bench/spamd.py [--seconds 8] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager

from common import Row, command_line
from posting import moot_posts

START_WAIT = 120.0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in sock.recv(100)
    except OSError:
        return False


@contextmanager
def spamd(children: int = 2):
    """A spamd on a free loopback port; yields HOST:PORT."""
    binary = shutil.which("spamd", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if binary is None:
        raise SystemExit("spamd is not installed (apt-get install spamassassin)")
    home = tempfile.mkdtemp(prefix="moot-bench-spamd-")
    os.chmod(home, 0o777)  # spamd drops root for nobody
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user = ["-u", "nobody"] if os.getuid() == 0 else []
    args = [binary, "--listen", f"127.0.0.1:{port}", "--max-children", str(children), "-x", "-L", *user]
    args += ["-H", home, "--cf", f"bayes_path {home}/bayes"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_WAIT
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("spamd did not start")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def run(seconds: int, rounds: int = 3) -> list[Row]:
    measured = []
    with spamd() as address:
        for _ in range(rounds):
            off = moot_posts(seconds, "FULL")
            on = moot_posts(seconds, "FULL", spamd=address, spamd_timeout=10)
            measured.append((on[0] / off[0], on, off))
            print(f"round: {on[0]:,.1f} replies/s scored vs {off[0]:,.1f} unscored", flush=True)
    ratio, on, off = statistics.median_low(measured)
    return [
        Row(
            "spamd",
            f"replies/s, 16 posters, each scored by spamd (2 children) (median of {rounds} rounds' ratios)",
            on[0],
            "replies/s",
            off[0],
            "scoring off, same round",
            note="every acknowledged reply checked in the database; rounds: "
            + ", ".join(f"{m[1][0]:.0f}/{m[2][0]:.0f}" for m in measured),
        ),
        Row("spamd", "reply p50 with scoring", on[1], "ms", off[1], "scoring off"),
        Row("spamd", "reply p99 with scoring", on[2], "ms", off[2], "scoring off"),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=8, rounds=3)
