"""/metrics in Prometheus text format, parsed with prometheus_client's own
parser; request logging as text and JSON, with request ids and no secrets."""

from __future__ import annotations

import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from moot.runtime.metrics import route_family
from moot.web.ops import JsonFormatter
from tests.conftest import PASSWORD, seed
from tests.live_support import live_site, subscribe  # noqa: F401
from tests.processes import moot_server, tls


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_route_families_stay_few():
    assert route_family("/api/threads/12") == "api.threads"
    assert route_family("/api/articles/%3Cx%40y%3E/replies") == "api.articles"
    assert route_family("/api/nonsense/1") == "api.other"
    assert route_family("/t/12") == "page.t"
    assert route_family("/") == "page.home"
    assert route_family("/static/app.js") == "page.static"
    assert route_family("/wp-admin/setup.php") == "other"


async def test_metrics_are_off_by_default(site):
    r = await (await site.client()).get("/metrics")
    assert r.status_code == 404


async def test_metrics_refuse_addresses_not_allowed(make_site):
    site = await make_site(metrics_allow=("10.0.0.0/8",))  # the test client is 127.0.0.1
    r = await (await site.client()).get("/metrics")
    assert r.status_code == 403


async def test_scrape_counts_requests_limits_cache_and_lock_wait(make_site):
    site = await make_site(metrics_allow=("127.0.0.1", "::1"), post_rate=60.0, post_burst=2, login_attempts=1)
    t = await seed(site)  # two posts by ada: her burst is spent
    reader = await site.client()
    for _ in range(3):
        assert (await reader.get(f"/api/threads/{t['thread']['id']}")).status_code == 200
    r = await t["ada"].post(f"/api/articles/{t['root']['id']}/replies", json={"body": "third"})
    assert r.status_code == 429
    for _ in range(2):
        await reader.post("/api/login", json={"username": "ada", "password": "wrong password"})
    r = await reader.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    s = parse(r.text)
    thread_reads = value(s, "moot_http_requests_total", family="api.threads", method="GET", status="200")
    assert thread_reads == 3
    assert value(s, "moot_http_request_duration_seconds_count", family="api.threads") == 3
    assert value(s, "moot_http_request_duration_seconds_bucket", family="api.threads", le="+Inf") == 3
    assert value(s, "moot_http_requests_total", family="api.articles", method="POST", status="429") == 1
    assert value(s, "moot_limits_hit_total", limit="posting") == 1
    assert value(s, "moot_limits_hit_total", limit="sign-in") == 1
    # The first read builds the page (and may find events to apply first); later ones hit.
    assert value(s, "moot_page_cache_hits_total") >= 1
    assert value(s, "moot_page_cache_misses_total") >= 1
    assert 0 < value(s, "moot_page_cache_hit_ratio") < 1
    assert value(s, "moot_db_write_lock_wait_seconds_count") >= 3
    assert value(s, "moot_db_write_lock_wait_seconds_sum") >= 0
    assert value(s, "moot_outbox_lag_events") == 0
    assert value(s, "moot_live_connections") == 0
    assert value(s, "moot_live_overflows_total") == 0


async def test_group_commit_batch_sizes_are_a_histogram(make_site):
    """16 replies sent at once share commits: the histogram of actions per
    commit counts every durable action once, and some commit held several."""
    import asyncio

    site = await make_site(metrics_allow=("127.0.0.1", "::1"))
    t = await seed(site)
    reader = await site.client()
    posters = [await site.client(f"poster{i}") for i in range(16)]
    before = parse((await reader.get("/metrics")).text)
    answers = await asyncio.gather(
        *(p.post(f"/api/articles/{t['root']['id']}/replies", json={"body": "at once"}) for p in posters)
    )
    assert all(r.status_code == 201 for r in answers)
    s = parse((await reader.get("/metrics")).text)

    def grew(name, **labels):
        return value(s, name, **labels) - value(before, name, **labels)

    commits = grew("moot_db_commit_actions_count")
    assert grew("moot_db_commit_actions_sum") >= 16  # and the search index's drain, if it came
    assert 1 <= commits < 16  # one fsync covered several replies
    assert grew("moot_db_commit_actions_bucket", le="1") < commits
    assert value(s, "moot_db_commit_actions_bucket", le="+Inf") == value(s, "moot_db_commit_actions_count")


