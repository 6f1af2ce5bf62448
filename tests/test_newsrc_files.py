"""Subscriptions and .newsrc files against the real app: new accounts get
the site's default groups, subscribing from the API and the group page,
"Your groups" first on the home page, export and import of a .newsrc (bad
files refused whole), and a round trip through Debian's tin: Moot's export
is what tin reads, tin's catch-up comes back through the import."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess

import httpx
import pytest

from tests.conftest import seed
from tests.nntp_support import serve
from tests.processes import stop_process, tls
from tests.test_nntp_newsreader import Tmux


async def test_default_groups_subscriptions_and_your_groups(make_site):
    site = await make_site(default_groups=("comp.lang.python",))
    s = await seed(site)
    await s["admin"].post("/api/groups", json={"name": "rec.music.folk"})
    newcomer = await site.client()
    r = await newcomer.post("/api/register", json={"username": "newbie", "password": "a good password"})
    assert r.status_code == 201
    listed = (await newcomer.get("/api/groups")).json()["groups"]
    assert {g["name"]: g["subscribed"] for g in listed} == {"comp.lang.python": True, "rec.music.folk": False}
    home = (await newcomer.get("/")).text
    assert re.search(
        r'<h2 id="h-mine" class="hier-name">Your groups</h2><ul class="groups"><li class="group-row">'
        r'<div class="gname"><a href="/g/comp.lang.python">comp.lang.python</a> <a class="unread"',
        home,
    )
    r = await newcomer.post("/api/groups/rec.music.folk/subscribe", json={"on": True})
    assert r.json() == {"group": "rec.music.folk", "subscribed": True}
    assert (await newcomer.post("/api/groups/rec.music.folk/subscribe", json={"on": "y"})).status_code == 400
    assert (await newcomer.post("/api/groups/no.such/subscribe", json={"on": True})).status_code == 404
    page = (await newcomer.get("/g/rec.music.folk")).text
    assert "Unsubscribe</button>" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await newcomer.post("/g/rec.music.folk/subscribe", data={"csrf": token, "on": "0"})
    assert r.status_code == 303 and ">Subscribe</button>" in (await newcomer.get("/g/rec.music.folk")).text
    # An empty default list means every group there is.
    other = await make_site()
    await seed(other, "comp.lang.c")
    c = await other.client()
    await c.post("/api/register", json={"username": "anyone", "password": "a good password"})
    assert [g["subscribed"] for g in (await c.get("/api/groups")).json()["groups"]] == [True]


async def test_export_and_import(site):
    s = await seed(site)
    await s["admin"].post("/api/groups", json={"name": "rec.music.folk"})
    bob = await site.client("bob")
    await bob.post("/api/groups/comp.lang.python/subscribe", json={"on": True})
    await bob.post(f"/api/threads/{s['thread']['id']}/read", json={"up_to_article_id": s["root"]["id"]})
    r = await bob.get("/api/me/newsrc")
    assert (
        r.headers["content-type"].startswith("text/plain")
        and "attachment" in r.headers["content-disposition"]
    )
    assert r.text == "comp.lang.python: 1\nrec.music.folk!\n"

    before = site.snapshot()
    for text, status, message in (
        ("comp.lang.python: 1-x\n", 400, "line 1"),
        ("garbage\n", 400, "line 1"),
        ("a: 1\n" * 50001, 413, "50000"),
    ):
        r = await bob.post("/api/me/newsrc", json={"newsrc": text})
        assert r.status_code == status and message in r.json()["error"]["message"]
    assert (await bob.post("/api/me/newsrc", json={"newsrc": 5})).status_code == 400
    assert (await (await site.client()).post("/api/me/newsrc", json={"newsrc": ""})).status_code == 401
    assert (await (await site.client()).get("/api/me/newsrc")).status_code == 401
    assert site.snapshot() == before

    r = await bob.post(
        "/api/me/newsrc",
        json={"newsrc": "options -n all\ncomp.lang.python! 1-2,7-900\nrec.music.folk:\nalt.elsewhere: 1-5\n"},
    )
    assert r.json() == {"groups": 2, "unknown": ["alt.elsewhere"]}
    # numbers beyond the group's high-water mark (2) are dropped
    assert (await bob.get("/api/me/newsrc")).text == "comp.lang.python! 1-2\nrec.music.folk:\n"
    listed = {
        g["name"]: (g["subscribed"], g["unread"]) for g in (await bob.get("/api/groups")).json()["groups"]
    }
    assert listed == {"comp.lang.python": (False, 0), "rec.music.folk": (True, 0)}

    # Imports are limited per reader (ten an hour), however many arrive at once.
    results = await asyncio.gather(
        *(bob.post("/api/me/newsrc", json={"newsrc": "rec.music.folk:\n"}) for _ in range(20))
    )
    # (reserved before the file is read: the four refused files and the import above spent five)
    assert sorted(r.status_code for r in results) == [200] * 5 + [429] * 15

    # The account page takes a pasted file without JavaScript.
    carol = await site.client("carol")
    page = (await carol.get("/account")).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = await carol.post(
        "/account/newsrc", data={"csrf": token, "newsrc": "comp.lang.python: 1-2\nalt.x: 1\n"}
    )
    assert r.status_code == 200 and "Read marks taken for 1 group; not on this site: alt.x." in r.text
    r = await carol.post("/account/newsrc", data={"csrf": token, "newsrc": "what is this"})
    assert r.status_code == 400 and "line 1" in r.text


@pytest.mark.skipif(
    shutil.which("tin") is None or shutil.which("tmux") is None,
    reason="tin or tmux is not installed (Debian packages tin and tmux; ./run tests installs them)",
)
def test_a_round_trip_through_tin(tmp_path):
    server = serve(tmp_path)
    home = tmp_path / "home"
    (home / ".tin").mkdir(parents=True)
    (home / ".tin" / "tinrc").write_text("confirm_choice=0\n")
    env = {**os.environ, "HOME": str(home), "TERM": "xterm", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    tmux = Tmux(f"moot-newsrc-{os.getpid()}", env)
    try:
        with httpx.Client(base_url=server.url, timeout=10, verify=tls()) as root:
            assert (
                root.post(
                    "/api/login", json={"username": "root", "password": "correct horse battery"}
                ).status_code
                == 200
            )
            for name in ("comp.lang.python", "rec.music.folk"):
                root.post(f"/api/groups/{name}/subscribe", json={"on": True})
            thread = root.get("/api/groups/comp.lang.python/threads").json()["threads"][0]
            root.post(
                f"/api/threads/{thread['id']}/read", json={"up_to_article_id": thread["root_article_id"]}
            )
            exported = root.get("/api/me/newsrc").text
            assert "comp.lang.python: 1\n" in exported and "rec.music.folk:\n" in exported
            (home / ".newsrc").write_text(exported)

            tmux.start(f"tin -r -q -g 127.0.0.1 -p {server.nntp}")
            screen = tmux.wait_for("rec.music.folk", "comp.lang.python")
            # tin reads Moot's marks: one unread article left in comp.lang.python
            assert re.search(r"\b1\s+comp\.lang\.python", screen), screen
            assert "comp.lang.c" not in screen  # not subscribed: tin leaves it out
            tmux.keys("c")  # catch up the group under the cursor
            tmux.keys("q")
            deadline = 50
            while tmux_alive(tmux) and deadline:
                deadline -= 1
                subprocess.run(["sleep", "0.2"], check=True)
            written = (home / ".newsrc").read_text()
            assert re.search(r"^comp\.lang\.python: 1-2$", written, re.M), written

            r = root.post("/api/me/newsrc", json={"newsrc": written})
            assert r.status_code == 200 and r.json()["groups"] >= 2
            listed = {
                g["name"]: (g["subscribed"], g["unread"]) for g in root.get("/api/groups").json()["groups"]
            }
            assert listed["comp.lang.python"] == (True, 0) and listed["rec.music.folk"][0] is True
            assert listed["comp.lang.c"][0] is False
            assert root.get("/api/me/newsrc").text.splitlines()[1] == "comp.lang.python: 1-2"
    finally:
        tmux.stop()
        stop_process(server.proc)


def tmux_alive(tmux: Tmux) -> bool:
    """Whether tin is still running in the tmux session (it writes .newsrc as it quits)."""
    try:
        return "tin" in tmux.run("list-panes", "-t", tmux.name, "-F", "#{pane_current_command}")
    except subprocess.CalledProcessError:
        return False
