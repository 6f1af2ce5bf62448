"""Reading comforts on the pages: @mentions linked to profiles, "Mark unread"
on every article, feeds and downloads where readers look for them, withdrawing
through its confirmation page, forms that keep what was typed, and profiles
in date order."""

import re
from pathlib import Path

from moot.web.rendering import body_html
from tests.conftest import PASSWORD, seed
from tests.test_web import csrf_of, form, form_client

STATIC = Path(__file__).resolve().parent.parent / "static"


def test_mentions_link_only_the_accounts_given_and_stay_escaped():
    html = str(
        body_html("Ask @Chidi., @nobody or a@chidi.org; https://x.example/@chidi <b>@chidi</b>", {"chidi"})
    )
    assert html.count('<a class="mention" href="/u/chidi">') == 2
    assert '<a class="mention" href="/u/chidi">@Chidi</a>.,' in html
    assert "@nobody" in html and "/u/nobody" not in html
    assert "a@chidi.org" in html  # an address, not a mention
    assert '<a href="https://x.example/@chidi" rel="nofollow ugc noopener">' in html
    assert '&lt;b&gt;<a class="mention" href="/u/chidi">@chidi</a>&lt;/b&gt;' in html
    assert "mention" not in str(body_html("Ask @chidi"))


async def test_thread_pages_link_mentions_of_real_accounts(site):
    s = await seed(site)
    await site.client("chidi")
    r = await s["ada"].post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "Thanks @chidi and @ghost <i>x</i>"}
    )
    article = r.json()["article"]
    anon = await site.client()
    for path in (f"/t/{s['thread']['id']}", f"/t/{s['thread']['id']}/fragment/a/{article['id']}"):
        html = (await anon.get(path)).text
        assert '<a class="mention" href="/u/chidi">@chidi</a>' in html, path
        assert "/u/ghost" not in html and "&lt;i&gt;x&lt;/i&gt;" in html


async def test_mark_unread_on_each_article_without_javascript(site):
    s = await seed(site)
    tid, reply = s["thread"]["id"], s["reply"]["id"]
    bob = await site.client("bob")
    html = (await bob.get(f"/t/{tid}")).text  # shown, so read
    await site.site.reads.flush()
    forms = re.findall(r'<form method="post" action="/a/(\d+)/unread".*?</form>', html)
    assert forms == [str(s["root"]["id"]), str(reply)]
    assert 'data-action="mark-unread"' in html
    before = site.snapshot()
    r = await bob.post(f"/a/{reply}/unread", data={"csrf": "forged"})
    assert r.status_code == 403 and site.snapshot() == before
    r = await bob.post(f"/a/{reply}/unread", data={"csrf": csrf_of(html)})
    # back to the group: the thread page would mark what it shows read again
    assert r.status_code == 303 and r.headers["location"] == "/g/comp.lang.python"
    assert [a["unread"] for a in (await bob.get(f"/api/threads/{tid}")).json()["articles"]] == [False, True]
    assert "/unread" not in (await (await site.client()).get(f"/t/{tid}")).text
    keys = (STATIC / "keys.js").read_text()
    assert '["u", ' in keys and "[data-action=mark-unread]" in keys


async def test_feeds_downloads_and_immutable_static_files(site):
    s = await seed(site)
    tid = s["thread"]["id"]
    anon = await site.client()
    html = (await anon.get(f"/t/{tid}")).text
    feed = f"/api/threads/{tid}/feed.atom"
    assert (
        f'<link rel="alternate" type="application/atom+xml" title="New articles in Hello" href="{feed}">'
        in html
    )
    assert f'<a href="{feed}"' in html
    assert (await anon.get(feed)).headers["content-type"].startswith("application/atom+xml")
    group = (await anon.get("/g/comp.lang.python")).text
    assert 'type="application/atom+xml"' in group
    script = re.search(r'<script type="module" src="(/static/v/[^"]+)"', html).group(1)
    r = await anon.get(script)
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"

    mod = await site.client("mod", "moderator")
    assert (await mod.post(f"/api/threads/{tid}/archive", json={"reason": "done"})).status_code == 200
    year, month = int(s["thread"]["created_at"][:4]), int(s["thread"]["created_at"][5:7])
    html = (await anon.get(f"/g/comp.lang.python/archive/{year:04d}/{month:02d}")).text
    nxt = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
    link = f"/api/groups/comp.lang.python/mbox?after={year:04d}-{month:02d}&amp;before={nxt}"
    assert f'href="{link}"' in html
    r = await anon.get(link.replace("&amp;", "&"))
    assert r.status_code == 200 and "First post" in r.text and "A reply" in r.text
    assert "mbox?" not in (await anon.get("/g/comp.lang.python/archive")).text
    # the last month an archive page names links to a download that answers
    html = (await anon.get("/g/comp.lang.python/archive/9998/12")).text
    link = re.search(r'href="(/api/groups/comp.lang.python/mbox[^"]*)"', html).group(1)
    assert link == "/api/groups/comp.lang.python/mbox?after=9998-12&amp;before=9999-01"
    assert (await anon.get(link.replace("&amp;", "&"))).status_code == 200


