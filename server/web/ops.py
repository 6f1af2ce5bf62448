"""The operating side of the HTTP server: readiness for load balancers, and
`moot serve`'s orderly stop on SIGTERM.

/api/health stays the trivially cheap liveness answer (reading.py); readiness,
here, also proves the database takes a write transaction and the live hub is
delivering, and turns 503 as soon as the server starts to stop, so a load
balancer sends no new work to a node that is leaving."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..site import Site
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
        body = {"error": {"code": "not_ready", "message": "; ".join(f"{k}: {v}" for k, v in failed.items()),
                          "checks": checks}}
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
