"""What thread and group pages say in words: where an emptied thread's
articles went, the dates of a thread a split made, and no jargon or noise for
readers who have no use for it."""

import re

from tests.conftest import seed
from tests.maint_support import build_tree


def provenance(html: str, id: str) -> str:
    found = re.search(rf'<p class="provenance[^"]*" id="{id}">(.*?)</p>', html, re.S)
    assert found, f"no #{id} on the page"
    return found.group(1)


def readnav(html: str) -> list[str]:
    """What the page offers a reader to follow, mute or go on with."""
    return [w for w in ("Next unread", "Mark thread read", "/follow", "/mute") if w in html]


async def test_emptied_threads_name_the_thread_their_articles_went_to(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    tid, oid = t["thread"]["id"], t["other"]["id"]
    r = await mod.post(f"/api/threads/{tid}/split", json={"article_id": t["a2"]["id"], "reason": "new topic"})
    split_off = r.json()["thread"]["id"]
    split = (await mod.get("/api/modlog")).json()["entries"][0]
    r = await mod.post(f"/api/threads/{oid}/merge", json={"into_article_id": t["a4"]["id"], "reason": "same"})
    assert r.status_code == 200, r.text
    r = await mod.post(f"/api/modlog/{split['id']}/undo", json={"reason": "mistake"})
    assert r.status_code == 200, r.text

    for who in (t["bob"], mod, await site.client()):
        merged = (await who.get(f"/t/{oid}")).text
        said = provenance(merged, "emptied")
        assert said.startswith("This thread was merged on <time datetime=")
        assert f'into <a href="/t/{tid}">Hello</a>' in said and "another thread" not in merged
        undone = (await who.get(f"/t/{split_off}")).text
        said = provenance(undone, "emptied")
        assert said.startswith("The split that made this thread was undone on <time")
        assert f'its articles went back to <a href="/t/{tid}">Hello</a>' in said and "merged" not in said
        for page in (merged, undone):
            assert readnav(page) == [] and "Moderate this thread" not in page
    # A live thread keeps them.
    live = (await t["bob"].get(f"/t/{tid}")).text
    assert readnav(live) == ["Next unread", "Mark thread read", "/follow", "/mute"]


async def test_a_split_off_thread_starts_with_its_root_and_says_when_and_from_where(site):
    t = await build_tree(site)
    mod = await site.client("marta", "moderator")
    tid = t["thread"]["id"]
    r = await mod.post(f"/api/threads/{tid}/split", json={"article_id": t["a2"]["id"], "reason": "new topic"})
    new = r.json()["thread"]
    page = (await (await site.client()).get(f"/t/{new['id']}")).text
    started = re.search(r'started <time datetime="([^"]+)"', page)
    last = re.search(r'last <time datetime="([^"]+)"', page)
    assert started and last
    assert started.group(1) == t["a2"]["created_at"] <= last.group(1) == t["a3"]["created_at"]
    said = provenance(page, "split-from")
    assert said.startswith(f'Split off on <time datetime="{new["created_at"]}"')
    assert f'from <a href="/t/{tid}#a{t["a2"]["id"]}">Hello</a>.' in said
    assert f'title="{new["created_at"][:10]} {new["created_at"][11:16]} UTC"' in said


async def test_group_page_keeps_home_node_for_moderators_and_says_nothing_of_mail_when_off(site):
    await seed(site)
    for who in (await site.client(), await site.client("ada")):
        page = (await who.get("/g/comp.lang.python")).text
        assert "home node" not in page and 'id="home-node"' not in page
        assert "Mail is off" not in page and 'class="mail"' not in page
    page = (await (await site.client("marta", "moderator")).get("/g/comp.lang.python")).text
    assert re.search(r'id="home-node"[^>]*>home node \S+ \(this one\)</span>', page)


async def test_articles_show_no_group_numbers_and_their_times_say_utc_on_hover(site):
    t = await build_tree(site)
    page = (await (await site.client()).get(f"/t/{t['thread']['id']}")).text
    assert 'class="num"' not in page and f"#{t['a3']['number']}<" not in page
    for a in (t["root"], t["a1"], t["a2"], t["a3"], t["a4"]):
        stamp = a["created_at"]
        assert f'id="a{a["id"]}"' in page and f'href="#a{a["id"]}"' in page  # the permanent anchors
        assert f'<time datetime="{stamp}" title="{stamp[:10]} {stamp[11:16]} UTC">' in page
    assert "times.js" in page and '<span id="zone">Times are UTC.</span>' in page


async def test_an_empty_site_tells_its_admin_the_command_that_makes_a_group(site):
    html = (await (await site.client("root", "admin")).get("/")).text
    assert "There are no groups yet." in html and "<code>moot group create NAME" in html
    assert "moot group create" not in (await (await site.client("ada")).get("/")).text
