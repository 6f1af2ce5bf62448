"""Drafts over HTTP: the signed-in reader's drafts as JSON (list, read, save
with the version it replaces, discard) and the discard form of the account
page. Saves go through the group commit (Database.run) and spend from a
per-account budget (Site.draft_saves), so drafts never crowd the writer that
posts go through; the client saves on blur and at most every 10 s."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..people import drafts
from ..stewardship.permissions import User, require
from .accounts import checked_form
from .common import PRIVATE, current_user, site_of
from .security import read_json


async def _signed_in(request: Request) -> User:
    return require(await current_user(request), "track")


async def _write(request: Request, user: User, action: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    """Run a draft write through the group commit, within the account's budget."""
    site = site_of(request)
    site.draft_saves.take(user.id, "saving drafts")
    return await site.db.run(action)


async def list_drafts(request: Request) -> Response:
    user = await _signed_in(request)
    async with site_of(request).db.read() as conn:
        found = await drafts.drafts_of(conn, user.id)
    return JSONResponse({"drafts": found, "max_drafts": drafts.MAX_DRAFTS}, headers=PRIVATE)


async def get_draft(request: Request) -> Response:
    """`{draft}`: the reader's draft at the place, null when there is none (not an error: most places have none)."""
    user = await _signed_in(request)
    async with site_of(request).db.read() as conn:
        draft = await drafts.get(conn, user.id, request.path_params["place"])
    return JSONResponse({"draft": draft}, headers=PRIVATE)


async def put_draft(request: Request) -> Response:
    user = await _signed_in(request)
    data = await read_json(request)
    where = drafts.place(request.path_params["place"])
    draft = await _write(
        request,
        user,
        lambda conn: drafts.save(
            conn, user.id, where, data.get("subject", ""), data.get("body"), data.get("version", 0)
        ),
    )
    return JSONResponse({"draft": draft})


async def delete_draft(request: Request) -> Response:
    user = await _signed_in(request)
    await read_json(request)  # a JSON content type, which a cross-site form cannot send
    where = drafts.place(request.path_params["place"])
    await _write(request, user, lambda conn: drafts.discard(conn, user.id, where))
    return Response(status_code=204)


async def discard_form(request: Request) -> Response:
    """The account page's Discard button, without JavaScript."""
    user = await _signed_in(request)
    form = await checked_form(request)
    where = drafts.place(form.get("place"))
    await _write(request, user, lambda conn: drafts.discard(conn, user.id, where))
    return RedirectResponse("/account#drafts-h", status_code=303)


routes = [
    Route("/api/drafts", list_drafts),
    Route("/api/drafts/{place}", get_draft),
    Route("/api/drafts/{place}", put_draft, methods=["PUT"]),
    Route("/api/drafts/{place}", delete_draft, methods=["DELETE"]),
    Route("/account/drafts/discard", discard_form, methods=["POST"]),
]
