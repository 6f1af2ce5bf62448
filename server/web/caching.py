"""HTTP caching of the responses the event-invalidated cache keeps: ETags and
If-None-Match, Cache-Control by audience, the compressed forms the cache
stores, and pages rendered once per (route, parameters, role) with the
reader's own parts (name, CSRF token, own articles, unread counts) put in
per request.

A page body for a signed-in reader is rendered with a stand-in user whose
name and token are placeholders carrying a random per-app nonce. Every user
text in a page is HTML-escaped, and the nonce is never sent, so no article
can contain a placeholder; the substitutions are plain byte replacements."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..people import notifications
from ..runtime.recent import Stamp
from ..runtime.response_cache import Encoded, brotli
from ..runtime.site import Site
from ..stewardship.permissions import User, moderates
from .common import cookies_of, current_user, encode, site_of

# Below this a compressed body saves less than its headers cost.
COMPRESS_MIN_BYTES = 512
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Placeholders:
    """The stand-in values a shared page body is rendered with."""

    username: str
    display_name: str
    csrf: str
    unread_prefix: str
    own_prefix: str

    @classmethod
    def new(cls) -> Placeholders:
        nonce = secrets.token_hex(12)  # letters and digits only: escaping leaves them intact
        return cls(
            f"moot{nonce}user",
            f"moot{nonce}name",
            f"moot{nonce}csrf",
            f"moot{nonce}unread-",
            f"moot{nonce}own-",
        )

    def stand_in(self, role: str) -> User:
        return User(0, self.username, self.display_name, role)

    def only_for(self, username: str) -> Markup:
        """Opens markup meant only for `username` (their Withdraw link): it stays
        inside an HTML comment, which every other reader's copy drops whole, so
        no text browser shows it to anyone else; only_for_end closes it."""
        return Markup("<!--{0}{1}:").format(self.own_prefix, username)

    def only_for_end(self) -> Markup:
        return Markup(":{0}end-->").format(self.own_prefix)

    def unread_marker(self, key: str) -> Markup:
        """Where a reader's own part goes in a shared body (an HTML comment):
        a group's unread count under the group's name; other keys hold a
        colon, which no group name does ("t:12" a thread's count, "a:34" an
        article's "new" mark, ...). It also works inside an attribute value."""
        return Markup("<!--{0}{1}-->").format(self.unread_prefix, key)

    def keys(self, encoded: Encoded) -> list[str]:
        """The marker keys a shared body holds, in order: what the page shows."""
        return self.skeleton(encoded).keys

    def skeleton(self, encoded: Encoded) -> Skeleton:
        """The body taken apart once per stored body (see Skeleton)."""
        found = encoded.markers
        if not isinstance(found, Skeleton):
            found = encoded.markers = Skeleton.of(encoded.body, self)
        return found

    @property
    def nonce_prefix(self) -> str:
        """What every placeholder starts with ("moot<nonce>")."""
        return self.username[: -len("user")]


def placeholders_of(request: Request) -> Placeholders:
    found: Placeholders = request.app.state.placeholders
    return found


def accepted_coding(request: Request) -> str | None:
    """'br' (when brotli is installed) or 'gzip' if the client accepts it, else None."""
    offered = set()
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            offered.add(name.strip())
    if brotli is not None and "br" in offered:
        return "br"
    if "gzip" in offered or "*" in offered:
        return "gzip"
    return None


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(request: Request, etag: str) -> bool:
    """Whether If-None-Match names `etag` (weak comparison, RFC 9110 §13.1.2)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return _opaque(etag) in {_opaque(tag) for tag in header.split(",")}


def public_cache_control(request: Request) -> str:
    """Shared caches may keep it briefly; browsers revalidate with the ETag each time."""
    seconds = site_of(request).config.shared_cache_seconds
    return f"public, max-age=0, s-maxage={seconds}, stale-while-revalidate={seconds}"


PRIVATE_CONTROL = "private, no-cache"


def _not_modified(etag: str, cache_control: str, vary: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, "Vary": vary})


def encoded_response(
    request: Request,
    key: tuple,
    encoded: Encoded,
    media_type: str,
    *,
    cache_control: str,
    vary: str = "Accept-Encoding",
) -> Response:
    """A cached body as a response: 304 when the client holds it, else the
    stored compressed form the client accepts, made once per entry."""
    if not_modified(request, encoded.etag):
        return _not_modified(encoded.etag, cache_control, vary)
    headers = {"ETag": encoded.etag, "Cache-Control": cache_control, "Vary": vary}
    body = encoded.body
    coding = accepted_coding(request) if len(body) >= COMPRESS_MIN_BYTES else None
    if coding is not None:
        compressed = site_of(request).responses.compressed(key, encoded, coding)
        if compressed is not None:
            body = compressed
            headers["Content-Encoding"] = coding
    return Response(body, media_type=media_type, headers=headers)


async def cached_json(
    request: Request, key: tuple, topics: frozenset[str], build: Callable[[], Awaitable[object]]
) -> Response:
    """`build()`'s JSON, encoded once and kept until an event touches `topics`,
    with an ETag and its compressed forms."""

    async def encoded() -> bytes:
        return encode(await build())

    entry = await site_of(request).responses.entry(key, topics, encoded)
    return encoded_response(
        request, key, entry, "application/json", cache_control=public_cache_control(request)
    )


def render(request: Request, template: str, context: dict[str, Any]) -> bytes:
    """A template rendered to UTF-8 with the context every page has."""
    templates: Jinja2Templates = request.app.state.templates
    ctx = {
        "request": request,
        "site_name": site_of(request).config.site_name,
        "canonical": None,
        "path": request.url.path,
        **context,
    }
    return templates.get_template(template).render(ctx).encode("utf-8")


def _escaped(text: str) -> bytes:
    return str(escape(text)).encode("utf-8")


@dataclass
class Skeleton:
    """A shared page body with every placeholder taken out, and where each
    was: per request only the reader's own parts are put in, by slicing, so
    the cost follows what differs for this reader, not the page's size or
    how many markers it holds (a 200-article page holds some 1,000).

    `base` is the body with each marker replaced by what most readers get:
    nothing (names, tokens, marks, and markup meant only for one reader).
    `slots` maps a key ("user", "name", "csrf", a mark's key, or "only:NAME")
    to the (start, end) of its default in `base`; `owned` holds, by key and
    start, the markup an "only:NAME" slot gives NAME (their Withdraw link)."""

    base: bytes
    slots: dict[str, list[tuple[int, int]]]
    keys: list[str]  # the mark keys, in page order
    owned: dict[tuple[str, int], bytes] = field(default_factory=dict)
    # What a page's own callback derives once from the stored page (it lives and
    # dies with the page, so it is never staler than the page).
    memo: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, body: bytes, marks: Placeholders) -> Skeleton:
        prefix = marks.nonce_prefix.encode()
        out: list[bytes] = []
        size = 0
        slots: dict[str, list[tuple[int, int]]] = {}
        keys: list[str] = []
        owned: dict[tuple[str, int], bytes] = {}
        close = b":" + marks.own_prefix.encode() + b"end-->"
        pos = 0

        def put(piece: bytes) -> None:
            nonlocal size
            out.append(piece)
            size += len(piece)

        while (at := body.find(prefix, pos)) >= 0:
            k = at + len(prefix)
            kind = body[k : k + 4]
            if kind == b"unre":  # <!--{nonce}unread-KEY-->
                end = body.find(b"-->", k)
                put(body[pos : at - 4])
                key = body[k + 7 : end].decode()
                keys.append(key)
                slots.setdefault(key, []).append((size, size))
                pos = end + 3
            elif kind == b"own-":  # <!--{nonce}own-NAME:markup:{nonce}own-end-->
                name_end = body.find(b":", k)
                end = body.find(close, name_end)
                put(body[pos : at - 4])
                key = "only:" + body[k + 4 : name_end].decode()
                slots.setdefault(key, []).append((size, size))
                owned[(key, size)] = body[name_end + 1 : end]
                pos = end + len(close)
            else:  # user, name, csrf
                put(body[pos:at])
                slots.setdefault(kind.decode(), []).append((size, size))
                pos = k + 4
        put(body[pos:])
        return cls(b"".join(out), slots, keys, owned)

    def fill(self, parts: dict[str, bytes]) -> bytes:
        """The body with `parts` (by slot key) put in place of the defaults."""
        patches = sorted(
            (start, end, self.owned.get((key, start), value))
            for key, value in parts.items()
            for start, end in self.slots.get(key, ())
        )
        view = memoryview(self.base)
        out: list[bytes | memoryview] = []
        pos = 0
        for start, end, value in patches:
            out += (view[pos:start], value)
            pos = end
        out.append(view[pos:])
        return b"".join(out)


def personalise(
    body: bytes | Skeleton, marks: Placeholders, user: User, csrf: str, unread: dict[str, bytes] | None = None
) -> bytes:
    """A shared page body with `user`'s name and token put in, the markup
    meant only for them (their own articles' Withdraw and Edit links) kept,
    and their marks filled."""
    skeleton = body if isinstance(body, Skeleton) else Skeleton.of(body, marks)
    token = csrf.encode("ascii")
    csrf_mark = marks.csrf.encode()
    # a part put in may carry the token placeholder (a form); never more markers
    parts = {key: value.replace(csrf_mark, token) for key, value in (unread or {}).items() if value}
    parts.update(
        {
            "user": _escaped(user.username),
            "name": _escaped(user.display_name),
            "csrf": token,
            "only:" + user.username: b"",
        }
    )
    return skeleton.fill(parts)


async def cached_page(
    request: Request,
    key: tuple,
    topics: frozenset[str],
    template: str,
    build: Callable[[], Awaitable[dict[str, Any]]],
    *,
    unread: Callable[[User, Skeleton], Awaitable[dict[str, bytes]]] | None = None,
    group: str | None = None,
) -> Response:
    """A page rendered once per (key, host, path, role) and kept until an event
    touches `topics`. Anonymous readers get the stored bytes (public, 304 on a
    matching ETag); signed-in readers get them with their own parts put in
    (private). `unread(user, skeleton)` gives the HTML of the reader's own
    parts for the marker keys the body holds (`skeleton.keys`: unread counts,
    "new" marks); `skeleton.memo` keeps what it derives from the page.
    On a page of one `group`, its own moderators get the moderators' page."""
    site, marks = site_of(request), placeholders_of(request)
    user = await current_user(request)
    role = (
        None
        if user is None
        else "moderator"
        if user.role == "member" and moderates(user, group)
        else user.role
    )
    full_key = ("page", template, role, str(request.base_url), request.url.path, *key)

    async def rendered() -> bytes:
        context = await build()
        if user is None or role is None:
            return render(request, template, {**context, "user": None, "csrf": ""})
        return render(
            request,
            template,
            {
                **context,
                "user": marks.stand_in(role),
                "csrf": marks.csrf,
                "unread_marker": marks.unread_marker,
                "only_for": marks.only_for,
                "only_for_end": marks.only_for_end,
            },
        )

    encoded = await site.responses.entry(full_key, topics, rendered)
    request.scope.setdefault("moot", {})["page"] = (full_key, encoded)  # for PageFront
    if user is None:
        return encoded_response(
            request,
            full_key,
            encoded,
            HTML,
            cache_control=public_cache_control(request),
            vary="Accept-Encoding, Cookie",
        )
    cookies = cookies_of(request)
    secret, new = cookies.csrf_secret(request)
    counts = await _reader_parts(request, site, user, full_key, encoded, unread)
    personal = hashlib.blake2b(digest_size=12)
    for part in (
        encoded.etag,
        str(user.id),
        user.username,
        user.display_name,
        str(role),
        secret,
        *(f"{g}={n.decode()}" for g, n in sorted(counts.items())),
    ):
        personal.update(part.encode("utf-8") + b"\0")
    # Weak: the CSRF token in the body is re-signed per request, equivalent but not byte-equal.
    etag = f'W/"{personal.hexdigest()}"'
    vary = "Accept-Encoding, Cookie"
    if not new and not_modified(request, etag):
        return _not_modified(etag, PRIVATE_CONTROL, vary)
    body = personalise(marks.skeleton(encoded), marks, user, cookies.csrf_token(secret), counts)
    response = Response(
        body, media_type=HTML, headers={"ETag": etag, "Cache-Control": PRIVATE_CONTROL, "Vary": vary}
    )
    if new:
        cookies.set_csrf(response, secret)
    return response


async def _reader_parts(
    request: Request,
    site: Site,
    user: User,
    full_key: tuple,
    encoded: Encoded,
    unread: Callable[[User, Skeleton], Awaitable[dict[str, bytes]]] | None,
) -> dict[str, bytes]:
    """The reader's own parts of a stored page (cached_page's `unread`, and
    their inbox count). Kept in site.recent for this reader, page body (by
    its ETag) and state of the read-mark queue: a reader's next view of the
    page reads nothing. Any commit (a mark written, a rule, a follow, a
    notification) or a note of marks not yet written makes it read again, so
    the parts never lag behind what this process wrote; a view whose marks
    were just noted is not kept either (the noting changed the queue)."""
    version = site.reads.version

    async def read() -> tuple[dict[str, bytes], float | None]:
        counts = await unread(user, placeholders_of(request).skeleton(encoded)) if unread is not None else {}
        if "x:inbox" not in counts:  # a page's own callback may have read it with its other parts
            async with site.db.read() as conn:
                inbox = await notifications.unread_count(conn, user.id)
            counts["x:inbox"] = f' <span class="count">{inbox}</span>'.encode() if inbox else b""
        return counts, (None if site.reads.version != version else site.recent.ttl)

    counts: dict[str, bytes] = await site.recent.value(
        ("parts", user.id, full_key), read, (encoded.etag, version)
    )
    return counts


class PageFront:
    """Answers a GET the way it was answered before from a cached page (the
    same status, headers and body), as long as that answer still holds: no
    routing, handler or middleware below runs for it. Requests are told apart
    by everything a cached page's answer depends on: path, query, host,
    scheme, Accept-Encoding, If-None-Match and Cookie.

    An anonymous answer holds while the response cache holds its page. A
    signed-in reader's answer (their cookie is part of the key, so no one else
    is ever given it) also needs everything it read about them to be as fresh
    as site.recent keeps it: no commit in this process since the request began
    (a sign-out, a rule, a read mark...), and at most site.recent's ttl old. A
    view that noted read marks, or that set a cookie, is never kept: answering
    it again would skip what it did."""

    MAX_ANSWERS = 1024
    # The signed-in answers kept at once, in body bytes: each is its reader's own copy.
    MAX_PERSONAL_BYTES = 32 * 1024 * 1024

    def __init__(self, app: ASGIApp, site: Site):
        self.app, self.site = app, site
        self._answers: dict[tuple, tuple[tuple, Encoded, Stamp | None, Message, bytes]] = {}
        self._personal_bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        wanted: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _REQUEST_KEYS:
                if name in wanted:  # ambiguous: the whole way
                    return await self.app(scope, receive, send)
                wanted[name] = value
        key = (
            scope["path"],
            scope["query_string"],
            scope.get("root_path", ""),
            scope["scheme"],
            *(wanted.get(name) for name in _REQUEST_KEYS),
        )
        answer = self._answers.get(key)
        if answer is not None:
            page_key, encoded, kept_at, kept_start, kept_body = answer
            if (kept_at is None or self.site.recent.fresh(kept_at)) and await self.site.responses.holds(
                page_key, encoded
            ):
                await send({**kept_start, "headers": list(kept_start["headers"])})
                await send({"type": "http.response.body", "body": kept_body})
                return
            self._forget(key)
        personal = b"cookie" in wanted
        # Taken before anything is read for this request: a commit from here on
        # (a sign-out included) means the answer is not kept.
        stamp, noted = (self.site.recent.stamp(), self.site.reads.version) if personal else (None, 0)
        sent: list[Message] = []

        async def keeping(message: Message) -> None:
            sent.append(message)
            await send(message)

        await self.app(scope, receive, keeping)
        page = scope.get("moot", {}).get("page")
        if page is None or len(sent) != 2:
            return
        start, body = sent
        if (
            start["type"] != "http.response.start"
            or start["status"] not in (200, 304)
            or any(name == b"set-cookie" for name, _ in start.get("headers", []))
            or body["type"] != "http.response.body"
            or body.get("more_body")
        ):
            return
        if stamp is not None and (self.site.reads.version != noted or not self.site.recent.fresh(stamp)):
            return
        data = body.get("body", b"")
        if len(self._answers) >= self.MAX_ANSWERS or (
            personal and self._personal_bytes + len(data) > self.MAX_PERSONAL_BYTES
        ):
            self._answers.clear()
            self._personal_bytes = 0
        self._answers[key] = (page[0], page[1], stamp, {**start, "headers": list(start["headers"])}, data)
        if personal:
            self._personal_bytes += len(data)

    def _forget(self, key: tuple) -> None:
        _, _, stamp, _, data = self._answers.pop(key)
        if stamp is not None:
            self._personal_bytes -= len(data)


# What a kept answer depends on of a request, besides its path, query and scheme (PageFront).
_REQUEST_KEYS = (b"cookie", b"host", b"accept-encoding", b"if-none-match")
