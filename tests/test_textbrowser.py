"""A text browser reads a thread: `w3m -dump` of the thread page, served by
the real app, shows the articles in tree order with their authors."""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import seed


def lynx() -> str | None:
    """lynx when installed (optional: w3m is the text browser every run has)."""
    return shutil.which("lynx")


def dumps(html: str) -> dict[str, str]:
    """The page as w3m -dump (and lynx -dump, when installed) show it."""
    out = {
        "w3m": subprocess.run(
            [w3m(), "-dump", "-T", "text/html", "-cols", "100", "-O", "UTF-8"],
            input=html.encode("utf-8"),
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout.decode("utf-8")
    }
    program = lynx()
    if program:
        out["lynx"] = subprocess.run(
            [
                program,
                "-dump",
                "-stdin",
                "-nolist",
                "-width=100",
                "-display_charset=utf-8",
                "-assume_charset=utf-8",
            ],
            input=html.encode("utf-8"),
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout.decode("utf-8")
    return out


def w3m() -> str:
    path = shutil.which("w3m")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("w3m is not installed (CI installs Debian's w3m)")
        pytest.skip("w3m is not installed; install Debian's w3m to run this test")
    return path


async def test_w3m_shows_articles_in_order_with_authors(site):
    program = w3m()
    s = await seed(site)
    bob = await site.client("bob")
    r = await bob.post(
        f"/api/articles/{s['reply']['id']}/replies",
        json={"body": "Ada wrote:\n> A reply\n\nBob answers here."},
    )
    assert r.status_code == 201
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Bob again, later."})
    html = (await (await site.client()).get(f"/t/{s['thread']['id']}")).text
    dump = subprocess.run(
        [program, "-dump", "-T", "text/html", "-cols", "100", "-O", "UTF-8"],
        input=html.encode("utf-8"),
        capture_output=True,
        timeout=30,
        check=True,
    )
    text = dump.stdout.decode("utf-8")
    # article bodies in tree order, each after its author's name
    order = ["First post", "A reply", "Bob answers here.", "Bob again, later."]
    positions = [text.index(body) for body in order]
    assert positions == sorted(positions), text
    # each article is a numbered list item headed by its author ("1. » Bob @bob replying to Ada")
    headers = re.findall(r"^\s*\d+\. (?:»+ )?(\w+) @\w+(?: replying to ↳ (\w+))?\s*$", text, re.M)
    assert headers == [("Ada", ""), ("Ada", "Ada"), ("Bob", "Ada"), ("Bob", "Ada")], text
    assert text.index("Hello") < positions[0]  # the subject heads the page


async def test_text_browsers_show_no_script_parts_and_show_the_nesting(site):
    s = await seed(site)
    bob = await site.client("bob")
    deeper = s["reply"]
    for n in range(3):
        r = await bob.post(f"/api/articles/{deeper['id']}/replies", json={"body": f"Level {n + 2} here."})
        assert r.status_code == 201
        deeper = r.json()["article"]
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "A second direct reply."})
    assert r.status_code == 201
    client = await site.client()
    group_page = (await client.get("/g/comp.lang.python")).text
    thread_page = (await client.get(f"/t/{s['thread']['id']}")).text
    for program, text in dumps(group_page).items():
        # what only scripts use is made by the scripts
        assert "New threads have started" not in text, program
        assert "Keyboard shortcuts" not in text and "show or hide" not in text, program
        assert "Hello" in text, program
    for program, text in dumps(thread_page).items():
        assert "Keyboard shortcuts" not in text and " new" not in text.replace("\n", " ").split("Hello")[0], (
            program
        )
        assert not re.search(r"\b0 new\b", text), program
        # the nesting in text: one » per level before the author
        assert re.search(r"»»»» Bob", text) and re.search(r"(?<!»)» Ada", text), (program, text)
        # the root has two direct replies, five in its branch
        assert "2 replies, 5 in this branch" in text, (program, text)
        assert "1 reply, 3 in this branch" in text, (program, text)
