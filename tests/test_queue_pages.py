"""The moderation queue's pages without JavaScript: a group's queue for its
moderators with a form per item and one for the checked items, errors on
the page, 403 for members; the Report page; a member's held submission and
their waiting articles; a hidden article's notice on the thread page, whose
text only its author sees."""

from __future__ import annotations

import re

from tests.conftest import seed
from tests.test_queue import MODERATED, moderated_site
from tests.test_web import csrf_of


async def held_threads(ada, *subjects: str) -> list[int]:
    ids = []
    for subject in subjects:
        r = await ada.post(
            f"/api/groups/{MODERATED}/threads", json={"subject": subject, "body": f"About {subject}."}
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["held"]["id"])
    return ids


async def subjects_in(client, group: str) -> list[str]:
    return [t["subject"] for t in (await client.get(f"/api/groups/{group}/threads")).json()["threads"]]


async def test_moderators_approve_and_reject_one_item_by_form_and_others_are_refused(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    keep, drop = await held_threads(ada, "Release 1.0", "Cheap watches")
    url = f"/g/{MODERATED}/queue"
    assert (await ada.get(url)).status_code == 403
    r = await (await site.client(None)).get(url)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    page = (await mona.get(url)).text
    assert "Release 1.0" in page and "About Release 1.0." in page and "moderated group" in page
    assert 'href="/u/ada"' in page and "by web" not in page and "by api" in page and "waiting" in page
    assert "Approve selected" in page and ">Reject<" in page
    token = csrf_of(page)
    before = site.snapshot()
    assert (
        await ada.post(
            f"{url}/{keep}/approve", data={"csrf": csrf_of((await ada.get(f"/g/{MODERATED}")).text)}
        )
    ).status_code == 403
    assert (await mona.post(f"{url}/{keep}/approve", data={"csrf": "nope"})).status_code == 403
    r = await mona.post(f"{url}/{keep}/publish", data={"csrf": token})
    assert r.status_code == 400 and "approved or rejected" in r.text
    assert site.snapshot() == before  # refused forms change nothing

    r = await mona.post(f"{url}/{keep}/approve", data={"csrf": token, "reason": "on topic"})
    assert r.status_code == 303 and r.headers["location"] == url
    r = await mona.post(f"{url}/{drop}/reject", data={"csrf": token, "reason": "advertising"})
    assert r.status_code == 303
    assert await subjects_in(ada, MODERATED) == ["Release 1.0"]
    r = await mona.post(f"{url}/{drop}/approve", data={"csrf": token})
    assert r.status_code == 409 and "rejected already by mona" in r.text and 'role="alert"' in r.text
    assert "Nothing is waiting." in (await mona.get(url)).text
    decided = (await mona.get(f"{url}?state=rejected")).text
    assert "Cheap watches" in decided and "rejected by mona" in decided
    assert "Release 1.0" in (await mona.get(f"{url}?state=approved")).text
    r = await mona.get(f"{url}?state=sideways")
    assert r.status_code == 400


async def test_checked_items_are_approved_at_once_and_a_stale_one_is_named(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    first, second, third = await held_threads(ada, "One", "Two", "Three")
    url = f"/g/{MODERATED}/queue"
    page = (await mona.get(url)).text
    assert len(re.findall(r'<input type="checkbox" name="ids" value="\d+" form="bulk"', page)) == 3
    token = csrf_of(page)
    r = await mona.post(f"{url}/approve", data={"csrf": token, "ids": [str(first), str(second)]})
    assert r.status_code == 303, r.text
    assert sorted(await subjects_in(ada, MODERATED)) == ["One", "Two"]
    r = await mona.post(f"{url}/reject", data={"csrf": token, "ids": [str(second), str(third)]})
    assert r.status_code == 409 and f"item {second}: " in r.text  # the other's decision stands
    assert "Nothing is waiting." in r.text
    assert sorted(await subjects_in(ada, MODERATED)) == ["One", "Two"]
    before = site.snapshot()
    for bad in ({}, {"ids": "many"}):
        r = await mona.post(f"{url}/approve", data={"csrf": token, **bad})
        assert r.status_code == 400 and 'role="alert"' in r.text
    r = await mona.post(f"{url}/approve", data={"csrf": token})  # said in the form's words
    assert "Tick the items to approve or reject first." in r.text
    assert site.snapshot() == before


async def test_the_group_page_tells_a_member_their_article_waits_and_moderators_see_the_count(make_site):
    site, seeded = await moderated_site(make_site)
    ada, mona = seeded["ada"], await site.client("mona", "moderator")
    group = (await ada.get(f"/g/{MODERATED}")).text
    r = await ada.post(
        f"/g/{MODERATED}/new", data={"csrf": csrf_of(group), "subject": "By form", "body": "Held text."}
    )
    assert r.status_code == 303 and re.fullmatch(
        rf"/g/{re.escape(MODERATED)}\?held=\d+", r.headers["location"]
    )
    page = (await ada.get(r.headers["location"])).text
    assert "Your article waits for the moderators of" in page and 'href="/queue/mine"' in page
    assert "waits for the moderators" not in (await ada.get(f"/g/{MODERATED}")).text
    assert "/queue" not in (await ada.get(f"/g/{MODERATED}")).text.replace("/queue/mine", "")
    mine = (await ada.get("/queue/mine")).text
    assert "By form" in mine and "Held text." in mine
    assert "1 waiting" in (await mona.get(f"/g/{MODERATED}")).text
    # A reply by form in a moderated group waits too.
    started = (
        await mona.post(f"/api/groups/{MODERATED}/threads", json={"subject": "Rules", "body": "Be kind."})
    ).json()
    reply = f"/a/{started['article']['id']}/reply"
    r = await ada.post(reply, data={"csrf": csrf_of((await ada.get(reply)).text), "body": "Agreed."})
    assert r.status_code == 303 and "?held=" in r.headers["location"]
    assert "2 waiting" in (await mona.get(f"/g/{MODERATED}")).text
    assert "2 waiting" in (await mona.get(f"/t/{started['thread']['id']}")).text


async def test_a_member_reports_by_form_and_the_hidden_article_shows_its_text_to_its_author_only(make_site):
    site = await make_site()
    seeded = await seed(site)
    ada, reply = seeded["ada"], seeded["reply"]
    readers = [await site.client(name) for name in ("bea", "cyd", "dot")]
    mona = await site.client("mona", "moderator")
    thread_url = f"/t/{seeded['thread']['id']}"
    assert f'href="/a/{reply["id"]}/report"' in (await readers[0].get(thread_url)).text
    assert "/report" not in (await (await site.client(None)).get(thread_url)).text
    url = f"/a/{reply['id']}/report"
    form = (await readers[0].get(url)).text
    assert 'type="radio" name="reason" id="reason-spam"' in form and "A reply" in form
    token = csrf_of(form)
    await site.site.reads.flush()  # the thread page's read marks, written before the snapshot
    before = site.snapshot()
    r = await readers[0].post(url, data={"csrf": token, "reason": "boring"})
    assert r.status_code == 400 and 'role="alert"' in r.text and "Report an article" in r.text
    assert site.snapshot() == before
    for reader in readers:
        token = csrf_of((await reader.get(url)).text)
        r = await reader.post(url, data={"csrf": token, "reason": "spam", "note": "a link farm"})
        assert r.status_code == 303 and r.headers["location"] == f"{thread_url}?reported=1#a{reply['id']}"
    assert "your report was sent" in (await readers[0].get(f"{thread_url}?reported=1")).text

    notice = "This article is hidden while the moderators review reports about it."
    for viewer in (readers[1], mona):
        page = (await viewer.get(thread_url)).text
        assert notice in page and 'class="hidden-notice"' in page
        assert "A reply" not in page and "hidden pending review" not in page
    own = (await ada.get(thread_url)).text
    assert notice in own and "hidden pending review" in own and "A reply" in own
    assert "hidden pending review" in (await ada.get("/queue/mine")).text
    queue = (await mona.get("/g/comp.lang.python/queue")).text
    assert "Keep (dismiss reports)" in queue and ">Remove<" in queue and "spam 3" in queue
    assert "a link farm" in queue and "hidden pending review" in queue
    item = re.search(r'id="q(\d+)"', queue).group(1)
    r = await mona.post(f"/g/comp.lang.python/queue/{item}/approve", data={"csrf": csrf_of(queue)})
    assert r.status_code == 303
    assert "A reply" in (await readers[1].get(thread_url)).text
