"""Writing a reply in a real browser (Chromium through Playwright against a
real `moot serve`): a selection is quoted as written, quote levels and links
included, under a dated attribution; Ctrl+Enter sends; Reply with a selection
quotes it; Preview shows the server's rendering; Esc closes the form."""

from __future__ import annotations

import pytest

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

pytestmark = pytest.mark.xdist_group("browser-compose")  # one Chromium and one server for the module

BODY = "Ann wrote:\n> Tabs are fine, see https://example.org/tabs\n>> Older words.\n\nI disagree: spaces line up."

SELECT = """([id, start, end]) => {
  // select from the first `start` to the end of the first `end` after it, in the article's text
  const walker = document.createTreeWalker(document.querySelector(`#a${id} > .art .body`), NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let found = false;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!found && node.data.includes(start)) {
      range.setStart(node, node.data.indexOf(start));
      found = true;
    }
    if (found && node.data.includes(end)) {
      range.setEnd(node, node.data.indexOf(end) + end.length);
      break;
    }
  }
  getSelection().removeAllRanges();
  getSelection().addRange(range);
}"""


def attribution(article: dict) -> str:
    return f"On {article['created_at'][:10]} {article['created_at'][11:16]} UTC, Bruno wrote:\n"


def test_a_selection_across_quote_levels_is_quoted_as_written_and_ctrl_enter_sends(server, contexts):
    started = new_thread(server, "ada", "Tabs or spaces", "Which do you indent with?")
    article = reply(server, "bruno", started["article"]["id"], BODY)
    page = contexts(viewport=DESKTOP).page()
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    page.click(f"#a{article['id']} > .art pre.t")  # the article becomes the current one
    page.evaluate(SELECT, [article["id"], "fine", "disagree"])
    page.keyboard.press("r")
    box = page.locator(f"#a{article['id']} > form.reply-form textarea")
    assert box.input_value() == attribution(article) + (
        ">> fine, see https://example.org/tabs\n>>> Older words.\n>\n> I disagree\n\n"
    )
    box.press("End")
    box.type("Spaces it is.")
    box.press("Control+Enter")
    page.wait_for_selector(f"#a{article['id']} .node .body:has-text('Spaces it is.')")
    assert page.locator("form.reply-form").count() == 0
    # at phone size, a finger on Reply quotes the selection the same way, and Ctrl+Enter sends
    page.set_viewport_size(PHONE)
    page.evaluate(SELECT, [article["id"], "fine", "disagree"])
    page.click(f'#a{article["id"]} > .art [data-action="reply"]')
    assert box.input_value() == attribution(article) + (
        ">> fine, see https://example.org/tabs\n>>> Older words.\n>\n> I disagree\n\n"
    )
    box.press("End")
    box.type("On a phone too.")
    box.press("Control+Enter")
    page.wait_for_selector(f"#a{article['id']} .node .body:has-text('On a phone too.')")


def test_reply_quotes_the_selection_preview_renders_and_esc_closes(server, contexts):
    started = new_thread(server, "ada", "Previews", "Show me first.")
    article = reply(server, "bruno", started["article"]["id"], BODY)
    page = contexts(viewport=DESKTOP).page()
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    link = page.locator(f'#a{article["id"]} > .art [data-action="reply"]')
    page.evaluate(SELECT, [article["id"], "spaces", "spaces line up"])
    link.click()
    box = page.locator(f"#a{article['id']} > form.reply-form textarea")
    assert box.input_value() == attribution(article) + "> spaces line up\n\n"
    box.press("Escape")
    assert page.locator("form.reply-form").count() == 0
    assert page.evaluate("document.activeElement.dataset.action") == "reply"
    # nothing selected: the whole article without the quotes it carries
    page.evaluate("getSelection().removeAllRanges()")
    link.click()
    assert box.input_value() == attribution(article) + "> I disagree: spaces line up.\n\n"
    form = page.locator("form.reply-form")
    box.press("End")
    box.type("Yes.")
    assert "quoted text is longer" in form.locator(".overquote").inner_text()
    form.locator('[data-action="preview"]').click()
    quoted = form.locator(".preview pre.q.q1")
    assert quoted.inner_text() == "> I disagree: spaces line up."
    assert form.locator(".preview pre.t").last.inner_text().strip() == "Yes."
    box.press("Escape")
    assert page.locator("form.reply-form").count() == 0


def test_typing_an_at_sign_offers_members_to_mention_by_keyboard(server, contexts):
    from playwright.sync_api import expect

    started = new_thread(server, "bruno", "Who to ask", "Anyone know about reeds?")
    page = contexts(viewport=DESKTOP).page()
    sign_in(page, server.base, "ada")
    page.goto(f"{server.base}/t/{started['thread']['id']}")
    page.click(f'[data-action="reply"][data-id="{started["article"]["id"]}"]')
    box = page.locator("form.reply-form textarea")
    box.press("Control+End")
    box.type("Ask @ma")
    options = page.locator("#mentions [role=option]")
    expect(options).to_have_count(1)
    assert options.first.inner_text() == "@marta Marta"
    assert box.get_attribute("aria-controls") == "mentions"
    assert box.get_attribute("aria-activedescendant") == "mention-0"
    assert options.first.get_attribute("aria-selected") == "true"
    box.press("Escape")  # closes the list, not the form
    expect(page.locator("#mentions")).to_be_hidden()
    assert page.locator("form.reply-form").count() == 1 and box.get_attribute("aria-activedescendant") is None
    box.type("r")
    expect(page.locator("#mentions")).to_be_visible()
    expect(options).to_have_text(["@marta Marta"])
    box.press("Enter")
    assert box.input_value().endswith("Ask @marta ")
    box.type("or @")
    expect(page.locator("#mentions")).to_be_hidden()  # nothing typed after the @ yet
    box.type("r")
    expect(page.locator("#mentions")).to_be_visible()
    expect(options).to_have_text(["@root Root"])
    box.press("Tab")
    assert box.input_value().endswith("Ask @marta or @root ")
    # several offered: arrows move, the text box names the chosen one
    with server.api() as client:
        for name in ("brenda", "brook"):
            client.post("/api/register", json={"username": name, "password": "a long password 1"})
    box.type("and @br")
    expect(options).to_have_count(3)
    assert options.all_inner_texts()[0].startswith("@brenda")
    box.press("ArrowDown")
    box.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == "mention-2"
    assert options.nth(2).get_attribute("aria-selected") == "true"
    box.press("ArrowUp")
    box.press("Enter")
    assert box.input_value().endswith("Ask @marta or @root and @brook ")
    box.press("Control+Enter")  # and it is sent with the names in it
    page.wait_for_selector("#tree .node .node .body:has-text('Ask @marta or @root and @brook')")
    assert page.locator("#tree .body a[href='/u/brook']").count() == 1
