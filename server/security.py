"""HTTP-side security: reading JSON bodies within limits, the session cookie,
CSRF tokens for HTML forms, and the Origin rule for state changes."""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qsl, urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from .errors import Forbidden, Invalid, TooLarge, UnsupportedMediaType

JSON_MAX_BYTES = 1024 * 1024
FORM_MAX_BYTES = 128 * 1024
SESSION_COOKIE = "moot_session"
CSRF_COOKIE = "moot_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise Invalid("the request body must be a JSON object")
    return value


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (the last value wins)."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("forms must be sent as application/x-www-form-urlencoded")
    raw = await read_body(request, FORM_MAX_BYTES)
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise Invalid("the form is not valid UTF-8 form data") from None


def origin_allowed(request_or_ws, allowed_origins: tuple[str, ...]) -> bool:
    """True when the Origin header is absent (not a browser), names this site
    itself, or is one of the configured extra origins."""
    origin = request_or_ws.headers.get("origin")
    if origin is None:
        return True
    if origin in allowed_origins:
        return True
    host = request_or_ws.headers.get("host", "")
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.lower() and parts.scheme in ("http", "https")


class Cookies:
    """Signs and reads Moot's cookies: the session and the CSRF secret."""

    def __init__(self, secret: str, *, secure: bool, session_days: int):
        self._session = TimestampSigner(secret, salt="moot.session")
        self._csrf = TimestampSigner(secret, salt="moot.csrf")
        self.secure = secure
        self.max_age = session_days * 86400

    def session_token(self, request: Request) -> str | None:
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
        response.set_cookie(SESSION_COOKIE, self.session_value(token),
                            max_age=self.max_age, httponly=True, samesite="lax",
                            secure=self.secure, path="/")

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax",
                               secure=self.secure, path="/")

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
        return self._csrf.sign(secret).decode("ascii")

    def set_csrf(self, response: Response, secret: str) -> None:
        response.set_cookie(CSRF_COOKIE, secret, max_age=self.max_age, httponly=True,
                            samesite="lax", secure=self.secure, path="/")

    def check_csrf(self, request: Request, token) -> None:
        secret = request.cookies.get(CSRF_COOKIE)
        try:
            ok = bool(secret) and isinstance(token, str) and \
                self._csrf.unsign(token, max_age=self.max_age).decode("ascii") == secret
        except (BadSignature, UnicodeDecodeError):
            ok = False
        if not ok:
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