async def test_scrape_shows_the_peer_and_mail_queues(make_site):
    site = await make_site(metrics_allow=("127.0.0.1", "::1"))
    t = await seed(site)
    async with site.db.transaction() as conn:  # a peer that is down holds what was queued for it
        await conn.execute(
            "INSERT INTO peers (name, host, port, created_at) VALUES ('b.example', '127.0.0.1', 9, ?)",
            (t["root"]["created_at"],),
        )
        await conn.execute(
            "INSERT INTO peer_queue (peer_id, message_id, article_id, next_try_at)"
            " SELECT id, ?, ?, '9999' FROM peers",
            (t["root"]["message_id"], t["root"]["id"]),
        )
        # two mails waiting for a relay, one given up on; a sent one is not counted
        await conn.executemany(
            "INSERT INTO mail_queue (kind, recipient, message_id, status, next_at, created_at)"
            " VALUES ('article', 'x@example.org', ?, ?, '9999', '2026-01-01T00:00:00.000Z')",
            [(f"<m{n}@x>", status) for n, status in enumerate(("queued", "queued", "dead", "sent"))],
        )
    s = parse((await (await site.client()).get("/metrics")).text)
    assert value(s, "moot_peer_backlog", peer="b.example") == 1
    assert value(s, "moot_mail_queue", state="queued") == 2
    assert value(s, "moot_mail_queue", state="dead") == 1
    assert ("moot_mail_queue", (("state", "sent"),)) not in s


async def test_live_connections_are_counted(live_site):  # noqa: F811
    server = await live_site(metrics_allow=("127.0.0.1",))
    ws = await server.connect()
    await subscribe(ws, groups=["*"])
    async with httpx.AsyncClient(verify=tls()) as client:
        r = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    assert value(parse(r.text), "moot_live_connections") == 1


async def test_one_log_line_per_request_with_its_id_and_no_secrets(site, caplog):
    await site.user("ada")
    client = await site.client()
    with caplog.at_level(logging.INFO, logger="moot.access"):
        r = await client.post(
            "/api/login", json={"username": "ada", "password": PASSWORD}, headers={"X-Request-ID": "lb-1234"}
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "lb-1234"
        r = await client.get("/api/groups?secret=hidden", headers={"X-Request-ID": "bad id\x7f!"})
        generated = r.headers["x-request-id"]
    assert generated != "bad id\x7f!" and len(generated) == 16
    records = [rec for rec in caplog.records if rec.name == "moot.access"]
    assert [
        (rec.access["method"], rec.access["path"], rec.access["status"], rec.access["request_id"])
        for rec in records
    ] == [("POST", "/api/login", 200, "lb-1234"), ("GET", "/api/groups", 200, generated)]
    assert records[0].access["client"] == "127.0.0.1"
    text = "\n".join(JsonFormatter().format(rec) for rec in records) + caplog.text
    cookie = client.cookies["moot_session"]
    for secret in (PASSWORD, cookie, "hidden"):
        assert secret not in text
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["logger"] == "moot.access" and line["status"] == 200 and line["duration_ms"] >= 0


def test_moot_serve_writes_json_request_lines(tmp_path):
    log = tmp_path / "serve.log"
    with moot_server(tmp_path / "site.db", log, log_format="json") as base:
        assert httpx.get(f"{base}/api/health", verify=tls()).status_code == 200
        assert httpx.get(f"{base}/t/999", verify=tls()).status_code == 404
    # Every line is JSON, uvicorn's own included; the first is the banner moot serve prints.
    lines = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    assert {"uvicorn.error", "moot.access"} <= {x["logger"] for x in lines}
    access = [(x["method"], x["path"], x["status"]) for x in lines if x["logger"] == "moot.access"]
    assert access == [("GET", "/api/health", 200), ("GET", "/t/999", 404)]
