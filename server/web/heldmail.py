"""Mail from strangers over HTTP: a group's stranger_mail setting, and the
held messages its moderators approve or reject (JSON and a page with forms).
Every decision is in moot.mail.heldmail."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..mail import heldmail
from ..store.errors import MootError, NotFound
from .accounts import checked_form
from .common import PRIVATE, current_user, page, sign_in_first, site_of
from .security import read_json

ACTIONS = ("approve", "reject")


def _action(request: Request) -> str | None:
    action = request.path_params.get("action")
    if action is not None and action not in ACTIONS:
        raise NotFound("a held message is approved or rejected")
    return action


async def held_list(request: Request) -> Response:
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        result = await heldmail.list_held(conn, user, request.path_params["name"])
    return JSONResponse(result, headers=PRIVATE)


async def held_action(request: Request) -> Response:
    action, user = _action(request), await current_user(request)
    data = await read_json(request)
    site, name, held_id = site_of(request), request.path_params["name"], request.path_params["id"]
    async with site.db.transaction() as conn:
        if action == "approve":
            result = await heldmail.approve(conn, user, name, held_id, data.get("reason"))
        else:
            result = await heldmail.reject(
                conn, user, name, held_id, data.get("reason"), list_domain=site.config.list_domain
            )
    return JSONResponse(result, status_code=201 if "article" in result else 200)


async def stranger_mail(request: Request) -> Response:
    user = await current_user(request)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await heldmail.set_stranger_mail(
            conn, user, request.path_params["name"], data.get("stranger_mail"), data.get("reason")
        )
    return JSONResponse(result)


# The page and its forms


async def held_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    async with site_of(request).db.read() as conn:
        result = await heldmail.list_held(conn, user, request.path_params["name"])
    return await page(request, "held_mail.html", {**result, "error": error}, status=status, headers=PRIVATE)


async def held_form(request: Request) -> Response:
    """Approve or reject one held message (`/g/{name}/held-mail/{id}/{action}`), or
    set the group's stranger_mail (`/g/{name}/stranger-mail`): 303 back to the
    page, or the page with the error."""
    action, user = _action(request), await current_user(request)
    form = await checked_form(request)
    site, name = site_of(request), request.path_params["name"]
    try:
        async with site.db.transaction() as conn:
            if action is None:
                await heldmail.set_stranger_mail(
                    conn, user, name, form.get("stranger_mail"), form.get("reason")
                )
            elif action == "approve":
                await heldmail.approve(conn, user, name, request.path_params["id"], form.get("reason"))
            else:
                await heldmail.reject(
                    conn,
                    user,
                    name,
                    request.path_params["id"],
                    form.get("reason"),
                    list_domain=site.config.list_domain,
                )
    except MootError as error:
        if error.status in (401, 403):
            raise
        return await held_page(request, error=error.message, status=error.status)
    return RedirectResponse(f"/g/{name}/held-mail", status_code=303)


routes = [
    Route("/api/groups/{name}/held-mail", held_list),
    Route("/api/groups/{name}/held-mail/{id:int}/{action:str}", held_action, methods=["POST"]),
    Route("/api/groups/{name}/stranger-mail", stranger_mail, methods=["PUT"]),
    Route("/g/{name}/held-mail", held_page),
    Route("/g/{name}/held-mail/{id:int}/{action}", held_form, methods=["POST"]),
    Route("/g/{name}/stranger-mail", held_form, methods=["POST"]),
]
