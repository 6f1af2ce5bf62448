"""Registration for the site's stewards: the mode and the applicants'
question (admins), applications to accept or refuse and invitation codes
(moderators and admins), as JSON and as the page /admin/registration. The
sign-up itself is in accounts.py; the rules are moot.people.registration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..people import accounts, registration
from ..stewardship.permissions import can, require
from ..store.errors import MootError, NotFound
from .accounts import checked_form
from .common import PRIVATE, current_user, page, sign_in_first, site_of
from .security import read_json


def _welcome(request: Request) -> accounts.Welcome:
    return accounts.Welcome(site_of(request).config.default_groups)


# JSON


async def get_registration(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        return JSONResponse(await registration.get_settings(conn))


async def put_registration(request: Request) -> Response:
    data = await read_json(request)
    user = await current_user(request)
    async with site_of(request).db.transaction() as conn:
        settings = await registration.set_settings(
            conn, user, data.get("mode"), data.get("question"), data.get("reason")
        )
    return JSONResponse(settings)


async def list_applications(request: Request) -> Response:
    user = await current_user(request)
    async with site_of(request).db.read() as conn:
        found = await registration.list_applications(conn, user, request.query_params.get("state", "waiting"))
    return JSONResponse({"applications": found}, headers=PRIVATE)


async def _decide(request: Request, action: str, reason: object) -> dict:
    site, user, app_id = site_of(request), await current_user(request), request.path_params["id"]
    if action == "accept":
        return await registration.accept(site.db, user, app_id, _welcome(request))
    if action == "refuse":
        async with site.db.transaction() as conn:
            return await registration.refuse(conn, user, app_id, reason)
    raise NotFound("an application is accepted or refused")


async def decide_application(request: Request) -> Response:
    data = await read_json(request)
    action = request.path_params["action"]
    return JSONResponse({"application": await _decide(request, action, data.get("reason"))})


async def invites(request: Request) -> Response:
    user = await current_user(request)
    if request.method == "GET":
        async with site_of(request).db.read() as conn:
            return JSONResponse({"invites": await registration.list_invites(conn, user)}, headers=PRIVATE)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        made = await registration.create_invite(conn, user, data.get("days", 7), data.get("note"))
    return JSONResponse(made, status_code=201)


# The page


async def _page(request: Request, *, error: str | None = None, status: int = 200, **more: object) -> Response:
    user = await current_user(request)
    require(user, "moderate")
    async with site_of(request).db.read() as conn:
        context = {
            "registration": await registration.get_settings(conn),
            "modes": registration.MODES,
            "applications": await registration.list_applications(conn, user),
            "decided": await registration.list_applications(conn, user, "refused"),
            "invites": await registration.list_invites(conn, user),
            "is_admin": can(user, "admin"),
            "error": error,
            **more,
        }
    return await page(request, "registration.html", context, status=status, headers=PRIVATE)


async def registration_page(request: Request) -> Response:
    if await current_user(request) is None:
        return sign_in_first(request)
    return await _page(request)


async def _form(request: Request, act: Callable[[Request, dict], Awaitable[Response | None]]) -> Response:
    """A form of the page: CSRF checked, `act` done, then back to the page
    (303), or the page again with what went wrong (401, 403 and 404 are errors)."""
    form = await checked_form(request)
    try:
        return await act(request, form) or RedirectResponse("/admin/registration", status_code=303)
    except MootError as error:
        if error.status in (401, 403, 404):
            raise
        return await _page(request, error=error.message, status=error.status)


async def _set_mode(request: Request, form: dict) -> None:
    async with site_of(request).db.transaction() as conn:
        reason = form.get("reason") or None
        await registration.set_settings(
            conn, await current_user(request), form.get("mode"), form.get("question"), reason
        )


async def _invite(request: Request, form: dict) -> Response:
    async with site_of(request).db.transaction() as conn:
        made = await registration.create_invite(
            conn, await current_user(request), form.get("days") or 7, form.get("note")
        )
    return await _page(request, invite=made, status=201)


async def _decision(request: Request, form: dict) -> None:
    await _decide(request, request.path_params["action"], form.get("reason") or None)


async def mode_submit(request: Request) -> Response:
    return await _form(request, _set_mode)


async def invite_submit(request: Request) -> Response:
    return await _form(request, _invite)


async def decision_submit(request: Request) -> Response:
    return await _form(request, _decision)


routes = [
    Route("/api/registration", get_registration),
    Route("/api/registration", put_registration, methods=["PUT"]),
    Route("/api/registration/applications", list_applications),
    Route("/api/registration/applications/{id:int}/{action:str}", decide_application, methods=["POST"]),
    Route("/api/registration/invites", invites, methods=["GET", "POST"]),
    Route("/admin/registration", registration_page),
    Route("/admin/registration", mode_submit, methods=["POST"]),
    Route("/admin/registration/invites", invite_submit, methods=["POST"]),
    Route("/admin/registration/applications/{id:int}/{action:str}", decision_submit, methods=["POST"]),
]
