"""What the HTTP routes share: the Site and the signed-in user of a
request, JSON bodies, links and redirects, a reader's switches on a group,
pages and error pages."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from aiosqlite import Connection
from markupsafe import Markup
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from ..articles import groups, reading
from ..people import accounts, notifications
from ..runtime.site import Site
from ..stewardship.permissions import User
from ..store.errors import Invalid, MootError, RateLimited
from .security import SESSION_COOKIE, Cookies

# The headers of an answer for one reader only, which no shared cache may keep.
PRIVATE = {"Cache-Control": "private, no-cache"}


def site_of(conn: HTTPConnection) -> Site:
    """The Site create_app built, for a request or a WebSocket."""
    site: Site = conn.app.state.site
    return site


def cookies_of(conn: HTTPConnection) -> Cookies:
    cookies: Cookies = conn.app.state.cookies
    return cookies


async def current_user(conn: HTTPConnection) -> User | None:
    """The signed-in user of a request or WebSocket, looked up once per request."""
    cache = conn.scope.setdefault("moot", {})
    if "user" not in cache:
        cache["user"] = await _session_user(conn)
    user: User | None = cache["user"]
    return user


async def _session_user(conn: HTTPConnection) -> User | None:
    """Whose session the cookie carries; a reader's next requests find it in
    site.sessions (keyed by the signed cookie exactly as it came) until a
    commit that changes a session or a user (sign-out, a password change, a
    new role, ...) or the recheck bound says look again."""
    value = conn.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    site = site_of(conn)

    async def look_up() -> tuple[User | None, float | None]:
        token = cookies_of(conn).session_token(conn)
        found = await accounts.session(site.db, token) if token else None
        return (None, None) if found is None else found  # an unknown session is not kept

    user: User | None = await site.sessions.value(value, look_up)
    return user


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def encode(value: object) -> bytes:
    """JSON as JSONResponse writes it: UTF-8, compact."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def json_on(data: dict) -> bool:
    """The `on` of a JSON body that turns something on or off: true or false, nothing else."""
    on = data.get("on")
    if not isinstance(on, bool):
        raise Invalid("on must be true or false")
    return on


def form_on(form: dict[str, str], name: str = "on") -> bool:
    """A form's switch that turns something on or off: "1" or "0", nothing else."""
    value = form.get(name)
    if value not in ("1", "0"):
        raise Invalid(f"{name} must be 1 or 0")
    return value == "1"


async def set_group_switch(
    request: Request,
    user: User,
    switch: Callable[[Connection, int, int, bool], Awaitable[None]],
    on: bool,
) -> str:
    """Turn one of the reader's switches on the group the path names (following
    it, subscribing to it) on or off; returns the group's name."""
    async with site_of(request).db.transaction() as conn:
        group = await groups.get_group_row(conn, request.path_params["name"])
        await switch(conn, user.id, group["id"], on)
    return str(group["name"])


def query_string(**params: object) -> str:
    """`?a=1&b=2` of the params that have a value, or the empty string."""
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(clean) if clean else ""


def safe_next(value: object) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and "\n" not in value
        and "\r" not in value
    ):
        return value
    return "/"


def sign_in_first(request: Request) -> Response:
    """A 303 to the sign-in page, coming back to this one afterwards: a page for
    signed-in readers answers this to anyone else."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + quote(target, safe="/"), status_code=303)


THREAD_PAGE = 200  # articles per thread page: validate.PAGE_MAX, the API's own ceiling


async def article_link(site: Site, article: Mapping[str, Any], **query: object) -> str:
    """Where an article stands: at its anchor on the page of its thread that
    shows it (a long thread's later pages start after a cursor), `query` added."""
    async with site.db.read() as conn:
        cursor = await reading.page_cursor(conn, article["thread_id"], article["id"], THREAD_PAGE)
    return f"/t/{article['thread_id']}" + query_string(cursor=cursor, **query) + f"#a{article['id']}"


def wants_html(request: HTTPConnection) -> bool:
    """Page routes answer errors with HTML; the API and /live keep JSON."""
    path = request.url.path
    return not (
        path.startswith("/api/") or path == "/api" or path.startswith("/live") or path.startswith("/static/")
    )


def error_headers(error: MootError) -> dict[str, str] | None:
    return {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None


def error_response(error: MootError) -> Response:
    """The one translation of MootError to JSON: the error shape of docs/API.md."""
    return JSONResponse(error.to_json(), status_code=error.status, headers=error_headers(error))


async def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render a page with the signed-in user and a CSRF token for its forms,
    setting the CSRF cookie when the browser has none yet."""
    site, cookies = site_of(request), cookies_of(request)
    secret, new = cookies.csrf_secret(request)
    user = await current_user(request)
    inbox = 0
    if user is not None:
        async with site.db.read() as conn:
            inbox = await notifications.unread_count(conn, user.id)
    ctx = {
        "user": user,
        "csrf": cookies.csrf_token(secret),
        "inbox_count": inbox,
        "site_name": site.config.site_name,
        "canonical": None,
        "path": request.url.path,
        **(context or {}),
    }
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, template, ctx, status_code=status, headers=headers)
    if new:
        cookies.set_csrf(response, secret)
    return response


ERROR_TITLES = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible right now",
    413: "Too large",
    415: "Not accepted",
    429: "Slow down",
    500: "Something went wrong",
    503: "Busy right now",
}


async def error_page(
    request: Request,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    back: tuple[str, str] | None = None,
) -> Response:
    """A small HTML page for an error on a page route, with the same status;
    `back` (a path and its words) leads back to the form that was refused."""
    context = {
        "status": status,
        "title": ERROR_TITLES.get(status, "Something went wrong"),
        "message": message,
        "back": back,
    }
    try:
        return await page(request, "error.html", context, status=status, headers=headers)
    except Exception:  # the error page must not fail in turn (no cookies key yet, say)
        return HTMLResponse(
            Markup("<!doctype html><title>{0}</title><p>{1}</p>").format(context["title"], message),
            status_code=status,
            headers=headers,
        )
