"""The fediverse over HTTP (docs/FEDERATION.md): WebFinger and NodeInfo,
the ActivityPub form of group, member, thread and article pages by content
negotiation (`Negotiate`), the instance actor, followers and outbox
collections, the three inboxes, the moderators' answers to pending follows
and the admins' view and instance blocks.

Everything here answers 404 while MOOT_FEDERATION is off (the routes are
only mounted while it is on: web.routes), and the pages are then as they
always were. Who may call what: discovery, actors, objects and
collections anyone; the inboxes any signed request (federation/inbox.py
checks it); a group's followers its moderators; /admin/federation and
/api/federation admins."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..articles import groups
from ..federation import delivery, follows, inbox, keys, objects, outbox
from ..people import registration
from ..runtime.response_cache import Encoded
from ..runtime.site import Site
from ..stewardship.permissions import require, require_moderator
from ..store import clock
from ..store.db import fetch_all, fetch_one, fetch_value
from ..store.errors import Invalid, NotFound
from .caching import encoded_response, public_cache_control
from .common import cookies_of, current_user, encode, page, site_of
from .security import read_body, read_form, read_json

AS_JSON = "application/activity+json"
JRD = "application/jrd+json"
# Items per page of a followers or outbox collection.
PAGE_SIZE = 20
# The most an inbox reads of a request body (inbox.receive bounds it further).
INBOX_MAX_BYTES = 1024 * 1024


def enabled(request: Request) -> Site:
    """The site, when federation is on; NotFound (404) otherwise."""
    site = site_of(request)
    if not site.config.federation:
        raise NotFound("not found")
    return site


def wants_activity(accept: str) -> bool:
    """Whether an Accept header asks for ActivityPub JSON (activity+json, or
    ld+json with any profile) rather than a page."""
    return any(t in accept.lower() for t in objects.AS_TYPES)


def domain(site: Site) -> str:
    """The host (and port, if any) of the public URL: the domain of acct: handles."""
    return urlsplit(site.config.site_url).netloc.lower()


def activity_json(request: Request, value: object, status: int = 200) -> Response:
    return Response(
        encode(value),
        status_code=status,
        media_type=AS_JSON,
        headers={"Cache-Control": public_cache_control(request), "Vary": "Accept"},
    )


# Actors and objects


async def group_document(site: Site, name: str) -> dict | None:
    base = site.config.site_url
    async with site.db.read() as conn:
        row = await fetch_one(conn, "SELECT * FROM groups WHERE name = ?", (name,))
        if row is None:
            return None
        mods = [m["username"] for m in await groups.moderators_of(conn, row["id"])]
    _, public = await keys.pair(site.db, f"group:{name}")
    return objects.group_actor(base, row, mods, public)


async def person_document(site: Site, username: str) -> dict | None:
    async with site.db.read() as conn:
        row = await fetch_one(
            conn, "SELECT username, display_name, created_at FROM users WHERE username = ?", (username,)
        )
    if row is None:
        return None
    _, public = await keys.pair(site.db, f"user:{username}")
    return objects.person_actor(site.config.site_url, row, public)


async def article_document(site: Site, path: str) -> dict | str | None:
    """The object a /m/ or /t/ path names (a dict), the URL to send the reader
    to instead (an article that came from the fediverse: its own id), or
    None."""
    base = site.config.site_url
    named = objects.local_object(base, base + path)
    async with site.db.read() as conn:
        if named is None:
            return None
        kind, key = named
        if kind == "thread":
            row = await objects.thread_root_row(conn, int(key))
        else:
            row = await objects.article_row(conn, message_id=str(key))
    if row is None:
        return None
    if row["object_id"]:
        return str(row["object_id"])
    return objects.with_context(objects.article_object(base, row))


async def negotiated(request: Request, site: Site) -> Response | None:
    """The ActivityPub answer for a page path (/g/NAME, /u/NAME, /m/ID, /t/ID), or None for another path."""
    path = request.url.path
    parts = path.split("/")
    if len(parts) != 3 or parts[1] not in ("g", "u", "m", "t") or not parts[2]:
        return None
    kind, name = parts[1], unquote(parts[2])
    if kind == "g":
        document: dict | str | None = await group_document(site, name)
    elif kind == "u":
        document = await person_document(site, name)
    else:
        document = await article_document(site, path)
    if document is None:
        return JSONResponse(
            {"error": {"code": "not_found", "message": "no such object"}}, 404, {"Vary": "Accept"}
        )
    if isinstance(document, str):
        return RedirectResponse(document, status_code=302, headers={"Vary": "Accept"})
    body = Encoded(encode(document))
    return encoded_response(
        request,
        ("ap", path),
        body,
        AS_JSON,
        cache_control=public_cache_control(request),
        vary="Accept, Accept-Encoding",
    )


class Negotiate:
    """Answers ActivityPub clients at the page URLs of groups, members,
    threads and articles with their JSON (before the page cache and
    PageFront, which never see them, so a page is never served for JSON or
    JSON for a page), and marks those pages `Vary: Accept`. Installed only
    while federation is on."""

    def __init__(self, app: ASGIApp, site: Site):
        self.app, self.site = app, site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] != "http" or path[:3] not in ("/g/", "/u/", "/m/", "/t/") or path.count("/") != 2:
            return await self.app(scope, receive, send)
        if scope["method"] in ("GET", "HEAD"):
            request = Request(scope, receive)
            if wants_activity(request.headers.get("accept", "")):
                response = await negotiated(request, self.site)
                if response is not None:
                    return await response(scope, receive, send)

        async def varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for i, (name, value) in enumerate(headers):
                    if name.lower() == b"vary":
                        if b"accept" not in (v.strip() for v in value.lower().split(b",")):
                            headers[i] = (name, b"Accept, " + value)
                        break
                else:
                    headers.append((b"vary", b"Accept"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, varied)


async def instance_actor(request: Request) -> Response:
    site = enabled(request)
    _, public = await keys.pair(site.db, "instance")
    return activity_json(request, objects.instance_actor(site.config.site_url, domain(site), public))


# Discovery


async def webfinger(request: Request) -> Response:
    """acct:NAME@DOMAIN (or an actor's URL) to the group (first) or member of that name."""
    site = enabled(request)
    resource = request.query_params.get("resource", "")
    base = site.config.site_url
    name = kind = None  # kind: 'g' or 'u' for an actor's URL; None (either, the group first) for acct:
    if resource.startswith("acct:"):
        user, _, host = resource[5:].rpartition("@")
        if host.lower() == domain(site) and user:
            name = user
    else:
        path = objects.local_path(base, resource)
        if path and path.count("/") == 2 and path[:3] in ("/g/", "/u/"):
            name, kind = unquote(path[3:]), path[1]
    actor = None
    if name is not None:
        async with site.db.read() as conn:
            if kind != "u" and await fetch_value(conn, "SELECT 1 FROM groups WHERE name = ?", (name,)):
                actor = f"group:{name}"
            elif kind != "g" and await fetch_value(conn, "SELECT 1 FROM users WHERE username = ?", (name,)):
                actor = f"user:{name}"
    cors = {"Access-Control-Allow-Origin": "*"}
    if actor is None:
        body = {"error": {"code": "not_found", "message": "no such account here"}}
        return JSONResponse(body, status_code=404, headers=cors)
    url = objects.actor_url(base, actor)
    return Response(
        encode(
            {
                "subject": f"acct:{name}@{domain(site)}",
                "aliases": [url],
                "links": [
                    {"rel": "self", "type": AS_JSON, "href": url},
                    {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": url},
                ],
            }
        ),
        media_type=JRD,
        headers={**cors, "Cache-Control": public_cache_control(request)},
    )


async def nodeinfo_links(request: Request) -> Response:
    site = enabled(request)
    href = site.config.site_url + "/nodeinfo/2.1"
    return JSONResponse(
        {"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": href}]},
        headers={"Access-Control-Allow-Origin": "*"},
    )


