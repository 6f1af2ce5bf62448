"""Page weight of a 200-article thread without JavaScript: the HTML size and
the time to first byte from a real `moot serve` on a loopback port.

Run `.venv/bin/python -m pytest tests/test_web_weight.py -s` to see the figures."""

from __future__ import annotations

import random
import socket
import statistics
import time

import httpx

from tests.processes import moot, moot_server, tls

PASSWORD = "weight password"
ARTICLES = 200
RUNS = 15


def _body(rng: random.Random, parent_author: str | None) -> str:
    """About 600 bytes: an attribution and a quote when replying, then prose."""
    words = [
        "the",
        "tree",
        "keeps",
        "its",
        "shape",
        "while",
        "threads",
        "split",
        "and",
        "the",
        "archive",
        "stays",
        "readable",
        "for",
        "newcomers",
        "who",
        "follow",
        "a",
        "link",
        "and",
        "read",
        "at",
        "once",
    ]
    lines = []
    if parent_author:
        lines += [f"{parent_author} wrote:", "> " + " ".join(rng.choices(words, k=12)), ""]
    for _ in range(6):
        lines.append(" ".join(rng.choices(words, k=12)))
    return "\n".join(lines)


def _first_byte(port: int, path: str) -> tuple[float, int]:
    """Seconds until the first byte of the response, and the body's size in bytes."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        start = time.perf_counter()
        sock.sendall(request.encode("ascii"))
        first = sock.recv(65536)
        ttfb = time.perf_counter() - start
        chunks = [first]
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return ttfb, len(body)


def test_200_article_thread_page_weight(tmp_path, capsys):
    """Reports the HTML size and time to first byte; asserts only the page is whole."""
    db = tmp_path / "weight.db"
    moot("adduser", "root", "--admin", "--db", str(db), "--password-stdin", input=PASSWORD + "\n")
    with moot_server(db, tmp_path / "server.log", domain="weight.test") as url:
        rng = random.Random(5)
        with httpx.Client(base_url=url, timeout=10, verify=tls()) as client:
            assert (
                client.post("/api/login", json={"username": "root", "password": PASSWORD}).status_code == 200
            )
            client.post("/api/groups", json={"name": "weigh.in", "description": "Page weight"})
            r = client.post(
                "/api/groups/weigh.in/threads", json={"subject": "A long thread", "body": _body(rng, None)}
            )
            thread_id, ids = r.json()["thread"]["id"], [r.json()["article"]["id"]]
            while len(ids) < ARTICLES:
                # Replies favour recent articles, so the tree grows deep and bushy.
                parent = ids[-1 - min(len(ids) - 1, int(rng.expovariate(0.3)))]
                r = client.post(f"/api/articles/{parent}/replies", json={"body": _body(rng, "Root")})
                assert r.status_code == 201, r.text
                ids.append(r.json()["article"]["id"])
        port = int(url.rsplit(":", 1)[1])
        path = f"/t/{thread_id}"
        _first_byte(port, path)  # warm up
        samples = [_first_byte(port, path) for _ in range(RUNS)]
    size = samples[0][1]
    ttfbs = sorted(t for t, _ in samples)
    with capsys.disabled():
        print(
            f"\n/t/{{id}} with {ARTICLES} articles, no JavaScript: HTML {size:,} bytes "
            f"({size / ARTICLES:,.0f} per article); time to first byte over {RUNS} requests: "
            f"median {statistics.median(ttfbs) * 1000:.1f} ms, "
            f"max {ttfbs[-1] * 1000:.1f} ms"
        )
    assert all(n == size for _, n in samples) and size < 1_000_000
