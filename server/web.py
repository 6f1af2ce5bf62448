"""The HTML side of the site: templates, the page response, security headers
and the HTML error page. The page routes live in pages.py (reading) and
forms.py (posting); this module ties them together for create_app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import render

ROOT = Path(__file__).resolve().parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"  # ../static, linked into the package

# Scripts only from this site, as files (no inline script, no eval); styles
# likewise; the live WebSocket is same-origin. 'self' covers ws: and wss: of
# this host in CSP Level 3 browsers.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def when(stamp: str | None) -> str:
    """'2026-11-21T10:00:00.123Z' as '2026-11-21 10:00' (UTC, said once in the footer)."""
    return f"{stamp[:10]} {stamp[11:16]}" if stamp else ""


def message_url(message_id: str) -> str:
    """The permalink path of a Message-ID (angle brackets included, URL-encoded)."""
    return "/m/" + quote(message_id, safe="@!$&'()*+,;=:")


def make_templates() -> Jinja2Templates:
    """The page templates: autoescaped (user text is never markup), with the
    body renderer available as the `body` filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
        trim_blocks=True, lstrip_blocks=True)
    env.filters.update(body=render.body_html, when=when, message_url=message_url,
                       excerpt=render.excerpt, urlpart=lambda s: quote(str(s), safe=""))
    return Jinja2Templates(env=env)


def static_mount() -> Mount:
    return Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")


def wants_html(request: Request) -> bool:
    """Page routes answer errors with HTML; the API and /live keep JSON."""
    path = request.url.path
    return not (path.startswith("/api/") or path == "/api" or path.startswith("/live")
                or path.startswith("/static/"))


async def page(request: Request, template: str, context: dict | None = None, *,
               status: int = 200, headers: dict | None = None) -> Response:
    """Render a page with the signed-in user and a CSRF token for its forms,
    setting the CSRF cookie when the browser has none yet."""
    site = request.app.state.site
    secret, new = site.cookies.csrf_secret(request)
    ctx = {"user": await site.user(request), "csrf": site.cookies.csrf_token(secret),
           "site_name": site.config.site_name, "canonical": None,
           "path": request.url.path, **(context or {})}
    response = request.app.state.templates.TemplateResponse(
        request, template, ctx, status_code=status, headers=headers)
    if new:
        site.cookies.set_csrf(response, secret)
    return response


async def error_page(request: Request, status: int, message: str,
                     headers: dict | None = None) -> Response:
    """A small HTML page for an error on a page route, with the same status."""
    titles = {400: "That did not work", 401: "Please sign in", 403: "Not allowed",
              404: "Not found", 409: "Not possible right now", 413: "Too large",
              415: "Not accepted", 429: "Slow down"}
    context = {"status": status, "title": titles.get(status, "Something went wrong"),
               "message": message}
    try:
        return await page(request, "error.html", context, status=status, headers=headers)
    except Exception:  # the error page must not fail in turn (no cookies key yet, say)
        return HTMLResponse(Markup("<!doctype html><title>{0}</title><p>{1}</p>").format(
            context["title"], message), status_code=status, headers=headers)