async def nodeinfo(request: Request) -> Response:
    site = enabled(request)
    async with site.db.read() as conn:
        users = await fetch_value(conn, "SELECT count(*) FROM users")
        posts = await fetch_value(
            conn,
            "SELECT count(*) FROM articles a WHERE status = 'ok' AND NOT EXISTS"
            " (SELECT 1 FROM ap_objects o WHERE o.article_id = a.id)",
        )
        month = await fetch_value(
            conn, "SELECT count(DISTINCT user_id) FROM articles WHERE created_at > ?", (_ago(30),)
        )
        half = await fetch_value(
            conn, "SELECT count(DISTINCT user_id) FROM articles WHERE created_at > ?", (_ago(182),)
        )
        mode = (await registration.get_settings(conn))["mode"]
    config = site.config
    return JSONResponse(
        {
            "version": "2.1",
            "software": {"name": "moot", "version": __version__, "homepage": config.site_url + "/"},
            "protocols": ["activitypub"],
            "services": {"inbound": [], "outbound": ["atom1.0"]},
            "openRegistrations": mode == "open",
            "usage": {
                "users": {"total": users, "activeMonth": month, "activeHalfyear": half},
                "localPosts": posts,
            },
            "metadata": {"nodeName": config.site_name},
        },
        media_type='application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"',
        headers={"Access-Control-Allow-Origin": "*"},
    )


def _ago(days: int) -> str:
    return clock.ago(days=days)


