"""The moderation queue's upkeep in the periodic sweep: a moderator who asked
for a group's daily queue mail is mailed, at most once a day, the items that
have waited there more than a day; rejected submissions are dropped after
the site's rejected_keep_days. Time moves by the sweep's `now`."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from moot.mail import queuemail
from moot.stewardship import sweep
from tests.conftest import seed
from tests.mail_support import (
    confirm_address,
    mail_settings,
    relay,  # noqa: F401  (fixture)
    subject_of,
)

MODERATED = "comp.lang.python.announce"


def days_ahead(n: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=n)


def mails(site, kind: str = "notice") -> list[sqlite3.Row]:
    conn = sqlite3.connect(site.config.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM mail_queue WHERE kind = ? ORDER BY id", (kind,)).fetchall()
    finally:
        conn.close()


async def run_sweep(site, days: float) -> dict:
    return await sweep.sweep(site.db, site.config, now=days_ahead(days), jobs=[queuemail.job])


async def moderated_site(make_site, **settings):
    site = await make_site(rejected_keep_days=10, **settings)
    seeded = await seed(site)
    r = await seeded["admin"].post(
        "/api/groups", json={"name": MODERATED, "description": "News", "status": "m"}
    )
    assert r.status_code == 201, r.text
    return site, seeded


async def test_a_moderator_who_asked_is_mailed_items_waiting_over_a_day_once_a_day(make_site, relay):
    site, seeded = await moderated_site(make_site, **mail_settings(relay))
    ada, mona, max_ = (
        seeded["ada"],
        await site.client("mona", "moderator"),
        await site.client("max", "moderator"),
    )
    url = f"/api/groups/{MODERATED}/queue/mail"
    assert (await mona.get(url)).json() == {"group": MODERATED, "daily": False}
    r = await mona.put(url, json={"daily": True})
    assert r.status_code == 409 and "confirm an address" in r.json()["error"]["message"]
    await confirm_address(mona, relay, "mona@example.net")
    await confirm_address(max_, relay, "max@example.net")
    r = await mona.put(url, json={"daily": True})
    assert r.status_code == 200 and r.json() == {"group": MODERATED, "daily": True}
    assert (await mona.get(url)).json()["daily"] is True
    assert (await max_.get(url)).json()["daily"] is False  # each moderator's own choice
    r = await mona.put("/api/groups/comp.lang.python/queue/mail", json={"daily": True})
    assert r.status_code == 200

    r = await ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Release", "body": "2.0"})
    assert r.status_code == 202
    r = await seeded["admin"].post(f"/api/articles/{seeded['reply']['id']}/report", json={"reason": "other"})
    assert r.status_code == 201

    assert (await run_sweep(site, 0))["queue_mail"] == 0  # nothing has waited a day yet
    assert (await run_sweep(site, 0.9))["queue_mail"] == 0
    result = await run_sweep(site, 1.1)
    assert result["queue_mail"] == 1
    (mail,) = mails(site)
    assert mail["recipient"] == "mona@example.net"
    text = json.loads(mail["data"])["text"]
    assert f"{MODERATED}: 1 waiting" in text and "Release by Ada (moderated group" in text
    assert "comp.lang.python: 1 waiting" in text and "A reply" not in text  # one mail for both groups
    assert "Re: Hello by Ada (reports" in text
    assert (await run_sweep(site, 1.5))["queue_mail"] == 0  # at most one a day
    assert (await run_sweep(site, 2.2))["queue_mail"] == 1  # still waiting the next day

    # Decided items are not mailed; nor is a moderator who turned it off.
    queue = (await mona.get(f"/api/groups/{MODERATED}/queue")).json()["items"]
    r = await mona.post(f"/api/groups/{MODERATED}/queue/{queue[0]['id']}/approve", json={})
    assert r.status_code == 200
    assert (await run_sweep(site, 3.3))["queue_mail"] == 1
    assert "comp.lang.python.announce" not in json.loads(mails(site)[-1]["data"])["text"]
    assert (
        await mona.put("/api/groups/comp.lang.python/queue/mail", json={"daily": False})
    ).status_code == 200
    assert (await mona.put(url, json={"daily": False})).json()["daily"] is False
    assert (await run_sweep(site, 4.4))["queue_mail"] == 0
    assert len(mails(site)) == 3
    # The sender delivers them as plain mail to the moderator's address.
    sent = await relay.wait("mona@example.net", 3, where=subject_of("moderation queue"))
    body = sent[0].message.get_body(("plain",)).get_content()
    assert "Release by Ada" in body
    assert relay.to("max@example.net") and not [
        r for r in relay.to("max@example.net") if subject_of("queue")(r)
    ]


async def test_only_moderators_choose_the_queue_mail_and_bad_requests_change_nothing(make_site):
    site, seeded = await moderated_site(make_site)
    mona, anonymous = await site.client("mona", "moderator"), await site.client()
    before = site.snapshot()
    url = f"/api/groups/{MODERATED}/queue/mail"
    cases = [
        (seeded["ada"], url, {"daily": True}, 403),
        (anonymous, url, {"daily": True}, 401),
        (mona, url, {"daily": "yes"}, 400),
        (mona, "/api/groups/no.such.group/queue/mail", {"daily": True}, 404),
    ]
    for client, where, body, status in cases:
        r = await client.put(where, json=body)
        assert r.status_code == status, (where, body, r.text)
        assert "error" in r.json()
    assert (await seeded["ada"].get(url)).status_code == 403
    assert site.snapshot() == before


async def test_the_sweep_drops_rejected_submissions_after_the_keep_time(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    ids = []
    for n in range(3):
        r = await ada.post(f"/api/groups/{MODERATED}/threads", json={"subject": f"S{n}", "body": "B"})
        ids.append(r.json()["held"]["id"])
    r = await mona.post(f"/api/groups/{MODERATED}/queue/reject", json={"ids": ids[:2], "reason": "no"})
    assert r.status_code == 200 and r.json()["failed"] == []
    r = await mona.post(f"/api/articles/{seeded['reply']['id']}/report", json={"reason": "spam"})
    (reported,) = (await mona.get("/api/groups/comp.lang.python/queue")).json()["items"]
    r = await mona.post(f"/api/groups/comp.lang.python/queue/{reported['id']}/reject", json={"reason": "x"})
    assert r.status_code == 200

    assert (await run_sweep(site, 9))["forgotten"] == 0  # kept 10 days
    rejected = (await mona.get(f"/api/groups/{MODERATED}/queue?state=rejected")).json()["items"]
    assert sorted(i["id"] for i in rejected) == ids[:2]
    assert (await run_sweep(site, 11))["forgotten"] == 2
    assert (await mona.get(f"/api/groups/{MODERATED}/queue?state=rejected")).json()["items"] == []
    # The waiting one stays; a removed article's item stays (its removal can be undone); the log keeps all.
    waiting = (await mona.get(f"/api/groups/{MODERATED}/queue")).json()["items"]
    assert [i["id"] for i in waiting] == [ids[2]]
    kept = (await mona.get("/api/groups/comp.lang.python/queue?state=rejected")).json()["items"]
    assert [i["id"] for i in kept] == [reported["id"]]
    actions = [e["action"] for e in (await mona.get("/api/modlog")).json()["entries"]]
    assert actions.count("reject") == 2
