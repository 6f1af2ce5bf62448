"""A real SpamAssassin spamd (Debian's `spamassassin`) on a loopback port,
for the tests and the bench: started with its own Bayes database in a folder
of its own, stopped and removed at the end."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import reserved_port


class SpamdUnusable(Exception):
    """spamd is not installed, or did not start; the message says which."""


class Spamd:
    """A running spamd: its `address` (HOST:PORT) and the folder of its Bayes database."""

    def __init__(self, port: int, home: str):
        self.address, self.home = f"127.0.0.1:{port}", home

    def learnt(self) -> dict[str, int]:
        """nspam and nham of spamd's Bayes database (`sa-learn --dump magic`)."""
        out = subprocess.run(
            ["sa-learn", "--dbpath", f"{self.home}/bayes", "--dump", "magic"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return {
            name: int(n) for n, name in re.findall(r"(\d+)\s+\d+\s+non-token data: (nspam|nham)$", out, re.M)
        }


def answers(port: int) -> bool:
    """Whether a spamd on `port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in sock.recv(100)
    except OSError:
        return False


@contextmanager
def running_spamd(*, children: int, start_wait: float, allow_tell: bool = False) -> Iterator[Spamd]:
    """spamd with `children` children, answering within `start_wait` seconds
    (it compiles its rules at start), or SpamdUnusable."""
    binary = shutil.which("spamd", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if binary is None:
        raise SpamdUnusable("spamd is not installed (./run tests installs Debian's spamassassin as root)")
    # spamd drops root for nobody, who keeps the Bayes database here: a folder
    # nobody can reach (temporary folders are their owner's only)
    home = Path(tempfile.mkdtemp(prefix="moot-spamd-"))
    home.chmod(0o777)
    as_root = ["-u", "nobody"] if os.getuid() == 0 else []  # spamd will not run as root
    log = home / "spamd.log"
    args = [binary, "--max-children", str(children), "-x", "-L", *as_root, "-H", str(home)]
    args += ["--cf", f"bayes_path {home}/bayes", "-s", "stderr", *(["--allow-tell"] if allow_tell else [])]
    with reserved_port() as port, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [*args, "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + start_wait
        while not answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SpamdUnusable(f"spamd did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield Spamd(port, str(home))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
