"""The rough edges a new reader meets first, through the real app: Reply only
where the reader may reply, the thread's state explained at the top."""

import re

from moot.articles import importer
from tests.conftest import seed


def reply_links(html: str) -> int:
    return len(re.findall(r'data-action="reply"', html))


def state_note(html: str) -> str:
    found = re.search(r'<p class="state-note panel" id="state-note">(.*?)</p>', html, re.S)
    return found[1] if found else ""


async def test_reply_is_offered_only_where_the_reader_may_reply(site):
    s = await seed(site)
    thread = s["thread"]["id"]
    moderator = await site.client("marta", "moderator")
    anonymous, ada = await site.client(), s["ada"]
    # open thread: members and anonymous readers (who may sign in to reply) see Reply
    for client in (anonymous, ada, moderator):
        html = (await client.get(f"/t/{thread}")).text
        assert reply_links(html) == 2 and state_note(html) == ""

    assert (
        await moderator.post(f"/api/threads/{thread}/lock", json={"reason": "cooling off"})
    ).status_code == 200
    for client in (anonymous, ada):
        html = (await client.get(f"/t/{thread}")).text
        assert reply_links(html) == 0
        assert state_note(html) == "This thread is locked: only moderators can add to it."
        # the note comes before the first article
        assert html.index('id="state-note"') < html.index('class="node')
    html = (await moderator.get(f"/t/{thread}")).text
    assert reply_links(html) == 2 and "(you can)" in state_note(html)
    # what the page offers is what posting allows
    r = await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "may I?"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "locked"

    assert (await moderator.post(f"/api/threads/{thread}/archive", json={})).status_code == 200
    for client in (anonymous, ada, moderator):
        html = (await client.get(f"/t/{thread}")).text
        assert reply_links(html) == 0
        note = state_note(html)
        assert note.startswith("This thread is archived")
        assert f'href="/g/comp.lang.python/new?continued_from={thread}">Start a follow-up thread</a>' in note
        # the fragment a live page inserts says the same
        frag = (await client.get(f"/t/{thread}/fragment/a/{s['reply']['id']}")).text
        assert reply_links(frag) == 0
    # the archive's months say what they count, in words a text browser or a screen reader reads
    html = (await anonymous.get("/g/comp.lang.python/archive")).text
    assert re.search(r'<span class="count">1<span class="vh"> thread</span></span>', html), html


async def test_read_only_groups_offer_no_reply_and_moderated_ones_say_replies_wait(site, tmp_path):
    s = await seed(site)
    admin = s["admin"]
    for status, words in (
        ("n", "is read-only: nobody posts here."),
        ("m", "is moderated: a moderator approves each article before it appears here."),
    ):
        name = f"test.status-{status}"
        assert (await admin.post("/api/groups", json={"name": name, "status": status})).status_code == 201
        # a moderator starts a thread (in a read-only group no one can: import one)
        moderator = await site.client("marta", "moderator")
        if status == "m":
            r = await moderator.post(
                f"/api/groups/{name}/threads", json={"subject": "Rules", "body": "Read me."}
            )
            assert r.status_code == 201, r.text
            thread = r.json()["thread"]["id"]
            html = (await moderator.get(f"/t/{thread}")).text
            assert reply_links(html) == 1 and "(yours appear at once)" in state_note(html)
        else:  # nobody posts in a read-only group: its articles come from an archive
            r = await admin.post(f"/api/groups/{name}/threads", json={"subject": "Rules", "body": "Read me."})
            assert r.status_code == 403
            source = tmp_path / "old.mbox"
            source.write_bytes(
                b"From a@example.org Sat Jan  1 10:00:00 2000\nFrom: A <a@example.org>\n"
                b"Date: Sat, 01 Jan 2000 10:00:00 +0000\nSubject: Rules\n"
                b"Message-ID: <rules@example.org>\n\nRead me.\n\n"
            )
            assert (await importer.import_path(site.db, source, name)).imported == 1
            thread = (await admin.get("/api/articles/<rules@example.org>")).json()["article"]["thread_id"]
            html = (await moderator.get(f"/t/{thread}")).text
            assert reply_links(html) == 0
        for client in (await site.client(), s["ada"]):
            html = (await client.get(f"/t/{thread}")).text
            # a member's reply to a moderated group waits for a moderator
            assert reply_links(html) == (status == "m") and state_note(html) == f"{name} {words}"
        # the new-thread form says so before anything is typed, and is no form where nobody posts
        r = await s["ada"].get(f"/g/{name}/new")
        if status == "m":
            assert r.status_code == 200 and state_note(r.text) == f"{name} {words}"
            assert 'id="state-note"' not in (await moderator.get(f"/g/{name}/new")).text
        else:
            assert r.status_code == 403 and words in r.text and 'name="body"' not in r.text


