"""The operating side of the HTTP server: readiness for load balancers,
`moot serve`'s orderly stop on SIGTERM, request logging and /metrics.

/api/health stays the trivially cheap liveness answer (reading.py); readiness,
here, also proves the database takes a write transaction and the live hub is
delivering, and turns 503 as soon as the server starts to stop, so a load
balancer sends no new work to a node that is leaving."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import socket
import time

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..runtime.metrics import Metrics
from ..runtime.site import Site
from .common import site_of

log = logging.getLogger("moot")

# Readiness gives up on the write lock after this long: a node that cannot get
# it within a second is not one to send writes to.
READY_WRITE_WAIT = 1.0
# Longest wait for /live clients to take their 1001 close before uvicorn's own
# shutdown closes what is left.
GOING_AWAY_WAIT = 2.0


async def ready(request: Request) -> Response:
    """200 when this node can take work: the database accepts a write
    transaction and the hub runs; else 503 with what failed."""
    site = site_of(request)
    checks = {"database": "ok", "hub": "ok"}
    if site.stopping:
        checks["server"] = "stopping"
    if not site.hub.running:
        checks["hub"] = "not running"
    try:
        async with asyncio.timeout(READY_WRITE_WAIT):
            # An empty write transaction: takes the write lock, checks the schema
            # version under it (SchemaNewer), and commits nothing to disk.
            async with site.db.transaction():
                pass
    except TimeoutError:
        checks["database"] = "write lock not available"
    except Exception as error:  # whatever stops writes makes the node unready
        checks["database"] = str(getattr(error, "message", error)) or type(error).__name__
    failed = {k: v for k, v in checks.items() if v != "ok"}
    if failed:
        body = {
            "error": {
                "code": "not_ready",
                "message": "; ".join(f"{k}: {v}" for k, v in failed.items()),
                "checks": checks,
            }
        }
        return JSONResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
    return JSONResponse({"status": "ready", "checks": checks}, headers={"Cache-Control": "no-store"})


routes = [Route("/api/health/ready", ready)]


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopping in Moot's order on SIGTERM: stop accepting;
    readiness turns 503; /live connections close with 1001 "going away";
    then uvicorn lets in-flight requests finish (within
    `timeout_graceful_shutdown`, after which they are cancelled and their
    transactions roll back) and runs the lifespan's shutdown."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        assert isinstance(config.app, Starlette), "serves create_app's application"
        self.app = config.app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting before anything else
        site: Site = self.app.state.site
        site.stopping = True
        site.hub.going_away()
        try:
            async with asyncio.timeout(GOING_AWAY_WAIT):
                while site.hub.subscriber_count:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("%d /live connection(s) did not close in time", site.hub.subscriber_count)
        await super().shutdown(sockets)


# Request logging and metrics

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# New ids: this process's random prefix and a count (ids name requests in
# logs; they are not secrets, and a count costs no system call).
_ID_PREFIX = secrets.token_hex(4)
_id_count = itertools.count()
access_log = logging.getLogger("moot.access")


def request_id(scope: Scope) -> str:
    """The id of this request: the client's (or proxy's) X-Request-ID when it is
    a sane token, else a new one; kept in the scope for error reports."""
    moot = scope.setdefault("moot", {})
    if "request_id" not in moot:
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        moot["request_id"] = given if REQUEST_ID.fullmatch(given) else f"{_ID_PREFIX}{next(_id_count):08x}"
    return moot["request_id"]


class RequestObserver:
    """One log line per HTTP request (client address, method, path without the
    query string, status, duration, request id; never headers, cookies or
    bodies) and, when metrics are on, its count and latency by route family.
    The request id is echoed in an X-Request-ID response header."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, log_requests: bool = True) -> None:
        self.app, self.metrics, self.log_requests = app, metrics, log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = request_id(scope)
        status = 500  # what the client sees if the app fails before answering
        header = (b"x-request-id", rid.encode())

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.observe(scope["path"], scope["method"], status, seconds)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %s %d %.1fms id=%s",
                    client[0] if client else "-",
                    scope["method"],
                    scope["path"],
                    status,
                    seconds * 1000,
                    rid,
                    extra={
                        "access": {
                            "client": client[0] if client else None,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": round(seconds * 1000, 2),
                            "request_id": rid,
                        }
                    },
                )


async def metrics_endpoint(request: Request) -> Response:
    """/metrics: 404 while metrics are off, 403 for an address not allowed."""
    metrics = site_of(request).metrics
    if metrics is None:
        return JSONResponse({"error": {"code": "not_found", "message": "metrics are off"}}, status_code=404)
    if (request.client.host if request.client else None) not in metrics.allowed:
        body = {"error": {"code": "forbidden", "message": "metrics are not open to this address"}}
        return JSONResponse(body, status_code=403)
    return Response(
        await metrics.scrape(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )


routes.append(Route("/metrics", metrics_endpoint))


def middleware(site: Site) -> list[Middleware]:
    """The request observer, with the site's metrics when they are on."""
    return [Middleware(RequestObserver, metrics=site.metrics, log_requests=site.config.log_requests)]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and an access
    line's fields (MOOT_LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "access", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """Moot's and uvicorn's log lines (requests, errors, start and stop) to
    stderr, all as text or all as JSON; UTC times."""
    handler = logging.StreamHandler()
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    for name in ("moot", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