# Collections


def _page_number(request: Request) -> int | None:
    raw = request.query_params.get("page")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise Invalid("page must be a number from 1")
    return int(raw)


def collection(request: Request, url: str, total: int, number: int | None, items: list) -> dict:
    """An OrderedCollection (no page asked) or its page `number`."""
    if number is None:
        return {
            "@context": objects.CONTEXT,
            "id": url,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": f"{url}?page=1",
        }
    made = {
        "@context": objects.CONTEXT,
        "id": f"{url}?page={number}",
        "type": "OrderedCollectionPage",
        "partOf": url,
        "totalItems": total,
        "orderedItems": items,
    }
    if number * PAGE_SIZE < total:
        made["next"] = f"{url}?page={number + 1}"
    if number > 1:
        made["prev"] = f"{url}?page={number - 1}"
    return made


async def followers(request: Request) -> Response:
    site = enabled(request)
    name = request.path_params["name"]
    number = _page_number(request)
    async with site.db.read() as conn:
        group = await groups.get_group_row(conn, name)
        total = await fetch_value(
            conn,
            "SELECT count(*) FROM ap_followers WHERE group_id = ? AND state = 'accepted'",
            (group["id"],),
        )
        items = []
        if number is not None:
            rows = await fetch_all(
                conn,
                "SELECT actor FROM ap_followers WHERE group_id = ? AND state = 'accepted'"
                " ORDER BY created_at, actor LIMIT ? OFFSET ?",
                (group["id"], PAGE_SIZE, (number - 1) * PAGE_SIZE),
            )
            items = [r["actor"] for r in rows]
    url = objects.followers_url(site.config.site_url, name)
    return activity_json(request, collection(request, url, total, number, items))


async def group_outbox(request: Request) -> Response:
    """The group's latest threads, each as the group's Announce of its root's Create."""
    site = enabled(request)
    name = request.path_params["name"]
    number = _page_number(request)
    base = site.config.site_url
    async with site.db.read() as conn:
        group = await groups.get_group_row(conn, name)
        items = []
        if number is not None:
            rows = await fetch_all(
                conn,
                objects.ARTICLE_SELECT + " JOIN threads t ON t.root_article_id = a.id"
                " WHERE t.group_id = ? AND t.merged_into_thread_id IS NULL AND a.status = 'ok'"
                " ORDER BY t.created_at DESC, t.id DESC LIMIT ? OFFSET ?",
                (group["id"], PAGE_SIZE, (number - 1) * PAGE_SIZE),
            )
            for row in rows:
                if row["ap_activity"]:
                    continue
                thing = objects.article_object(base, row)
                author = objects.author_id(base, row) or objects.actor_url(base, f"group:{name}")
                create = {"id": thing["id"] + "#create", "type": "Create", "actor": author, "object": thing}
                items.append({"id": thing["id"] + "#announce", **outbox.announce(base, name, create)})
    url = objects.actor_url(base, f"group:{name}") + "/outbox"
    return activity_json(request, collection(request, url, group["thread_count"], number, items))


async def group_activity(request: Request) -> Response:
    """An activity the group sent (its id is fetchable)."""
    site = enabled(request)
    name, number = request.path_params["name"], request.path_params["id"]
    async with site.db.read() as conn:
        body = await fetch_value(
            conn, "SELECT body FROM ap_activities WHERE id = ? AND signer = ?", (number, f"group:{name}")
        )
    if body is None:
        raise NotFound("no such activity")
    return Response(body, media_type=AS_JSON, headers={"Cache-Control": public_cache_control(request)})


# Inboxes