async def test_withdraw_asks_on_its_own_page(site):
    s = await seed(site)
    html = (await s["ada"].get(f"/t/{s['thread']['id']}")).text
    assert f'href="/a/{s["reply"]["id"]}/withdraw" data-action="cancel"' in html
    assert not any("confirm(" in path.read_text() for path in STATIC.glob("*.js"))
    page = (await s["ada"].get(f"/a/{s['reply']['id']}/withdraw")).text
    assert "Withdraw this article?" in page and f'action="/a/{s["reply"]["id"]}/withdraw"' in page


async def test_password_mismatch_keeps_the_other_fields(site):
    client, token = await form_client(site)
    fields = {
        "username": "zed",
        "display_name": "Zed Z",
        "password": "long enough",
        "password2": "other one!",
    }
    r = await client.post("/register", **form(**fields, csrf=token))
    assert r.status_code == 400 and "differ" in r.text
    assert 'value="zed"' in r.text and 'value="Zed Z"' in r.text
    assert "long enough" not in r.text and "other one!" not in r.text

    ada = await site.client("ada")
    token = csrf_of((await ada.get("/account")).text)
    before = site.snapshot()
    typed = {"current_password": PASSWORD, "new_password": "brand new one", "new_password2": "brand new two"}
    r = await ada.post("/account/password", **form(**typed, csrf=token))
    assert r.status_code == 400 and "the new passwords differ" in r.text
    assert re.search(rf'id="current_password"[^>]*value="{re.escape(PASSWORD)}"', r.text)
    assert "brand new" not in r.text and r.headers["cache-control"] == "no-store"
    assert not re.search(r'id="delete_password"[^>]*value="[^"]', r.text)  # kept for the change only
    assert site.snapshot() == before
    assert (await ada.get("/account")).headers["cache-control"] == "private, no-cache"

    # A refused .newsrc paste and a refused display name come back as typed.
    pasted = "comp.lang.python: 1-3\nthis line is no .newsrc line\n"
    r = await ada.post("/account/newsrc", **form(newsrc=pasted, csrf=token))
    assert r.status_code == 400 and "line 2" in r.text
    assert re.search(
        r'<textarea id="newsrc"[^>]*>comp.lang.python: 1-3\nthis line is no .newsrc line', r.text
    )
    r = await ada.post("/account/name", **form(display_name="Ada\x01", csrf=token))
    assert r.status_code == 400 and re.search(r'id="display_name"[^>]*value="Ada\x01"', r.text)
    assert site.snapshot() == before


async def test_profile_lists_articles_newest_first_by_date(site):
    s = await seed(site)
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Latest by id"})
    late = r.json()["article"]["id"]
    async with site.db.transaction() as conn:  # as an imported article written long ago arrives last
        await conn.execute(
            "UPDATE articles SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (late,)
        )
    anon = await site.client()
    first = (await anon.get("/api/users/ada", params={"limit": 2})).json()
    assert [a["body"] for a in first["articles"]] == ["A reply", "First post"]
    rest = (await anon.get("/api/users/ada", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [a["body"] for a in rest["articles"]] == ["Latest by id"] and rest["next_cursor"] is None
    html = (await anon.get("/u/ada")).text
    assert html.index("A reply") < html.index("First post") < html.index("Latest by id")
    assert (await anon.get("/api/users/ada", params={"cursor": "12"})).status_code == 400


async def test_a_form_sent_after_the_session_ended_keeps_what_was_typed(site):
    s = await seed(site)
    ada, token = await form_client(site, "ada")
    await ada.post("/logout", **form(csrf=token))  # signed out in another tab, or the session ran out
    before = site.snapshot()
    sent = {
        f"/a/{s['root']['id']}/reply": {"body": "Ten minutes of careful writing."},
        "/g/comp.lang.python/new": {"subject": "A new topic", "body": "Ten minutes of careful writing."},
        f"/a/{s['reply']['id']}/edit": {"body": "Ten minutes of careful writing."},
    }
    for path, fields in sent.items():
        r = await ada.post(path, **form(**fields, csrf=token))
        assert r.status_code == 401 and "you are signed out" in r.text, path
        assert ">Ten minutes of careful writing.</textarea>" in r.text, path  # the form again, as typed
    assert site.snapshot() == before
    # signed in again (in another tab), the kept form sends as it is
    r = await ada.post("/login", **form(username="ada", password=PASSWORD, csrf=token))
    assert r.status_code == 303
    r = await ada.post(
        f"/a/{s['root']['id']}/reply", **form(body="Ten minutes of careful writing.", csrf=token)
    )
    assert r.status_code == 303