async def test_the_moderation_log_reads_as_sentences_naming_threads_by_subject(site):
    s = await seed(site)  # comp.lang.python, "Hello" with one reply
    admin, ada = s["admin"], s["ada"]
    moderator = await site.client("marta", "moderator")
    assert (await admin.post("/api/groups", json={"name": "comp.lang.misc"})).status_code == 201
    r = await ada.post(
        f"/api/articles/{s['reply']['id']}/replies",
        json={"body": "Off on a tangent", "subject": "Tangents (was: Hello)"},
    )
    tangent = r.json()["article"]
    r = await moderator.post(
        f"/api/threads/{s['thread']['id']}/split",
        json={"article_id": tangent["id"], "reason": "its own topic"},
    )
    assert r.status_code == 201, r.text
    new = r.json()["thread"]["id"]
    assert (
        await moderator.post(
            f"/api/threads/{new}/move", json={"group": "comp.lang.misc", "reason": "fits there"}
        )
    ).status_code == 200
    assert (
        await moderator.post(f"/api/threads/{s['thread']['id']}/lock", json={"reason": "calm"})
    ).status_code == 200
    assert (
        await moderator.post(f"/api/threads/{s['thread']['id']}/reference", json={"on": True})
    ).status_code == 200
    r = await admin.post("/api/users/marta/role", json={"role": "admin", "reason": "trusted"})
    assert r.status_code == 200, r.text
    html = (await (await site.client()).get("/modlog")).text
    sentences = [
        re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r'<p class="what"[^>]*>(.*?)</p>', html, re.S)
    ]
    assert sentences == [
        "Made marta an admin (was moderator)",
        "Put “Hello” on the reference shelf in comp.lang.python",
        "Locked “Hello” in comp.lang.python",
        "Moved “Tangents” from comp.lang.python to comp.lang.misc",
        "Split “Tangents” off from “Hello” in comp.lang.python",
        "Created group comp.lang.misc",
        "Created group comp.lang.python",
    ], sentences
    # subjects in the JSON too
    entries = (await (await site.client()).get("/api/modlog")).json()["entries"]
    split = next(e for e in entries if e["action"] == "split")
    assert (split["thread_subject"], split["other_thread_subject"]) == ("Hello", "Tangents")


async def test_search_page_explains_counts_groups_by_thread_and_shows_errors_above_the_form(site):
    s = await seed(site)
    ada = s["ada"]
    moderator = await site.client("marta", "moderator")
    for body in ("Quokkas are small.", "More about quokkas."):
        r = await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": body})
        assert r.status_code == 201
    r = await ada.post(
        "/api/groups/comp.lang.python/threads", json={"subject": "Old quokka news", "body": "quokka"}
    )
    old = r.json()["thread"]["id"]
    assert (await moderator.post(f"/api/threads/{old}/archive", json={})).status_code == 200
    client = await site.client()

    empty = (await client.get("/search")).text
    assert "How to search" in empty and "author:ada" in empty and 'id="result-count"' not in empty

    html = (await client.get("/search", params={"q": "quokka*"})).text
    count = re.search(r'<p class="result-count" id="result-count">(.*?)</p>', html, re.S)[1]
    assert count == "3 articles match; they are in 2 threads."
    groups = re.findall(r'<h2 class="rthread"><a href="/t/(\d+)">(.*?)</a>(.*?)</h2>', html)
    assert {(int(t), subject, "archived" in badge) for t, subject, badge in groups} == {
        (s["thread"]["id"], "Hello", False),
        (old, "Old quokka news", True),
    }
    # the fields do what the filters in the box do
    only_archived = (await client.get("/search", params={"q": "quokka*", "state": "archived"})).text
    assert "1 article matches; it is in 1 thread." in only_archived

    bad = await client.get("/search", params={"q": "quokka after:2026-13"})
    assert bad.status_code == 400
    assert bad.text.index('id="search-error"') < bad.text.index('<form method="get" action="/search"')
    assert "That search cannot run:" in bad.text and 'value="quokka after:2026-13"' in bad.text
    bad = await client.get("/search", params={"q": "quokka", "before": "yesterday"})
    assert bad.status_code == 400 and 'id="search-error"' in bad.text


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


