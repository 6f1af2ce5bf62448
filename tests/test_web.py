"""The HTML pages and forms through the real app on a real database file."""

import re
from html import unescape
from urllib.parse import quote

from moot.web import reading as pages
from moot.web.rendering import message_url
from tests.conftest import PASSWORD, seed

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def form_client(site, username=None, role="member"):
    """A client that has loaded a page (so it holds the CSRF cookie) and its token."""
    client = await site.client(username, role)
    r = await client.get("/login")
    return client, csrf_of(r.text)


def form(**fields) -> dict:
    return {
        "content": "&".join(f"{k}={quote(str(v), safe='')}" for k, v in fields.items()),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def article_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="node[^"]*" id="a(\d+)"', html)]


# The layout of the reply tree (pure)


def test_layout_nests_in_tree_order():
    def a(i, parent, depth):
        return {"id": i, "parent_id": parent, "depth": depth}

    items, left = pages.layout([a(1, None, 0), a(2, 1, 1), a(3, 2, 2), a(4, 1, 1), a(5, 4, 2)])
    assert [(i["close_before"], i["opens"], i["replies"]) for i in items] == [
        (0, True, 4),
        (0, True, 1),
        (0, False, 0),
        (1, True, 1),
        (0, False, 0),
    ]
    assert left == 2 and items[1]["parent"]["id"] == 1


def test_layout_of_a_later_page_starts_at_the_top():
    def a(i, parent, depth):
        return {"id": i, "parent_id": parent, "depth": depth}

    items, left = pages.layout([a(7, 6, 3), a(8, 7, 4), a(9, 2, 2)])
    assert [(i["close_before"], i["opens"], i["parent"] and i["parent"]["id"]) for i in items] == [
        (0, True, None),
        (0, False, 7),
        (1, False, None),
    ]
    assert left == 0


def test_deep_thread_needs_no_recursion():
    chain = [{"id": i, "parent_id": i - 1 if i > 1 else None, "depth": i - 1} for i in range(1, 3001)]
    items, left = pages.layout(chain)
    assert left == 2999 and items[0]["replies"] == 2999


# Reading pages


async def test_pages_render_with_titles_canonical_and_csp(site):
    s = await seed(site)
    anon = await site.client()
    for path, title in [
        ("/", "Moot: discussion groups"),
        ("/g/comp.lang.python", "comp.lang.python"),
        (f"/t/{s['thread']['id']}", "Hello · comp.lang.python"),
        ("/g/comp.lang.python/archive", "Archive of comp.lang.python"),
        ("/search?q=reply", "search"),
        ("/modlog", "Moderation log"),
        ("/proposals", "Group proposals"),
        ("/login", "Sign in"),
        ("/register", "Create an account"),
    ]:
        r = await anon.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"].startswith("text/html")
        assert title in re.search(r"<title>(.*?)</title>", r.text).group(1), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in r.text and " on" not in re.sub(r"<[^>]*>", "", "")  # no inline script
        assert re.search(r'<script type="module" src="/static/v/[0-9a-f]+/keys.js"></script>', r.text)
    r = await anon.get(f"/t/{s['thread']['id']}")
    assert f'<link rel="canonical" href="http://testserver/t/{s["thread"]["id"]}">' in r.text


async def test_static_files_are_served(site):
    anon = await site.client()
    for name in ("moot.css", "moot.js", "thread.js", "live.js", "keys.js", "moderate.js", "api.js"):
        r = await anon.get(f"/static/{name}")
        assert r.status_code == 200, name


