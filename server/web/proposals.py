"""Group proposals over HTTP: any member proposes a group (or a group's
moderator added or removed), members endorse it, and it is created (or
carried) once endorsements reach the site's threshold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..stewardship import proposals
from ..stewardship.permissions import User, require
from ..store.errors import MootError
from .accounts import checked_form
from .common import current_user, page, site_of
from .security import read_json

# proposals.endorse or proposals.withdraw: what a member does to one proposal.
Decision = Callable[..., Awaitable[dict]]


async def _propose(request: Request, user: User, fields: Mapping[str, object]) -> dict:
    """Propose what `fields` name and describe (name, description, charter;
    kind and username for a group's moderator)."""
    site = site_of(request)
    async with site.db.transaction() as conn:
        return await proposals.propose(
            conn,
            user,
            fields.get("name"),
            fields.get("description"),
            fields.get("charter"),
            rules=proposals.Rules.of(site.config),
            kind=fields.get("kind") or "group",
            username=fields.get("username"),
        )


async def _decide(request: Request, user: User, action: Decision) -> dict:
    """Endorse or withdraw (`action`) the proposal the path names."""
    site = site_of(request)
    async with site.db.transaction() as conn:
        return await action(conn, user, request.path_params["id"], rules=proposals.Rules.of(site.config))


async def list_proposals(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        found = await proposals.list_proposals(
            conn, proposals.Rules.of(site.config), status=request.query_params.get("status")
        )
    return JSONResponse({"proposals": found})


async def get_proposal(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        found = await proposals.get_proposal(conn, request.path_params["id"], proposals.Rules.of(site.config))
    return JSONResponse({"proposal": found})


async def create_proposal(request: Request) -> Response:
    user = require(await current_user(request), "propose")
    found = await _propose(request, user, await read_json(request))
    return JSONResponse({"proposal": found}, status_code=201)


async def endorse_proposal(request: Request) -> Response:
    user = require(await current_user(request), "endorse")
    await read_json(request)
    return JSONResponse({"proposal": await _decide(request, user, proposals.endorse)})


async def withdraw_proposal(request: Request) -> Response:
    user = require(await current_user(request), "propose")
    await read_json(request)
    return JSONResponse({"proposal": await _decide(request, user, proposals.withdraw)})


async def proposals_page(
    request: Request, *, error: str | None = None, form: dict | None = None, status: int = 200
) -> Response:
    """The proposals with their endorsers, an Endorse form on each open one the
    reader has not endorsed, and the propose form; `error` shows above them."""
    site = site_of(request)
    threshold = site.config.proposal_threshold
    async with site.db.read() as conn:
        listing = await proposals.list_proposals(conn, proposals.Rules.of(site.config))
    return await page(
        request,
        "proposals.html",
        {
            "proposals": listing,
            "threshold": threshold,
            "min_age_days": site.config.endorse_min_age_days,
            "min_posts": site.config.endorse_min_posts,
            "canonical": "/proposals",
            "error": error,
            "form": form,
        },
        status=status,
    )


async def propose_submit(request: Request) -> Response:
    """Proposing without JavaScript: the form posts here."""
    form = await checked_form(request)
    try:
        found = await _propose(request, require(await current_user(request), "propose"), form)
    except MootError as problem:  # above the form, which keeps what was typed
        return await proposals_page(request, error=problem.message, form=form, status=problem.status)
    return RedirectResponse(f"/proposals#p{found['id']}", status_code=303)


async def endorse_submit(request: Request) -> Response:
    """Endorsing without JavaScript."""
    return await _decide_submit(request, "endorse", proposals.endorse)


async def withdraw_submit(request: Request) -> Response:
    """Withdrawing one's proposal without JavaScript."""
    return await _decide_submit(request, "propose", proposals.withdraw)


async def _decide_submit(request: Request, permission: str, action: Decision) -> Response:
    await checked_form(request)
    try:
        found = await _decide(request, require(await current_user(request), permission), action)
    except MootError as problem:
        return await proposals_page(request, error=problem.message, status=problem.status)
    return RedirectResponse(f"/proposals#p{found['id']}", status_code=303)


routes = [
    Route("/api/proposals", list_proposals),
    Route("/api/proposals", create_proposal, methods=["POST"]),
    Route("/api/proposals/{id}", get_proposal),
    Route("/api/proposals/{id}/endorse", endorse_proposal, methods=["POST"]),
    Route("/api/proposals/{id}/withdraw", withdraw_proposal, methods=["POST"]),
    Route("/proposals", proposals_page),
    Route("/proposals", propose_submit, methods=["POST"]),
    Route("/proposals/{id:int}/endorse", endorse_submit, methods=["POST"]),
    Route("/proposals/{id:int}/withdraw", withdraw_submit, methods=["POST"]),
]
