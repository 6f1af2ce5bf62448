"""Read marks over HTTP: mark a thread read (whole or up to an article),
catch up a group, mark unread from an article, and go to the next unread
article; JSON for scripts and clients, forms for pages without JavaScript.
Everything here acts on the signed-in reader's own marks only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiosqlite import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import groups, reading
from ..people import readstate
from ..stewardship.permissions import require
from ..store.errors import Invalid
from .accounts import checked_form
from .common import (
    PRIVATE,
    article_link,
    current_user,
    form_on,
    json_on,
    set_group_switch,
    sign_in_first,
    site_of,
)
from .security import read_json

# Groups and threads one count request may name: a page's worth.
MAX_COUNTS = 100


@asynccontextmanager
async def _marks(request: Request, *, change: bool = False) -> AsyncIterator[Connection]:
    """A connection to read the reader's marks (or, with `change`, a transaction
    to change them) once the marks page views left pending are written, so an
    answer holds them and none of them undoes the change."""
    site = site_of(request)
    await site.reads.flush()
    async with site.db.transaction() if change else site.db.read() as conn:
        yield conn


async def thread_read(request: Request) -> Response:
    user = require(await current_user(request), "track")
    data = await read_json(request)
    async with _marks(request, change=True) as conn:
        state = await readstate.mark_thread_read(
            conn, user.id, request.path_params["id"], data.get("up_to_article_id"), data.get("article_ids")
        )
    return JSONResponse(state)


async def group_catch_up(request: Request) -> Response:
    site = site_of(request)
    user = require(await current_user(request), "track")
    await read_json(request)
    async with site.db.transaction() as conn:
        row = await groups.get_group_row(conn, request.path_params["name"])
        state = await readstate.catch_up(conn, user.id, row)
    return JSONResponse(state)


async def article_unread(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await read_json(request)
    async with _marks(request, change=True) as conn:
        state = await readstate.mark_unread_from(conn, user.id, request.path_params["ref"])
    return JSONResponse(state)


async def next_unread(request: Request) -> Response:
    user = require(await current_user(request), "track")
    async with _marks(request) as conn:
        found = await readstate.next_unread(conn, user.id, _thread_param(request))
    return JSONResponse({"next": found})


async def counts(request: Request) -> Response:
    """The reader's unread counts for the groups and threads an open page shows
    (`?groups=a,b&threads=1,2`, at most 100 of each), killfile applied."""
    user = require(await current_user(request), "track")
    names = [n for n in request.query_params.get("groups", "").split(",") if n][: MAX_COUNTS + 1]
    raw = [t for t in request.query_params.get("threads", "").split(",") if t][: MAX_COUNTS + 1]
    if len(names) > MAX_COUNTS or len(raw) > MAX_COUNTS:
        raise Invalid(f"ask for at most {MAX_COUNTS} groups and {MAX_COUNTS} threads")
    if not all(t.isdigit() and len(t) < 19 for t in raw):
        raise Invalid("threads must be thread ids")
    async with _marks(request) as conn:
        result = await readstate.counts(conn, user.id, names, [int(t) for t in raw])
    return JSONResponse(result, headers=PRIVATE)


def _thread_param(request: Request) -> int | None:
    raw = request.query_params.get("from")
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


async def subscribe(request: Request) -> Response:
    user = require(await current_user(request), "track")
    on = json_on(await read_json(request))
    name = await set_group_switch(request, user, readstate.subscribe, on)
    return JSONResponse({"group": name, "subscribed": on})


async def newsrc_export(request: Request) -> Response:
    """The reader's marks and subscriptions as a .newsrc file (tin's format)."""
    user = require(await current_user(request), "track")
    async with _marks(request) as conn:
        text = await readstate.export_newsrc(conn, user.id)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="newsrc"',
            **PRIVATE,
        },
    )


async def newsrc_import(request: Request) -> Response:
    user = require(await current_user(request), "track")
    data = await read_json(request)
    site_of(request).newsrc_imports.take(user.id, "importing .newsrc files")
    async with site_of(request).db.transaction() as conn:
        result = await readstate.import_newsrc(conn, user.id, data.get("newsrc"))
    return JSONResponse(result)


# Forms and links for pages


async def thread_read_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await checked_form(request)
    async with _marks(request, change=True) as conn:
        await readstate.mark_thread_read(conn, user.id, request.path_params["id"])
    return RedirectResponse(f"/t/{request.path_params['id']}", status_code=303)


async def catch_up_form(request: Request) -> Response:
    site = site_of(request)
    user = require(await current_user(request), "track")
    await checked_form(request)
    async with site.db.transaction() as conn:
        row = await groups.get_group_row(conn, request.path_params["name"])
        await readstate.catch_up(conn, user.id, row)
    return RedirectResponse(f"/g/{row['name']}", status_code=303)


async def unread_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await checked_form(request)
    async with _marks(request, change=True) as conn:
        await readstate.mark_unread_from(conn, user.id, request.path_params["id"])
        article = await reading.get_article(conn, request.path_params["id"])
    # back to the group, as a mail reader's "mark unread" goes back to the list:
    # the thread page would mark what it shows read again
    return RedirectResponse(f"/g/{article['group']}", status_code=303)


async def next_unread_page(request: Request) -> Response:
    """`n` without JavaScript: 303 to the next unread article, or home, saying
    that nothing unread is left, when none is."""
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with _marks(request) as conn:
        found = await readstate.next_unread(conn, user.id, _thread_param(request))
    target = (
        await article_link(site_of(request), {"thread_id": found["thread_id"], "id": found["article_id"]})
        if found
        else "/?all-read"
    )
    return RedirectResponse(target, status_code=303)


async def subscribe_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    name = await set_group_switch(request, user, readstate.subscribe, form_on(form))
    return RedirectResponse(f"/g/{name}", status_code=303)


routes = [
    Route("/api/threads/{id}/read", thread_read, methods=["POST"]),
    Route("/api/groups/{name}/catch-up", group_catch_up, methods=["POST"]),
    Route("/api/articles/{ref:path}/unread", article_unread, methods=["POST"]),
    Route("/api/unread/next", next_unread),
    Route("/api/unread", counts),
    Route("/api/groups/{name}/subscribe", subscribe, methods=["POST"]),
    Route("/api/me/newsrc", newsrc_export),
    Route("/api/me/newsrc", newsrc_import, methods=["POST"]),
    Route("/g/{name}/subscribe", subscribe_form, methods=["POST"]),
    Route("/t/{id:int}/read", thread_read_form, methods=["POST"]),
    Route("/g/{name}/catch-up", catch_up_form, methods=["POST"]),
    Route("/a/{id:int}/unread", unread_form, methods=["POST"]),
    Route("/unread/next", next_unread_page),
]
