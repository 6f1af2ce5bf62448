"""Counts and keys on every page, in a real browser (Chromium through
Playwright against a real `moot serve`): an article posted through the API
raises the article counts of the open thread, group and home pages and, in a
background tab, the title's "(N)"; j/k and Enter move through a group's
threads and open one, `?` lists that page's keys, and its setting turns the
single-key shortcuts off (WCAG 2.1 SC 2.1.4)."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import DESKTOP, PHONE, browser, contexts, new_thread, playwright_api, reply, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.xdist_group("browser-keys")  # one Chromium and one server for the module

# Headless Chromium reports every tab visible, so the test says what a
# browser says when the reader switches tabs: the page's own code reads it.
SHOW = """(state) => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_live_arrival_raises_the_counts_and_a_background_title(server, contexts):
    from playwright.sync_api import expect  # the fixtures skip when Playwright is missing

    started = new_thread(server, "ada", "Counting live", "One so far.")
    tid = started["thread"]["id"]
    reader = contexts(viewport=DESKTOP)
    pages = {}
    for name, path in (("home", "/"), ("group", "/g/test.browser"), ("thread", f"/t/{tid}")):
        pages[name] = reader.page()
        if name != "home":  # the group and thread pages at phone size
            pages[name].set_viewport_size(PHONE)
        pages[name].goto(server.base + path)
        pages[name].wait_for_selector(f'#{name}[data-live="connected"]')
    home, group, thread = pages["home"], pages["group"], pages["thread"]
    in_group = '[data-count="group:test.browser"]'
    articles = int(group.inner_text(f".group-head {in_group}").split()[0])
    threads = int(home.inner_text('[data-count="threads:test.browser"]').split()[0])
    assert thread.inner_text(f'#thread-head [data-count="thread:{tid}"]') == "1 article"
    title = thread.title()
    thread.evaluate(SHOW, "hidden")

    reply(server, "bruno", started["article"]["id"], "Two now.")
    expect(thread.locator(f'#thread-head [data-count="thread:{tid}"]')).to_have_text("2 articles")
    row = group.locator(f'.thread-row[data-thread="{tid}"] [data-count="thread:{tid}"]')
    expect(row).to_have_text("2 articles")
    expect(row).to_be_visible()
    expect(group.locator(f".group-head {in_group}")).to_have_text(f"{articles + 1} articles")
    expect(home.locator(in_group)).to_have_text(f"{articles + 1} articles")
    expect(thread).to_have_title(f"(1) {title}")
    assert not home.title().startswith("(")  # a tab in view needs no count

    new_thread(server, "bruno", "Another thread", "Counted too.")
    expect(home.locator('[data-count="threads:test.browser"]')).to_have_text(f"{threads + 1} threads")
    expect(home.locator(in_group)).to_have_text(f"{articles + 2} articles")
    thread.evaluate(SHOW, "visible")  # the reader comes back to the tab
    expect(thread).to_have_title(title)


