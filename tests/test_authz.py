"""Every maintenance endpoint × (anonymous, member, moderator, admin) gets the
status server/maintenance_api.py documents; a denied call changes nothing."""

import pytest

from tests.maint_support import build_tree

ROLES = ["anonymous", "member", "moderator", "admin"]
MOD = {"anonymous": 401, "member": 403}  # the rest get the endpoint's success status


async def setup_entry(site, t):
    mod = await site.client("setup-mod", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a2"]["id"], "reason": "drift"}
    )
    return r.json()["entry"]["id"]


async def setup_proposal(site, t):
    r = await t["ada"].post("/api/proposals", json={"name": "rec.knitting", "description": "Yarn"})
    return r.json()["proposal"]["id"]


# name: (method, path template, body, {role: status}, set-up returning {x} for the path)
TABLE = {
    "split": (
        "POST",
        "/api/threads/{tid}/split",
        lambda t: {"article_id": t["a2"]["id"], "reason": "r"},
        {**MOD, "moderator": 201, "admin": 201},
        None,
    ),
    "merge": (
        "POST",
        "/api/threads/{oid}/merge",
        lambda t: {"into_article_id": t["a4"]["id"], "reason": "r"},
        {**MOD, "moderator": 200, "admin": 200},
        None,
    ),
    "move": (
        "POST",
        "/api/threads/{oid}/move",
        lambda t: {"group": "comp.lang.misc", "reason": "r"},
        {**MOD, "moderator": 200, "admin": 200},
        None,
    ),
    **{
        action: (
            "POST",
            "/api/threads/{tid}/" + action,
            lambda t: {"reason": "r"},
            {**MOD, "moderator": 200, "admin": 200},
            None,
        )
        for action in ("archive", "unarchive", "lock", "unlock")
    },
    "reference": (
        "POST",
        "/api/threads/{tid}/reference",
        lambda t: {"on": True},
        {**MOD, "moderator": 200, "admin": 200},
        None,
    ),
    "policy": (
        "PUT",
        "/api/groups/comp.lang.python/policy",
        lambda t: {"archive_after_days": 9},
        {**MOD, "moderator": 200, "admin": 200},
        None,
    ),
    "undo": (
        "POST",
        "/api/modlog/{x}/undo",
        lambda t: {"reason": "r"},
        {**MOD, "moderator": 200, "admin": 200},
        setup_entry,
    ),
    "role": (
        "POST",
        "/api/users/ada/role",
        lambda t: {"role": "moderator"},
        {**MOD, "moderator": 403, "admin": 200},
        None,
    ),
    "propose": (
        "POST",
        "/api/proposals",
        lambda t: {"name": "rec.yarn", "description": "Yarn"},
        {"anonymous": 401, "member": 201, "moderator": 201, "admin": 201},
        None,
    ),
    "endorse": (
        "POST",
        "/api/proposals/{x}/endorse",
        lambda t: {},
        {"anonymous": 401, "member": 200, "moderator": 200, "admin": 200},
        setup_proposal,
    ),
    "modlog": ("GET", "/api/modlog", None, {r: 200 for r in ROLES}, None),
    "modlog entry": ("GET", "/api/modlog/1", None, {r: 200 for r in ROLES}, None),
    "suggestions": ("GET", "/api/threads/{tid}/split-suggestions", None, {r: 200 for r in ROLES}, None),
    "proposals": ("GET", "/api/proposals", None, {r: 200 for r in ROLES}, None),
    "peers": ("GET", "/api/peers", None, {**MOD, "moderator": 403, "admin": 200}, None),
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
    expected = TABLE[name][3]
    setup = TABLE[name][4]
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
