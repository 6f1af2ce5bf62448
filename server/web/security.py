"""HTTP-side security: reading bodies within limits, the session cookie,
CSRF tokens for HTML forms, the Origin rule for state changes, and the
headers every response carries."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.errors import Forbidden, Invalid, TooLarge, UnsupportedMediaType
from ..store.validate import has_lone_surrogate, json_object

JSON_MAX_BYTES = 1024 * 1024
FORM_MAX_BYTES = 128 * 1024
SESSION_COOKIE = "moot_session"
CSRF_COOKIE = "moot_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Browsers whose current CSRF token is kept (csrf_token); past this, all are forgotten.
CSRF_TOKENS_KEPT = 4096


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refusing (413) before reading more than `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"request body is over {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"request body is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request) -> dict:
    """A JSON object from the body. An empty body is an empty object; other
    content types are 415 (a cross-site form cannot send application/json)."""
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType("send the request body as Content-Type: application/json")
    raw = await read_body(request, JSON_MAX_BYTES)
    if not raw.strip():
        return {}
    value = json_object(raw, "the request body")
    if _any_lone_surrogate(value):
        raise Invalid("the request body has a string that is not valid Unicode (a lone surrogate)")
    return value


def _any_lone_surrogate(value: object) -> bool:
    """True when any key or string inside a parsed JSON value has a lone
    surrogate; json.loads accepts the escape "\\ud800", nothing can store it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (the last value wins)."""
    return dict(await read_form_fields(request))


async def read_form_fields(request: Request, max_fields: int = 50) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded body as its (name, value) pairs,
    in order: a name checked on many checkboxes comes once per box."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("forms must be sent as application/x-www-form-urlencoded")
    raw = await read_body(request, FORM_MAX_BYTES)
    try:
        # errors="strict": percent-escaped bytes that are not UTF-8 are refused too, never replaced
        return parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise Invalid("the form is not valid UTF-8 form data") from None


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """True when `host` (a Host header or an Origin's host, port aside) is one
    of `allowed_hosts` ("*.example.org" covers its subdomains); no list allows any."""
    if not allowed_hosts:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower()
    for pattern in allowed_hosts:
        pattern = pattern.lower()
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def origin_allowed(
    request_or_ws: HTTPConnection, allowed_origins: tuple[str, ...], allowed_hosts: tuple[str, ...] = ()
) -> bool:
    """True when the Origin header is absent (not a browser), names this site
    itself, or is one of the configured extra origins. "This site" is the Host
    header, and only when that host is one of `allowed_hosts` (if configured):
    a Host header is whatever the client sent."""
    origin = request_or_ws.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed_origins:
        return True
    host = request_or_ws.headers.get("host", "")
    parts = urlsplit(origin)
    return (
        bool(parts.netloc)
        and parts.netloc.lower() == host.lower()
        and parts.scheme in ("http", "https")
        and host_allowed(host, allowed_hosts)
    )


class HostCheck:
    """Refuses (400, in the error shape) any request whose Host header is not
    one of the configured hosts, so nothing downstream trusts a forged Host."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]):
        self.app, self.allowed = app, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.allowed:
            host = HTTPConnection(scope).headers.get("host", "")
            if not host_allowed(host, self.allowed):
                if scope["type"] == "websocket":  # closing before accepting: the server answers 403
                    return await send({"type": "websocket.close", "code": 1008})
                error = Invalid("this server does not answer for that host name")
                response = JSONResponse(error.to_json(), status_code=error.status)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


class Cookies:
    """Signs and reads Moot's cookies: the session and the CSRF secret."""

    def __init__(self, secret: str, *, secure: bool, session_days: int):
        self._session = TimestampSigner(secret, salt="moot.session")
        self._csrf = TimestampSigner(secret, salt="moot.csrf")
        self._tokens: dict[str, tuple[int, str]] = {}  # CSRF secret -> (second, its token)
        self.secure = secure
        self.max_age = session_days * 86400

    def session_token(self, request: HTTPConnection) -> str | None:
        value = request.cookies.get(SESSION_COOKIE)
        if not value:
            return None
        try:
            return self._session.unsign(value, max_age=self.max_age).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None

    def session_value(self, token: str) -> str:
        """The signed cookie value that carries a session token."""
        return self._session.sign(token).decode("ascii")

    def set_session(self, response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.session_value(token),
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=self.secure, path="/")

    # CSRF for HTML forms: a signed double-submit token. The cookie holds a
    # random secret; the form carries that secret signed with the site key.
    # A cross-site page can neither read the cookie nor forge the signature.
    def csrf_secret(self, request: Request) -> tuple[str, bool]:
        """The browser's CSRF secret, and whether it is new (needs setting)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if len(value) == 43 and value.replace("-", "").replace("_", "").isalnum():
            return value, False
        return secrets.token_urlsafe(32), True

    def csrf_token(self, secret: str) -> str:
        """`secret` signed with the site key and the current second: the same
        token for every request of a browser within one second, so it is
        signed once a second, not once per page."""
        now = self._csrf.get_timestamp()
        found = self._tokens.get(secret)
        if found is not None and found[0] == now:
            return found[1]
        token = self._csrf.sign(secret).decode("ascii")
        if len(self._tokens) >= CSRF_TOKENS_KEPT:
            self._tokens.clear()
        self._tokens[secret] = (now, token)
        return token

    def set_csrf(self, response: Response, secret: str) -> None:
        response.set_cookie(
            CSRF_COOKIE,
            secret,
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )

    def check_csrf(self, request: Request, token: object) -> None:
        secret = request.cookies.get(CSRF_COOKIE)
        try:
            ok = (
                bool(secret)
                and isinstance(token, str)
                and self._csrf.unsign(token, max_age=self.max_age).decode("ascii") == secret
            )
        except (BadSignature, UnicodeDecodeError):
            ok = False
        if not ok:
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")


class OriginCheck:
    """Refuses (403) any state-changing HTTP request whose Origin names another site."""

    def __init__(self, app: ASGIApp, allowed_origins: tuple[str, ...], allowed_hosts: tuple[str, ...] = ()):
        self.app, self.allowed, self.hosts = app, allowed_origins, allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            request = Request(scope)
            if not origin_allowed(request, self.allowed, self.hosts):
                error = Forbidden("cross-origin requests are not allowed")
                response = JSONResponse(error.to_json(), status_code=error.status)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


# Scripts only from this site, as files (no inline script, no eval); styles
# likewise; the live WebSocket is same-origin. 'self' covers ws: and wss: of
# this host in CSP Level 3 browsers.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
