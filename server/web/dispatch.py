"""Route look-up by the path's first two segments: Starlette's router tries
each route's pattern in turn (about twenty before a thread page, a hundred
under /api), a measurable share of a cached page's or a 304's cost. Each
literal prefix (one or two segments) gets the routes that can match under
it, in their original order, so the first full match is the one the router
would choose; anything else (no full match, a partial match for 405, a
trailing-slash redirect, lifespan) goes to the router as before."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

_ANY = None  # a route whose first segment is not a plain literal


def _prefix(route: BaseRoute) -> tuple[str, ...] | None:
    """The route's leading literal segments, at most two; None when it has none."""
    if not isinstance(route, (Route, WebSocketRoute, Mount)) or not route.path.startswith("/"):
        return _ANY
    literal = []
    for segment in route.path[1:].split("/")[:2]:
        if "{" in segment or not segment:
            break
        literal.append(segment)
    return tuple(literal) or _ANY


def finder(routes: list[BaseRoute]) -> Callable[[Scope], tuple[BaseRoute, Scope] | None]:
    """A look-up of `routes` by a request's first two path segments: for a
    scope, the first route (in `routes`' order) that matches it fully, and
    that route's child scope; None when none does. Each literal prefix (one
    or two segments) is tried against the routes that can match under it."""
    prefixed = [(_prefix(r), r) for r in routes]  # each route's prefix, worked out once
    prefixes = {p for p, _ in prefixed if p is not None}
    keys = {p[:1] for p in prefixes} | prefixes
    # Under a key: the routes whose prefix it extends (a two-segment key takes
    # its first segment's too), and those with none, in the routes' order:
    # each route goes to the keys it can match under, in one pass.
    longer: dict[tuple[str, ...], list[tuple[str, ...]]] = {}  # a first segment's two-segment keys
    for key in keys:
        if len(key) == 2:
            longer.setdefault(key[:1], []).append(key)
    buckets: dict[tuple[str, ...], list[BaseRoute]] = {key: [] for key in keys}
    anywhere = []
    for p, r in prefixed:
        if p is _ANY:
            anywhere.append(r)
        for key in keys if p is _ANY else (p, *longer.get(p, ())):
            buckets[key].append(r)

    def find(scope: Scope) -> tuple[BaseRoute, Scope] | None:
        segments = tuple(scope["path"][1:].split("/", 2)[:2])
        for route in buckets.get(segments) or buckets.get(segments[:1], anywhere):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
        return None

    return find


def install(router: Router) -> None:
    """Put the prefix look-up in front of `router`'s own route loop."""
    if router.middleware_stack != router.app:  # router-level middleware: leave it alone
        return
    find, fallback = finder(router.routes), router.app

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        found = None if scope["type"] == "lifespan" or scope.get("root_path") else find(scope)
        if found is None:
            await fallback(scope, receive, send)
            return
        route, child_scope = found
        scope.setdefault("router", router)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)

    router.middleware_stack = dispatch
