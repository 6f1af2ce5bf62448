"""Counts and keys on every page, in a real browser (Chromium through
Playwright against a real `moot serve`): an article posted through the API
raises the article counts of the open thread, group and home pages and, in a
background tab, the title's "(N)"; j/k and Enter move through a group's
threads and open one, `?` lists that page's keys, and its setting turns the
single-key shortcuts off (WCAG 2.1 SC 2.1.4)."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import DESKTOP, browser, contexts, new_thread, playwright_api, reply, server  # noqa: F401  (fixtures)

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