async def post_form(client, page_path: str, action: str, data: dict):
    """Fill and send the form on `page_path` the way a browser without scripts does."""
    token = csrf_of((await client.get(page_path)).text)
    return await client.post(action, data={"csrf": token, **data})


async def test_proposals_without_javascript_and_no_endorsing_ones_own(site):
    await seed(site)
    ada, bob = await site.client("ada"), await site.client("bob")
    r = await post_form(ada, "/proposals", "/proposals", {"name": "rec.bread", "description": "Baking"})
    assert r.status_code == 303 and r.headers["location"].startswith("/proposals#p")
    pid = int(r.headers["location"].rsplit("#p", 1)[1])
    own = (await ada.get("/proposals")).text
    assert (
        f'action="/proposals/{pid}/endorse"' not in own
        and "Your proposal: it counts as your endorsement." in own
    )
    other = (await bob.get("/proposals")).text
    assert (
        f'action="/proposals/{pid}/endorse"' in other
        and "hidden" not in other.split('id="propose-section"')[1][:20]
    )
    r = await post_form(bob, "/proposals", f"/proposals/{pid}/endorse", {})
    assert r.status_code == 303
    after = (await bob.get("/proposals")).text
    assert "2 of 3 endorsements" in after and "You endorsed this." in after and "endorsed by bob" in after
    # a bad name: the error above the form, which keeps what was typed
    r = await post_form(ada, "/proposals", "/proposals", {"name": "Not A Name!", "description": "kept"})
    assert r.status_code == 400 and 'id="form-error"' in r.text and 'value="kept"' in r.text
    assert r.text.index('id="form-error"') < r.text.index('id="propose"')
    # and no token, no change
    r = await bob.post("/proposals", data={"name": "rec.cakes"})
    assert r.status_code == 403
    # a refused moderator proposal keeps what was typed in its own form only
    r = await post_form(
        ada,
        "/proposals",
        "/proposals",
        {
            "kind": "remove_moderator",
            "name": "comp.lang.python",
            "username": "nobody-here",
            "description": "why",
        },
    )
    assert r.status_code == 404 and 'id="form-error"' in r.text
    moderator_form = r.text.split('id="propose-moderator-section"')[1]
    assert 'value="nobody-here"' in moderator_form and 'value="why"' in moderator_form
    assert '<option value="remove_moderator" selected>' in moderator_form
    assert (
        'value="comp.lang.python"'
        not in r.text.split('id="propose-section"')[1].split("propose-moderator")[0]
    )
    # the proposer withdraws it with the form on its entry; nobody else can
    assert f'action="/proposals/{pid}/withdraw"' in own and f'action="/proposals/{pid}/withdraw"' not in other
    before = site.snapshot()
    r = await post_form(bob, "/proposals", f"/proposals/{pid}/withdraw", {})
    assert r.status_code == 403 and "only its proposer" in r.text and site.snapshot() == before
    r = await post_form(ada, "/proposals", f"/proposals/{pid}/withdraw", {})
    assert r.status_code == 303 and r.headers["location"] == f"/proposals#p{pid}"
    page = (await ada.get("/proposals")).text
    assert 'class="badge">withdrawn<' in page and f'action="/proposals/{pid}/withdraw"' not in page
    assert "rec.cakes" not in (await bob.get("/proposals")).text