async def test_thread_page_is_a_reply_tree(site):
    s = await seed(site)
    bob = await site.client("bob")
    r = await bob.post(
        f"/api/articles/{s['reply']['id']}/replies",
        json={"body": "Ada wrote:\n> A reply\n>> older\n\nmine https://example.org/x."},
    )
    deep = r.json()["article"]
    r = await bob.post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "second branch", "subject": "A new topic"}
    )
    branch = r.json()["article"]
    html = (await (await site.client()).get(f"/t/{s['thread']['id']}")).text
    assert article_ids(html) == [s["root"]["id"], s["reply"]["id"], deep["id"], branch["id"]]
    # who replied to whom, quote levels, links, collapsible sub-trees
    assert f'<a href="#a{s["reply"]["id"]}">Ada</a>' in html
    assert '<pre class="q q1"' in html and '<pre class="q q2"' in html
    assert '<a href="https://example.org/x" rel="nofollow ugc noopener">' in html
    assert html.count('<details class="kids') == 2 and '<summary data-direct="2" data-branch="3">' in html
    assert "A new topic" in html  # the changed subject is shown
    # balanced nesting: every <li> closes
    assert html.count('<li class="node') == html.count("</li>") - html.count('<li class="thread-row')
    flat = (await (await site.client()).get(f"/t/{s['thread']['id']}?view=flat")).text
    assert article_ids(flat) == [s["root"]["id"], s["reply"]["id"], deep["id"], branch["id"]]
    assert 'aria-current="page">By date</a>' in flat and '<details class="kids' not in flat