async def inbox_post(request: Request) -> Response:
    """POST to a group's, a member's or the shared inbox: handed whole to federation.inbox."""
    site = enabled(request)
    body = await read_body(request, INBOX_MAX_BYTES)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    status = await inbox.receive(
        site,
        request.app.state.federation_client,
        inbox=request.url.path,
        method=request.method,
        target=target,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    return Response(status_code=status)


# A group's moderators: pending follows


async def group_followers(request: Request) -> Response:
    """GET /api/groups/{name}/followers?state=pending|accepted (the group's moderators)."""
    site = enabled(request)
    name = request.path_params["name"]
    require_moderator(await current_user(request), name)
    state = request.query_params.get("state")
    if state not in (None, "pending", "accepted"):
        raise Invalid("state must be pending or accepted")
    async with site.db.read() as conn:
        group = await groups.get_group_row(conn, name)
        found = await follows.list_followers(conn, group["id"], state)
    return JSONResponse({"followers": found, "approval": bool(group["ap_follow_approval"])})


async def decide_follower(request: Request) -> Response:
    """POST /api/groups/{name}/followers {actor, accept: true|false}: answer a pending Follow."""
    site = enabled(request)
    name = request.path_params["name"]
    user = require_moderator(await current_user(request), name)
    data = await read_json(request)
    actor, accept = data.get("actor"), data.get("accept")
    if not isinstance(actor, str) or not isinstance(accept, bool):
        raise Invalid("send {actor: the follower's id, accept: true or false}")
    async with site.db.transaction() as conn:
        entry = await follows.decide(conn, site.config.site_url, name, actor, accept, user)
    return JSONResponse({"entry_id": entry, "state": "accepted" if accept else "refused"})


async def follow_approval(request: Request) -> Response:
    """PUT /api/groups/{name}/follow-approval {follow_approval, reason?}: whether Follows wait (moderators)."""
    site = enabled(request)
    user = await current_user(request)
    data = await read_json(request)
    async with site.db.transaction() as conn:
        result = await follows.set_approval(
            conn,
            site.config.site_url,
            user,
            request.path_params["name"],
            data.get("follow_approval"),
            data.get("reason"),
        )
    return JSONResponse(result)


async def follow_approval_form(request: Request) -> Response:
    """POST /g/{name}/follow-approval (the queue page's form, with CSRF): 303 back to the queue."""
    site = enabled(request)
    user = await current_user(request)
    form = await read_form(request)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    name = request.path_params["name"]
    async with site.db.transaction() as conn:
        await follows.set_approval(
            conn,
            site.config.site_url,
            user,
            name,
            form.get("follow_approval") == "1",
            form.get("reason") or None,
        )
    return RedirectResponse(f"/g/{quote(name, safe='')}/queue", status_code=303)


# Admins


async def admin_summary(request: Request) -> Response:
    site = enabled(request)
    require(await current_user(request), "admin")
    return JSONResponse(await delivery.summary(site))


async def _block(request: Request, host: object, reason: object) -> int:
    site = enabled(request)
    admin = require(await current_user(request), "admin")
    async with site.db.transaction() as conn:
        return await outbox.block(conn, host, reason if reason is not None else "", admin)


async def _unblock(request: Request, host: object) -> int:
    site = enabled(request)
    admin = require(await current_user(request), "admin")
    async with site.db.transaction() as conn:
        return await outbox.unblock(conn, host, admin)


async def block_json(request: Request) -> Response:
    """POST /api/federation/blocks {host, reason}."""
    enabled(request)
    data = await read_json(request)
    entry = await _block(request, data.get("host"), data.get("reason", ""))
    return JSONResponse({"entry_id": entry}, status_code=201)


async def unblock_json(request: Request) -> Response:
    """DELETE /api/federation/blocks/{host}."""
    return JSONResponse({"entry_id": await _unblock(request, request.path_params["host"])})


async def admin_page(request: Request) -> Response:
    site = enabled(request)
    require(await current_user(request), "admin")
    return await page(request, "federation.html", {**await delivery.summary(site), "domain": domain(site)})


async def admin_form(request: Request) -> Response:
    """POST /admin/federation/block and /unblock (forms with CSRF)."""
    enabled(request)
    if request.path_params["action"] not in ("block", "unblock"):
        raise NotFound("not found")
    form = await read_form(request)
    cookies_of(request).check_csrf(request, form.get("csrf"))
    if request.path_params["action"] == "block":
        await _block(request, form.get("host"), form.get("reason", ""))
    else:
        await _unblock(request, form.get("host"))
    return RedirectResponse("/admin/federation", status_code=303)


routes = [
    Route("/.well-known/webfinger", webfinger),
    Route("/.well-known/nodeinfo", nodeinfo_links),
    Route("/nodeinfo/2.1", nodeinfo),
    Route("/actor", instance_actor),
    Route("/g/{name}/followers", followers),
    Route("/g/{name}/outbox", group_outbox),
    Route("/g/{name}/activities/{id:int}", group_activity),
    Route("/g/{name}/inbox", inbox_post, methods=["POST"]),
    Route("/u/{name}/inbox", inbox_post, methods=["POST"]),
    Route("/inbox", inbox_post, methods=["POST"]),
    Route("/api/groups/{name}/followers", group_followers),
    Route("/api/groups/{name}/followers", decide_follower, methods=["POST"]),
    Route("/api/groups/{name}/follow-approval", follow_approval, methods=["PUT"]),
    Route("/g/{name}/follow-approval", follow_approval_form, methods=["POST"]),
    Route("/api/federation", admin_summary),
    Route("/api/federation/blocks", block_json, methods=["POST"]),
    Route("/api/federation/blocks/{host}", unblock_json, methods=["DELETE"]),
    Route("/admin/federation", admin_page),
    Route("/admin/federation/{action:str}", admin_form, methods=["POST"]),
]
