"""The site's metrics in Prometheus form, with the prometheus_client library;
no web framework here (the HTTP side, web_ops.py, feeds and serves it).

Each site has its own registry (no module-level state): request counts and
latency histograms per route family, fed per request; and what the running
site already counts (live connections and overflows, limits hit, write-lock
wait, page-cache hits, outbox lag), read when scraped."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from .hub import last_event_id

# Request latencies: thread pages take ~1-5 ms, searches and archives tens of ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Route families: the first path segments that name a feature, so the label
# set stays small whatever paths clients send.
API_FAMILIES = frozenset({"articles", "groups", "threads", "search", "modlog", "proposals", "users",
                          "me", "login", "logout", "register", "health"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
PAGE_FAMILIES = frozenset({"g", "t", "m", "a", "search", "modlog", "proposals", "login", "register",
                           "logout", "static", "live", "metrics"})


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
        site = self.metrics.site
        hub = site.hub
        yield GaugeMetricFamily("moot_live_connections", "subscribed /live connections",
                                value=hub.subscriber_count if hub else 0)
        yield CounterMetricFamily("moot_live_overflows", "/live connections closed as too slow (4008)",
                                  value=hub.overflows if hub else 0)
        yield GaugeMetricFamily("moot_outbox_lag_events",
                                "events committed to the outbox that this process's hub has not sent out yet",
                                value=self.metrics.outbox_lag)
        limits = CounterMetricFamily("moot_limits_hit", "requests refused by a rate limit", labels=["limit"])
        limits.add_metric(["posting"], site.posts.refused)
        limits.add_metric(["registration"], site.registrations.refused)
        limits.add_metric(["sign-in"], site.login_failures.refused)
        yield limits
        yield SummaryMetricFamily("moot_db_write_lock_wait_seconds",
                                  "time write actions waited for the write lock",
                                  count_value=site.db.lock_waits, sum_value=site.db.lock_wait_seconds)
        cache = site.responses
        hits, misses = (cache.hits, cache.misses) if cache else (0, 0)
        yield CounterMetricFamily("moot_page_cache_hits", "page-cache lookups answered from memory",
                                  value=hits)
        yield CounterMetricFamily("moot_page_cache_misses", "page-cache lookups that built the page",
                                  value=misses)
        yield GaugeMetricFamily("moot_page_cache_hit_ratio", "hits / lookups since start (0 before any)",
                                value=hits / (hits + misses) if hits + misses else 0.0)


class Metrics:
    """One site's registry: `observe` after each request; `scrape()` for /metrics."""

    def __init__(self, site):
        self.site = site
        self.allowed = Allowed(site.config.metrics_allow)
        self.outbox_lag = 0
        self.registry = CollectorRegistry()
        self.requests = Counter("moot_http_requests", "HTTP requests answered, by route family and status",
                                ["family", "method", "status"], registry=self.registry)
        self.latency = Histogram("moot_http_request_duration_seconds",
                                 "time from request to the end of the response, by route family",
                                 ["family"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_SiteCollector(self))

    def observe(self, path: str, method: str, status: int, seconds: float) -> None:
        family = route_family(path)
        method = method if method in METHODS else "other"  # clients may send any token
        self.requests.labels(family, method, str(status)).inc()
        self.latency.labels(family).observe(seconds)

    async def scrape(self) -> bytes:
        """The text exposition format, with the outbox lag read from the database now."""
        async with self.site.db.read() as conn:
            committed = await last_event_id(conn)
        hub = self.site.hub
        self.outbox_lag = max(0, committed - hub.position) if hub else committed
        return generate_latest(self.registry)
