"""HTML forms that work without JavaScript: sign in, register, sign out,
start a thread, reply. Each POST checks the CSRF token first (a wrong or
missing one is 403 and changes nothing), then calls the same functions as
the JSON API, and answers with a redirect (303) or the form again with the
error and what was typed."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import accounts, api, groups, posting, reading, render
from .errors import AuthRequired, Conflict, Invalid, MootError, TooLarge
from .permissions import require
from .security import read_form
from .web import page


def _site(request: Request):
    return request.app.state.site


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") \
            and "\\" not in value and "\n" not in value and "\r" not in value:
        return value
    return "/"


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="/")


async def _form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token checked out."""
    form = await read_form(request)
    _site(request).cookies.check_csrf(request, form.get("csrf"))
    return form


def _signed_in(response: Response, request: Request, token: str) -> Response:
    _site(request).cookies.set_session(response, token)
    return response


# The errors the account forms show next to themselves (the rest get the error page).
FORM_ERRORS = (Invalid, AuthRequired, TooLarge)


async def login_form(request: Request) -> Response:
    return await page(request, "login.html", {
        "next": safe_next(request.query_params.get("next")), "username": "", "error": None})


async def login(request: Request) -> Response:
    form = await _form(request)
    target = safe_next(form.get("next"))
    try:
        user, token = await api.sign_in(request, form.get("username", ""), form.get("password", ""))
    except FORM_ERRORS as error:
        return await page(request, "login.html", {
            "next": target, "username": form.get("username", ""), "error": error.message},
            status=error.status)
    return _signed_in(RedirectResponse(target, status_code=303), request, token)


async def register_form(request: Request) -> Response:
    return await page(request, "register.html", {
        "next": safe_next(request.query_params.get("next")), "values": {}, "error": None})


async def register(request: Request) -> Response:
    form = await _form(request)
    target = safe_next(form.get("next"))
    if form.get("password") != form.get("password2"):
        return await page(request, "register.html", {
            "next": target, "values": form, "error": "the two passwords differ"}, status=400)
    try:
        user, token = await api.sign_up(request, form.get("username", ""), form.get("password", ""),
                                        form.get("display_name") or None)
    except (*FORM_ERRORS, Conflict) as error:
        return await page(request, "register.html", {
            "next": target, "values": form, "error": error.message}, status=error.status)
    return _signed_in(RedirectResponse(target, status_code=303), request, token)


async def logout(request: Request) -> Response:
    await _form(request)
    site = _site(request)
    token = site.cookies.session_token(request)
    if token:
        await accounts.end_session(site.db, token)
    response = RedirectResponse("/", status_code=303)
    site.cookies.clear_session(response)
    return response


# Posting

async def new_thread_form(request: Request) -> Response:
    site = _site(request)
    if await site.user(request) is None:
        return RedirectResponse(_login_url(request), status_code=303)
    async with site.db.read() as conn:
        group = await groups.get_group(conn, request.path_params["name"])
        continued = request.query_params.get("continued_from")
        earlier = await reading.get_thread(conn, continued) if continued else None
    return await page(request, "new_thread.html", {
        "group": group, "subject": f"{earlier['subject']} (continued)"[:250] if earlier else "",
        "body": "", "continued_from": earlier, "error": None})


async def new_thread(request: Request) -> Response:
    form = await _form(request)
    site = _site(request)
    name = request.path_params["name"]
    user = require(await site.user(request), "post")
    continued = form.get("continued_from") or None
    try:
        async with site.posting(user) as conn:
            started = await posting.start_thread(conn, site.config.domain, user, name,
                                                  form.get("subject"), form.get("body"), continued)
    except MootError as error:
        async with site.db.read() as conn:
            group = await groups.get_group(conn, name)
            earlier = await reading.get_thread(conn, continued) if continued else None
        return await page(request, "new_thread.html", {
            "group": group, "subject": form.get("subject", ""), "body": form.get("body", ""),
            "continued_from": earlier, "error": error.message}, status=error.status)
    return RedirectResponse(f"/t/{started['thread']['id']}", status_code=303)


async def _reply_context(conn, article_ref) -> dict:
    parent = await reading.get_article(conn, article_ref)
    thread = await reading.get_thread(conn, parent["thread_id"])
    return {"parent": parent, "thread": thread}


async def reply_form(request: Request) -> Response:
    """The reply form, prefilled with the article quoted; `?fragment=1` gives
    just the form, which the thread page's script places under the article."""
    site = _site(request)
    fragment = request.query_params.get("fragment") == "1"
    if await site.user(request) is None and not fragment:
        return RedirectResponse(_login_url(request), status_code=303)
    async with site.db.read() as conn:
        context = await _reply_context(conn, request.path_params["id"])
    parent = context["parent"]
    context.update(body=render.quote_for_reply(parent["author"]["display_name"], parent["body"]),
                   subject="", error=None)
    return await page(request, "reply_fragment.html" if fragment else "reply.html", context)


async def reply(request: Request) -> Response:
    form = await _form(request)
    site = _site(request)
    user = require(await site.user(request), "post")
    try:
        async with site.posting(user) as conn:
            article = await posting.reply(conn, site.config.domain, user, request.path_params["id"],
                                           form.get("body"), form.get("subject") or None)
    except MootError as error:  # shown above the form, which keeps what was typed
        async with site.db.read() as conn:
            context = await _reply_context(conn, request.path_params["id"])
        context.update(body=form.get("body", ""), subject=form.get("subject", ""),
                       error=error.message)
        return await page(request, "reply.html", context, status=error.status)
    return RedirectResponse(f"/t/{article['thread_id']}#a{article['id']}", status_code=303)


routes = [
    Route("/login", login_form),
    Route("/login", login, methods=["POST"]),
    Route("/register", register_form),
    Route("/register", register, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/g/{name}/new", new_thread_form),
    Route("/g/{name}/new", new_thread, methods=["POST"]),
    Route("/a/{id:int}/reply", reply_form),
    Route("/a/{id:int}/reply", reply, methods=["POST"]),
]
