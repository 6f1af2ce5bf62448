"""The web client in a real browser: Debian's headless Chromium driven by
Playwright, against a real `moot serve` on a loopback port.

Without Chromium (or Playwright) these tests are skipped with the reason;
with the environment variable CI set they fail instead. Screenshots of the
main pages at desktop and phone widths go to test-artifacts/screenshots."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from moot.people import accounts
from moot.store.db import Database
from tests.conftest import ACCOUNT_HASH_N
from tests.processes import ROOT, moot, moot_server, tls

# One worker runs this module's tests in turn (pytest-xdist), so one Chromium and
# one server serve them all. Playwright's sync API cannot outlive a module: it
# keeps an event loop marked running, which the asyncio tests after it refuse.
pytestmark = pytest.mark.xdist_group("browser")

SHOTS = ROOT / "test-artifacts" / "screenshots"
# Chromium's headless shell (Debian's chromium-headless-shell, what Playwright
# itself drives headless) renders with the same Blink as the full browser for
# about half its CPU; the full browser, run headless, stands in where only it is
# installed.
CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-site-isolation-trials",
    "--renderer-process-limit=1",
    "--disable-extensions",
    "--disable-dev-shm-usage",
]
PASSWORD = "browser password"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
INJECTED = (
    "document.querySelectorAll('img[src=\"x\"], svg, iframe, script:not([src]), [onerror], [onload]').length"
)


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_api():
    if CHROMIUM is None:
        _unavailable(
            "Debian's chromium-headless-shell is not installed (apt-get install chromium-headless-shell)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_api):
    b = playwright_api.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


class Server:
    def __init__(self, base: str, db: Path):
        self.base, self.db = base, db

    @contextmanager
    def api(self, username: str | None = None):
        """An httpx client of the live server, signed in when a username is given."""
        with httpx.Client(base_url=self.base, timeout=10, verify=tls()) as client:
            if username:
                r = client.post("/api/login", json={"username": username, "password": PASSWORD})
                assert r.status_code == 200, r.text
            yield client


async def _add_accounts(db: Path) -> None:
    """root (admin), marta (moderator), ada and bruno, written in this process
    (one `moot adduser` each would start four more Pythons per module)."""
    database = await Database(str(db), read_connections=1).open()
    try:
        hashed = accounts.hash_password(PASSWORD, n=ACCOUNT_HASH_N)  # the cost of every test account
        for name, role in (("root", "admin"), ("marta", "moderator"), ("ada", "member"), ("bruno", "member")):
            await accounts.create_user(database, name, PASSWORD, name.title(), role, password_hash=hashed)
    finally:
        await database.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`moot serve` as its own process, with an admin (root) and a moderator (marta)."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "moot.db"
    asyncio.run(_add_accounts(db))
    with moot_server(db, folder / "server.log", domain="browser.test") as url:
        srv = Server(url, db)
        with srv.api("root") as root:
            r = root.post(
                "/api/groups",
                json={
                    "name": "test.browser",
                    "description": "Browser tests",
                    "charter": "Plain text only.\n> Quote what you answer.",
                },
            )
            assert r.status_code == 201, r.text
        yield srv


class Watch:
    """A browser context whose pages report console errors and uncaught exceptions."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.context.on("page", self._watch)

    def _watch(self, page):
        page.on(
            "console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))

    def page(self):
        return self.context.new_page()

    def close(self):
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def contexts(browser):
    made: list[Watch] = []

    def make(**options) -> Watch:
        watch = Watch(browser, **options)
        made.append(watch)
        return watch

    yield make
    for watch in made:
        watch.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{base}/")


def live(page) -> None:
    page.wait_for_selector('#thread[data-live="connected"]')


def new_thread(server, username: str, subject: str, body: str, group: str = "test.browser") -> dict:
    with server.api(username) as client:
        r = client.post(f"/api/groups/{group}/threads", json={"subject": subject, "body": body})
        assert r.status_code == 201, r.text
        return r.json()


def reply(server, username: str, parent: int, body: str, **extra) -> dict:
    with server.api(username) as client:
        r = client.post(f"/api/articles/{parent}/replies", json={"body": body, **extra})
        assert r.status_code == 201, r.text
        return r.json()["article"]


def big_thread(server, subject: str, count: int, leaves: int = 10) -> int:
    """A thread of `count` articles in test.browser, imported from an mbox by
    `moot import` while the server runs: the first `leaves` replies answer the
    root and have no replies, the rest hang in long random chains. Its id."""
    import random

    rng = random.Random(count)
    folder = server.db.parent
    with open(folder / f"{count}.mbox", "w") as out:
        for i in range(count):
            parent = (
                None
                if i == 0
                else 0
                if i <= leaves
                else rng.choice(
                    [i - 1, i - 1, i - 2, rng.randrange(leaves + 1, i)] if i > leaves + 2 else [0]
                )
            )
            refs = f"References: <{subject[:4]}{parent}@big.test>\n" if parent is not None else ""
            title = subject if i == 0 else f"Re: {subject}" if i % 250 else f"Part {i} (was: {subject})"
            out.write(
                f"From poster@big.test Mon Jan  5 10:00:00 2026\nFrom: Poster {i % 7} <p{i % 7}@big.test>\n"
                f"Message-ID: <{subject[:4]}{i}@big.test>\n{refs}Subject: {title}\n"
                f"Date: Mon, 5 Jan 2026 {10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0000\n\n"
                f"Article {i} of the long thread.\n\n"
            )
    moot("import", str(folder / f"{count}.mbox"), "--group", "test.browser", "--db", str(server.db))
    with server.api() as client:
        found = client.get("/api/groups/test.browser/threads?limit=200").json()["threads"]
    (thread,) = [t for t in found if t["subject"] == subject]
    assert thread["article_count"] == count
    return int(thread["id"])


def test_sign_up_post_and_see_a_reply_arrive_live(server, contexts):
    first = contexts(viewport=DESKTOP).page()
    first.goto(f"{server.base}/register")
    first.fill("#username", "alice")
    first.fill("#display_name", "Alice Liddell")
    first.fill("#password", PASSWORD)
    first.fill("#password2", PASSWORD)
    first.click("main form button[type=submit]")
    assert first.locator("#recovery-codes li").count() == 10  # shown once, after signing up
    first.click("text=I have kept them: continue")
    first.wait_for_url(f"{server.base}/")
    assert "Alice Liddell" in first.inner_text("header.site")

    first.click("text=test.browser")
    first.click("text=Start a thread")
    first.fill("#subject", "Which tea for a long night?")
    first.fill("#body", "Green, black or oolong?\nhttps://example.org/tea")
    first.click("main form button[type=submit]")
    first.wait_for_url(re.compile(r"/t/\d+$"))
    thread_url = first.url
    assert first.inner_text("h1") == "Which tea for a long night?"
    link = first.locator('.body a[href="https://example.org/tea"]')
    assert link.get_attribute("rel") == "nofollow ugc noopener"
    live(first)

    second = contexts(viewport=DESKTOP).page()
    sign_in(second, server.base, "bruno")
    second.goto(thread_url)
    second.click('#tree [data-action="reply"]')
    box = second.locator("form.reply-form textarea")
    assert re.match(
        r"On [-0-9]+ [0-9:]+ UTC, Alice Liddell wrote:\n> Green, black or oolong\?", box.input_value()
    )
    box.press("End")
    box.type("Oolong: it lasts through many infusions.")
    second.click("form.reply-form button[type=submit]")
    mine = second.wait_for_selector("#tree .node .node")
    article_id = mine.get_attribute("id")
    assert "Oolong" in mine.inner_text()

    arrived = first.wait_for_selector(f"#{article_id}.new")
    assert "Oolong: it lasts" in arrived.inner_text() and "Bruno" in arrived.inner_text()
    assert first.locator(f"#{article_id} .to a").inner_text() == "Alice Liddell"
    assert "1 reply" in first.inner_text("#tree .kids > summary")


def test_moderator_split_shows_the_notice_live(server, contexts):
    started = new_thread(server, "ada", "Bread baking", "What flour do you use?")
    root = started["article"]["id"]
    a = reply(server, "bruno", root, "Rye, mostly.")
    drift = reply(
        server, "ada", a["id"], "Off topic: sourdough starters?", subject="Starters (was: Bread baking)"
    )
    reply(server, "bruno", drift["id"], "Feed it daily.")
    url = f"{server.base}/t/{started['thread']['id']}"

    reader = contexts(viewport=DESKTOP).page()
    reader.goto(url)
    live(reader)
    assert reader.locator(f"#a{drift['id']}").count() == 1

    mod = contexts(viewport=DESKTOP).page()
    sign_in(mod, server.base, "marta")
    mod.goto(url)
    live(mod)
    mod.click(".modtools > summary")
    suggestion = mod.locator(".suggestions li", has_text="Starters (was: Bread baking)")
    assert "2 articles" in suggestion.inner_text()
    suggestion.locator('[data-action="split"]').click()
    dialog = mod.locator("#mod-dialog")
    assert dialog.is_visible()
    assert mod.input_value("#mod-subject") == "Starters"
    assert mod.input_value("#mod-group") == started["thread"]["group"]  # the thread's own, to start from
    mod.wait_for_selector("#mod-preview .preview-text")
    assert "2 articles" in mod.inner_text("#mod-preview")
    mod.fill("#mod-reason", "Sourdough deserves its own thread")
    SHOTS.mkdir(parents=True, exist_ok=True)
    mod.screenshot(path=str(SHOTS / "split-dialog-desktop.png"))
    mod.click("#mod-confirm")

    notice = reader.wait_for_selector("#tree .status-notice.new")
    assert "Continue reading in the new thread" in notice.inner_text()
    assert reader.locator(f"#a{drift['id']}").count() == 0
    new_link = notice.query_selector(".notice-link a").get_attribute("href")
    mod.wait_for_selector("#tree .status-notice")
    assert mod.locator("#tree .status-notice.new").count() == 0  # their own notice is not news to them
    # the moderator's page confirms with a link and shows the thread as it is now
    done = mod.wait_for_selector("#mod-done a")
    assert done.get_attribute("href") == new_link
    assert "Split off: “Starters” is now a thread of its own (2 articles)." in mod.inner_text("#mod-done")
    with server.api() as client:
        left = client.get(f"/api/threads/{started['thread']['id']}").json()["thread"]["article_count"]
    assert f"{left} articles" in mod.inner_text("#thread-head .tmeta")
    assert mod.locator(".suggestions li", has_text="Starters").count() == 0
    assert mod.locator(".modtools").get_attribute("open") is not None  # still open where it was
    # merging back: the thread is picked from a list found as one types, and the dialog says what would happen
    mod.click('.modtools [data-action="merge"]')
    mod.fill("#mod-pick", "Starte")
    mod.click('#mod-picks button:has-text("Starters")')
    assert mod.input_value("#mod-target") == str(drift["id"])  # under the first article of the thread picked
    mod.wait_for_selector("#mod-preview #merge-preview-text")
    assert f"{left} articles (this whole thread) will move into “Starters”" in mod.inner_text("#mod-preview")
    mod.click('#mod-dialog [data-action="close-dialog"]')
    reader.goto(server.base + new_link)
    assert reader.inner_text("h1") == "Starters"
    assert "Feed it daily." in reader.inner_text("#tree")


def test_moderator_move_confirms_with_a_link_and_a_fresh_breadcrumb(server, contexts):
    with server.api("root") as root:
        r = root.post(
            "/api/groups", json={"name": "test.elsewhere", "description": "Moved threads land here"}
        )
        assert r.status_code in (201, 409), r.text
    started = new_thread(server, "ada", "Wrong group", "This belongs elsewhere.")
    mod = contexts(viewport=DESKTOP).page()
    sign_in(mod, server.base, "marta")
    mod.goto(f"{server.base}/t/{started['thread']['id']}")
    live(mod)
    mod.click(".modtools > summary")
    mod.click('.modtools [data-action="move"]')
    mod.fill("#mod-group", "test.elsewhere")
    mod.fill("#mod-reason", "fits there")
    mod.click("#mod-confirm")
    done = mod.wait_for_selector("#mod-done a")
    assert done.get_attribute("href") == "/g/test.elsewhere"
    assert "Moved to test.elsewhere." in mod.inner_text("#mod-done")
    # The breadcrumb is refreshed after the confirmation, from the server's fragment.
    mod.wait_for_function(
        "() => document.querySelector('#thread > nav.crumbs').innerText.includes('test.elsewhere')"
    )


def test_search_finds_an_archived_thread(server, contexts):
    started = new_thread(server, "ada", "Quokka photography", "The zanzibarquux lens is sharp.")
    with server.api("marta") as mod:
        r = mod.post(f"/api/threads/{started['thread']['id']}/archive", json={"reason": "finished"})
        assert r.status_code == 200, r.text
    page = contexts(viewport=DESKTOP).page()
    page.goto(server.base + "/")
    page.fill("#site-q", "zanzibarquux")
    page.press("#site-q", "Enter")
    page.wait_for_url(re.compile(r"/search\?q=zanzibarquux"))
    result = page.locator(".result").first
    assert "Quokka photography" in result.inner_text()
    assert page.locator(".result mark").first.inner_text().lower() == "zanzibarquux"
    result.locator("a.tsubj").click()
    page.wait_for_url(re.compile(rf"/t/{started['thread']['id']}#a\d+$"))
    assert "This thread is archived" in page.inner_text("main")


def test_search_form_fields_are_wide_and_axe_finds_nothing(server, contexts):
    from tests.test_browser_queue import axe_violations  # here: that module imports this one

    new_thread(server, "ada", "Gnu tabs", "> > Tabs forever\n\nSpaces, zyzzygnu says.")
    page = contexts(viewport=DESKTOP, bypass_csp=True).page()
    page.goto(server.base + "/search?q=zyzzygnu&before=2999")
    widths = page.evaluate(
        """() => ['group', 'author', 'after', 'before', 'state', 'sort'].map(
             (id) => document.getElementById(id).getBoundingClientRect().width)"""
    )
    assert min(widths) >= 150, widths
    assert page.input_value("#before") == "2999-01-01"
    assert page.inner_text(".snippet") == "Spaces, zyzzygnu says."
    assert axe_violations(page) == []


def test_keyboard_navigation_moves_between_articles(server, contexts):
    started = new_thread(server, "ada", "Keys", "first")
    one = reply(server, "bruno", started["article"]["id"], "second")
    two = reply(server, "ada", one["id"], "third")
    page = contexts(viewport=DESKTOP).page()
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    live(page)

    def current():
        return page.evaluate("document.querySelector('.art.current')?.closest('.node').id")

    page.keyboard.press("j")
    assert current() == f"a{started['article']['id']}"
    page.keyboard.press("j")
    assert current() == f"a{one['id']}"
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last
    assert current() == f"a{two['id']}"
    page.keyboard.press("k")
    assert current() == f"a{one['id']}"
    page.keyboard.press("?")
    assert page.locator("#keys").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#keys").is_visible()
    # n jumps to the next article that arrived live
    fresh = reply(server, "bruno", two["id"], "fourth, live")
    page.wait_for_selector(f"#a{fresh['id']}.new")
    page.keyboard.press("n")
    assert current() == f"a{fresh['id']}"


def test_a_permalink_marks_its_article_and_scripts_add_their_own_parts(server, contexts):
    started = new_thread(server, "ada", "Permalinks", "the start")
    meant = reply(server, "bruno", started["article"]["id"], "the one the link means")
    other = reply(server, "ada", started["article"]["id"], "another")
    page = contexts(viewport=DESKTOP).page()
    page.goto(f"{server.base}/m/{meant['message_id'][1:-1]}")
    page.wait_for_url(re.compile(rf"#a{meant['id']}$"))

    def background(article_id):
        return page.evaluate(
            f"getComputedStyle(document.querySelector('#a{article_id} > .art')).backgroundColor"
        )

    assert background(meant["id"]) != background(other["id"])
    assert background(other["id"]) == background(started["article"]["id"])
    # the keys' hint and the live "new" bar exist only where the script runs
    assert "Press ? for keyboard shortcuts." in page.inner_text("footer")
    assert page.locator("#newbar").count() == 1 and not page.locator("#newbar").is_visible()
    page.goto(f"{server.base}/g/test.browser")
    page.wait_for_selector('#group[data-live="connected"]')
    note = page.locator("#new-threads")
    assert note.count() == 1 and not note.is_visible()
    new_thread(server, "bruno", "Arrives while the group is open", "hello")
    note.wait_for(state="visible")


def test_without_javascript_pages_read_and_the_reply_form_posts(server, contexts):
    started = new_thread(server, "ada", "No script here", "Readable anywhere.")
    r1 = reply(server, "bruno", started["article"]["id"], "Ada wrote:\n> Readable anywhere.\n\nEven in w3m.")
    thread_id = started["thread"]["id"]
    page = contexts(viewport=PHONE, java_script_enabled=False).page()
    checks = {
        "/": "test.browser",
        "/g/test.browser": "No script here",
        f"/t/{thread_id}": "Even in w3m.",
        f"/t/{thread_id}?view=flat": "Even in w3m.",
        "/g/test.browser/archive": "Archive of test.browser",
        "/search?q=readable": "No script here",
        "/modlog": "Moderation log",
        "/proposals": "Group proposals",
        "/login": "Sign in",
    }
    for path, text in checks.items():
        page.goto(server.base + path)
        assert text in page.inner_text("main"), path
        assert page.locator("#keys, #newbar, #new-threads").count() == 0, path
    page.goto(f"{server.base}/m/{r1['message_id'][1:-1]}")
    assert page.url.endswith(f"/t/{thread_id}#a{r1['id']}")
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/t/{thread_id}")
    page.click(f'#a{r1["id"]} > .art a[data-action="reply"]')
    page.wait_for_url(re.compile(rf"/a/{r1['id']}/reply$"))
    box = page.locator("textarea[name=body]")
    assert (
        box.input_value()
        == f"On {r1['created_at'][:10]} {r1['created_at'][11:16]} UTC, Bruno wrote:\n> Even in w3m.\n\n"
    )
    box.fill("Ada wrote:\n> Even in w3m.\n\nAnd with scripts off.")
    page.click("form.reply-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/t/{thread_id}#a\d+$"))
    anchor = page.url.rsplit("#", 1)[1]
    assert "And with scripts off." in page.inner_text(f"#{anchor}")


