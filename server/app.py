"""create_app(config): builds the whole application; nothing happens at
import time. This module only assembles: the routes come from the web
adapter, the domain from the Site."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from . import nntp, smtp, web
from .articles import indexing
from .mail import queuemail
from .runtime.site import Site
from .stewardship import sweep
from .store.config import Config
from .store.db import Database
from .store.errors import MootError
from .web import dispatch
from .web.caching import COMPRESS_MIN_BYTES, PageFront, Placeholders
from .web.common import error_headers, error_page, error_response, wants_html
from .web.connections import ClientBudget
from .web.ops import middleware as request_observer
from .web.rendering import make_templates
from .web.security import Cookies, HostCheck, OriginCheck, SecurityHeaders

if TYPE_CHECKING:
    from .federation.delivery import Delivery

log = logging.getLogger("moot")


async def _moot_error(request: Request, exc: Exception) -> Response:
    """Pages get an HTML error page, everything else the JSON error; same status."""
    assert isinstance(exc, MootError)
    if wants_html(request):
        return await error_page(request, exc.status, exc.message, error_headers(exc))
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_html(request):
        return await error_page(request, exc.status_code, exc.detail, exc.headers)
    codes = {404: "not_found", 405: "method_not_allowed"}
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up while sending its body: nothing to answer, nothing went wrong here."""
    log.debug("client left during the request body of %s %s", request.method, request.url.path)
    return Response(status_code=400)


async def _internal_error(request: Request, exc: Exception) -> Response:
    request_id = request.scope.get("moot", {}).get("request_id")
    log.exception("unhandled error on %s %s id=%s", request.method, request.url.path, request_id)
    if wants_html(request):
        return await error_page(
            request, 500, f"Something went wrong on our side; please try again (request {request_id})."
        )
    body = {"error": {"code": "internal", "message": "internal server error", "request_id": request_id}}
    return JSONResponse(body, status_code=500)


async def _start_fediverse(site: Site) -> Delivery | None:
    """The fediverse's delivery task when federation is on, else None. Its
    modules (and cryptography, h11 and http_sfv under them) are imported only
    then, so that every other `moot` process starts without them."""
    if not site.config.federation:
        return None
    from .federation import delivery

    return await delivery.start(site)


def create_app(config: Config, listeners: Mapping[str, socket.socket] | None = None) -> Starlette:
    """The whole application for `config`. `listeners` may hold listening
    sockets already bound to the NNTP, NNTPS and SMTP ports ("nntp", "nntps", "smtp"), which
    those servers then use in place of binding the ports themselves."""
    bound = dict(listeners or {})
    site = Site(
        config,
        Database(config.db_path, read_connections=config.read_connections, synchronous=config.synchronous),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each part is stopped, in the reverse order, from the moment it has
        # started: when a later one fails to start (a port taken), the ones
        # before it stop too, and the process ends instead of hanging on them.
        async with AsyncExitStack() as started:
            await site.start()
            started.push_async_callback(site.stop)
            app.state.cookies = Cookies(
                site.secret, secure=config.secure_cookies, session_days=config.session_days
            )
            started.push_async_callback(sweep.stop, sweep.start(site, [queuemail.job]))
            started.push_async_callback(indexing.stop, indexing.start(site.db))
            started.push_async_callback(nntp.stop, await nntp.start(site, bound.get("nntp")))
            started.push_async_callback(
                nntp.stop, await nntp.start(site, bound.get("nntps"), implicit_tls=True)
            )
            started.push_async_callback(nntp.feed.stop, await nntp.feed.start(site))
            app.state.mail = await smtp.start(site, bound.get("smtp"))
            started.push_async_callback(smtp.stop, app.state.mail)
            fediverse = await _start_fediverse(site)
            if fediverse is not None:
                started.push_async_callback(fediverse.stop)
            app.state.federation_client = fediverse.client if fediverse else None
            yield

    templates = make_templates(config.edit_grace_minutes)
    front = Middleware(PageFront, site=site)
    middleware = [
        *request_observer(site),  # inside the proxy rule: it logs the real client address
        # Budgets per client (requests in flight, /live sockets), by the real address too.
        Middleware(ClientBudget, site=site),
        # Repeats of anonymous page answers the response cache still holds.
        front,
        # Compresses what the response cache did not already store compressed
        # (it leaves responses with a Content-Encoding alone, streams chunk by
        # chunk, and never sees WebSockets). Level 6: see response_cache.GZIP_LEVEL.
        Middleware(GZipMiddleware, minimum_size=COMPRESS_MIN_BYTES, compresslevel=6),
        Middleware(SecurityHeaders),
        Middleware(HostCheck, allowed_hosts=config.allowed_hosts),
        Middleware(OriginCheck, allowed_origins=config.allowed_origins, allowed_hosts=config.allowed_hosts),
    ]
    if config.federation:  # ActivityPub clients get JSON at page URLs, before any page cache
        from .web.federation import Negotiate

        middleware.insert(middleware.index(front), Middleware(Negotiate, site=site))
    if config.trusted_proxies:  # only then is X-Forwarded-For/-Proto believed
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.trusted_proxies)))
    app = Starlette(
        routes=web.routes(templates, fediverse=config.federation),
        middleware=middleware,
        exception_handlers={
            MootError: _moot_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _internal_error,
        },
        lifespan=lifespan,
    )
    dispatch.install(app.router)
    app.state.site = site
    app.state.templates = templates
    app.state.placeholders = Placeholders.new()
    return app
