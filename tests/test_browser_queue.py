"""The moderation queue in a real browser (Chromium through Playwright
against a real `moot serve`): a member reports an article with the keyboard
alone; a moderator checks several queue items and approves them at once;
axe-core finds no accessibility violations on the queue and report pages,
nor on the home, group, thread, search and account pages at desktop and phone sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import DESKTOP, browser, contexts, new_thread, playwright_api, server, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.xdist_group("browser-queue")  # one Chromium and one server for the module

MODERATED = "test.announce"


def tab_to(page, selector: str, limit: int = 300) -> None:
    """Press Tab until the element `selector` names has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is now: 'rule: target' lines
    (its context needs bypass_csp: the pages allow no script of another origin)."""
    from axe_playwright_python import __file__ as package  # installed with the test extras

    page.add_script_tag(path=str(Path(package).parent / "axe.min.js"))
    return page.evaluate(
        """async () => (await axe.run(document)).violations.flatMap(
             (v) => v.nodes.map((n) => `${v.id}: ${n.target.join(" ")}`))"""
    )


def moderated_group(server) -> None:
    with server.api("root") as root:
        r = root.post("/api/groups", json={"name": MODERATED, "description": "Announcements", "status": "m"})
        assert r.status_code in (201, 409), r.text


def submit(server, username: str, subject: str) -> int:
    with server.api(username) as client:
        r = client.post(
            f"/api/groups/{MODERATED}/threads", json={"subject": subject, "body": f"{subject}: out now."}
        )
        assert r.status_code == 202, r.text
        return r.json()["held"]["id"]


def test_a_member_reports_an_article_with_the_keyboard_alone(server, contexts):
    started = new_thread(server, "ada", "Buy cheap watches", "Visit my shop.")
    article_id = started["article"]["id"]
    watch = contexts(viewport=DESKTOP, bypass_csp=True)
    page = watch.page()
    sign_in(page, server.base, "bruno")
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    link = f'a[href="/a/{article_id}/report"]'
    tab_to(page, link)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base}/a/{article_id}/report")
    tab_to(page, "#reason-spam")
    page.keyboard.press("Space")
    assert page.is_checked("#reason-spam")
    tab_to(page, "#note")
    page.keyboard.type("a shop, not a discussion")
    tab_to(page, "#report-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#reported-note")
    assert f"/t/{started['thread']['id']}?reported=1" in page.url
    assert axe_violations(page) == []
    with server.api("marta") as marta:
        items = marta.get("/api/groups/test.browser/queue").json()["items"]
    (item,) = [i for i in items if i["article"]["id"] == article_id]
    assert item["reports"]["list"] == [
        {"reason": "spam", "note": "a shop, not a discussion", "by": "bruno", "counted": True}
    ]


def test_a_moderator_approves_several_checked_items_at_once(server, contexts):
    moderated_group(server)
    subjects = ["mylib 1.0", "mylib 1.1", "otherlib 3"]
    ids = [submit(server, "ada", s) for s in subjects]
    watch = contexts(viewport=DESKTOP)
    page = watch.page()
    sign_in(page, server.base, "marta")
    page.goto(f"{server.base}/g/{MODERATED}")
    page.click(".queue-link")
    page.wait_for_url(f"{server.base}/g/{MODERATED}/queue")
    for item in ids[:2]:
        page.check(f"#select-{item}")
    page.fill("#bulk-reason", "releases are welcome")
    page.click("#bulk button:has-text('Approve selected')")
    page.wait_for_url(f"{server.base}/g/{MODERATED}/queue")
    assert page.locator(".queue-item").count() == 1 and page.locator(f"#q{ids[2]}").count() == 1
    page.goto(f"{server.base}/g/{MODERATED}")
    listed = page.locator(".thread-row").all_inner_texts()
    assert [s for s in subjects if any(s in row for row in listed)] == subjects[:2]


def test_axe_finds_no_violations_on_the_queue_and_report_pages(server, contexts):
    moderated_group(server)
    submit(server, "bruno", "A question for the moderators")
    reported = new_thread(server, "ada", "Off topic", "Nothing to do with browsers.")
    with server.api("bruno") as bruno:
        r = bruno.post(
            f"/api/articles/{reported['article']['id']}/report",
            json={"reason": "off-topic", "note": "wrong group"},
        )
        assert r.status_code == 201, r.text
    watch = contexts(viewport=DESKTOP, bypass_csp=True)
    page = watch.page()
    sign_in(page, server.base, "marta")
    for path in (f"/g/{MODERATED}/queue", "/g/test.browser/queue", "/g/test.browser/queue?state=approved"):
        page.goto(server.base + path)
        assert page.locator("h1").inner_text().startswith("Queue of")
        assert axe_violations(page) == [], path
    assert page.locator("body").inner_text()  # the page rendered
    page.goto(f"{server.base}/a/{reported['article']['id']}/report")
    assert axe_violations(page) == []
    page.goto(f"{server.base}/queue/mine")
    assert axe_violations(page) == []


def test_axe_finds_nothing_on_the_main_pages_at_desktop_and_phone_sizes(server, contexts):
    """Home, group, thread (its outline open), search, account and queue, signed
    in as a moderator with something in each, at both sizes: no violation of any impact."""
    from tests.test_browser import PHONE, reply

    started = new_thread(server, "ada", "Accessible pages", "> quoted\n\nSee https://example.org and @bruno.")
    answer = reply(server, "bruno", started["article"]["id"], "Agreed.")
    reply(server, "ada", answer["id"], "Deeper.", subject="Checks (was: Accessible pages)")
    tid = started["thread"]["id"]
    paths = ["/", "/g/test.browser", f"/t/{tid}", "/search?q=accessible", "/account", "/g/test.browser/queue"]
    for viewport in (DESKTOP, PHONE):
        page = contexts(viewport=viewport, bypass_csp=True).page()
        sign_in(page, server.base, "marta")
        found = {}
        for path in paths:
            page.goto(server.base + path)
            if path.startswith("/t/"):
                page.wait_for_selector('#thread[data-live="connected"]')
                page.click('.views [data-action="outline"]')
                page.wait_for_selector("#outline-panel .oline .olink")
            found[path] = axe_violations(page)
        assert found == {path: [] for path in paths}, (viewport, found)
        page.close()
