"""Killfiles over HTTP: the reader's scoring rules (list, add, delete) as
JSON and as the /rules page, and one-click mute of an author or a thread.
Everything here acts on the signed-in reader's own rules."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..articles import reading
from ..people import killfile
from ..stewardship.permissions import User, require
from ..store.errors import Invalid, NotFound, TooLarge
from .accounts import checked_form
from .common import PRIVATE, current_user, form_on, json_on, page, sign_in_first, site_of
from .security import read_json


def _limits() -> dict:
    return {
        "kill": killfile.KILL,
        "high": killfile.HIGH,
        "mute": killfile.MUTE,
        "max_rules": killfile.MAX_RULES,
    }


async def _add(request: Request, user: User, data: dict) -> killfile.Rule:
    site = site_of(request)
    # Reserved before the checks: a regex probe starts a process, and 100 at once must not.
    site.rule_edits.take(user.id, "editing rules")
    rule = await killfile.checked_rule(
        data.get("field"), data.get("pattern"), data.get("regex"), data.get("score")
    )
    async with site.db.transaction() as conn:
        return await killfile.add_rule(conn, user.id, rule)


async def list_rules(request: Request) -> Response:
    user = require(await current_user(request), "track")
    async with site_of(request).db.read() as conn:
        rules = await killfile.rules_of(conn, user.id)
    return JSONResponse({"rules": [r.to_json() for r in rules], **_limits()}, headers=PRIVATE)


async def add_rule(request: Request) -> Response:
    user = require(await current_user(request), "track")
    rule = await _add(request, user, await read_json(request))
    return JSONResponse({"rule": rule.to_json()}, status_code=201)


async def delete_rule(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await read_json(request)
    site_of(request).rule_edits.take(user.id, "editing rules")
    async with site_of(request).db.transaction() as conn:
        await killfile.delete_rule(conn, user.id, request.path_params["id"])
    return Response(status_code=204)


async def _mute(request: Request, user: User, field: str, target: object, on: bool) -> str:
    site = site_of(request)
    site.rule_edits.take(user.id, "editing rules")
    async with site.db.transaction() as conn:
        if field == "author":
            if not isinstance(target, str) or not await conn.execute_fetchall(
                "SELECT 1 FROM users WHERE username = ?", (target,)
            ):
                raise NotFound("no such user")
            pattern = target
        else:
            pattern = str((await reading.thread_row(conn, target))["id"])
        if field == "author" and pattern == user.username:
            raise Invalid("you cannot mute yourself")
        await killfile.set_mute(conn, user.id, field, pattern, on)
    return pattern


async def mute_user(request: Request) -> Response:
    user = require(await current_user(request), "track")
    on = json_on(await read_json(request))
    name = await _mute(request, user, "author", request.path_params["name"], on)
    return JSONResponse({"username": name, "muted": on})


async def mute_thread(request: Request) -> Response:
    user = require(await current_user(request), "track")
    on = json_on(await read_json(request))
    tid = await _mute(request, user, "thread", request.path_params["id"], on)
    return JSONResponse({"thread_id": int(tid), "muted": on})


# Pages and forms


async def _rules_page(
    request: Request, user: User, *, error: str | None = None, status: int = 200, typed: dict | None = None
) -> Response:
    async with site_of(request).db.read() as conn:
        rules = await killfile.rules_of(conn, user.id)
    return await page(
        request,
        "rules.html",
        {"rules": rules, "error": error, "typed": typed or {}, "fields": killfile.FIELDS, **_limits()},
        status=status,
        headers=PRIVATE,
    )


async def rules_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return sign_in_first(request)
    return await _rules_page(request, user)


async def add_rule_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    try:
        raw = form.get("score", "").strip().replace("\u2212", "-")  # a typographic minus too
        if not re.fullmatch(r"[+-]?\d{1,4}", raw):
            raise Invalid(f"score must be an integer from -{killfile.SCORE_LIMIT} to {killfile.SCORE_LIMIT}")
        score = int(raw)
        await _add(
            request,
            user,
            {
                "field": form.get("field"),
                "pattern": form.get("pattern"),
                "regex": form.get("regex") == "1",
                "score": score,
            },
        )
    except (Invalid, TooLarge) as error:
        return await _rules_page(request, user, error=error.message, status=error.status, typed=form)
    return RedirectResponse("/rules", status_code=303)


async def delete_rule_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    await checked_form(request)
    async with site_of(request).db.transaction() as conn:
        await killfile.delete_rule(conn, user.id, request.path_params["id"])
    return RedirectResponse("/rules", status_code=303)


async def mute_thread_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    tid = await _mute(request, user, "thread", request.path_params["id"], form_on(form))
    return RedirectResponse(f"/t/{tid}", status_code=303)


async def mute_user_form(request: Request) -> Response:
    user = require(await current_user(request), "track")
    form = await checked_form(request)
    name = await _mute(request, user, "author", request.path_params["name"], form_on(form))
    return RedirectResponse(f"/u/{name}", status_code=303)


routes = [
    Route("/api/rules", list_rules),
    Route("/api/rules", add_rule, methods=["POST"]),
    Route("/api/rules/{id}/delete", delete_rule, methods=["POST"]),
    Route("/api/users/{name}/mute", mute_user, methods=["POST"]),
    Route("/api/threads/{id}/mute", mute_thread, methods=["POST"]),
    Route("/rules", rules_page),
    Route("/rules", add_rule_form, methods=["POST"]),
    Route("/rules/{id}/delete", delete_rule_form, methods=["POST"]),
    Route("/t/{id:int}/mute", mute_thread_form, methods=["POST"]),
    Route("/u/{name}/mute", mute_user_form, methods=["POST"]),
]
