"""Full-text search over HTTP: ranked results as JSON and as a page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import search
from .common import page, query_string, site_of
from .rendering import snippet_html

RESULTS_PAGE = 25


async def search_articles(request: Request) -> Response:
    q = request.query_params
    query = search.with_params(search.parse(q.get("q", "")), group=q.get("group"),
                               author=q.get("author"), after=q.get("after"), before=q.get("before"),
                               state=q.get("state"))
    async with site_of(request).db.read() as conn:
        found = await search.search(conn, query, limit=q.get("limit"), cursor=q.get("cursor"))
    return JSONResponse(found)


async def search_page(request: Request) -> Response:
    q = request.query_params
    text = q.get("q", "").strip()
    results, next_cursor = [], None
    if text:
        query = search.with_params(search.parse(text), group=q.get("group"), author=q.get("author"),
                                   state=q.get("state"))
        async with site_of(request).db.read() as conn:
            found = await search.search(conn, query, limit=RESULTS_PAGE, cursor=q.get("cursor"))
        results, next_cursor = found["results"], found.get("next_cursor")
        for result in results:
            result["snippet"] = snippet_html(result["snippet"])
    return await page(request, "search.html", {
        "query": text, "group_filter": q.get("group", ""), "results": results,
        "more": query_string(q=text, group=q.get("group"), cursor=next_cursor) if next_cursor else None})


routes = [
    Route("/api/search", search_articles),
    Route("/search", search_page),
]
