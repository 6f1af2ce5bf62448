"""Unread counts live in a real browser (Chromium through Playwright against
a real `moot serve`): another member's reply raises a reader's counts on the
home and group pages without a reload, and reading in one tab clears them in
the others; an article that arrives on an open thread page is read once seen."""

from __future__ import annotations

import pytest

from moot.web.rendering import message_url
from tests.test_browser import (  # noqa: F401  (fixtures)
    DESKTOP,
    PHONE,
    browser,
    contexts,
    new_thread,
    playwright_api,
    reply,
    server,
    sign_in,
)

pytestmark = pytest.mark.xdist_group("browser-unread")  # one Chromium and one server for the module


def badge(page, selector: str) -> str:
    """The text of the unread badge inside `selector`, or '' when there is none."""
    found = page.locator(f"{selector} > .unread")
    return found.inner_text() if found.count() else ""


def test_counts_rise_live_and_reading_in_one_tab_clears_the_others(server, contexts):
    from playwright.sync_api import expect  # the fixtures skip when Playwright is missing

    started = new_thread(server, "ada", "Unread counts", "Does anyone keep a .newsrc any more?")
    tid = started["thread"]["id"]
    reader = contexts(viewport=DESKTOP)
    home = reader.page()
    sign_in(home, server.base, "bruno")
    home.wait_for_selector('#home[data-live="connected"]')
    group_box = '.gname:has(> a[href="/g/test.browser"])'
    assert badge(home, group_box).endswith(" new")
    before = int(badge(home, group_box).split()[0])

    group = reader.page()
    group.goto(f"{server.base}/g/test.browser")
    group.wait_for_selector('#group[data-live="connected"]')
    row = f'.thread-row[data-thread="{tid}"]'
    assert badge(group, f"{row} .tmeta") == "1 new" and "unread" in group.get_attribute(row, "class")

    reply(server, "ada", started["article"]["id"], "I do, with tin.")
    expect(group.locator(f"{row} .tmeta > .unread")).to_have_text("2 new")
    expect(home.locator(f"{group_box} > .unread")).to_have_text(f"{before + 1} new")

    thread = reader.page()  # reading the thread in a third tab
    thread.goto(f"{server.base}/t/{tid}")
    assert thread.locator("#tree .node.new").count() == 2
    assert thread.locator(".readnav .first-unread").count() == 1
    group.wait_for_selector(f"{row} .tmeta > .unread", state="detached")
    assert "unread" not in group.get_attribute(row, "class")
    if before == 1:
        home.wait_for_selector(f"{group_box} > .unread", state="detached")
    else:
        expect(home.locator(f"{group_box} > .unread")).to_have_text(f"{before - 1} new")

    # A reply arriving on the open thread page is marked read once it is on screen.
    thread.wait_for_selector('#thread[data-live="connected"]')
    marked = f"/api/threads/{tid}/read"
    with thread.expect_response(lambda r: r.url.endswith(marked) and r.request.method == "POST") as sent:
        late = reply(server, "ada", started["article"]["id"], "And slrn for scoring.")
        thread.wait_for_selector(f"#a{late['id']}.new")
    assert sent.value.status == 200
    with server.api("bruno") as client:
        listed = client.get("/api/groups/test.browser/threads").json()["threads"]
    assert [t["unread"] for t in listed if t["id"] == tid] == [0]
    expect(group.locator(f"{row} .tmeta > .unread")).to_have_count(0)


def test_notification_count_rises_live_and_mark_read_clears_it_elsewhere(server, contexts):
    from playwright.sync_api import expect

    started = new_thread(server, "bruno", "Where to buy reeds?", "For a bassoon, ideally.")
    reader = contexts(viewport=DESKTOP)
    home = reader.page()
    sign_in(home, server.base, "bruno")
    home.wait_for_selector('#home[data-live="connected"]')
    before = home.locator("#inbox .count")
    start = int(before.inner_text()) if before.count() and before.is_visible() else 0

    reply(server, "ada", started["article"]["id"], "Try the shop by the river, @bruno.")
    expect(home.locator("#inbox .count")).to_have_text(str(start + 1))

    inbox = reader.page()
    inbox.goto(f"{server.base}/notifications")
    assert "Reply to you" in inbox.inner_text("main") and "Where to buy reeds?" in inbox.inner_text("main")
    inbox.click("text=Mark all")
    inbox.wait_for_url(f"{server.base}/notifications")
    expect(home.locator("#inbox .count")).to_have_text("0")
    assert not home.locator("#inbox .count").is_visible()


def test_opening_the_notified_reply_clears_its_notification(server, contexts):
    from playwright.sync_api import expect

    started = new_thread(server, "bruno", "Tuning a fiddle in fifths", "Pegs or fine tuners first?")
    reader = contexts(viewport=DESKTOP)
    home = reader.page()
    sign_in(home, server.base, "bruno")
    home.wait_for_selector('#home[data-live="connected"]')
    count = home.locator("#inbox .count")
    start = int(count.inner_text()) if count.count() and count.is_visible() else 0
    answer = reply(server, "ada", started["article"]["id"], "Fine tuners, then the pegs for big steps.")
    expect(count).to_have_text(str(start + 1))

    inbox = reader.page()
    inbox.set_viewport_size(PHONE)  # opened from a phone-sized page
    inbox.goto(f"{server.base}/notifications")
    row = inbox.locator(".notification.unread-item", has_text="Tuning a fiddle in fifths")
    expect(row.locator("button", has_text="Mark read")).to_have_count(1)
    row.locator(f'a[href="{message_url(answer["message_id"])}"]').click()  # the permalink finds its page
    inbox.wait_for_selector(f"#a{answer['id']}")
    expect(count).to_have_text(str(start))  # the open home page hears it
    inbox.goto(f"{server.base}/notifications")
    expect(inbox.locator(".notification.unread-item", has_text="Tuning a fiddle in fifths")).to_have_count(0)
