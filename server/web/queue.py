"""The moderation queue over HTTP: a group's queue for its moderators (JSON
and a page with forms that works without JavaScript), decisions on one item
or many, members' reports, a member's own waiting articles, and a group's
stranger_mail setting, and a moderator's daily mail of a group's items
waiting more than a day (moot.mail.queuemail). The old held-mail addresses redirect to the queue.
Every decision is in moot.stewardship.queue and moot.stewardship.reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..mail import heldmail, queuemail
from ..stewardship import queue, reports
from .common import PRIVATE, current_user, site_of
from .security import read_json


async def queue_list(request: Request) -> Response:
    user = await current_user(request)
    params = request.query_params
    async with site_of(request).db.read() as conn:
        result = await queue.list_items(
            conn,
            user,
            request.path_params["name"],
            state=params.get("state", "waiting"),
            before=params.get("before"),
        )
    return JSONResponse(result, headers=PRIVATE)


async def queue_decide(request: Request) -> Response:
    """POST .../queue/{id}/{action}: one item; POST .../queue/{action} with `ids`: many."""
    user = await current_user(request)
    data = await read_json(request)
    name, action = request.path_params["name"], request.path_params["action"]
    async with site_of(request).db.transaction() as conn:
        if "id" in request.path_params:
            result = await queue.decide(
                conn, user, name, request.path_params["id"], action, data.get("reason")
            )
        else:
            result = await queue.decide_many(conn, user, name, data.get("ids"), action, data.get("reason"))
    return JSONResponse(result)


async def my_queue(request: Request) -> Response:
    async with site_of(request).db.read() as conn:
        result = await queue.mine(conn, await current_user(request))
    return JSONResponse(result, headers=PRIVATE)


async def report_article(request: Request) -> Response:
    site = site_of(request)
    user = await current_user(request)
    data = await read_json(request)
    async with site.db.transaction() as conn:
        result = await reports.report(
            conn,
            user,
            request.path_params["ref"],
            data.get("reason"),
            data.get("note"),
            threshold=site.config.report_threshold,
        )
    return JSONResponse(result, status_code=200 if result["already"] else 201)


async def stranger_mail(request: Request) -> Response:
    user = await current_user(request)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await heldmail.set_stranger_mail(
            conn, user, request.path_params["name"], data.get("stranger_mail"), data.get("reason")
        )
    return JSONResponse(result)


async def queue_mail(request: Request) -> Response:
    """GET or PUT {"daily": bool} /api/groups/{name}/queue/mail: the moderator's own choice."""
    user = await current_user(request)
    name = request.path_params["name"]
    if request.method == "GET":
        async with site_of(request).db.read() as conn:
            return JSONResponse(await queuemail.get(conn, user, name), headers=PRIVATE)
    data = await read_json(request)
    async with site_of(request).db.transaction() as conn:
        result = await queuemail.set_daily(conn, user, name, data.get("daily"))
    return JSONResponse(result)


def _moved(to: str, status: int) -> Callable[[Request], Awaitable[Response]]:
    """A handler that sends an old held-mail address on to its queue address."""

    async def handler(request: Request) -> Response:
        return RedirectResponse(to.format(**request.path_params), status_code=status)

    return handler


routes = [
    Route("/api/groups/{name}/queue", queue_list),
    Route("/api/groups/{name}/queue/mail", queue_mail, methods=["GET", "PUT"]),
    Route("/api/groups/{name}/queue/{id:int}/{action:str}", queue_decide, methods=["POST"]),
    Route("/api/groups/{name}/queue/{action:str}", queue_decide, methods=["POST"]),
    Route("/api/me/queue", my_queue),
    Route("/api/articles/{ref:path}/report", report_article, methods=["POST"]),
    Route("/api/groups/{name}/stranger-mail", stranger_mail, methods=["PUT"]),
    Route("/api/groups/{name}/held-mail", _moved("/api/groups/{name}/queue", 301)),
    Route(
        "/api/groups/{name}/held-mail/{id:int}/{action:str}",
        _moved("/api/groups/{name}/queue/{id}/{action}", 308),
        methods=["POST"],
    ),
    Route("/g/{name}/held-mail", _moved("/g/{name}/queue", 301)),
]
