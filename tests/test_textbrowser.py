"""A text browser reads a thread: `w3m -dump` of the thread page, served by
the real app, shows the articles in tree order with their authors."""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import seed


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
    r = await bob.post(f"/api/articles/{s['reply']['id']}/replies",
                       json={"body": "Ada wrote:\n> A reply\n\nBob answers here."})
    assert r.status_code == 201
    r = await bob.post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Bob again, later."})
    html = (await (await site.client()).get(f"/t/{s['thread']['id']}")).text
    dump = subprocess.run([program, "-dump", "-T", "text/html", "-cols", "100", "-O", "UTF-8"],
                          input=html.encode("utf-8"), capture_output=True, timeout=30, check=True)
    text = dump.stdout.decode("utf-8")
    # article bodies in tree order, each after its author's name
    order = ["First post", "A reply", "Bob answers here.", "Bob again, later."]
    positions = [text.index(body) for body in order]
    assert positions == sorted(positions), text
    # each article is a numbered list item headed by its author ("1. Bob @bob replying to Ada")
    headers = re.findall(r"^\s*\d+\. (\w+) @\w+(?: replying to ↳ (\w+))?\s*$", text, re.M)
    assert headers == [("Ada", ""), ("Ada", "Ada"), ("Bob", "Ada"), ("Bob", "Ada")], text
    assert text.index("Hello") < positions[0]  # the subject heads the page