def test_without_javascript_propose_endorse_withdraw_and_moderate(server, contexts):
    started = new_thread(server, "ada", "Forms all the way", "No scripts needed.")
    mine = reply(server, "bruno", started["article"]["id"], "I will take this back.")
    thread_id = started["thread"]["id"]
    page = contexts(viewport=PHONE, java_script_enabled=False).page()
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/proposals")
    page.fill("#pname", "rec.forms")
    page.fill("#pdesc", "Forms without scripts")
    page.click("#propose button[type=submit]")
    page.wait_for_url(re.compile(r"/proposals#p\d+$"))
    own = page.locator(".proposal", has_text="rec.forms")
    assert "Your proposal" in own.inner_text() and own.locator('[data-action="endorse"]').count() == 0
    page.context.clear_cookies()
    sign_in(page, server.base, "bruno")
    page.goto(f"{server.base}/proposals")
    page.locator(".proposal", has_text="rec.forms").locator('button[data-action="endorse"]').click()
    page.wait_for_url(re.compile(r"/proposals#p\d+$"))
    assert "You endorsed this." in page.locator(".proposal", has_text="rec.forms").inner_text()
    page.goto(f"{server.base}/t/{thread_id}")
    page.click(f'#a{mine["id"]} > .art a[data-action="cancel"]')
    page.wait_for_url(re.compile(rf"/a/{mine['id']}/withdraw$"))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(rf"/t/{thread_id}#a{mine['id']}$"))
    assert "I will take this back." not in page.inner_text(f"#a{mine['id']}")
    page.context.clear_cookies()
    sign_in(page, server.base, "marta")
    page.goto(f"{server.base}/t/{thread_id}")
    page.click(".modtools > summary")
    page.click('.modtools a[data-action="lock"]')
    page.wait_for_url(re.compile(rf"/t/{thread_id}/moderate/lock$"))
    page.fill("#reason", "enough said")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(rf"/t/{thread_id}$"))
    assert "This thread is locked" in page.inner_text("#state-note")


