"""Every maintenance endpoint × (anonymous, member, moderator, admin) gets the
status server/maintenance_api.py documents; a denied call changes nothing."""

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import pytest

from tests.maint_support import build_tree

ROLES = ["anonymous", "member", "moderator", "admin"]
MEMBERS, MODERATORS, ADMINS = ROLES[1:], ROLES[2:], ROLES[3:]


def allowed(status: int, roles: list[str]) -> dict[str, int]:
    """{role: status}: the endpoint's success status for `roles`; otherwise 401
    for the anonymous, who may sign in, and 403 for the signed in."""
    return {r: status if r in roles else 401 if r == "anonymous" else 403 for r in ROLES}


async def setup_entry(site, t):
    mod = await site.client("setup-mod", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a2"]["id"], "reason": "drift"}
    )
    return r.json()["entry"]["id"]


async def setup_proposal(site, t):
    r = await t["ada"].post("/api/proposals", json={"name": "rec.knitting", "description": "Yarn"})
    return r.json()["proposal"]["id"]


async def setup_suspension(site, t):
    root = await site.client("setup-admin", "admin")
    r = await root.post("/api/users/ada/suspend", json={"days": 3, "reason": "r"})
    assert r.status_code == 200, r.text


async def setup_ban(site, t):
    mod = await site.client("setup-mod", "moderator")
    r = await mod.post("/api/groups/comp.lang.python/bans", json={"author": "ada", "days": 3, "reason": "r"})
    assert r.status_code == 200, r.text


class Endpoint(NamedTuple):
    method: str
    path: str  # {tid}: the tree's thread, {oid}: the other thread, {x}: what setup returned
    body: Callable[[dict], dict] | None  # the JSON body, from the tree
    expected: dict[str, int]  # {role: status}
    setup: Callable[[Any, dict], Awaitable[Any]] | None = None


TABLE = {
    "split": Endpoint(
        "POST",
        "/api/threads/{tid}/split",
        lambda t: {"article_id": t["a2"]["id"], "reason": "r"},
        allowed(201, MODERATORS),
    ),
    "merge": Endpoint(
        "POST",
        "/api/threads/{oid}/merge",
        lambda t: {"into_article_id": t["a4"]["id"], "reason": "r"},
        allowed(200, MODERATORS),
    ),
    "move": Endpoint(
        "POST",
        "/api/threads/{oid}/move",
        lambda t: {"group": "comp.lang.misc", "reason": "r"},
        allowed(200, MODERATORS),
    ),
    **{
        action: Endpoint(
            "POST", "/api/threads/{tid}/" + action, lambda t: {"reason": "r"}, allowed(200, MODERATORS)
        )
        for action in ("archive", "unarchive", "lock", "unlock")
    },
    "reference": Endpoint(
        "POST", "/api/threads/{tid}/reference", lambda t: {"on": True}, allowed(200, MODERATORS)
    ),
    "policy": Endpoint(
        "PUT",
        "/api/groups/comp.lang.python/policy",
        lambda t: {"archive_after_days": 9},
        allowed(200, MODERATORS),
    ),
    "undo": Endpoint(
        "POST", "/api/modlog/{x}/undo", lambda t: {"reason": "r"}, allowed(200, MODERATORS), setup_entry
    ),
    "role": Endpoint("POST", "/api/users/ada/role", lambda t: {"role": "moderator"}, allowed(200, ADMINS)),
    "suspend": Endpoint(
        "POST", "/api/users/ada/suspend", lambda t: {"days": 3, "reason": "r"}, allowed(200, ADMINS)
    ),
    "unsuspend": Endpoint(
        "POST", "/api/users/ada/unsuspend", lambda t: {}, allowed(200, ADMINS), setup_suspension
    ),
    "ban": Endpoint(
        "POST",
        "/api/users/ada/suspend",
        lambda t: {"group": "comp.lang.python", "days": 3, "reason": "r"},
        allowed(200, MODERATORS),
    ),
    "unban": Endpoint(
        "POST",
        "/api/users/ada/unsuspend",
        lambda t: {"group": "comp.lang.python"},
        allowed(200, MODERATORS),
        setup_ban,
    ),
    "group bans": Endpoint("GET", "/api/groups/comp.lang.python/bans", None, allowed(200, MODERATORS)),
    "group ban": Endpoint(
        "POST",
        "/api/groups/comp.lang.python/bans",
        lambda t: {"author": "mail:spam@example.org", "days": 3, "reason": "r", "remove_days": 1},
        allowed(200, MODERATORS),
    ),
    "group unban": Endpoint(
        "POST",
        "/api/groups/comp.lang.python/bans/unban",
        lambda t: {"author": "ada"},
        allowed(200, MODERATORS),
        setup_ban,
    ),
    "propose": Endpoint(
        "POST",
        "/api/proposals",
        lambda t: {"name": "rec.yarn", "description": "Yarn"},
        allowed(201, MEMBERS),
    ),
    "endorse": Endpoint(
        "POST", "/api/proposals/{x}/endorse", lambda t: {}, allowed(200, MEMBERS), setup_proposal
    ),
    "modlog": Endpoint("GET", "/api/modlog", None, allowed(200, ROLES)),
    "modlog entry": Endpoint("GET", "/api/modlog/1", None, allowed(200, ROLES)),
    "suggestions": Endpoint("GET", "/api/threads/{tid}/split-suggestions", None, allowed(200, ROLES)),
    "thread search": Endpoint("GET", "/api/threads?q=hello", None, allowed(200, MODERATORS)),
    "proposals": Endpoint("GET", "/api/proposals", None, allowed(200, ROLES)),
    "peers": Endpoint("GET", "/api/peers", None, allowed(200, ADMINS)),
}


async def client_for(site, role):
    if role == "anonymous":
        return await site.client()
    return await site.client({"member": "mia", "moderator": "marta", "admin": "root"}[role], role)


async def call(client, t, name, x=None):
    method, template, body, _, _ = TABLE[name]
    path = template.format(tid=t["thread"]["id"], oid=t["other"]["id"], x=x)
    if method == "GET":
        return await client.get(path)
    return await client.request(method, path, json=body(t))


@pytest.mark.parametrize("name", list(TABLE))
async def test_authorisation_table(make_site, name):
    expected, setup = TABLE[name].expected, TABLE[name].setup
    fresh = {}
    for role in ROLES:
        # Each role that may act gets a fresh site, so it acts on the same state.
        if role not in fresh or expected[role] < 400:
            site = await make_site()
            t = await build_tree(site)
            x = await setup(site, t) if setup else None
            fresh = {r: (site, t, x) for r in ROLES}
        site, t, x = fresh[role]
        client = await client_for(site, role)
        before = site.snapshot()
        r = await call(client, t, name, x)
        assert r.status_code == expected[role], (name, role, r.text)
        if r.status_code >= 400:
            assert site.snapshot() == before, f"a denied {name} by {role} changed something"
            assert r.json()["error"]["code"] in ("auth_required", "forbidden")
