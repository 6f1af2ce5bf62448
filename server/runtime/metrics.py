"""The site's metrics in Prometheus form, with the prometheus_client library;
no web framework here (the HTTP side, web/ops.py, feeds and serves it).

Each site has its own registry (no module-level state): request counts and
latency histograms per route family, fed per request; and what the running
site already counts (live connections and overflows, limits hit, write-lock
wait, page-cache hits, outbox lag), read when scraped."""

from __future__ import annotations

import bisect
import ipaddress
from collections import defaultdict
from collections.abc import Iterator

from aiosqlite import Connection
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from ..store.db import BATCH_BUCKETS, fetch_all, fetch_value
from .hub import last_event_id

# Request latencies: thread pages take ~1-5 ms, searches and archives tens of ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Route families: the first path segments that name a feature, so the label
# set stays small whatever paths clients send.
API_FAMILIES = frozenset(
    {
        "articles",
        "groups",
        "threads",
        "search",
        "modlog",
        "proposals",
        "users",
        "me",
        "login",
        "logout",
        "register",
        "health",
    }
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
PAGE_FAMILIES = frozenset(
    {
        "g",
        "t",
        "m",
        "a",
        "search",
        "modlog",
        "proposals",
        "login",
        "register",
        "logout",
        "static",
        "live",
        "metrics",
    }
)


def route_family(path: str) -> str:
    """The family a request path belongs to: "api.threads", "page.t", "page.home", "other"."""
    parts = path.split("/", 3)
    first = parts[1] if len(parts) > 1 else ""
    if first == "api":
        second = parts[2] if len(parts) > 2 else ""
        return f"api.{second}" if second in API_FAMILIES else "api.other"
    if first == "":
        return "page.home"
    return f"page.{first}" if first in PAGE_FAMILIES else "other"


class Allowed:
    """Which client addresses may read /metrics: addresses and networks."""

    def __init__(self, entries: tuple[str, ...]):
        self.networks = [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str | None) -> bool:
        if not self.networks:  # none configured (the usual proxies): no address to parse
            return False
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in net for net in self.networks)