def test_phone_layout_compact_header_big_targets_and_capped_indent(server, contexts):
    started = new_thread(server, "ada", "Sixteen levels deep", "Level 0.")
    chain = [started["article"]]
    for level in range(1, 17):
        chain.append(reply(server, "bruno" if level % 2 else "ada", chain[-1]["id"], f"Level {level}."))
    page = contexts(viewport=PHONE).page()
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    live(page)
    assert page.locator("header.site").bounding_box()["height"] <= 110
    for selector in (
        f'#a{chain[3]["id"]} > .art a[data-action="reply"]',
        f'#a{chain[3]["id"]} > .art a[title^="<"]',
        ".sitenav a >> nth=0",
    ):
        box = page.locator(selector).bounding_box()
        assert box["height"] >= 44, (selector, box)
    # past six levels the indent stops: the deepest article keeps most of the width
    deepest = page.locator(f"#a{chain[-1]['id']} > .art").bounding_box()
    assert deepest["width"] >= 0.75 * PHONE["width"], deepest
    six = page.locator(f"#a{chain[6]['id']} > .art a.branch-link")
    assert six.count() == 1 and page.locator("a.branch-link").count() == 2  # at levels 6 and 12
    page.screenshot(path=str(SHOTS / "deep-thread-phone.png"), full_page=False)
    six.click()
    page.wait_for_url(re.compile(rf"\?branch={chain[6]['id']}#a{chain[6]['id']}$"))
    assert "A branch of this thread" in page.inner_text("#branch-note")
    first = page.locator("#tree > li.node").first
    assert first.get_attribute("id") == f"a{chain[6]['id']}"
    assert page.locator(f"#a{chain[5]['id']}").count() == 0


