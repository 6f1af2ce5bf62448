"""A thread's outline: one line per article in tree order, paged, each line
linking to the article on its thread page; NEW marks and subject changes."""

import random
import re
from html import unescape

from moot.articles import tree
from moot.articles.subjects import reply_subject
from moot.web import reading as pages
from tests.conftest import seed
from tests.test_textbrowser import dumps


def lines(html: str) -> list[tuple[int, str]]:
    """(article id, link) of each outline line."""
    return [
        (int(i), unescape(href))
        for i, href in re.findall(r'<li class="oline[^"]*" data-id="(\d+)"[^>]*>.*?<a href="([^"]+)"', html)
    ]


def article_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="node[^"]*" id="a(\d+)"', html)]


async def grow(site, s: dict, count: int) -> list[int]:
    """`count` more articles under the seeded thread's root, in a random tree
    (each answers an earlier one), written straight into the tables: the
    thread's ids in tree order."""
    rng = random.Random(9)
    async with site.db.transaction() as conn:
        row = await (
            await conn.execute("SELECT group_id, number FROM articles WHERE id = ?", (s["reply"]["id"],))
        ).fetchone()
        group_id, number = row
        next_id = (await (await conn.execute("SELECT max(id) FROM articles")).fetchone())[0] + 1
        children: dict[int, list[int]] = {s["root"]["id"]: [s["reply"]["id"]]}
        depth = {s["root"]["id"]: 0, s["reply"]["id"]: 1}
        subjects = {s["root"]["id"]: "Hello", s["reply"]["id"]: "Re: Hello"}
        rows = []
        for i in range(count):
            article_id = next_id + i
            # mostly deep chains, so depth passes the indent cap
            parent = article_id - 1 if rng.random() < 0.7 else rng.choice(list(depth))
            children.setdefault(parent, []).append(article_id)
            depth[article_id] = depth[parent] + 1
            subject = f"Topic {i} (was: Hello)" if i % 97 == 5 else reply_subject(subjects[parent])
            subjects[article_id] = subject
            rows.append(
                (
                    article_id,
                    f"<g{article_id}@test>",
                    s["thread"]["id"],
                    group_id,
                    number + 1 + i,
                    parent,
                    subject,
                    f"body {article_id}",
                    "Bob",
                    f"2026-01-01T00:00:{i % 60:02d}.000Z",
                    depth[article_id],
                )
            )
        order = tree.preorder(children, s["root"]["id"])
        seq = {a: (n + 1) * tree.STEP for n, a in enumerate(order)}
        await conn.executemany(
            "INSERT INTO articles (id, message_id, thread_id, group_id, number, parent_id, subject, body,"
            " author_name, created_at, depth, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, -?1)",
            rows,
        )
        await conn.executemany("UPDATE articles SET seq = ? WHERE id = ?", [(k, a) for a, k in seq.items()])
        await conn.execute(
            "UPDATE threads SET article_count = ? WHERE id = ?", (len(order), s["thread"]["id"])
        )
        await conn.execute("UPDATE groups SET last_number = ? WHERE id = ?", (number + count, group_id))
    return order


async def test_outline_pages_list_the_thread_in_tree_order_linking_to_each_article(site):
    s = await seed(site)
    order = await grow(site, s, 1100)
    thread_id = s["thread"]["id"]
    anon = await site.client()
    r = await anon.get(f"/t/{thread_id}/outline")
    assert r.status_code == 200
    first = lines(r.text)
    assert [i for i, _ in first] == order[: pages.OUTLINE_PAGE]
    # each line links to its article's anchor on the thread page that shows it
    page_of = {}
    for start in range(0, pages.OUTLINE_PAGE, pages.THREAD_PAGE):
        cursor = f"?cursor=a{order[start - 1]}" if start else ""
        page_of.update({a: f"/t/{thread_id}{cursor}" for a in order[start : start + pages.THREAD_PAGE]})
    assert [href for _, href in first] == [f"{page_of[i]}#a{i}" for i, _ in first]
    for i, href in (first[0], first[199], first[200], first[999]):
        shown = article_ids((await anon.get(href.split("#")[0])).text)
        assert i in shown and len(shown) == pages.THREAD_PAGE
    # the indent stops at 12 levels; deeper lines say their depth
    assert 'class="oline d12' in r.text and re.search(r'<span class="odepth">\(\d+\)</span>', r.text)
    assert "body " not in r.text  # no article's text
    # page 2 continues where page 1 ended, and its first thread page is the one after
    more = re.search(r'<a rel="next" href="([^"]+)">More of this outline', r.text).group(1)
    r = await anon.get(unescape(more))
    second = lines(r.text)
    assert [i for i, _ in second] == order[pages.OUTLINE_PAGE :]
    assert second[0][1] == f"/t/{thread_id}?cursor=a{order[pages.OUTLINE_PAGE - 1]}#a{second[0][0]}"
    assert "Start of the outline" in r.text and "More of this outline" not in r.text
    # the JSON outline: the same lines and links, page by page, with the same cursor
    j = await anon.get(f"/api/threads/{thread_id}/outline")
    assert j.status_code == 200 and j.json()["thread"]["id"] == thread_id
    assert [(line["id"], line["href"]) for line in j.json()["lines"]] == first
    assert "unread" not in j.json()["lines"][0]  # anonymous: no read state
    j = await anon.get(f"/api/threads/{thread_id}/outline?cursor={j.json()['next_cursor']}")
    assert [(line["id"], line["href"]) for line in j.json()["lines"]] == second
    assert j.json()["next_cursor"] is None
    # subject changes are shown on their lines, ordinary replies show none
    grown = min(set(order) - {s["root"]["id"], s["reply"]["id"]})
    topics = {a - grown: a for a in order if a >= grown and (a - grown) % 97 == 5}  # i: id
    changed = [int(a) for a in re.findall(r'class="oline[^"]* changed" data-id="(\d+)"', r.text)]
    assert changed and changed == [a for a in order[pages.OUTLINE_PAGE :] if a in topics.values()]
    i = changed[0] - grown
    assert f'New subject: </span><span class="osubj">Topic {i} (was: Hello)</span>' in r.text

    # the thread page links its outline and offers the next page at the top too
    html = (await anon.get(f"/t/{thread_id}")).text
    assert f'<a href="/t/{thread_id}/outline" data-action="outline">Outline</a>' in html
    top = html.index('id="pager-top"')
    assert top < html.index('id="tree"') and "More of this thread" in html[top : html.index('id="tree"')]

    # an article whose topic differs from the thread's carries it in its heading, a "Re:" does not
    def heading(html: str, article_id: int) -> str:
        return re.search(rf'<h2 class="ah" id="h{article_id}">.*?</h2>', html, re.S).group(0)

    assert "hsubj" not in heading(html, s["reply"]["id"])
    topic = topics[5]
    html = (await anon.get(dict(first + second)[topic].split("#")[0])).text
    assert '<span class="hsubj"><span class="vh">on </span>Topic 5 (was: Hello)</span>' in heading(
        html, topic
    )


