"""Drafts in a real browser (Chromium through Playwright against a real
`moot serve`): a reply typed, the page reloaded, the draft back in the form;
the same draft on a second device signed in as the same writer, then gone
once sent; two devices' different versions shown side by side and one kept."""

from __future__ import annotations

import pytest

from tests.test_browser import DESKTOP, browser, contexts, new_thread, playwright_api, server, sign_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.xdist_group("browser-drafts")  # one Chromium and one server for the module

PHONE = {"width": 390, "height": 844}


def drafts_of(server, username: str) -> list[dict]:
    with server.api(username) as client:
        return client.get("/api/drafts").json()["drafts"]


def test_a_reply_draft_survives_a_reload_follows_to_another_device_and_goes_when_sent(server, contexts):
    started = new_thread(server, "ada", "Long posts", "Write them with care.")
    root = started["article"]["id"]
    laptop = contexts(viewport=DESKTOP).page()
    sign_in(laptop, server.base, "bruno")
    laptop.goto(f"{server.base}/t/{started['thread']['id']}")
    laptop.click(f'[data-action="reply"][data-id="{root}"]')
    text = laptop.locator("form.reply-form textarea")
    text.fill("A careful answer, half written.")
    with laptop.expect_response(lambda r: "/api/drafts/" in r.url and r.request.method == "PUT") as saved:
        laptop.locator("h1").click()  # leaving the form saves it to the server
    assert saved.value.ok
    laptop.reload()
    laptop.click(f'[data-action="reply"][data-id="{root}"]')
    laptop.wait_for_function(
        "() => document.querySelector('form.reply-form textarea').value === 'A careful answer, half written.'"
    )

    phone = contexts(viewport=PHONE).page()
    sign_in(phone, server.base, "bruno")
    phone.goto(f"{server.base}/a/{root}/reply")
    phone.wait_for_function("() => document.querySelector('textarea').value.startsWith('A careful answer')")
    phone.goto(f"{server.base}/account")
    assert phone.locator(f'#drafts-h ~ ul a[href="/a/{root}/reply"]').count() == 1

    text.fill("A careful answer, finished.")
    laptop.click("form.reply-form button[type=submit]")
    laptop.wait_for_selector("form.reply-form", state="detached")
    assert drafts_of(server, "bruno") == []
    assert laptop.evaluate(f"() => localStorage.getItem('moot:draft:reply:{root}')") is None


def test_two_devices_with_different_versions_are_shown_both_and_the_writer_chooses(server, contexts):
    started = new_thread(server, "ada", "Drafts on two devices", "Which one wins?")
    place = f"thread:{started['thread']['group']}"
    phone = contexts(viewport=PHONE).page()
    sign_in(phone, server.base, "ada")
    phone.goto(f"{server.base}/g/test.browser/new")
    phone.fill("#subject", "Travel notes")
    phone.fill("#body", "Written on the train.")
    with phone.expect_response(lambda r: "/api/drafts/" in r.url and r.request.method == "PUT"):
        phone.locator("h1").click()
    # Meanwhile the laptop, which had seen that version, saves another.
    with server.api("ada") as laptop:
        r = laptop.put(
            f"/api/drafts/{place}",
            json={"subject": "Travel notes", "body": "Rewritten at the desk.", "version": 1},
        )
        assert r.status_code == 200, r.text
    phone.fill("#body", "Written on the train, and more on the platform.")
    phone.reload()
    panel = phone.locator(".draft-choice")
    panel.wait_for()
    assert panel.locator("figure").count() == 2
    assert "on the platform" in panel.locator("figure").nth(0).inner_text()
    assert "Rewritten at the desk." in panel.locator("figure").nth(1).inner_text()
    with phone.expect_response(lambda r: "/api/drafts/" in r.url and r.request.method == "PUT") as saved:
        panel.locator("figure").nth(1).get_by_role("button", name="Keep this version").click()
    assert saved.value.ok
    assert phone.input_value("#body") == "Rewritten at the desk."
    assert phone.locator(".draft-choice").count() == 0
    (kept,) = [d for d in drafts_of(server, "ada") if d["place"] == place]
    assert (kept["excerpt"], kept["version"]) == ("Rewritten at the desk.", 3)