async def test_big_thread_pages_with_the_tree_cursor(site):
    s = await seed(site)
    ada = s["ada"]
    for i in range(pages.THREAD_PAGE):
        r = await ada.post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"n{i}"})
        assert r.status_code == 201
    anon = await site.client()
    first = (await anon.get(f"/t/{s['thread']['id']}")).text
    assert len(article_ids(first)) == pages.THREAD_PAGE
    more = re.search(r'<a rel="next" href="([^"]+)">More of this thread', first).group(1)
    second = (await anon.get(unescape(more))).text
    rest = article_ids(second)
    assert len(rest) == 2 and not set(rest) & set(article_ids(first))
    assert "Start of the thread" in second
    # a permalink, and the page a reply form leads back to, show the page that holds the article
    last = r.json()["article"]
    r = await anon.get(f"/m/{last['message_id']}")
    assert r.status_code == 302 and r.headers["location"] == f"{unescape(more)}#a{last['id']}"
    r = await anon.get(f"/m/{s['reply']['message_id']}")
    assert r.headers["location"] == f"/t/{s['thread']['id']}#a{s['reply']['id']}"  # the first page
    token = csrf_of((await ada.get(f"/a/{last['id']}/reply")).text)
    r = await ada.post(f"/a/{last['id']}/reply", data={"csrf": token, "body": "One more, by form"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"{unescape(more)}#a")
    # pages that list articles (a profile, search, the inbox) link each by its permalink, which finds its page
    permalink = message_url(last["message_id"])
    assert f'href="{permalink}"' in (await anon.get("/u/ada")).text
    assert (
        f'href="{permalink}"' in (await anon.get("/search", params={"q": f"n{pages.THREAD_PAGE - 1}"})).text
    )
    bob = await site.client("bob")
    await bob.post(f"/api/threads/{s['thread']['id']}/read", json={})
    await bob.post(f"/api/articles/{last['id']}/unread", json={})
    r = await bob.get("/unread/next")
    assert r.headers["location"] == f"{unescape(more)}#a{last['id']}"


async def test_permalink_redirects_wherever_the_article_lives(site):
    s = await seed(site)
    anon = await site.client()
    mid = s["reply"]["message_id"]
    for path in (f"/m/{quote(mid, safe='@')}", f"/m/{mid[1:-1]}"):
        r = await anon.get(path)
        assert r.status_code == 302
        assert r.headers["location"] == f"/t/{s['thread']['id']}#a{s['reply']['id']}"
    mod = await site.client("mod", "moderator")
    r = await mod.post(
        f"/api/threads/{s['thread']['id']}/split",
        json={"article_id": s["reply"]["id"], "reason": "own topic"},
    )
    new_thread = r.json()["thread"]["id"]
    r = await anon.get(f"/m/{quote(mid, safe='@')}")
    assert r.headers["location"] == f"/t/{new_thread}#a{s['reply']['id']}"
    old = (await anon.get(f"/t/{s['thread']['id']}")).text
    assert "status-notice" in old and f'href="/t/{new_thread}"' in old
    r = await anon.get("/m/%3Cnone%40x%3E")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


async def test_fragment_is_the_article_as_the_page_renders_it(site):
    s = await seed(site)
    anon = await site.client()
    r = await anon.get(f"/t/{s['thread']['id']}/fragment/a/{s['reply']['id']}")
    assert r.status_code == 200 and r.text.strip().startswith(
        f'<li class="node status-ok" id="a{s["reply"]["id"]}"'
    )
    page_html = (await anon.get(f"/t/{s['thread']['id']}")).text
    article = re.search(r'<article class="art".*?</article>', r.text, re.S).group(0)
    assert article in page_html
    r = await anon.get(f"/t/{s['thread']['id'] + 50}/fragment/a/{s['reply']['id']}")
    assert r.status_code == 404


async def test_errors_on_pages_are_html_and_api_stays_json(site):
    anon = await site.client()
    r = await anon.get("/t/999")
    assert r.status_code == 404 and "<h1>Not found</h1>" in r.text
    assert "content-security-policy" in r.headers
    r = await anon.get("/no/such/page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = await anon.get("/api/threads/999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await anon.get("/t/1?view=weird")
    assert r.status_code == 400 and "text/html" in r.headers["content-type"]


async def test_group_page_charter_references_and_older_link(site):
    s = await seed(site)
    admin = s["admin"]
    await admin.post(
        "/api/groups",
        json={"name": "misc.test", "description": "Tests", "charter": "Be kind.\n> quoted rule"},
    )
    ada = s["ada"]
    ids = []
    for i in range(pages.GROUP_PAGE + 2):
        r = await ada.post("/api/groups/misc.test/threads", json={"subject": f"T{i}", "body": "x"})
        ids.append(r.json()["thread"]["id"])
    mod = await site.client("mod", "moderator")
    r = await mod.post(f"/api/threads/{ids[0]}/reference", json={"on": True})
    assert r.status_code == 200, r.text
    html = (await (await site.client()).get("/g/misc.test")).text
    assert "Be kind." in html and '<pre class="q q1"' in html
    refs = re.search(r'id="refs-h".*?</section>', html, re.S).group(0)
    assert f'href="/t/{ids[0]}"' in refs
    older = re.search(r'<a rel="next" href="([^"]+)">Older threads', html).group(1)
    html2 = (await (await site.client()).get(unescape(older))).text
    assert "Older threads" in html2 and f'href="/t/{ids[1]}"' in html2


async def test_archive_pages_by_month(site):
    s = await seed(site)
    mod = await site.client("mod", "moderator")
    r = await mod.post(f"/api/threads/{s['thread']['id']}/archive", json={"reason": "done"})
    assert r.status_code == 200, r.text
    anon = await site.client()
    html = (await anon.get("/g/comp.lang.python/archive")).text
    assert f'href="/t/{s["thread"]["id"]}"' in html
    ym = s["thread"]["created_at"][:7]
    month = f"/g/comp.lang.python/archive/{ym[:4]}/{ym[5:]}"
    assert f'href="{month}"' in html
    html = (await anon.get(month)).text
    assert f'href="/t/{s["thread"]["id"]}"' in html and f"{ym}" in html
    html = (await anon.get(f"/t/{s['thread']['id']}")).text
    assert "This thread is archived" in html and 'data-action="reply"' not in html
    assert f"/g/comp.lang.python/new?continued_from={s['thread']['id']}" in html


async def test_search_modlog_and_proposals_pages(site):
    s = await seed(site)
    mod = await site.client("mod", "moderator")
    await mod.post(f"/api/threads/{s['thread']['id']}/lock", json={"reason": "cooling <b>off</b>"})
    anon = await site.client()
    html = (await anon.get("/search?q=first")).text
    assert f'href="{message_url(s["root"]["message_id"])}"' in html and "<mark>" in html
    html = (await anon.get("/modlog")).text
    assert "lock" in html and "cooling &lt;b&gt;off&lt;/b&gt;" in html
    await s["ada"].post("/api/proposals", json={"name": "rec.knitting", "description": "Yarn"})
    html = (await anon.get("/proposals")).text
    assert "rec.knitting" in html and "1 of 3 endorsements" in html


async def test_moderator_sees_suggestions_and_split_preview(site):
    s = await seed(site)
    bob = await site.client("bob")
    r = await bob.post(
        f"/api/articles/{s['reply']['id']}/replies",
        json={"body": "drift", "subject": "Other topic (was: Hello)"},
    )
    drift = r.json()["article"]
    await bob.post(f"/api/articles/{drift['id']}/replies", json={"body": "more drift"})
    mod = await site.client("mod", "moderator")
    html = (await mod.get(f"/t/{s['thread']['id']}")).text
    assert "Split suggestions" in html and f'data-action="split" data-id="{drift["id"]}"' in html
    assert '<option value="comp.lang.python">' in (await mod.get("/fragment/mod-dialog")).text
    r = await mod.get(f"/t/{s['thread']['id']}/fragment/split-preview?article={s['reply']['id']}")
    assert "<strong>3 articles</strong>" in r.text and "comp.lang.python" in r.text
    r = await mod.get(
        f"/t/{s['thread']['id']}/fragment/split-preview?article={drift['id']}&subject=Mine&group=nope.none"
    )
    assert r.status_code == 404
    member = await s["ada"].get(f"/t/{s['thread']['id']}/fragment/split-preview?article=2")
    assert member.status_code == 403
    assert "Split suggestions" not in (await s["ada"].get(f"/t/{s['thread']['id']}")).text


# Forms: CSRF, sign in, register, post, reply


async def test_login_form_needs_the_csrf_token(site):
    await site.user("ada")
    client, token = await form_client(site)
    before = site.snapshot()
    for fields in (
        {"username": "ada", "password": PASSWORD},
        {"username": "ada", "password": PASSWORD, "csrf": "forged"},
        {"username": "ada", "password": PASSWORD, "csrf": token + "x"},
    ):
        r = await client.post("/login", **form(**fields))
        assert r.status_code == 403 and "CSRF" in r.text
        assert "moot_session" not in r.headers.get("set-cookie", "")
    other, other_token = await form_client(site)  # another browser's token does not fit
    r = await client.post("/login", **form(username="ada", password=PASSWORD, csrf=other_token))
    assert r.status_code == 403
    assert site.snapshot() == before
    r = await client.post("/login", **form(username="ada", password="wrong one!", csrf=token))
    assert r.status_code == 401 and "wrong username or password" in r.text
    r = await client.post(
        "/login", **form(username="ada", password=PASSWORD, csrf=token, next="//evil.example/")
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert (await client.get("/api/me")).json()["user"]["username"] == "ada"
    # usernames are lower case: one typed with a capital (as phones do) or a stray space signs in too
    other = await site.client()
    r = await other.post("/api/login", json={"username": " Ada ", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["username"] == "ada"


async def test_login_form_shares_the_api_throttle(make_site):
    site = await make_site(login_attempts=2)
    await site.user("ada")
    client, token = await form_client(site)
    await client.post("/api/login", json={"username": "ada", "password": "nope nope"})
    await client.post("/login", **form(username="ada", password="nope nope", csrf=token))
    r = await client.post("/login", **form(username="ada", password=PASSWORD, csrf=token))
    assert r.status_code == 429 and "retry-after" in r.headers
    assert r.headers["content-type"].startswith("text/html")


async def test_register_form(site):
    client, token = await form_client(site)
    r = await client.post(
        "/register", **form(username="zed", password="long enough", password2="other!!!", csrf=token)
    )
    assert r.status_code == 400 and "differ" in r.text and 'value="zed"' in r.text
    r = await client.post(
        "/register", **form(username="Z!", password="long enough", password2="long enough", csrf=token)
    )
    assert r.status_code == 400 and "username must be" in r.text
    r = await client.post(
        "/register",
        **form(
            username="zed",
            password="long enough",
            password2="long enough",
            display_name="Zed Z",
            csrf=token,
            next="/g/x",
        ),
    )
    # The page after signing up shows the recovery codes once and leads on to `next`.
    assert r.status_code == 201 and 'id="recovery-codes"' in r.text and 'href="/g/x"' in r.text
    assert r.headers["cache-control"] == "no-store"
    me = (await client.get("/api/me")).json()["user"]
    assert me["display_name"] == "Zed Z" and me["role"] == "admin"  # the first account
    page_html = (await client.get("/")).text
    assert "Zed Z" in page_html and 'action="/logout"' in page_html
    r = await client.post("/logout", **form(csrf=csrf_of(page_html)))
    assert r.status_code == 303 and (await client.get("/api/me")).status_code == 401


async def test_new_thread_and_reply_forms(site):
    s = await seed(site)
    anon = await site.client()
    r = await anon.get("/g/comp.lang.python/new")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/g/comp.lang.python/new")
    ada, token = await form_client(site, "ada")
    r = await ada.get("/g/comp.lang.python/new")
    assert '<label for="subject">Subject</label>' in r.text
    r = await ada.post("/g/comp.lang.python/new", **form(subject="", body="text", csrf=token))
    assert r.status_code == 400 and "subject is empty" in r.text and ">text</textarea>" in r.text
    r = await ada.post("/g/comp.lang.python/new", **form(subject="Via form", body="Hello\nworld", csrf=token))
    assert r.status_code == 303
    thread_id = int(r.headers["location"].rsplit("/", 1)[1])
    # the reply form quotes the article in the `On DATE, Name wrote:` form
    r = await ada.get(f"/a/{s['reply']['id']}/reply")
    assert re.search(r"On \d{4}-\d\d-\d\d \d\d:\d\d UTC, Ada wrote:\n&gt; A reply\n\n</textarea>", r.text)
    r = await ada.get(f"/a/{s['reply']['id']}/reply?fragment=1")
    assert r.text.lstrip().startswith('<form method="post" action="/a/') and "<html" not in r.text
    before = site.snapshot()
    r = await ada.post(f"/a/{s['reply']['id']}/reply", **form(body="no token"))
    assert r.status_code == 403 and site.snapshot() == before
    r = await ada.post(
        f"/a/{s['reply']['id']}/reply", **form(body="Ada wrote:\n> A reply\n\nYes.", csrf=token)
    )
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(f"/t/{s['thread']['id']}#a")
    html = (await ada.get(f"/t/{s['thread']['id']}")).text
    assert f'id="{location.split("#")[1]}"' in html and "Yes." in html
    assert thread_id != s["thread"]["id"]


async def test_reply_to_an_archived_thread_keeps_the_text(site):
    s = await seed(site)
    mod = await site.client("mod", "moderator")
    await mod.post(f"/api/threads/{s['thread']['id']}/archive", json={})
    ada, token = await form_client(site, "ada")
    r = await ada.post(f"/a/{s['root']['id']}/reply", **form(body="late words", csrf=token))
    assert r.status_code == 409 and "archived" in r.text and ">late words</textarea>" in r.text


# Markup from users is text everywhere


async def test_markup_from_users_renders_as_text(site):
    admin = await site.client("root", "admin")
    r = await admin.post("/api/groups", json={"name": "xss.test", "description": XSS, "charter": XSS})
    assert r.status_code == 201
    evil = await site.client()
    r = await evil.post(
        "/api/register",
        json={"username": "evil", "password": "long enough", "display_name": '"><svg onload=alert(1)>'},
    )
    r = await evil.post("/api/groups/xss.test/threads", json={"subject": XSS, "body": XSS})
    thread = r.json()["thread"]
    r = await evil.post(
        f"/api/articles/{thread['root_article_id']}/replies",
        json={"body": XSS + "\n> " + XSS, "subject": XSS},
    )
    reply = r.json()["article"]
    anon = await site.client()
    for path in (
        "/",
        "/g/xss.test",
        f"/t/{thread['id']}",
        f"/t/{thread['id']}?view=flat",
        f"/t/{thread['id']}/fragment/a/{reply['id']}",
        "/search?q=xss",
        "/search?q=script",
        "/modlog",
    ):
        html = (await anon.get(path)).text
        assert "<script>window" not in html and "<img src=x" not in html, path
        assert "<svg" not in html, path
    html = (await anon.get(f"/t/{thread['id']}")).text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html
