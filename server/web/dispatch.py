"""Route look-up by the path's first segment: Starlette's router tries each
route's pattern in turn (about twenty before a thread page), a measurable
share of a cached page's or a 304's cost. Each segment gets the routes that
can match under it, in their original order, so the first full match is the
one the router would choose; anything else (no full match, a partial match
for 405, a trailing-slash redirect, lifespan) goes to the router as before."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

_ANY = None  # a route whose first segment is not a plain literal


def _first_segment(route: BaseRoute) -> str | None:
    if not isinstance(route, (Route, WebSocketRoute, Mount)):
        return _ANY
    segment = route.path[1:].split("/", 1)[0] if route.path.startswith("/") else "{"
    return _ANY if "{" in segment or (isinstance(route, Mount) and not segment) else segment


def install(router: Router) -> None:
    """Put the segment look-up in front of `router`'s own route loop."""
    if router.middleware_stack != router.app:  # router-level middleware: leave it alone
        return
    segments = {_first_segment(route) for route in router.routes} - {_ANY}
    buckets = {s: [r for r in router.routes if _first_segment(r) in (s, _ANY)] for s in segments}
    anywhere = [r for r in router.routes if _first_segment(r) is _ANY]
    fallback = router.app

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and not scope.get("root_path"):
            path = scope["path"]
            for route in buckets.get(path[1:].split("/", 1)[0], anywhere):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await fallback(scope, receive, send)

    router.middleware_stack = dispatch
