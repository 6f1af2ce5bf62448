"""The group archive by date: the months with archived threads, and the
threads of a month or year, oldest first, in keyset pages."""

import sqlite3

from tests.conftest import seed


def set_started(site, thread_id: int, when: str) -> None:
    """Back-date a thread (threads cannot be made in the past through the API)."""
    conn = sqlite3.connect(site.config.db_path)
    try:
        with conn:
            conn.execute("UPDATE threads SET created_at = ? WHERE id = ?", (when, thread_id))
    finally:
        conn.close()


async def test_archive_by_year_and_month(site):
    s = await seed(site)
    moderator = await site.client("mod", "moderator")
    dates = [
        "2024-01-15T10:00:00.000Z",
        "2024-01-20T10:00:00.000Z",
        "2024-03-01T00:00:00.000Z",
        "2025-12-31T23:59:59.999Z",
    ]
    made = []
    for i, when in enumerate(dates):
        r = await s["ada"].post(
            "/api/groups/comp.lang.python/threads", json={"subject": f"Old {i}", "body": "text"}
        )
        thread = r.json()["thread"]
        set_started(site, thread["id"], when)
        r = await moderator.post(f"/api/threads/{thread['id']}/archive", json={"reason": "old"})
        assert r.status_code == 200, r.text
        made.append(thread["id"])
    anon = await site.client()
    r = await anon.get("/api/groups/comp.lang.python/archive")
    assert r.status_code == 200
    assert r.json() == {
        "group": "comp.lang.python",
        "periods": [
            {"year": 2025, "month": 12, "threads": 1},
            {"year": 2024, "month": 3, "threads": 1},
            {"year": 2024, "month": 1, "threads": 2},
        ],
    }  # the seed's open thread is not archived

    r = await anon.get("/api/groups/comp.lang.python/archive", params={"year": 2024, "month": 1})
    body = r.json()
    assert (body["year"], body["month"]) == (2024, 1)
    assert [t["id"] for t in body["threads"]] == made[:2] and body["next_cursor"] is None
    assert all(t["state"] == "archived" for t in body["threads"])

    pages, cursor = [], None
    while True:
        params = {"year": "2024", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (await anon.get("/api/groups/comp.lang.python/archive", params=params)).json()
        pages += [t["id"] for t in page["threads"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == made[:3]
    r = await anon.get("/api/groups/comp.lang.python/archive", params={"year": 2025, "month": 12})
    assert [t["id"] for t in r.json()["threads"]] == [made[3]]

    for params in (
        {"year": "last"},
        {"year": 2024, "month": 13},
        {"year": 2024, "cursor": "x"},
        {"year": 99},
    ):
        r = await anon.get("/api/groups/comp.lang.python/archive", params=params)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid", params
    assert (await anon.get("/api/groups/no.such/archive")).status_code == 404
