"""Exports over HTTP: a thread or a group as an mbox file, and Atom feeds.
Each checks its input and existence before it answers, so an error is
always the JSON error and never a half-sent download."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..articles import exports, feeds, mbox, search
from ..articles.groups import get_group_row
from ..articles.reading import thread_row
from .common import client_address, current_user, site_of


def _mbox_response(chunks: AsyncIterator[bytes], filename: str) -> Response:
    return StreamingResponse(
        chunks,
        media_type=mbox.CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def thread_mbox(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        thread = await thread_row(conn, request.path_params["id"])

    async def chunks() -> AsyncIterator[bytes]:
        after = None
        while True:
            async with site.db.read() as conn:
                rows = await exports.thread_export_page(conn, thread["id"], after)
            if not rows:
                return
            yield b"".join(mbox.format_article(r, site.config.domain) for r in rows)
            after = rows[-1]

    return _mbox_response(chunks(), f"thread-{thread['id']}.mbox")


async def group_mbox(request: Request) -> Response:
    site, q = site_of(request), request.query_params
    after = search.parse_date(q["after"], "after") if q.get("after") else None
    before = search.parse_date(q["before"], "before") if q.get("before") else None
    async with site.db.read() as conn:
        group = await get_group_row(conn, request.path_params["name"])
    if await current_user(request) is None:
        # A whole group can be the whole archive: signed out, a few per address.
        site.exports.take(("group-mbox", client_address(request)), what="downloading group archives")

    async def chunks() -> AsyncIterator[bytes]:
        key = None
        while True:
            async with site.db.read() as conn:
                rows = await exports.group_export_page(conn, group["id"], after=after, before=before, key=key)
            if not rows:
                return
            yield b"".join(mbox.format_article(r, site.config.domain) for r in rows)
            key = (rows[-1]["created_at"], rows[-1]["id"])

    return _mbox_response(chunks(), f"{group['name']}.mbox")


def feed_site(request: Request) -> dict[str, str]:
    """What an Atom feed is told about the site: the base of its links, the
    domain of its tag: ids and the site's name."""
    config = site_of(request).config
    return {"base_url": str(request.base_url), "domain": config.domain, "site_name": config.site_name}


async def group_feed(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        group = await get_group_row(conn, request.path_params["name"])
        rows = await exports.new_threads(conn, group)
    return Response(feeds.group_feed(group, rows, **feed_site(request)), media_type=feeds.CONTENT_TYPE)


async def thread_feed(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        thread = await thread_row(conn, request.path_params["id"])
        rows = await exports.thread_latest(conn, thread["id"])
    return Response(feeds.thread_feed(thread, rows, **feed_site(request)), media_type=feeds.CONTENT_TYPE)


routes = [
    Route("/api/groups/{name}/mbox", group_mbox),
    Route("/api/groups/{name}/feed.atom", group_feed),
    Route("/api/threads/{id}/mbox", thread_mbox),
    Route("/api/threads/{id}/feed.atom", thread_feed),
]
