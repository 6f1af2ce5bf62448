"""Scenario: the outline of a 1,000-article thread in Chromium (Playwright
driving Debian's headless Chromium against a real `moot serve`): time from
pressing the Outline link to its first lines on screen, and from clicking a
line on another thread page to that article on screen, against opening the
plain thread page (navigation to its first article on screen), same run.

    python bench/outline.py [--samples 7] [--json OUT]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time

import httpx
from common import Row, command_line, server, temp_dir
from thread_read import build

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-extensions", "--disable-dev-shm-usage", "--no-first-run"]

# From the click on Outline to its first line laid out on screen, timed in the page.
OPEN_OUTLINE = """async () => {
  const start = performance.now();
  document.querySelector('.views [data-action="outline"]').click();
  for (;;) {
    await new Promise(requestAnimationFrame);
    const line = document.querySelector("#outline-panel .oline .olink");
    if (line && line.getBoundingClientRect().height > 0) return performance.now() - start;
  }
}"""


def run(samples: int) -> list[Row]:
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        return [Row("outline", "outline open", 0, "", note="chromium not installed: not measured")]
    db_path = temp_dir() + "/outline.db"
    thread_id = asyncio.run(build(db_path, articles_n=1000))
    plain, opened, jumps, drawn = [], [], [], []
    with server(db_path) as (url, _), sync_playwright() as p:
        with httpx.Client(timeout=30) as c:
            lines = c.get(f"{url}/api/threads/{thread_id}/outline").json()["lines"]
        assert len(lines) == 1000
        far = lines[850]  # on the fifth thread page
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{url}/t/{thread_id}")  # warm up: the page and the outline's JSON rendered once
        first = page.evaluate(OPEN_OUTLINE)
        for _ in range(samples):  # interleaved so drift hits all alike
            page.evaluate("sessionStorage.clear()")
            start = time.perf_counter()
            page.goto(f"{url}/t/{thread_id}", wait_until="commit")
            page.wait_for_selector("#tree .node .art", state="visible")
            plain.append((time.perf_counter() - start) * 1000)
            page.wait_for_load_state("load")
            opened.append(page.evaluate(OPEN_OUTLINE))
            drawn.append(page.locator("#outline-panel .oline").count())
            page.evaluate(
                """() => { const box = document.querySelector('#outline-panel .oscroll');
                box.scrollTop = 850 * document.querySelector('#outline-panel .oline').offsetHeight; }"""
            )
            link = page.locator(f'#outline-panel .oline[data-id="{far["id"]}"] .olink')
            link.wait_for()
            start = time.perf_counter()
            link.click()
            page.wait_for_selector(f"#a{far['id']} > .art", state="visible")
            jumps.append((time.perf_counter() - start) * 1000)
            assert page.url.endswith(far["href"]), (page.url, far["href"])
        browser.close()
    base, outline, jump = (statistics.median(v) for v in (plain, opened, jumps))
    note = f"median of {samples}; 1,000 articles of ~1 KB, 1,280x900, headless Chromium"
    return [
        Row(
            "outline",
            "outline of a 1,000-article thread: click to first lines visible",
            outline,
            "ms",
            base,
            "plain thread page: navigation to first article visible",
            "< 300 ms",
            outline < 300,
            f"{note}; anonymous, the outline's JSON from the response cache (the first open, rendering it:"
            f" {first:.0f} ms); {max(drawn)} lines in the document of 1,000 loaded",
        ),
        Row(
            "outline",
            "a line on another thread page: click to its article visible",
            jump,
            "ms",
            base,
            "plain thread page: navigation to first article visible",
            "",
            None,
            f"{note}; the outline reopens there",
        ),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, samples=7)
