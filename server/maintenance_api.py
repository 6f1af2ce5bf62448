"""The JSON API of maintenance (API.md): split, merge, move, lock, archive,
references, archive policy, the moderation log and undo, split suggestions,
proposals and roles. Thin adapters over the domain functions.

Who may call what (the authorisation table test checks every row):
  moderator and admin: split, merge, move, archive, unarchive, lock, unlock,
      reference, group policy, undo   (anonymous 401, member 403)
  admin: role                         (anonymous 401, member and moderator 403)
  member and up: propose, endorse     (anonymous 401)
  anyone: modlog, split suggestions, proposals list"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import maintenance, modlog, proposals, suggestions, undo
from .permissions import require
from .security import read_json
from .site import Site


def _site(request: Request) -> Site:
    return request.app.state.site


async def _moderator(request: Request):
    site = _site(request)
    return site, require(await site.user(request), "moderate"), await read_json(request)


async def split_thread(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        result = await maintenance.split(
            conn, site.config.domain, user, request.path_params["id"], data.get("article_id"),
            reason=data.get("reason"), subject=data.get("subject"), group=data.get("group"))
    return JSONResponse(result, status_code=201)


async def merge_thread(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        result = await maintenance.merge(conn, site.config.domain, user, request.path_params["id"],
                                         data.get("into_article_id"), reason=data.get("reason"))
    return JSONResponse(result)


async def move_thread(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        result = await maintenance.move(conn, user, request.path_params["id"], data.get("group"),
                                        reason=data.get("reason"))
    return JSONResponse(result)


def _state_action(action: str):
    async def endpoint(request: Request) -> Response:
        site, user, data = await _moderator(request)
        async with site.db.transaction() as conn:
            result = await maintenance.set_state(conn, user, request.path_params["id"], action,
                                                 data.get("reason"))
        return JSONResponse(result)
    endpoint.__name__ = f"{action}_thread"
    return endpoint


async def set_reference(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        result = await maintenance.set_reference(conn, user, request.path_params["id"],
                                                 data.get("on"), data.get("reason"))
    return JSONResponse(result)


async def set_policy(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        result = await maintenance.set_policy(
            conn, user, request.path_params["name"],
            archive_after_days=data.get("archive_after_days"),
            archive_after_articles=data.get("archive_after_articles"), reason=data.get("reason"))
    return JSONResponse(result)


async def split_suggestions(request: Request) -> Response:
    async with _site(request).db.read() as conn:
        return JSONResponse(await suggestions.split_suggestions(conn, request.path_params["id"]))


async def list_modlog(request: Request) -> Response:
    q = request.query_params
    async with _site(request).db.read() as conn:
        page = await modlog.list_entries(conn, group=q.get("group"), limit=q.get("limit"),
                                         cursor=q.get("cursor"))
    return JSONResponse(page)


async def get_modlog_entry(request: Request) -> Response:
    async with _site(request).db.read() as conn:
        return JSONResponse({"entry": await modlog.get_entry(conn, request.path_params["id"])})


async def undo_entry(request: Request) -> Response:
    site, user, data = await _moderator(request)
    async with site.db.transaction() as conn:
        entry = await undo.undo(conn, user, request.path_params["id"], data.get("reason"))
    return JSONResponse({"entry": entry})


async def list_proposals(request: Request) -> Response:
    site = _site(request)
    async with site.db.read() as conn:
        found = await proposals.list_proposals(conn, site.config.proposal_threshold,
                                               status=request.query_params.get("status"))
    return JSONResponse({"proposals": found})


async def get_proposal(request: Request) -> Response:
    site = _site(request)
    async with site.db.read() as conn:
        found = await proposals.get_proposal(conn, request.path_params["id"],
                                             site.config.proposal_threshold)
    return JSONResponse({"proposal": found})


async def create_proposal(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "propose")
    data = await read_json(request)
    async with site.db.transaction() as conn:
        found = await proposals.propose(conn, user, data.get("name"), data.get("description"),
                                        data.get("charter"), threshold=site.config.proposal_threshold)
    return JSONResponse({"proposal": found}, status_code=201)


async def endorse_proposal(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "endorse")
    await read_json(request)
    async with site.db.transaction() as conn:
        found = await proposals.endorse(conn, user, request.path_params["id"],
                                        threshold=site.config.proposal_threshold)
    return JSONResponse({"proposal": found})


async def set_role(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "admin")
    data = await read_json(request)
    async with site.db.transaction() as conn:
        changed = await maintenance.change_role(conn, user, request.path_params["username"], data.get("role"),
                                    data.get("reason"))
    return JSONResponse({"user": changed.to_json()})


routes = [
    Route("/api/threads/{id}/split", split_thread, methods=["POST"]),
    Route("/api/threads/{id}/merge", merge_thread, methods=["POST"]),
    Route("/api/threads/{id}/move", move_thread, methods=["POST"]),
    *[Route(f"/api/threads/{{id}}/{action}", _state_action(action), methods=["POST"])
      for action in maintenance.STATE_ACTIONS],
    Route("/api/threads/{id}/reference", set_reference, methods=["POST"]),
    Route("/api/threads/{id}/split-suggestions", split_suggestions),
    Route("/api/groups/{name}/policy", set_policy, methods=["PUT"]),
    Route("/api/modlog", list_modlog),
    Route("/api/modlog/{id}", get_modlog_entry),
    Route("/api/modlog/{id}/undo", undo_entry, methods=["POST"]),
    Route("/api/proposals", list_proposals),
    Route("/api/proposals", create_proposal, methods=["POST"]),
    Route("/api/proposals/{id}", get_proposal),
    Route("/api/proposals/{id}/endorse", endorse_proposal, methods=["POST"]),
    Route("/api/users/{username}/role", set_role, methods=["POST"]),
]
