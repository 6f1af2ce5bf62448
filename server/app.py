"""create_app(config): builds the whole application; nothing happens at import time."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import WebSocketRoute

from . import api, archive_api, forms, live, maintenance_api, pages, sweep, web, web_ops
from .config import Config
from .db import Database
from .errors import Forbidden, MootError, RateLimited
from .security import SAFE_METHODS, origin_allowed
from .site import Site

log = logging.getLogger("moot")


def _headers(error: MootError) -> dict | None:
    return {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None


def error_response(request: Request, error: MootError) -> Response:
    """The one translation of MootError to HTTP: the JSON error shape of docs/API.md."""
    return JSONResponse(error.to_json(), status_code=error.status, headers=_headers(error))


async def _moot_error(request: Request, exc: MootError) -> Response:
    """Pages get an HTML error page, everything else the JSON error; same status."""
    if web.wants_html(request):
        return await web.error_page(request, exc.status, exc.message, _headers(exc))
    return error_response(request, exc)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if web.wants_html(request):
        return await web.error_page(request, exc.status_code, exc.detail, exc.headers)
    codes = {404: "not_found", 405: "method_not_allowed"}
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    request_id = request.scope.get("moot", {}).get("request_id")
    log.exception("unhandled error on %s %s id=%s", request.method, request.url.path, request_id)
    body = {"error": {"code": "internal", "message": "internal server error", "request_id": request_id}}
    return JSONResponse(body, status_code=500)


class OriginCheck:
    """Refuses (403) any state-changing HTTP request whose Origin names another site."""

    def __init__(self, app, allowed_origins: tuple[str, ...]):
        self.app, self.allowed = app, allowed_origins

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            if not origin_allowed(request, self.allowed):
                response = error_response(request, Forbidden("cross-origin requests are not allowed"))
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(config: Config) -> Starlette:
    site = Site(config, Database(config.db_path, read_connections=config.read_connections,
                                 synchronous=config.synchronous))

    @asynccontextmanager
    async def lifespan(app):
        await site.start()
        sweeper = sweep.start(site)
        try:
            yield
        finally:
            await sweep.stop(sweeper)
            await site.stop()

    app = Starlette(
        routes=[*pages.routes, *forms.routes, web.static_mount(), *api.routes, *archive_api.routes,
                *maintenance_api.routes, *web_ops.routes, WebSocketRoute("/live", live.endpoint)],
        middleware=[*web_ops.middleware(site), Middleware(web.SecurityHeaders),
                    Middleware(OriginCheck, allowed_origins=config.allowed_origins)],
        exception_handlers={MootError: _moot_error, HTTPException: _http_error,
                            Exception: _internal_error},
        lifespan=lifespan,
    )
    app.state.site = site
    app.state.templates = web.make_templates()
    return app
