"""docs/nginx.conf in front of a real `moot serve`: pages through the proxy, a
post reaching anonymous readers through the shared cache, /live through the
proxy, and the real client address reaching Moot's rate limiter. The example
config is used as written except TLS (plain HTTP on loopback), ports and paths."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.processes import NginxUnusable, moot, moot_server, start_nginx, tls

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx)")
FRESH = 2  # MOOT_SHARED_CACHE_SECONDS for this test


@pytest.fixture
def proxied(tmp_path):
    """`moot serve` trusting 127.0.0.1 as its proxy, and nginx in front of it; yields both URLs."""
    db = tmp_path / "moot.db"
    moot("init", "--db", str(db))
    with moot_server(
        db, tmp_path / "moot.log", trusted_proxies="127.0.0.1/32", register_rate=1, shared_cache_seconds=FRESH
    ) as moot_url:
        try:
            proc, port = start_nginx(NGINX, tmp_path, int(moot_url.rsplit(":", 1)[1]))
        except NginxUnusable as error:
            pytest.skip(f"nginx cannot use the example config here: {error}")
        try:
            yield f"http://127.0.0.1:{port}", moot_url
        finally:
            proc.terminate()
            proc.wait(10)


def client_from(url: str, source: str) -> httpx.Client:
    """A client whose connections come from loopback address `source`."""
    return httpx.Client(
        base_url=url, timeout=10, transport=httpx.HTTPTransport(local_address=source, verify=tls())
    )


def test_pages_cache_live_and_client_address_through_nginx(proxied, tmp_path):
    url, moot_url = proxied
    moot("adduser", "--db", str(tmp_path / "moot.db"), "root", "--admin", input="correct horse battery\n")
    with client_from(url, "127.0.0.2") as admin, client_from(url, "127.0.0.3") as anon:
        r = admin.post("/api/login", json={"username": "root", "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        assert admin.post("/api/groups", json={"name": "proxy.test", "description": "x"}).status_code == 201
        r = admin.post("/api/groups/proxy.test/threads", json={"subject": "Via nginx", "body": "first"})
        thread = r.json()["thread"]["id"]
        root = r.json()["article"]["id"]

        page = anon.get(f"/t/{thread}")
        assert page.status_code == 200 and "Via nginx" in page.text
        assert "public" in page.headers["cache-control"]
        statuses = {anon.get(f"/t/{thread}").headers["x-cache-status"] for _ in range(3)}
        assert "HIT" in statuses
        signed_in = admin.get(f"/t/{thread}")
        assert (
            signed_in.headers["x-cache-status"] == "BYPASS"
            and 'title="Your account: root (admin)"' in signed_in.text
        )
        css = re.search(r'href="(/static/v/[0-9a-f]+/moot.css)"', page.text).group(1)
        static = anon.get(css)
        assert static.status_code == 200 and "immutable" in static.headers["cache-control"]

        # /live through the proxy sees the reply that the cached page then shows
        with connect(url.replace("http", "ws") + "/live", open_timeout=10) as ws:
            ws.send(json.dumps({"type": "subscribe", "threads": [thread]}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            r = admin.post(f"/api/articles/{root}/replies", json={"body": "through the cache"})
            assert r.status_code == 201, r.text
            event = json.loads(ws.recv(timeout=10))
            assert event["type"] == "article.created" and event["thread_id"] == thread

        # within s-maxage + stale-while-revalidate (plus one background refresh)
        deadline = time.monotonic() + 4 * FRESH + 30  # a bound on waiting, not a measured figure
        while "through the cache" not in anon.get(f"/t/{thread}").text:
            assert time.monotonic() < deadline, "the post never reached the cached page"
            time.sleep(0.2)

    # Moot's limiter sees each real client (MOOT_REGISTER_RATE=1: one account per address),
    # not nginx's own address and not a client's forged X-Forwarded-For.
    def register(source: str, name: str, forged: str) -> int:
        with client_from(url, source) as c:
            return c.post(
                "/api/register",
                json={"username": name, "password": "correct horse battery"},
                headers={"X-Forwarded-For": forged},
            ).status_code

    assert register("127.0.0.4", "alpha", "198.51.100.1") == 201
    assert register("127.0.0.5", "bravo", "198.51.100.1") == 201
    assert register("127.0.0.5", "charlie", "198.51.100.2") == 429
    # straight to Moot from a trusted address the header is believed, as configured
    with httpx.Client(base_url=moot_url, timeout=10, verify=tls()) as direct:
        r = direct.post(
            "/api/register",
            json={"username": "delta", "password": "correct horse battery"},
            headers={"X-Forwarded-For": "198.51.100.9"},
        )
        assert r.status_code == 201