def test_j_k_and_enter_open_a_thread_from_the_group_list_and_help_lists_them(server, contexts):
    for n in (1, 2, 3):
        new_thread(server, "ada", f"Listed {n}", "For the keys.")
    page = contexts(viewport=DESKTOP).page()
    page.goto(f"{server.base}/g/test.browser")
    page.wait_for_selector('#group[data-live="connected"]')
    ids = page.eval_on_selector_all("#group .thread-row", "rows => rows.map(r => r.dataset.thread)")

    def current():
        return page.evaluate("document.querySelector('.thread-row.current')?.dataset.thread")

    page.keyboard.press("j")
    assert current() == ids[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert current() == ids[2]
    page.keyboard.press("k")
    assert current() == ids[1]

    page.keyboard.press("?")
    help_text = page.inner_text("#keys")
    assert "next row" in help_text and "open the current row" in help_text
    assert "next article" not in help_text  # not the thread page's keys
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/t/{ids[1]}")
    page.keyboard.press("?")
    assert "previous article" in page.inner_text("#keys")  # a thread's own keys there
    # the same at phone size
    page.set_viewport_size(PHONE)
    page.goto(f"{server.base}/g/test.browser")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert current() == ids[1]
    page.keyboard.press("k")
    assert current() == ids[0]
    assert page.locator(".thread-row.current").is_visible()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/t/{ids[0]}")


def test_the_help_turns_single_key_shortcuts_off_and_on(server, contexts):
    page = contexts(viewport=DESKTOP).page()
    page.goto(f"{server.base}/g/test.browser")
    page.keyboard.press("?")
    page.uncheck("#keys-on")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.locator(".thread-row.current").count() == 0

    page.reload()  # kept in the browser for the next page
    page.keyboard.press("j")
    page.keyboard.press("?")
    assert page.locator(".thread-row.current").count() == 0 and not page.locator("#keys").is_visible()
    page.click("#keys-open")  # the footer's way in works with the keys off
    assert not page.is_checked("#keys-on")
    page.check("#keys-on")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.locator(".thread-row.current").count() == 1
    assert re.search(r"/g/test\.browser$", page.url)


def test_the_outline_of_a_long_thread_opens_jumps_and_shows_live_arrivals(server, contexts):
    from playwright.sync_api import expect

    from tests.test_browser import SHOTS, big_thread, sign_in

    tid = big_thread(server, "Outline of a long thread", 1200)
    with server.api() as client:
        first = client.get(f"/api/threads/{tid}/outline").json()["lines"]
    ids = [line["id"] for line in first]  # tree order: the root, then ten replies with none below
    for viewport in (PHONE, DESKTOP):
        page = contexts(viewport=viewport).page()
        sign_in(page, server.base, "bruno")
        page.goto(f"{server.base}/t/{tid}")
        page.wait_for_selector('#thread[data-live="connected"]')
        page.click('.views [data-action="outline"]')
        outline = page.locator("#outline-panel")
        expect(outline.locator(f'.oline[data-id="{ids[0]}"]')).to_be_visible()
        assert "1,000 lines here of 1,200 articles" in outline.locator(".ostatus").inner_text()
        assert outline.locator(".oline").count() < 60  # only what is in view, not a thousand lines
        assert (
            outline.locator(f'.oline[data-id="{ids[0]}"] .osubj').inner_text() == "Outline of a long thread"
        )
        # a line of this page jumps to its article here
        outline.locator(f'.oline[data-id="{ids[5]}"] .olink').click()
        expect(page.locator(f"#a{ids[5]} > .art")).to_have_class(re.compile(r"\bcurrent\b"))
        assert page.url.endswith(f"/t/{tid}#a{ids[5]}")
        assert page.locator(f"#a{ids[5]} > .art").is_visible()
        SHOTS.mkdir(parents=True, exist_ok=True)
        outline.screenshot(path=str(SHOTS / f"outline-{viewport['width']}.png"))
        if viewport is PHONE:
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.close()
            continue
        # scrolling loads the rest; a collapsed branch hides its lines
        scroll = "document.querySelector('#outline-panel .oscroll').scrollTop = 1e9"
        page.evaluate(scroll)
        expect(outline.locator(".ostatus")).to_have_text("1,200 articles")
        page.evaluate("document.querySelector('#outline-panel .oscroll').scrollTop = 0")
        outline.locator(f'.oline[data-id="{ids[0]}"] [data-oaction="toggle"]').click()
        expect(outline.locator(".oline")).to_have_count(1)
        outline.locator(f'.oline[data-id="{ids[0]}"] [data-oaction="toggle"]').click()
        expect(outline.locator(f'.oline[data-id="{ids[1]}"]')).to_be_visible()
        # a live arrival takes its place under its parent, marked new, here and in the outline
        late = reply(server, "ada", ids[2], "A late answer.", subject="Late (was: Outline of a long thread)")
        line = outline.locator(f'.oline[data-id="{late["id"]}"]')
        expect(line.locator(".newmark")).to_have_count(1)
        assert page.evaluate(
            f"document.querySelector('.oline[data-id=\"{late['id']}\"]').previousElementSibling.dataset.id"
        ) == str(ids[2])
        assert "Late (was: Outline of a long thread)" in line.inner_text()
        page.wait_for_selector(f"#a{late['id']}.new")
        # a line beyond this page opens the thread page that holds it, with the outline kept open
        far = first[700]
        page.evaluate(
            "document.querySelector('#outline-panel .oscroll').scrollTop = 700 * "
            "document.querySelector('#outline-panel .oline').getBoundingClientRect().height"
        )
        outline.locator(f'.oline[data-id="{far["id"]}"] .olink').click()
        page.wait_for_url(re.compile(rf"\?cursor=a\d+#a{far['id']}$"))
        expect(page.locator(f"#a{far['id']} > .art")).to_be_visible()
        expect(
            page.locator(f'#outline-panel .oline[data-id="{far["id"]}"] .olink[aria-current]')
        ).to_be_visible()
        page.close()
