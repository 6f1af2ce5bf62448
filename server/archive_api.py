"""The archive's HTTP adapters: search, the archive by date, mbox downloads
and Atom feeds. Each checks its input and existence before it answers, so an
error is always API.md's JSON error and never a half-sent download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import exports, feeds, mbox, months, search
from .groups import get_group_row
from .reading import thread_row


def _site(request: Request):
    return request.app.state.site


async def search_articles(request: Request) -> Response:
    q = request.query_params
    query = search.parse(q.get("q", ""))
    query = search.with_params(query, group=q.get("group"), author=q.get("author"),
                               after=q.get("after"), before=q.get("before"), state=q.get("state"))
    async with _site(request).db.read() as conn:
        page = await search.search(conn, query, limit=q.get("limit"), cursor=q.get("cursor"))
    return JSONResponse(page)


async def group_archive(request: Request) -> Response:
    """Without `year`: the months that have archived threads. With it: those threads."""
    q = request.query_params
    async with _site(request).db.read() as conn:
        group = await get_group_row(conn, request.path_params["name"])
        if q.get("year") in (None, ""):
            return JSONResponse({"group": group["name"], "periods": await months.periods(conn, group)})
        page = await months.archived_threads(conn, group, q.get("year"), q.get("month"),
                                              limit=q.get("limit"), cursor=q.get("cursor"))
    return JSONResponse({"group": group["name"], "year": int(q["year"]),
                         "month": int(q["month"]) if q.get("month") else None, **page})


def _mbox_response(chunks, filename: str) -> Response:
    return StreamingResponse(chunks, media_type=mbox.CONTENT_TYPE,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def thread_mbox(request: Request) -> Response:
    site = _site(request)
    async with site.db.read() as conn:
        thread = await thread_row(conn, request.path_params["id"])

    async def chunks():
        after = ""
        while True:
            async with site.db.read() as conn:
                rows = await exports.thread_export_page(conn, thread["id"], after)
            if not rows:
                return
            yield b"".join(mbox.format_article(r, site.config.domain) for r in rows)
            after = rows[-1]["path"]

    return _mbox_response(chunks(), f"thread-{thread['id']}.mbox")


async def group_mbox(request: Request) -> Response:
    site, q = _site(request), request.query_params
    after = search.parse_date(q["after"], "after") if q.get("after") else None
    before = search.parse_date(q["before"], "before") if q.get("before") else None
    async with site.db.read() as conn:
        group = await get_group_row(conn, request.path_params["name"])

    async def chunks():
        key = None
        while True:
            async with site.db.read() as conn:
                rows = await exports.group_export_page(conn, group["id"], after=after,
                                                       before=before, key=key)
            if not rows:
                return
            yield b"".join(mbox.format_article(r, site.config.domain) for r in rows)
            key = (rows[-1]["created_at"], rows[-1]["id"])

    return _mbox_response(chunks(), f"{group['name']}.mbox")


async def group_feed(request: Request) -> Response:
    site = _site(request)
    async with site.db.read() as conn:
        group = await get_group_row(conn, request.path_params["name"])
        rows = await exports.new_threads(conn, group)
    body = feeds.group_feed(group, rows, base_url=str(request.base_url), domain=site.config.domain,
                            site_name=site.config.site_name)
    return Response(body, media_type=feeds.CONTENT_TYPE)


async def thread_feed(request: Request) -> Response:
    site = _site(request)
    async with site.db.read() as conn:
        thread = await thread_row(conn, request.path_params["id"])
        rows = await exports.thread_latest(conn, thread["id"])
    body = feeds.thread_feed(thread, rows, base_url=str(request.base_url), domain=site.config.domain,
                             site_name=site.config.site_name)
    return Response(body, media_type=feeds.CONTENT_TYPE)


routes = [
    Route("/api/search", search_articles),
    Route("/api/groups/{name}/archive", group_archive),
    Route("/api/groups/{name}/mbox", group_mbox),
    Route("/api/groups/{name}/feed.atom", group_feed),
    Route("/api/threads/{id}/mbox", thread_mbox),
    Route("/api/threads/{id}/feed.atom", thread_feed),
]
