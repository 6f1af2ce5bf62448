"""The route look-up by a path's first two segments (web/dispatch.py) picks,
for every route of the app, the route Starlette's own router would: the
first in the app's order that matches fully, with the same path parameters."""

from __future__ import annotations

import uuid

from starlette.routing import BaseRoute, Match, Mount, WebSocketRoute

from moot.web import dispatch

# Values for each path parameter, by its convertor; a plain one that stands
# as one of the first two segments (those the look-up reads) also takes each
# literal word the routes have there: where another route's word could lead
# the look-up astray.
SAMPLES = {"int": ["7"], "path": ["x", "x/y", "x/history"], "float": ["1.5"], "uuid": [str(uuid.UUID(int=7))]}


def _router_choice(routes: list[BaseRoute], scope: dict) -> tuple[BaseRoute, dict] | None:
    """What Starlette's Router does before any partial match: the first full one."""
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            return route, child_scope
    return None


def _paths(route: BaseRoute, words: list[set[str]]) -> set[str]:
    """Sample paths for `route`: each parameter given each of its values in
    turn (the others their first), a Mount's with something under it, and
    each with a trailing slash too."""
    base = route.path_format  # type: ignore[attr-defined]
    kinds = {
        name: type(c).__name__.removesuffix("Convertor").lower().replace("integer", "int")
        for name, c in getattr(route, "param_convertors", {}).items()
    }
    segments = base.split("/")[1:3]

    def values(name: str) -> list[str]:
        at = [i for i, s in enumerate(segments) if s == "{" + name + "}"]
        return SAMPLES.get(kinds[name]) or ["x", *sorted(words[at[0]] if at else ())]

    paths = {
        base.format(**{n: v if n == name else values(n)[0] for n in kinds})
        for name in kinds
        for v in values(name)
    } or {base}
    if isinstance(route, Mount):
        paths = {p.rstrip("/") + "/x" for p in paths}
    return {q for p in paths for q in (p, p.rstrip("/") + "/")}


async def test_the_look_up_picks_the_routers_route_for_every_route(site):
    routes = site.app.router.routes
    words: list[set[str]] = [set(), set()]  # the literal first and second segments
    for r in routes:
        for i, segment in enumerate(getattr(r, "path", "").split("/")[1:3]):
            if segment and "{" not in segment:
                words[i].add(segment)
    find = dispatch.finder(routes)
    tried = 0
    for route in routes:
        if isinstance(route, WebSocketRoute):
            scopes = [{"type": "websocket", "path": p, "root_path": ""} for p in sorted(_paths(route, words))]
        else:
            methods = sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"})
            scopes = [
                {"type": "http", "method": m, "path": p, "root_path": ""}
                for p in sorted(_paths(route, words))
                for m in methods
            ]
            scopes.append({**scopes[0], "method": "PATCH"})  # no route of it takes PATCH: the router's 405
        for scope in scopes:
            expected = _router_choice(routes, scope)
            found = find(scope)
            assert (found and (found[0], found[1])) == expected, (scope["path"], scope.get("method"))
            tried += expected is not None
    assert tried > len(routes)  # every route was found by its own sample paths, and more


async def test_a_request_goes_through_the_look_up_to_its_route(site):
    anon = await site.client()
    assert (await anon.get("/api/health")).json() == {"status": "ok"}
    # no full match: the router's own answers (404, 405) as before
    r = await anon.get("/api/no/such/endpoint")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await anon.delete("/api/health")).status_code == 405
