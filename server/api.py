"""The JSON API (API.md): thin adapters from HTTP to the domain functions."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import accounts, groups, posting, reading
from .errors import AuthRequired
from .events import group_topic, thread_topic
from .permissions import User, require
from .security import read_json
from .site import Site


def _site(request: Request) -> Site:
    return request.app.state.site


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def health(request: Request) -> Response:
    """Liveness for load balancers; also the framework's ceiling in the benchmarks."""
    return JSONResponse({"status": "ok"})


# Accounts

async def sign_up(request: Request, username, password, display_name) -> tuple[User, str]:
    """Register (throttled per address) and start a session: the user and the
    session token to set. The JSON API and the HTML form both come here."""
    site = _site(request)
    site.registrations.take(("register", client_address(request)), what="registering")
    user = await accounts.create_user(site.db, username, password, display_name,
                                      first_becomes_admin=True)
    token = await accounts.start_session(site.db, user, days=site.config.session_days,
                                         replacing=site.cookies.session_token(request))
    return user, token


async def sign_in(request: Request, username, password) -> tuple[User, str]:
    """Check a password (failures throttled per account and address) and start
    a session: the user and the session token to set. Shared by API and form."""
    site = _site(request)
    keys = (("user", str(username)[:64]), ("addr", client_address(request)))
    site.login_failures.check(*keys)
    user = await accounts.authenticate(site.db, username, password)
    if user is None:
        site.login_failures.fail(*keys)
        raise AuthRequired("wrong username or password")
    site.login_failures.clear(keys[0])
    token = await accounts.start_session(site.db, user, days=site.config.session_days,
                                         replacing=site.cookies.session_token(request))
    return user, token


async def register(request: Request) -> Response:
    data = await read_json(request)
    user, token = await sign_up(request, data.get("username"), data.get("password"),
                                data.get("display_name"))
    response = JSONResponse({"user": user.to_json()}, status_code=201)
    _site(request).cookies.set_session(response, token)
    return response


async def login(request: Request) -> Response:
    data = await read_json(request)
    user, token = await sign_in(request, data.get("username"), data.get("password"))
    response = JSONResponse({"user": user.to_json()})
    _site(request).cookies.set_session(response, token)
    return response


async def logout(request: Request) -> Response:
    site = _site(request)
    await read_json(request)
    token = site.cookies.session_token(request)
    if token:
        await accounts.end_session(site.db, token)
    response = Response(status_code=204)
    site.cookies.clear_session(response)
    return response


async def me(request: Request) -> Response:
    user = await _site(request).user(request)
    if user is None:
        raise AuthRequired("not signed in")
    return JSONResponse({"user": user.to_json()})


# Groups

async def list_groups(request: Request) -> Response:
    async with _site(request).db.read() as conn:
        return JSONResponse({"groups": await groups.list_groups(conn)})


async def create_group(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "admin")
    data = await read_json(request)
    async with site.db.transaction() as conn:
        group = await groups.create_group(conn, user, data.get("name"), data.get("description", ""),
                                          data.get("charter", ""), data.get("status", "y"))
    return JSONResponse({"group": group}, status_code=201)


async def get_group(request: Request) -> Response:
    async with _site(request).db.read() as conn:
        return JSONResponse({"group": await groups.get_group(conn, request.path_params["name"])})


async def list_threads(request: Request) -> Response:
    site, q = _site(request), request.query_params
    name = request.path_params["name"]

    async def build() -> bytes:
        async with site.db.read() as conn:
            group = await groups.get_group_row(conn, name)
            return encode(await reading.list_threads(conn, group, state=q.get("state"),
                                                     limit=q.get("limit"), cursor=q.get("cursor")))

    key = ("threads", name, q.get("state"), q.get("limit"), q.get("cursor"))
    return Response(await site.responses.get(key, frozenset({group_topic(name)}), build),
                    media_type="application/json")


async def start_thread(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "post")
    data = await read_json(request)
    async with site.posting(user) as conn:
        result = await posting.start_thread(
            conn, site.config.domain, user, request.path_params["name"], data.get("subject"),
            data.get("body"), data.get("continued_from"))
    return JSONResponse(result, status_code=201)


# Threads and articles

def encode(value) -> bytes:
    """JSON as JSONResponse writes it: UTF-8, compact."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


async def get_thread(request: Request) -> Response:
    site, q = _site(request), request.query_params
    raw_id = request.path_params["id"]
    topic = thread_topic(int(raw_id)) if raw_id.isdigit() else "t:?"

    async def build() -> bytes:
        async with site.db.read() as conn:
            return encode(await reading.thread_page(conn, raw_id, limit=q.get("limit"),
                                                    cursor=q.get("cursor")))

    key = ("thread", raw_id, q.get("limit"), q.get("cursor"))
    return Response(await site.responses.get(key, frozenset({topic}), build), media_type="application/json")


async def get_article(request: Request) -> Response:
    async with _site(request).db.read() as conn:
        return JSONResponse({"article": await reading.get_article(conn, request.path_params["ref"])})


async def post_reply(request: Request) -> Response:
    site = _site(request)
    user = require(await site.user(request), "post")
    data = await read_json(request)
    async with site.posting(user) as conn:
        article = await posting.reply(conn, site.config.domain, user, request.path_params["ref"],
                                       data.get("body"), data.get("subject"))
    return JSONResponse({"article": article}, status_code=201)


async def cancel_article(request: Request) -> Response:
    site = _site(request)
    user = await site.user(request)
    data = await read_json(request)
    async with site.db.transaction() as conn:
        article = await posting.cancel(conn, user, request.path_params["ref"], data.get("reason"))
    return JSONResponse({"article": article})


routes = [
    Route("/api/health", health),
    Route("/api/register", register, methods=["POST"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/groups", list_groups),
    Route("/api/groups", create_group, methods=["POST"]),
    Route("/api/groups/{name}", get_group),
    Route("/api/groups/{name}/threads", list_threads),
    Route("/api/groups/{name}/threads", start_thread, methods=["POST"]),
    Route("/api/threads/{id}", get_thread),
    Route("/api/articles/{ref:path}/replies", post_reply, methods=["POST"]),
    Route("/api/articles/{ref:path}/cancel", cancel_article, methods=["POST"]),
    Route("/api/articles/{ref:path}", get_article),
]
