"""Bad maintenance requests: each a clear 4xx with its error code, and nothing changed."""

import pytest

from tests.maint_support import build_tree


def cases(t):
    tid, oid = t["thread"]["id"], t["other"]["id"]
    split = f"/api/threads/{tid}/split"
    return [
        # (method path body, status, code, what)
        (split, {"article_id": t["root"]["id"], "reason": "x"}, 400, "invalid", "split at the root"),
        (
            split,
            {"article_id": t["other_reply"]["id"], "reason": "x"},
            400,
            "invalid",
            "split at an article of another thread",
        ),
        (split, {"article_id": 999999, "reason": "x"}, 404, "not_found", "unknown article"),
        (
            split,
            {"article_id": t["a2"]["id"], "group": "no.such.group", "reason": "x"},
            404,
            "not_found",
            "split into an unknown group",
        ),
        (
            split,
            {"article_id": t["a2"]["id"], "group": "moot.readonly", "reason": "x"},
            403,
            "forbidden",
            "split into a read-only group",
        ),
        (split, {"article_id": t["a2"]["id"], "reason": ""}, 400, "invalid", "empty reason"),
        (split, {"article_id": t["a2"]["id"], "reason": "   "}, 400, "invalid", "blank reason"),
        (split, {"article_id": t["a2"]["id"]}, 400, "invalid", "missing reason"),
        (
            split,
            {"article_id": t["a2"]["id"], "reason": "x", "subject": "a\x00b"},
            400,
            "invalid",
            "control characters in the subject",
        ),
        (
            "/api/threads/999999/split",
            {"article_id": t["a2"]["id"], "reason": "x"},
            404,
            "not_found",
            "unknown thread",
        ),
        (
            f"/api/threads/{tid}/merge",
            {"into_article_id": t["a3"]["id"], "reason": "x"},
            400,
            "invalid",
            "merge a thread into its own descendant",
        ),
        (
            f"/api/threads/{tid}/merge",
            {"into_article_id": t["root"]["id"], "reason": "x"},
            400,
            "invalid",
            "merge a thread into itself",
        ),
        (
            f"/api/threads/{oid}/merge",
            {"into_article_id": t["a3"]["id"], "reason": ""},
            400,
            "invalid",
            "merge with an empty reason",
        ),
        (
            f"/api/threads/{oid}/merge",
            {"into_article_id": "abc", "reason": "x"},
            404,
            "not_found",
            "merge into a malformed article id",
        ),
        (
            f"/api/threads/{oid}/move",
            {"group": "comp.lang.python", "reason": "x"},
            400,
            "invalid",
            "move into its own group",
        ),
        (
            f"/api/threads/{oid}/move",
            {"group": "moot.readonly", "reason": "x"},
            403,
            "forbidden",
            "move into a read-only group",
        ),
        (f"/api/threads/{oid}/move", {"group": "comp.lang.misc"}, 400, "invalid", "move without reason"),
        (
            f"/api/threads/{oid}/move",
            {"group": ["x"], "reason": "x"},
            404,
            "not_found",
            "group of the wrong type",
        ),
        ("/api/modlog/1/undo", {"reason": "x"}, 409, "conflict", "undo of a group creation"),
        ("/api/modlog/999/undo", {"reason": "x"}, 404, "not_found", "undo of an unknown entry"),
        (
            "/api/groups/comp.lang.python/policy",
            {"archive_after_days": "soon"},
            400,
            "invalid",
            "policy that is not a number",
        ),
        (
            "/api/groups/comp.lang.python/policy",
            {"archive_after_articles": 10**9},
            400,
            "invalid",
            "policy out of range",
        ),
    ]


async def test_bad_requests_are_refused_and_change_nothing(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    before = site.snapshot()
    for path, body, status, code, what in cases(t):
        method = mod.put if path.endswith("/policy") else mod.post
        r = await method(path, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (what, r.text)
        assert r.json()["error"]["message"], what
        assert site.snapshot() == before, f"{what} changed something"


@pytest.mark.parametrize("stale_by", ["reply", "split_again", "reply_to_notice", "merged_away"])
async def test_stale_undo_is_refused_and_changes_nothing(site, stale_by):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a1"]["id"], "reason": "drift"}
    )
    new, entry, notice = r.json()["thread"], r.json()["entry"], r.json()["notice"]
    if stale_by == "reply":  # a new reply under the moved sub-tree, in its new thread
        r = await t["bob"].post(f"/api/articles/{t['a3']['id']}/replies", json={"body": "later"})
    elif stale_by == "split_again":  # part of the moved sub-tree moved on
        r = await mod.post(
            f"/api/threads/{new['id']}/split", json={"article_id": t["a3"]["id"], "reason": "again"}
        )
    elif stale_by == "reply_to_notice":
        r = await t["bob"].post(f"/api/articles/{notice['id']}/replies", json={"body": "why?"})
    else:  # the new thread was merged into another
        r = await mod.post(
            f"/api/threads/{new['id']}/merge",
            json={"into_article_id": t["other_reply"]["id"], "reason": "same"},
        )
    assert r.status_code in (200, 201), r.text
    before = site.snapshot()
    r = await mod.post(f"/api/modlog/{entry['id']}/undo", json={"reason": "mistake"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale", r.text
    assert site.snapshot() == before


async def test_stale_undo_becomes_possible_once_the_later_change_is_undone(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    r = await mod.post(
        f"/api/threads/{t['thread']['id']}/split", json={"article_id": t["a1"]["id"], "reason": "drift"}
    )
    first, new = r.json()["entry"], r.json()["thread"]
    r = await mod.post(
        f"/api/threads/{new['id']}/split", json={"article_id": t["a3"]["id"], "reason": "again"}
    )
    second = r.json()["entry"]
    assert (await mod.post(f"/api/modlog/{first['id']}/undo", json={"reason": "x"})).status_code == 409
    assert (await mod.post(f"/api/modlog/{second['id']}/undo", json={"reason": "x"})).status_code == 200
    assert (await mod.post(f"/api/modlog/{first['id']}/undo", json={"reason": "x"})).status_code == 200
