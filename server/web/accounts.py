"""Accounts over HTTP: register, sign in and out, who am I (JSON), and the
same as HTML forms that work without JavaScript. Both call the session
service (moot.people.sessions), so they share its limits."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..mail import mailing, noticemail
from ..people import recovery, registration, sessions
from ..stewardship.permissions import User
from ..store.errors import AuthRequired, Conflict, Forbidden, Invalid, MootError, TooLarge
from .common import client_address, cookies_of, current_user, page, safe_next, site_of
from .security import read_form, read_json


async def _sign_up(request: Request, form: registration.Form) -> tuple | dict:
    return await sessions.sign_up(
        site_of(request),
        form,
        address=client_address(request),
        replacing=cookies_of(request).session_token(request),
    )


async def _sign_in(request: Request, username: object, password: object) -> tuple:
    return await sessions.sign_in(
        site_of(request),
        username,
        password,
        address=client_address(request),
        replacing=cookies_of(request).session_token(request),
    )


def _with_session(response: Response, request: Request, token: str) -> Response:
    cookies_of(request).set_session(response, token)
    return response


async def _sign_out(request: Request, response: Response) -> Response:
    await sessions.sign_out(site_of(request), cookies_of(request).session_token(request))
    cookies_of(request).clear_session(response)
    return response


async def _first_codes(request: Request, user: User) -> list[str]:
    """The new account's recovery codes, shown once with the answer to the sign-up."""
    async with site_of(request).db.transaction() as conn:
        return await recovery.make(conn, user)


# JSON


async def register(request: Request) -> Response:
    data = await read_json(request)
    fields = ("username", "password", "display_name", "answer", "invite")
    joined = await _sign_up(request, registration.Form(*(data.get(f) for f in fields)))
    if isinstance(joined, dict):  # an application, waiting for a moderator
        return JSONResponse({"application": joined}, status_code=202)
    user, token = joined
    codes = await _first_codes(request, user)
    body = {"user": user.to_json(), "recovery_codes": codes}
    response = JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
    return _with_session(response, request, token)


async def login(request: Request) -> Response:
    data = await read_json(request)
    user, token = await _sign_in(request, data.get("username"), data.get("password"))
    return _with_session(JSONResponse({"user": user.to_json()}), request, token)


async def logout(request: Request) -> Response:
    await read_json(request)
    return await _sign_out(request, Response(status_code=204))


async def me(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise AuthRequired("not signed in")
    async with site_of(request).db.read() as conn:
        email = await mailing.address_json(conn, user.id)  # the user's own; never shown to others
        notification_mail = await noticemail.get_mode(conn, user.id)
    return JSONResponse({"user": user.to_json(), "email": email, "notification_mail": notification_mail})


# HTML forms: each POST checks the CSRF token first (a wrong or missing one
# is 403 and changes nothing), then answers with a redirect (303) or the form
# again with the error and what was typed.


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token checked out."""
    form = await read_form(request)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    return form


# The errors the account forms show next to themselves (the rest get the error page).
FORM_ERRORS: tuple[type[MootError], ...] = (Invalid, AuthRequired, TooLarge)


async def login_form(request: Request) -> Response:
    changed = request.query_params.get("changed", "")  # after a new password was set (web/people.py)
    return await page(
        request,
        "login.html",
        {
            "next": safe_next(request.query_params.get("next")),
            "username": changed,
            "changed": bool(changed),
            "error": None,
        },
    )


async def login_submit(request: Request) -> Response:
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    try:
        _, token = await _sign_in(request, form.get("username", ""), form.get("password", ""))
    except FORM_ERRORS as error:
        return await page(
            request,
            "login.html",
            {"next": target, "username": form.get("username", ""), "error": error.message},
            status=error.status,
        )
    return _with_session(RedirectResponse(target, status_code=303), request, token)


async def _register_page(
    request: Request, target: str, values: dict, error: str | None = None, status: int = 200, **more: object
) -> Response:
    """The sign-up page as the site's registration mode draws it (closed: 403, no form)."""
    async with site_of(request).db.read() as conn:
        settings = await registration.get_settings(conn)
    if settings["mode"] == "closed" and status == 200:
        status = 403
    context = {"next": target, "values": values, "error": error, "registration": settings, **more}
    return await page(request, "register.html", context, status=status)


async def register_form(request: Request) -> Response:
    values = {"invite": request.query_params.get("invite", "")}
    return await _register_page(request, safe_next(request.query_params.get("next")), values)


async def register_submit(request: Request) -> Response:
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    if form.get("password") != form.get("password2"):
        return await _register_page(request, target, form, "the two passwords differ", 400)
    values: list[str | None] = [form.get("username", ""), form.get("password", "")]
    values += [form.get(f) or None for f in ("display_name", "answer", "invite")]
    try:
        joined = await _sign_up(request, registration.Form(*values))
    except (*FORM_ERRORS, Conflict, Forbidden) as error:  # type: ignore[misc]  # mypy cannot unpack here
        return await _register_page(request, target, form, error.message, error.status)
    if isinstance(joined, dict):
        return await _register_page(request, target, {}, application=joined)
    user, token = joined
    # The page after signing up shows the account's recovery codes, this once.
    request.scope["moot"]["user"] = user
    codes = await _first_codes(request, user)
    response = await _register_page(request, target, {}, status=201, recovery_codes=codes)
    response.headers["Cache-Control"] = "no-store"
    return _with_session(response, request, token)


async def logout_submit(request: Request) -> Response:
    await checked_form(request)
    return await _sign_out(request, RedirectResponse("/", status_code=303))


routes = [
    Route("/api/register", register, methods=["POST"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/login", login_form),
    Route("/login", login_submit, methods=["POST"]),
    Route("/register", register_form),
    Route("/register", register_submit, methods=["POST"]),
    Route("/logout", logout_submit, methods=["POST"]),
]
