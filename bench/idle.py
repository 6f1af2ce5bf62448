"""An idle server's CPU: a site with every background task on (the live hub,
the search index's drains, the archive sweep, NNTP and SMTP listeners, the
mail sender, a news peer's feed, the fediverse's delivery task) and nothing
to do, against a bare uvicorn serving a one-line app, idle as long, same run.

    python bench/idle.py [--seconds 10] [--json OUT]

A task that wakes itself (a loop whose own commit wakes it again) shows here
as a core kept busy by a server nobody uses. The figure is the server
process's user + system CPU (all its threads, /proc) per second of idling,
measured after it has served one page and settled."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from common import ROOT, Row, command_line, cpu_seconds, server, temp_dir

BARE_APP = """
import uvicorn

async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
"""
SETTLE = 2.0  # seconds after start before the clock starts: start-up work done


def idle_cpu(pid: int, seconds: float) -> float:
    """Milliseconds of CPU process `pid` uses per second over `seconds`."""
    time.sleep(SETTLE)
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) * 1000 / seconds


def run(seconds: float) -> list[Row]:
    directory = temp_dir()
    db = os.path.join(directory, "idle.db")
    moot = [sys.executable, "-m", "moot"]
    subprocess.run([*moot, "init", "--db", db], check=True, capture_output=True, cwd=ROOT)
    subprocess.run(
        [*moot, "peer", "add", "peer.bench", "--host", "127.0.0.1", "--port", "9", "--db", db],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with server(
        db,
        nntp=True,
        smtp=True,
        federation=1,
        public_url="https://idle.bench",
        smtp_url="smtp://127.0.0.1:9",
        mail_domain="lists.idle.bench",
        sweep_interval=3600,
    ) as (url, proc):
        import httpx

        assert httpx.get(url + "/").status_code == 200
        moot_ms = idle_cpu(proc.pid, seconds)
    bare = subprocess.Popen([sys.executable, "-c", BARE_APP])
    try:
        bare_ms = idle_cpu(bare.pid, seconds)
    finally:
        bare.terminate()
        bare.wait(10)
    return [
        Row(
            "idle",
            "server CPU while idle, every background task on",
            moot_ms,
            "ms per s",
            bare_ms,
            "bare uvicorn, idle",
            "<= 10 ms per s",
            moot_ms <= 10,
            f"over {seconds:g} s after start-up and one page; federation, mail, a peer, NNTP, SMTP, sweep on",
        )
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=10.0)
