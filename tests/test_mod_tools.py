"""A moderator's tools for a drifting thread: split suggestions ranked by
drift with their rows' author, date and excerpt, the split form's group,
the thread search a merge picks its target from, and the merge preview."""

from __future__ import annotations

import re

from moot import demo
from moot.store.db import fetch_value
from tests.maint_support import build_tree


async def test_the_demo_drift_is_suggested_first(site):
    await demo.build(site.db, site.config)
    async with site.db.read() as conn:
        thread = await fetch_value(
            conn, "SELECT id FROM threads WHERE subject LIKE 'Tunes for a slow session%'"
        )
    hints = (await (await site.client()).get(f"/api/threads/{thread}/split-suggestions")).json()[
        "suggestions"
    ]
    drifted = [h for h in hints if h["was"]]
    assert len(drifted) == 2 and hints[:2] == drifted  # both "(was: …)" changes before any long "Re:" branch
    assert all(h["drift"] == 0 for h in hints[2:])
    mod = await site.client("keeper", "moderator")
    html = (await mod.get(f"/t/{thread}")).text
    section = html[html.index('id="sugg-h"') : html.index("</section>", html.index('id="sugg-h"'))]
    rows = re.findall(r'<li id="sugg-(\d+)">(.*?)</li>', section, re.S)
    assert [int(i) for i, _ in rows] == [h["article_id"] for h in hints]
    first = rows[0][1]
    assert "(was: " in first and hints[0]["author"] in first
    assert f'datetime="{hints[0]["created_at"]}"' in first
    assert f'<q class="excerpt">{hints[0]["excerpt"]}</q>' in first and hints[0]["excerpt"]


async def test_the_split_form_names_the_threads_group(site):
    t = await build_tree(site)
    mod = await site.client("keeper", "moderator")
    html = (await mod.get(f"/t/{t['thread']['id']}/moderate/split?article={t['a2']['id']}")).text
    assert re.search(r'<input id="group" name="group"[^>]*value="comp.lang.python"', html)
    html = (await mod.get(f"/t/{t['thread']['id']}/moderate/move")).text
    assert re.search(r'<input id="group" name="group"[^>]*value=""', html)


async def test_thread_search_for_a_merge(site):
    t = await build_tree(site)
    mod = await site.client("keeper", "moderator")
    r = await mod.get("/api/threads", params={"q": "oth"})
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
    [found] = r.json()["threads"]
    assert {k: found[k] for k in ("id", "subject", "group", "article_count")} == {
        "id": t["other"]["id"],
        "subject": "Other",
        "group": "comp.lang.python",
        "article_count": 2,
    }
    by_number = (await mod.get("/api/threads", params={"q": str(t["thread"]["id"])})).json()["threads"]
    assert t["thread"]["id"] in [x["id"] for x in by_number]
    assert len((await mod.get("/api/threads", params={"limit": 1})).json()["threads"]) == 1
    assert (await mod.get("/api/threads", params={"q": "%"})).json()[
        "threads"
    ] == []  # LIKE's signs are letters
    assert (await mod.get("/api/threads", params={"group": "comp.lang.misc"})).json()["threads"] == []
    for params in ({"limit": 21}, {"limit": 0}, {"limit": "x"}, {"q": "x" * 201}):
        assert (await mod.get("/api/threads", params=params)).status_code == 400, params
    assert (await mod.get("/api/threads", params={"group": "no.such"})).status_code in (403, 404)
    assert (await (await site.client()).get("/api/threads")).status_code == 401
    assert (await t["ada"].get("/api/threads")).status_code == 403
    # a group's own moderator finds the threads of their group only
    root = await site.client("root", "admin")
    r = await root.post("/api/groups/comp.lang.misc/moderators", json={"username": "ada", "reason": "helps"})
    assert r.status_code in (200, 201), r.text
    assert (await t["ada"].get("/api/threads")).json()["threads"] == []
    assert (await t["ada"].get("/api/threads", params={"group": "comp.lang.python"})).status_code == 403


async def test_merge_preview(site):
    t = await build_tree(site)
    mod = await site.client("keeper", "moderator")
    other, before = t["other"]["id"], site.snapshot()
    path = f"/t/{other}/fragment/merge-preview"
    r = await mod.get(path, params={"target": str(t["root"]["id"])})
    assert r.status_code == 200
    text = re.sub(r"<[^>]+>", "", r.text)
    assert "2 articles (this whole thread) will move into “Hello” in comp.lang.python" in text
    assert "under Ada’s article “Hello”" in text and "(the thread’s first article)" in text
    r = await mod.get(path, params={"target": f"/t/{t['thread']['id']}#a{t['a3']['id']}"})
    assert "under Bob’s article" in r.text and "first article" not in r.text
    for target, status in (("", 400), ("nothing", 400), (str(t["other_reply"]["id"]), 400), ("999999", 404)):
        assert (await mod.get(path, params={"target": target})).status_code == status, target
    assert (await t["ada"].get(path, params={"target": str(t["root"]["id"])})).status_code == 403
    assert site.snapshot() == before  # a preview changes nothing
