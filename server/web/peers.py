"""News peers for the site's admins: their backlog and last error, and the
structural actions received from groups' home nodes and not applied, as JSON
and as a page (docs/PEERING.md). Peers are configured with `moot peer`.

Who may call what: admin only (anonymous 401, member and moderator 403)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..news import peers
from ..stewardship import actions
from ..stewardship.permissions import require
from .common import current_user, page, site_of


async def _peers(request: Request) -> dict:
    """The peers, and the structural actions received and not applied."""
    require(await current_user(request), "admin")
    async with site_of(request).db.read() as conn:
        return {"peers": await peers.list_peers(conn), "actions": await actions.unapplied(conn)}


async def list_peers(request: Request) -> Response:
    return JSONResponse(await _peers(request))


async def peers_page(request: Request) -> Response:
    site = site_of(request)
    scoring = site.spamd.describe() if site.spamd is not None else "off (MOOT_SPAMD is empty)"
    return await page(
        request, "peers.html", {**await _peers(request), "node": site.config.domain, "scoring": scoring}
    )


routes = [
    Route("/api/peers", list_peers),
    Route("/admin/peers", peers_page),
]
