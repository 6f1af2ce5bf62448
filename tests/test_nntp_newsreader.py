"""A real newsreader against a real `moot serve`: Debian's tin, driven in tmux.
It lists Moot's groups, shows a thread's subject and author and a thread
split off it on its own, reads an article (which the web then counts as
read), and posts a followup that the JSON API then shows under its parent.
Skipped, with the reason, where tin or tmux is not installed (./run tests
installs them as root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.nntp_support import serve
from tests.processes import stop_process, tls

pytestmark = pytest.mark.skipif(
    shutil.which("tin") is None or shutil.which("tmux") is None,
    reason="tin or tmux is not installed (Debian packages tin and tmux; ./run tests installs them as root)",
)

WAIT = 20.0


class Tmux:
    def __init__(self, name: str, env: dict):
        # The terminal's size is tmux's window: COLUMNS and LINES (pytest-xdist's
        # workers set 80 and 24) would override it for curses programs.
        self.name = name
        self.env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    def keys(self, *keys: str) -> None:
        """Type each key once the program has answered the one before: its
        screen changed, or it quit (and its session with it)."""
        for key in keys:
            before = self.screen()
            self.run("send-keys", "-t", self.name, key)
            deadline = time.monotonic() + WAIT
            while True:
                try:
                    if self.screen() != before:
                        break
                except subprocess.CalledProcessError:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer to {key!r}; the screen shows:\n{before}")
                time.sleep(0.02)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def wait_for(self, *texts: str) -> str:
        """The screen once it shows every one of `texts` (a screen may be caught half drawn)."""
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts!r} never all appeared; the screen shows:\n{screen}")
            time.sleep(0.05)

    def start(self, command: str) -> None:
        """A detached 150x40 session running `command`."""
        self.run("new-session", "-d", "-s", self.name, "-x", "150", "-y", "40", command)

    def stop(self) -> None:
        """End the session and its tmux server, in whatever state they are."""
        subprocess.run(["tmux", "-L", self.name, "kill-server"], env=self.env, capture_output=True)


def split_off(server) -> int:
    """A reply and its own reply added below the reply of the prepared thread,
    then split off into a thread of their own; returns the old thread's id."""
    with httpx.Client(base_url=server.url, timeout=20, verify=tls()) as web:
        assert web.post("/api/login", json={"username": "marta", "password": PASSWORD}).status_code == 200
        thread = web.get("/api/groups/comp.lang.python/threads").json()["threads"][0]["id"]
        reply = web.get(f"/api/threads/{thread}").json()["articles"][1]
        r = web.post(f"/api/articles/{reply['id']}/replies", json={"body": "Off topic", "subject": "Tangent"})
        tangent = r.json()["article"]
        r = web.post(f"/api/articles/{tangent['id']}/replies", json={"body": "Indeed"})
        assert r.status_code == 201, r.text
        r = web.post(f"/api/threads/{thread}/split", json={"article_id": tangent["id"], "reason": "a topic"})
        assert r.status_code == 201, r.text
    return thread


def test_tin_lists_reads_and_posts_a_followup(tmp_path):
    server = serve(tmp_path)
    thread = split_off(server)
    home = tmp_path / "home"
    (home / ".tin").mkdir(parents=True)
    (home / ".newsauth").write_text(f'127.0.0.1 "{PASSWORD}" ada\n')
    (home / ".newsauth").chmod(0o600)
    # A reader's setup: subscribed to the groups, and a From address tin accepts.
    (home / ".newsrc").write_text("comp.lang.c:\ncomp.lang.python:\nnews.readonly:\nrec.music.folk:\n")
    (home / ".tin" / "tinrc").write_text("mail_address=ada@example.org\n")
    editor = tmp_path / "editor.sh"
    # tin calls $EDITOR with the article file last; the "edit" appends a line of followup text.
    editor.write_text('#!/bin/sh\nfor f; do :; done\nprintf "\\nA followup from tin.\\n" >> "$f"\n')
    editor.chmod(0o755)
    env = {
        **os.environ,
        "HOME": str(home),
        "TERM": "xterm",
        "EDITOR": str(editor),
        "VISUAL": str(editor),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    tmux = Tmux(f"moot-tin-{os.getpid()}", env)
    # ada's unread count as the web shows it to her
    web = httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10, verify=tls())
    web.post("/api/login", json={"username": "ada", "password": PASSWORD}).raise_for_status()

    def web_unread() -> int:
        groups = web.get("/api/groups").json()["groups"]
        return next(g["unread"] for g in groups if g["name"] == "comp.lang.python")

    try:
        tmux.start(f"tin -r -A -q -g 127.0.0.1 -p {server.nntp}")
        # the group selection page
        tmux.wait_for(
            "rec.music.folk", "comp.lang.python", "Python, the language", "comp.lang.c", "news.readonly"
        )
        tmux.keys("2", "Enter", "Enter")  # comp.lang.python: its threads
        screen = tmux.wait_for("Hello", "Ada", "l=list thread")  # the thread index, drawn whole
        # tin threads by References too: the split-off replies must not name the old
        # thread, or it nests the new thread back inside it. One line per thread:
        # its number, marks and counts, then its subject.
        threads = re.findall(r"^\s*(\d+)\s.*?\s(Hello|Tangent)\s", screen, re.M)
        assert threads == [("1", "Hello"), ("2", "Tangent")], screen
        tmux.keys("Enter")  # read the first article
        tmux.wait_for("First post", "Ada <ada@test.moot>", ".starts with a dot")
        # Märta's reply and the two split-off articles; ada's own article never counts
        assert web_unread() == 3
        tmux.keys("Tab")  # the next unread article, which tin fetches by number
        tmux.wait_for("A reply from Märta")
        deadline = time.monotonic() + WAIT
        # The read mark is written shortly after the reply (tin may fetch ahead, marking more).
        while web_unread() > 2:
            assert time.monotonic() < deadline, "reading in tin never marked the article read on the web"
            time.sleep(0.05)
        tmux.keys("f")  # follow up; the editor adds a line
        tmux.wait_for("p=post")
        tmux.keys("p")
        tmux.wait_for("Article posted")
        articles = httpx.get(f"{server.url}/api/threads/{thread}", verify=tls()).json()["articles"]
        posted = [a for a in articles if "A followup from tin." in a["body"]]
        assert len(posted) == 1, articles
        assert posted[0]["parent_id"] == articles[1]["id"] and posted[0]["author"]["username"] == "ada"
        assert "> A reply from Märta" in posted[0]["body"]
    finally:
        web.close()
        tmux.stop()
        stop_process(server.proc)
