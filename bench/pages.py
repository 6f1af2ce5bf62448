"""Scenario: the HTML page of a 200-article thread, anonymous and signed in,
revalidated with If-None-Match, compressed, and through nginx
(docs/nginx.conf) with a warm cache, against /api/health of the same process.

    python bench/pages.py [--seconds 5] [--json OUT]
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
from common import Row, command_line, server, temp_dir, wrk
from thread_read import build

from tests.processes import start_nginx

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
GZIP = {"Accept-Encoding": "gzip"}


def nginx_in_front(moot_url: str, directory: Path) -> subprocess.Popen | None:
    """nginx with the example config before `moot_url`, or None when nginx is missing."""
    if NGINX is None:
        return None
    proc, port = start_nginx(NGINX, directory, int(moot_url.rsplit(":", 1)[1]), limits=False)
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc


def run(seconds: int) -> list[Row]:
    directory = Path(temp_dir())
    db_path = str(directory / "pages.db")
    thread_id = asyncio.run(build(db_path, articles_n=200))
    rows: list[Row] = []
    with server(db_path, trusted_proxies="127.0.0.1/32", shared_cache_seconds=60) as (url, _):
        page_url = f"{url}/t/{thread_id}"
        with httpx.Client(timeout=30) as c:
            # A member who did not write the thread: every article starts unread for them.
            r = c.post(f"{url}/api/register", json={"username": "reader", "password": "reader-password"})
            assert r.status_code == 201, r.text
            signed = c.get(page_url)
            assert 'title="Your account: reader (member)"' in signed.text  # really the signed-in page
            assert signed.text.count('class="newmark"') == 200  # and it tracks read state
            c.get(page_url)  # its read marks are written: the runs measure a reader's steady state
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())  # with its CSRF cookie now
        with httpx.Client(timeout=30) as anon:
            plain = anon.get(page_url, headers={"Accept-Encoding": "identity"})
            packed = anon.get(page_url, headers=GZIP)
            assert packed.headers.get("content-encoding") == "gzip" and packed.content == plain.content
            etag = plain.headers["etag"]
            assert anon.get(page_url, headers={"If-None-Match": etag}).status_code == 304
        wire = int(packed.headers["content-length"])
        proxy = nginx_in_front(url, directory)
        names = ("bare", "anon", "signed", "revalidate", "anon_gzip", "nginx")
        runs: dict[str, list] = {k: [] for k in names}
        wrk(url + "/api/health", seconds=2)
        wrk(page_url, seconds=2)  # warm up: the page is rendered and stored
        if proxy is not None:
            wrk(proxy.url + f"/t/{thread_id}", seconds=2, headers=GZIP)
        try:
            for _ in range(2):  # interleaved so drift hits all alike
                runs["bare"].append(wrk(url + "/api/health", seconds=seconds))
                runs["anon"].append(wrk(page_url, seconds=seconds))
                runs["signed"].append(wrk(page_url, seconds=seconds, headers={"Cookie": cookie}))
                runs["revalidate"].append(wrk(page_url, seconds=seconds, headers={"If-None-Match": etag}))
                runs["anon_gzip"].append(wrk(page_url, seconds=seconds, headers=GZIP))
                if proxy is not None:
                    runs["nginx"].append(wrk(proxy.url + f"/t/{thread_id}", seconds=seconds, headers=GZIP))
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(10)
    for result in (r for rs in runs.values() for r in rs):
        assert result.errors == 0, result.raw  # a broken server cannot post a good number
    best = {k: max(v, key=lambda r: r.requests_per_s) for k, v in runs.items() if v}
    bare, anon_rps = best["bare"].requests_per_s, best["anon"].requests_per_s
    note = "200 articles of ~1 KB, wrk -t1 -c32"
    rows += [
        Row(
            "pages",
            "thread page (HTML, 200 articles), anonymous",
            anon_rps,
            "req/s",
            bare,
            "/api/health",
            "ratio >= 0.5",
            anon_rps / bare >= 0.5,
            f"{len(plain.content):,} bytes; {note}",
        ),
        Row(
            "pages",
            "same page signed in, with read-state tracking",
            best["signed"].requests_per_s,
            "req/s",
            anon_rps,
            "anonymous page",
            "ratio >= 0.8",
            best["signed"].requests_per_s / anon_rps >= 0.8,
            f"new marks, follow and mute state put in per reader, inbox count; {note}",
        ),
        Row(
            "pages",
            "304 revalidation (If-None-Match)",
            best["revalidate"].requests_per_s,
            "req/s",
            bare,
            "/api/health",
            "ratio >= 0.9",
            best["revalidate"].requests_per_s / bare >= 0.9,
            f"answers 304 without rendering; {note}",
        ),
        Row(
            "pages",
            "gzip bytes on the wire",
            wire,
            "bytes",
            len(plain.content),
            "uncompressed page",
            "ratio <= 0.10",
            wire / len(plain.content) <= 0.10,
            "stored compressed, level 6",
        ),
        Row(
            "pages",
            "anonymous page with gzip",
            best["anon_gzip"].requests_per_s,
            "req/s",
            bare,
            "/api/health",
        ),
        Row(
            "pages",
            "thread page p99, anonymous",
            best["anon"].p99_ms,
            "ms",
            best["bare"].p99_ms,
            "/api/health p99",
        ),
    ]
    if "nginx" in best:
        rows.append(
            Row(
                "pages",
                "through nginx, warm cache (gzip)",
                best["nginx"].requests_per_s,
                "req/s",
                best["anon_gzip"].requests_per_s,
                "Moot alone, same request",
                "ratio >= 5",
                best["nginx"].requests_per_s / best["anon_gzip"].requests_per_s >= 5,
                f"docs/nginx.conf without TLS and request limits; {note}",
            )
        )
    else:
        rows.append(Row("pages", "through nginx", 0, "", note="nginx not installed: not measured"))
    return rows


if __name__ == "__main__":
    command_line(run, __doc__, seconds=5)