class _SiteCollector(Collector):
    """Reads the running site's own counters at scrape time."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator:
        metrics = self.metrics
        requests = CounterMetricFamily(
            "moot_http_requests",
            "HTTP requests answered, by route family and status",
            labels=["family", "method", "status"],
        )
        for (family, method, status), count in sorted(metrics.requests.items()):
            requests.add_metric([family, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "moot_http_request_duration_seconds",
            "time from request to the end of the response, by route family",
            labels=["family"],
        )
        for family, (counts, total) in sorted(metrics.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([family], buckets, total)
        yield latency
        site = metrics.site
        hub = site.hub
        yield GaugeMetricFamily(
            "moot_live_connections", "subscribed /live connections", value=hub.subscriber_count if hub else 0
        )
        yield CounterMetricFamily(
            "moot_live_overflows",
            "/live connections closed as too slow (4008)",
            value=hub.overflows if hub else 0,
        )
        yield GaugeMetricFamily(
            "moot_outbox_lag_events",
            "events committed to the outbox that this process's hub has not sent out yet",
            value=self.metrics.outbox_lag,
        )
        peers = GaugeMetricFamily(
            "moot_peer_backlog", "articles and control messages queued for each news peer", labels=["peer"]
        )
        for name, count in self.metrics.peer_backlog:
            peers.add_metric([name], count)
        yield peers
        mail = GaugeMetricFamily("moot_mail_queue", "mails in the outgoing queue by state", labels=["state"])
        for state, count in self.metrics.mail_queue:
            mail.add_metric([state], count)
        yield mail
        if site.config.federation:
            yield GaugeMetricFamily(
                "moot_federation_followers",
                "accepted remote followers of all groups",
                value=metrics.followers,
            )
            deliveries = GaugeMetricFamily(
                "moot_federation_deliveries",
                "fediverse deliveries waiting (pending) or given up (failed)",
                labels=["state"],
            )
            for state in ("pending", "failed"):
                deliveries.add_metric([state], dict(metrics.deliveries).get(state, 0))
            yield deliveries
            sent = CounterMetricFamily(
                "moot_federation_sent",
                "fediverse delivery attempts by answer (2xx, 4xx, 5xx, error)",
                labels=["status"],
            )
            for label, count in sorted(metrics.federation_sent.items()):
                sent.add_metric([label], count)
            yield sent
        limits = CounterMetricFamily("moot_limits_hit", "requests refused by a rate limit", labels=["limit"])
        limits.add_metric(["posting"], site.posts.refused)
        limits.add_metric(["posting-new"], site.new_posts.refused)
        limits.add_metric(["registration"], site.registrations.refused)
        limits.add_metric(["sign-in"], site.lockout.refused)
        yield limits
        spamd = site.spamd
        scoring = CounterMetricFamily(
            "moot_spamd",
            "articles spamd scored, missed (down or slow), and decisions it learnt",
            labels=["outcome"],
        )
        for outcome in ("scored", "missed", "taught", "teach_failed"):
            scoring.add_metric([outcome], getattr(spamd, outcome) if spamd is not None else 0)
        yield scoring
        refused = CounterMetricFamily(
            "moot_connections_refused",
            "connections and requests refused at a listener (per_client, total, proxy) or closed"
            " for missing the first-command deadline (deadline) or to make room when full (evicted)",
            labels=["listener", "reason"],
        )
        held = GaugeMetricFamily("moot_connections_open", "admitted now, by listener", labels=["listener"])
        for listener, door in site.doors.by_listener().items():
            for reason, count in sorted(door.refused.items()):
                refused.add_metric([listener, reason], count)
            held.add_metric([listener], door.count)
        yield refused
        yield held
        yield SummaryMetricFamily(
            "moot_db_write_lock_wait_seconds",
            "time write actions waited for the write lock",
            count_value=site.db.lock_waits,
            sum_value=site.db.lock_wait_seconds,
        )
        commits = HistogramMetricFamily(
            "moot_db_commit_actions", "write actions made durable by each commit (group commit batch sizes)"
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*BATCH_BUCKETS, float("inf")), site.db.batch_sizes, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        commits.add_metric([], buckets, site.db.batched_actions)
        yield commits
        cache = site.responses
        hits, misses = (cache.hits, cache.misses) if cache else (0, 0)
        yield CounterMetricFamily(
            "moot_page_cache_hits", "page-cache lookups answered from memory", value=hits
        )
        yield CounterMetricFamily(
            "moot_page_cache_misses", "page-cache lookups that built the page", value=misses
        )
        yield GaugeMetricFamily(
            "moot_page_cache_hit_ratio",
            "hits / lookups since start (0 before any)",
            value=hits / (hits + misses) if hits + misses else 0.0,
        )


class Metrics:
    """One site's registry: `observe` after each request; `scrape()` for /metrics."""

    def __init__(self, site):
        self.site = site
        self.allowed = Allowed(site.config.metrics_allow)
        self.outbox_lag = 0
        self.peer_backlog: list[tuple[str, int]] = []  # read from the database at each scrape
        self.mail_queue: list[tuple[str, int]] = []
        self.followers = 0  # the fediverse's, read at each scrape when federation is on
        self.deliveries: list[tuple[str, int]] = []
        self.federation_sent: defaultdict[str, int] = defaultdict(int)  # by status class, fed by delivery
        # Plain counters on the request path, turned into Prometheus families
        # only when scraped: ~2 us a request, where prometheus_client's locked
        # label lookups and observe take ~13 us, about 5% of a cached thread
        # read (~270 us). One event loop updates them, so no lock is needed.
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[str, list] = {}  # family -> [per-bucket counts (+Inf last)], sum
        self.registry = CollectorRegistry()
        self.registry.register(_SiteCollector(self))

    def observe(self, path: str, method: str, status: int, seconds: float) -> None:
        family = route_family(path)
        method = method if method in METHODS else "other"  # clients may send any token
        self.requests[(family, method, status)] += 1
        entry = self.latency.get(family)
        if entry is None:
            entry = self.latency[family] = [[0] * (len(LATENCY_BUCKETS) + 1), 0.0]
        entry[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        entry[1] += seconds

    async def scrape(self) -> bytes:
        """The text exposition format, with the outbox lag and the peer and mail
        queues read from the database now."""
        async with self.site.db.read() as conn:
            committed = await last_event_id(conn)
            self.peer_backlog = await _counts(
                conn,
                "SELECT p.name, count(q.id) FROM peers p LEFT JOIN peer_queue q ON q.peer_id = p.id"
                " GROUP BY p.id ORDER BY p.name",
            )
            # queued and dead only: sent rows are kept a while for the per-recipient rate
            self.mail_queue = await _counts(
                conn,
                "SELECT status, count(*) FROM mail_queue WHERE status IN ('queued', 'dead')"
                " GROUP BY status ORDER BY status",
            )
            if self.site.config.federation:
                self.followers = await fetch_value(
                    conn, "SELECT count(*) FROM ap_followers WHERE state = 'accepted'"
                )
                self.deliveries = await _counts(
                    conn, "SELECT state, count(*) FROM ap_deliveries GROUP BY state ORDER BY state"
                )
        hub = self.site.hub
        self.outbox_lag = max(0, committed - hub.position) if hub else committed
        return generate_latest(self.registry)


async def _counts(conn: Connection, sql: str) -> list[tuple[str, int]]:
    """The (name, count) rows `sql` selects."""
    return [(r[0], r[1]) for r in await fetch_all(conn, sql)]
