"""INN2 on loopback for the peering tests and benchmark (see INN2 notes in
docs/PEERING.md): configured for a port, a feed to one Moot node through
innfeed, and the groups it needs; started and stopped as the news user.
Needs root and Debian's inn2 (`./run tests` installs it as root)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ETC = Path("/etc/news")
BIN = Path("/usr/lib/news/bin")
PATHHOST = "inn.example.test"
# One INN2 per machine: tests and benchmarks of this checkout take turns.
LOCK = Path("/tmp/moot-inn2.lock")
# It listens on its usual port: a privileged one, outside the range the system
# hands out, so while the lock is held no other program can be given it.
PORT = 119
PID = Path("/run/news/innd.pid")
# Articles innfeed keeps in flight on a connection (max-queue-size): a benchmark's burst.
QUEUE = 5000
# innfeed's connections to the Moot node it feeds (initial- and max-connections).
CONNECTIONS = 4
# What inn() adds to newsfeeds and innfeed.conf starts with this line; a run
# killed before it restored them left its feed behind, which is cut off here
# (innfeed refuses a file that sets a key twice, and would feed nobody).
MARK = "# Moot's tests: a feed to a Moot node (removed when they stop)"


def unavailable() -> str | None:
    """Why INN2 cannot run here, or None."""
    if os.geteuid() != 0:
        return "INN2 is configured and started as root; run the suite as root (./run tests)"
    if not (BIN / "rc.news").exists():
        return "Debian's inn2 is not installed (./run tests installs it as root)"
    return None


def _setting(text: str, key: str, value: str) -> str:
    line = f"{key}: {value}"
    pattern = re.compile(rf"^#?\s*{re.escape(key)}:.*$", re.M)
    return pattern.sub(line, text, count=1) if pattern.search(text) else text + line + "\n"


def as_news(command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["su", "news", "-s", "/bin/sh", "-c", command],
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ctlinnd(*args: str) -> subprocess.CompletedProcess:
    return as_news(f"{BIN}/ctlinnd -t 20 " + " ".join(args), check=False)


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"INN2 does not listen on {port}") from None
            time.sleep(0.2)


def _running_innd() -> int | None:
    """The process id of the running innd, or None. Its pid file does not say:
    innd leaves it behind when it stops."""
    try:
        pid = int(PID.read_text())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # proc(5): "pid (comm) state ..."; a zombie (Z) has stopped.
    name, _, rest = stat.partition(") ")
    return pid if name.endswith("(innd") and not rest.startswith("Z") else None


def _stop_running() -> None:
    pid = _running_innd()
    if pid is not None:
        ctlinnd("shutdown", "restart-for-tests")
        deadline = time.monotonic() + 30
        while _running_innd() == pid and time.monotonic() < deadline:
            time.sleep(0.1)


@contextmanager
def inn(groups: tuple[str, ...], feed: tuple[str, int] | None = None, port: int = PORT) -> Iterator[None]:
    """INN2 listening on 127.0.0.1:`port`, carrying `groups`, and feeding the
    Moot node (Path name, NNTP port) `feed` through innfeed with streaming.
    The configuration files it changes are restored afterwards."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = {
            name: (ETC / name).read_text().partition("\n" + MARK)[0]
            for name in ("inn.conf", "newsfeeds", "innfeed.conf")
        }
        try:
            _stop_running()
            text = saved["inn.conf"]
            # No FQDN, no systemd and two cores on these machines (nnrpd's load limit).
            for key, value in (
                ("domain", "example.test"),
                ("pathhost", PATHHOST),
                ("port", str(port)),
                ("nnrpdpostport", str(port)),
                ("bindaddress", "127.0.0.1"),
                ("bindaddress6", "none"),
                ("doinnwatch", "false"),
                ("nnrpdloadlimit", "0"),
                ("pgpverify", "false"),
                # INN's default, written out so that an edited inn.conf cannot hide a
                # cancel without its Cancel-Key (RFC 8315): only authenticated cancels apply.
                ("docancels", "require-auth"),
            ):
                text = _setting(text, key, value)
            (ETC / "inn.conf").write_text(text)
            feeds = saved["newsfeeds"]
            conf = saved["innfeed.conf"]
            if feed is not None:
                name, moot_port = feed
                for old in Path("/var/spool/news/innfeed").glob(f"{name}.*"):
                    old.unlink()  # a backlog left by an earlier run, for a port gone since
                # newsfeeds(5): the site name is matched against Path, so nothing goes back to Moot.
                feeds += f"\n{MARK}\ninnfeed!:!*:Tc,Wnm*:{BIN}/innfeed\n{name}/{name}:*:Tm:innfeed!\n"
                # Four connections, all opened at once and kept (dynamic-method 0), as a peer
                # admin sets innfeed for a fast peer: Moot batches the articles of all of them
                # into its group commits, and one connection alone leaves it waiting on innfeed.
                # A queue deep enough for a burst, and a short backlog cycle. innfeed spools to
                # its backlog on disk every article that no connection can take at once (one
                # while connecting, then max-queue-size unanswered, beyond a host queue of 10),
                # and reads the backlog back only once a connection asks for more after the
                # file has rotated: a connection gone idle before that waits for innfeed's
                # 30-second connection check, so a spooled burst arrives tens of seconds late.
                conf += (
                    f"\n{MARK}\nbacklog-rotate-period: 5\nbacklog-ckpt-period: 2\nbacklog-newfile-period: 10\n"
                    f'peer {name} {{\n  ip-name: "127.0.0.1"\n  port-number: {moot_port}\n'
                    f"  streaming: true\n  initial-connections: {CONNECTIONS}\n  max-connections: {CONNECTIONS}\n"
                    "  dynamic-method: 0\n"
                    f"  max-queue-size: {QUEUE}\n}}\n"
                )
            (ETC / "newsfeeds").write_text(feeds)
            (ETC / "innfeed.conf").write_text(conf)
            subprocess.run(
                ["dpkg", "--configure", "-a"],
                capture_output=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            for path in ("/run/news", "/var/log/news"):
                os.makedirs(path, exist_ok=True)
                shutil.chown(path, "news", "news")
            as_news(str(BIN / "rc.news"))
            wait_port(port)
            for group in groups:
                ctlinnd("newgroup", group, "y", "admin@example.test")
            yield
        finally:
            _stop_running()
            for name, content in saved.items():
                (ETC / name).write_text(content)