def test_markup_and_scripts_from_users_stay_text(server, contexts):
    with server.api("root") as root:
        r = root.post("/api/groups", json={"name": "test.xss", "description": XSS, "charter": XSS})
        assert r.status_code == 201, r.text
    with httpx.Client(base_url=server.base, verify=tls()) as evil:
        r = evil.post(
            "/api/register",
            json={
                "username": "mallory",
                "password": PASSWORD,
                "display_name": '"><svg onload=window.__xss=1>',
            },
        )
        assert r.status_code == 201, r.text
        r = evil.post("/api/groups/test.xss/threads", json={"subject": XSS, "body": XSS})
        started = r.json()
    thread_id = started["thread"]["id"]
    reader = contexts(viewport=DESKTOP).page()
    reader.goto(f"{server.base}/t/{thread_id}")
    live(reader)
    pushed = reply(server, "mallory", started["article"]["id"], "> " + XSS + "\n" + XSS, subject=XSS)
    reader.wait_for_selector(f"#a{pushed['id']}.new")  # a live insert of a fragment
    pages = [
        f"/t/{thread_id}",
        f"/t/{thread_id}?view=flat",
        "/",
        "/g/test.xss",
        "/search?q=xss",
        "/search?q=window",
        f"/a/{pushed['id']}/reply",
    ]
    with server.api() as client:  # the Atom feed, once this build serves it
        if client.get("/api/groups/test.xss/feed.atom").status_code == 200:
            pages.append("/api/groups/test.xss/feed.atom")
    for path in [None, *pages]:
        if path is not None:
            reader.goto(server.base + path)
        assert reader.evaluate("window.__xss") is None, path
        assert reader.evaluate(INJECTED) == 0, path
    reader.goto(f"{server.base}/t/{thread_id}")
    text = reader.inner_text("#tree")
    assert "<script>window.__xss=1</script>" in text and '"><svg onload=window.__xss=1>' in text