async def test_withdraw_and_moderate_without_javascript(site):
    s = await seed(site)
    ada, thread = s["ada"], s["thread"]["id"]
    moderator = await site.client("marta", "moderator")
    # withdraw: a link to a confirmation page whose form posts
    page = (await ada.get(f"/t/{thread}")).text
    assert f'href="/a/{s["reply"]["id"]}/withdraw"' in page
    r = await post_form(ada, f"/a/{s['reply']['id']}/withdraw", f"/a/{s['reply']['id']}/withdraw", {})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{thread}#a{s['reply']['id']}"
    got = (await ada.get(f"/api/articles/{s['reply']['id']}")).json()["article"]
    assert got["status"] == "cancelled"
    bob = await site.client("bob")
    r = await bob.get(f"/a/{s['root']['id']}/withdraw")  # not bob's: no form to confirm, but why
    assert (
        r.status_code == 403 and "only the author or a moderator" in r.text and 'name="reason"' not in r.text
    )
    r = await post_form(bob, f"/t/{thread}", f"/a/{s['root']['id']}/withdraw", {})
    assert r.status_code == 403 and 'id="form-error"' in r.text  # said above the form

    r = await ada.post(
        f"/api/articles/{s['root']['id']}/replies",
        json={"body": "a tangent", "subject": "Tangent (was: Hello)"},
    )
    tangent = r.json()["article"]
    page = (await moderator.get(f"/t/{thread}")).text
    for action in ("lock", "archive", "move", "merge", "reference"):
        assert f'href="/t/{thread}/moderate/{action}"' in page
    split_link = f"/t/{thread}/moderate/split?article={tangent['id']}"
    assert f'href="{split_link}"' in page
    form = (await moderator.get(split_link)).text
    assert 'value="Tangent"' in form and "a tangent" in form
    # no reason: refused above the form, typed values kept
    r = await post_form(moderator, split_link, split_link, {"subject": "Tangents", "reason": ""})
    assert r.status_code == 400 and 'value="Tangents"' in r.text and 'id="form-error"' in r.text
    r = await post_form(moderator, split_link, split_link, {"subject": "Tangents", "reason": "own topic"})
    assert r.status_code == 303
    new = int(r.headers["location"].rsplit("/", 1)[1])
    assert (await moderator.get(f"/api/threads/{new}")).json()["thread"]["subject"] == "Tangents"
    merge = f"/t/{new}/moderate/merge"
    r = await post_form(moderator, merge, merge, {"target": s["root"]["message_id"], "reason": "back again"})
    assert r.status_code == 303 and r.headers["location"] == f"/t/{thread}#a{s['root']['id']}"
    entry = (await moderator.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "merge"
    undo = f"/modlog/{entry['id']}/undo"
    assert f'href="{undo}"' in (await moderator.get("/modlog")).text
    r = await post_form(moderator, undo, undo, {"reason": "too soon"})
    assert r.status_code == 303
    assert (await moderator.get(f"/api/threads/{new}")).json()["thread"].get("merged_into") is None
    # an entry undone already, or one no undo reverses, offers no undo form: it says why
    r = await moderator.get(undo)
    assert r.status_code == 409 and "already undone" in r.text and 'name="reason"' not in r.text
    lock = f"/t/{thread}/moderate/lock"
    r = await post_form(moderator, lock, lock, {})
    assert r.status_code == 303
    assert (await moderator.get(f"/api/threads/{thread}")).json()["thread"]["state"] == "locked"
    locked = (await moderator.get("/api/modlog")).json()["entries"][0]
    r = await moderator.get(f"/modlog/{locked['id']}/undo")
    assert (
        r.status_code == 409 and "a lock cannot be undone from the log; unlock the thread instead" in r.text
    )
    created = (await moderator.get("/api/modlog", params={"group": "comp.lang.python"})).json()["entries"][-1]
    assert created["action"] == "group.create"
    r = await post_form(moderator, undo, f"/modlog/{created['id']}/undo", {"reason": "why not"})
    assert r.status_code == 409 and "a group.create cannot be undone from the log." in r.text
    # members may not; unknown actions are not found
    r = await ada.get(lock)
    assert r.status_code == 403
    assert (await moderator.get(f"/t/{thread}/moderate/explode")).status_code == 404