async def test_outline_marks_new_articles_without_reading_them(site):
    s = await seed(site)
    bob = await site.client("bob")
    thread_id = s["thread"]["id"]
    await bob.get(f"/t/{thread_id}")  # bob reads the thread
    await site.site.reads.flush()
    r = await s["ada"].post(
        f"/api/articles/{s['reply']['id']}/replies", json={"body": "later", "subject": "Tabs (was: Hello)"}
    )
    later = r.json()["article"]
    for _ in range(2):  # looking at the outline does not read it
        html = (await bob.get(f"/t/{thread_id}/outline")).text
        await site.site.reads.flush()
        new = re.findall(r'data-id="(\d+)"[^>]*>(?:(?!</li>).)*<span class="newmark">new</span>', html)
        assert new == [str(later["id"])], html
    assert 'New subject: </span><span class="osubj">Tabs (was: Hello)</span>' in html
    # the JSON outline says the same to a signed-in reader, and reads nothing either
    for _ in range(2):
        r = await bob.get(f"/api/threads/{thread_id}/outline")
        await site.site.reads.flush()
        assert [line["id"] for line in r.json()["lines"] if line["unread"]] == [later["id"]]
    assert [line["subject_changed"] for line in r.json()["lines"]][-1] is True
    assert "newmark" not in (await (await site.client()).get(f"/t/{thread_id}/outline")).text


async def test_outline_refuses_bad_pages_and_keeps_hidden_texts_out(site):
    s = await seed(site)
    anon = await site.client()
    thread_id = s["thread"]["id"]
    assert (await anon.get("/t/999/outline")).status_code == 404
    for path in ("/api/threads/999/outline", "/api/threads/x/outline"):
        r = await anon.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    for bad in ("x", "a0", "12", "a99999999999999999999"):
        assert (await anon.get(f"/t/{thread_id}/outline?cursor={bad}")).status_code == 400
        r = await anon.get(f"/api/threads/{thread_id}/outline?cursor={bad}")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid", r.text
    other = (
        await s["ada"].post("/api/groups/comp.lang.python/threads", json={"subject": "Other", "body": "x"})
    ).json()
    r = await anon.get(f"/t/{thread_id}/outline?cursor=a{other['article']['id']}")
    assert r.status_code == 400  # an article of another thread
    # a withdrawn and a hidden article: neither their text nor their subject
    bob = await site.client("bob")
    r = await bob.post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "secret words", "subject": "Rude subject"}
    )
    gone = r.json()["article"]
    r = await bob.post(
        f"/api/articles/{s['root']['id']}/replies", json={"body": "more secrets", "subject": "Nasty subject"}
    )
    hidden = r.json()["article"]
    assert (await bob.post(f"/api/articles/{gone['id']}/cancel", json={})).status_code == 200
    async with site.db.transaction() as conn:
        await conn.execute("UPDATE articles SET status = 'hidden' WHERE id = ?", (hidden["id"],))
    html = (await anon.get(f"/t/{thread_id}/outline")).text
    assert [i for i, _ in lines(html)] == [s["root"]["id"], s["reply"]["id"], gone["id"], hidden["id"]]
    for secret in ("secret", "Rude", "Nasty"):
        assert secret not in html
    assert "[withdrawn]" in html and "[hidden]" in html
    for program, text in dumps(html).items():  # a text browser shows the tree, one line each
        assert re.search(r"^[\s•*+-]*Hello Ada \S+ \S+$", text, re.M), (program, text)
        assert re.search(r"^[\s•*+-]*» \[withdrawn\] Bob ", text, re.M), (program, text)
