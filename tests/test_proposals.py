"""Group proposals: members propose and endorse; the threshold creates the group."""

from moot.store import clock
from tests.maint_support import last_event


async def test_proposal_reaches_threshold_and_creates_the_group(make_site):
    site = await make_site(proposal_threshold=3)
    ada, bob, cy = await site.client("ada"), await site.client("bob"), await site.client("cyd")
    r = await ada.post(
        "/api/proposals",
        json={"name": "rec.knitting", "description": "Yarn", "charter": "Patterns and needles."},
    )
    assert r.status_code == 201, r.text
    proposal = r.json()["proposal"]
    assert (proposal["endorsements"], proposal["threshold"], proposal["status"]) == (1, 3, "open")
    assert proposal["proposer"]["username"] == "ada" and proposal["endorsed_by"] == ["ada"]
    r = await ada.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.json()["proposal"]["endorsements"] == 1  # the proposer already counts once
    r = await bob.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.json()["proposal"]["endorsements"] == 2
    assert (await bob.get("/api/groups/rec.knitting")).status_code == 404
    r = await cy.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.status_code == 200 and r.json()["proposal"]["status"] == "created"
    group = (await cy.get("/api/groups/rec.knitting")).json()["group"]
    assert group["charter"] == "Patterns and needles."
    event = last_event(site, "group.created")
    assert event["data"]["name"] == "rec.knitting"
    entry = (await cy.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "group.create" and entry["actor"] is None
    assert "endorsements" in entry["reason"]
    listed = (await cy.get("/api/proposals")).json()["proposals"]
    assert [(p["name"], p["status"]) for p in listed] == [("rec.knitting", "created")]
    r = await cy.post(f"/api/proposals/{proposal['id']}/endorse", json={})
    assert r.status_code == 409


async def test_proposal_refusals(site):
    ada = await site.client("ada")
    admin = await site.client("root", "admin")
    await admin.post("/api/groups", json={"name": "comp.lang.python", "description": "Py"})
    r = await ada.post("/api/proposals", json={"name": "comp.lang.python"})
    assert r.status_code == 409
    r = await ada.post("/api/proposals", json={"name": "Not A Name"})
    assert r.status_code == 400
    r = await ada.post("/api/proposals", json={"name": "rec.yarn"})
    assert r.status_code == 201
    before = site.snapshot()
    r = await ada.post("/api/proposals", json={"name": "rec.yarn"})
    assert r.status_code == 409 and site.snapshot() == before
    assert (await ada.post("/api/proposals/999/endorse", json={})).status_code == 404
    assert (await ada.get("/api/proposals", params={"status": "weird"})).status_code == 400
    # The admin creates the group directly: the open proposal can no longer create it.
    await admin.post("/api/groups", json={"name": "rec.yarn", "description": "Yarn"})
    bob = await site.client("bob")
    r = await bob.post("/api/proposals/1/endorse", json={})
    assert r.status_code == 409


async def test_threshold_of_one_creates_at_once(make_site):
    site = await make_site(proposal_threshold=1)
    ada = await site.client("ada")
    r = await ada.post("/api/proposals", json={"name": "rec.solo"})
    assert r.json()["proposal"]["status"] == "created"
    assert (await ada.get("/api/groups/rec.solo")).status_code == 200


async def test_a_member_has_only_a_few_proposals_open_at_once(site):
    ada = await site.client("ada")
    for n in range(5):
        assert (await ada.post("/api/proposals", json={"name": f"rec.knots.k{n}"})).status_code == 201
    before = site.snapshot()
    r = await ada.post("/api/proposals", json={"name": "rec.knots.more"})
    assert r.status_code == 409 and "5 open proposals" in r.json()["error"]["message"]
    assert site.snapshot() == before
    # others still propose, and the list (200 at most) is not one member's to fill
    assert (
        await (await site.client("bob")).post("/api/proposals", json={"name": "rec.bobs"})
    ).status_code == 201


async def test_a_proposer_withdraws_an_open_proposal_and_may_propose_again(site):
    ada, bob = await site.client("ada"), await site.client("bob")
    ids = []
    for n in range(5):
        r = await ada.post("/api/proposals", json={"name": f"rec.knots.k{n}"})
        ids.append(r.json()["proposal"]["id"])
    await bob.post(f"/api/proposals/{ids[0]}/endorse", json={})
    before = site.snapshot()
    for client, pid, status in ((bob, ids[0], 403), (ada, 999, 404), (ada, "x", 404)):
        assert (await client.post(f"/api/proposals/{pid}/withdraw", json={})).status_code == status
    assert site.snapshot() == before
    r = await ada.post(f"/api/proposals/{ids[0]}/withdraw", json={})
    assert r.status_code == 200, r.text
    withdrawn = r.json()["proposal"]
    assert withdrawn["status"] == "withdrawn" and withdrawn["endorsed_by"] == ["ada", "bob"]
    # decided now: neither endorsed nor withdrawn again, and listed as such
    for client, action in ((bob, "endorse"), (ada, "withdraw")):
        r = await client.post(f"/api/proposals/{ids[0]}/{action}", json={})
        assert r.status_code == 409 and "no longer open (withdrawn)" in r.json()["error"]["message"]
    listed = (await ada.get("/api/proposals", params={"status": "withdrawn"})).json()["proposals"]
    assert [p["id"] for p in listed] == [ids[0]]
    # withdrawn the day it was made, it still counts: proposing and withdrawing frees nothing
    r = await ada.post("/api/proposals", json={"name": "rec.knots.more"})
    assert r.status_code == 409 and "withdrawn within 7 days" in r.json()["error"]["message"]
    # one made over a week ago frees its place once withdrawn, and a name may be proposed again
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE proposals SET created_at = ? WHERE id = ?", (clock.ago(days=8), ids[1]))
    assert (await ada.post(f"/api/proposals/{ids[1]}/withdraw", json={})).status_code == 200
    assert (await ada.post("/api/proposals", json={"name": "rec.knots.k0"})).status_code == 201
    assert (await ada.post("/api/proposals", json={"name": "rec.knots.more"})).status_code == 409
    # the list: open ones first, the withdrawn last
    statuses = [p["status"] for p in (await ada.get("/api/proposals")).json()["proposals"]]
    assert statuses == sorted(statuses, key=lambda s: (s != "open", s == "withdrawn"))
    # signed out: no
    anonymous = await site.client()
    assert (await anonymous.post(f"/api/proposals/{ids[1]}/withdraw", json={})).status_code == 401
