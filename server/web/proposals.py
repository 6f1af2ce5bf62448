"""Group proposals over HTTP: any member proposes a group, members endorse
it, and it is created once endorsements reach the site's threshold."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import proposals
from ..permissions import require
from ..site import Site
from .common import current_user, page, site_of
from .security import read_json


def _rules(site: Site) -> proposals.Rules:
    c = site.config
    return proposals.Rules(c.proposal_threshold, c.endorse_min_age_days, c.endorse_min_posts)


async def list_proposals(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        found = await proposals.list_proposals(conn, _rules(site),
                                               status=request.query_params.get("status"))
    return JSONResponse({"proposals": found})


async def get_proposal(request: Request) -> Response:
    site = site_of(request)
    async with site.db.read() as conn:
        found = await proposals.get_proposal(conn, request.path_params["id"], _rules(site))
    return JSONResponse({"proposal": found})


async def create_proposal(request: Request) -> Response:
    site = site_of(request)
    user = require(await current_user(request), "propose")
    data = await read_json(request)
    async with site.db.transaction() as conn:
        found = await proposals.propose(conn, user, data.get("name"), data.get("description"),
                                        data.get("charter"), rules=_rules(site))
    return JSONResponse({"proposal": found}, status_code=201)


async def endorse_proposal(request: Request) -> Response:
    site = site_of(request)
    user = require(await current_user(request), "endorse")
    await read_json(request)
    async with site.db.transaction() as conn:
        found = await proposals.endorse(conn, user, request.path_params["id"],
                                        rules=_rules(site))
    return JSONResponse({"proposal": found})


async def proposals_page(request: Request) -> Response:
    site = site_of(request)
    threshold = site.config.proposal_threshold
    async with site.db.read() as conn:
        listing = await proposals.list_proposals(conn, _rules(site))
    return await page(request, "proposals.html", {
        "proposals": listing, "threshold": threshold, "canonical": "/proposals"})


routes = [
    Route("/api/proposals", list_proposals),
    Route("/api/proposals", create_proposal, methods=["POST"]),
    Route("/api/proposals/{id}", get_proposal),
    Route("/api/proposals/{id}/endorse", endorse_proposal, methods=["POST"]),
    Route("/proposals", proposals_page),
]
