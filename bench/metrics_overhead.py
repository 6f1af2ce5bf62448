"""Scenario: the cost of /metrics on the thread-read path: the first page of a
50-article thread served with metrics off (the default) and on
(MOOT_METRICS_ALLOW=127.0.0.1), interleaved in the same run. Request logging
is on in both, as it is by default. Target: at most 5% fewer requests/s.

    python bench/metrics_overhead.py [--seconds 8] [--json OUT]
"""

from __future__ import annotations

import asyncio

from common import Row, command_line, server, temp_dir, wrk
from thread_read import build


def run(seconds: int) -> list[Row]:
    db_path = temp_dir() + "/read.db"
    thread_id = asyncio.run(build(db_path))
    runs: dict[str, list] = {"off": [], "on": []}
    settings = {"off": {}, "on": {"metrics_allow": "127.0.0.1"}}
    for _ in range(2):  # interleaved so drift hits both alike
        for name in ("off", "on"):
            with server(db_path, **settings[name]) as (url, _):
                page = f"{url}/api/threads/{thread_id}?limit=50"
                wrk(page, seconds=2)  # warm up: page cache, connections
                runs[name].append(wrk(page, seconds=seconds))
    for result in runs["off"] + runs["on"]:
        assert result.errors == 0, result.raw
    off = max(runs["off"], key=lambda r: r.requests_per_s)
    on = max(runs["on"], key=lambda r: r.requests_per_s)
    ratio = on.requests_per_s / off.requests_per_s
    return [
        Row(
            "metrics_overhead",
            "thread page requests/s, metrics on",
            on.requests_per_s,
            "req/s",
            off.requests_per_s,
            "metrics off",
            "ratio >= 0.95",
            ratio >= 0.95,
            "first page, 50 articles of ~1 KB, wrk -t1 -c32, best of 2 interleaved runs",
        ),
        Row(
            "metrics_overhead", "thread page p50, metrics on", on.p50_ms, "ms", off.p50_ms, "metrics off p50"
        ),
        Row(
            "metrics_overhead", "thread page p99, metrics on", on.p99_ms, "ms", off.p99_ms, "metrics off p99"
        ),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=8)