def test_every_page_without_console_errors_with_screenshots(server, contexts, capsys):
    started = new_thread(
        server,
        "ada",
        "A tour of the pages",
        "Hello all.\n\nA quote follows:\n> quoted\n>> deeper\n\n-- \nAda",
    )
    one = reply(server, "bruno", started["article"]["id"], "Ada wrote:\n> Hello all.\n\nHi Ada!")
    reply(server, "ada", one["id"], "Bruno wrote:\n> Hi Ada!\n\nHi Bruno.")
    # a subject that drifted, with a link in it: long, and with a word no line can hold
    drifted = reply(
        server,
        "bruno",
        one["id"],
        "Off on a tangent.",
        subject="Tea at https://example.org/tea/with/a/path/longer/than/any/phone/is/wide (was: A tour of the pages)",
    )
    with server.api("ada") as ada:
        ada.post("/api/proposals", json={"name": "rec.tea", "description": "Tea, brewed and argued"})
    with server.api("root") as root:  # its page says so in a badge beside the counts
        root.post("/api/groups", json={"name": "test.browser.moderated", "status": "m"})
    thread = f"/t/{started['thread']['id']}"
    tour = {
        "home": "/",
        "group": "/g/test.browser",
        "moderated-group": "/g/test.browser.moderated",
        "thread": thread,
        "flat": thread + "?view=flat",
        "archive": "/g/test.browser/archive",
        "search": "/search?q=hello",
        "modlog": "/modlog",
        "proposals": "/proposals",
        "login": "/login",
        "register": "/register",
        "reply": f"/a/{one['id']}/reply",
        "history": f"/a/{drifted['id']}/history",
        "new-thread": "/g/test.browser/new",
        "not-found": "/t/99999",
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            watch = contexts(viewport=viewport, color_scheme=scheme)
            page = watch.page()
            sign_in(page, server.base, "marta")
            for name, path in tour.items():
                response = page.goto(server.base + path)
                assert response.status == (404 if name == "not-found" else 200), path
                if name == "not-found":  # the browser logs the 404 of the page itself
                    watch.errors = [e for e in watch.errors if "status of 404" not in e]
                if name in ("thread", "flat"):
                    live(page)
                if viewport is PHONE:  # nothing runs off a phone's screen sideways
                    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
                if scheme == "light" or name in ("home", "thread"):
                    page.screenshot(path=str(SHOTS / f"{name}-{width}-{scheme}.png"), full_page=True)
            assert watch.errors == [], watch.errors
    with capsys.disabled():
        print(f"\nscreenshots: {SHOTS}")
