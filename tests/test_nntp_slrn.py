"""A second real newsreader against a real `moot serve`: Debian's slrn, driven
in tmux. It lists Moot's groups, shows a thread split off another as a thread
of its own, reads an article by number (which the web then counts as read),
and posts a followup that the JSON API then shows under its parent. slrn's
protocol log (`--debug`) shows how it asked: the overview with XOVER, and each
article by its number. Skipped, with the reason, where slrn or tmux is not
installed (./run tests installs them as root)."""

from __future__ import annotations

import os
import re
import shutil
import time

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.nntp_support import serve
from tests.processes import stop_process, tls
from tests.test_nntp_newsreader import WAIT, Tmux, split_off

pytestmark = pytest.mark.skipif(
    shutil.which("slrn") is None or shutil.which("tmux") is None,
    reason="slrn or tmux is not installed (Debian packages slrn and tmux; ./run tests installs them as root)",
)


def slrnrc(address: str) -> str:
    """ada's ~/.slrnrc for the server at `address` (host:port): her sign-in,
    her From line, and no question that would stop slrn at a prompt."""
    return "\n".join(
        [
            f'nnrpaccess "{address}" "ada" "{PASSWORD}"',
            'set username "ada"',
            'set realname "Ada"',
            'set hostname "example.org"',
            "set generate_message_id 0",  # Moot assigns the Message-ID
            "set check_new_groups 0",  # no "subscribe to new groups?" at start
            "set query_read_group_cutoff 0",  # no "how many headers?" on entering a group
            "set confirm_actions 0",  # no "really?" before followups and posts
            "",
        ]
    )


def test_slrn_lists_reads_by_number_and_posts_a_followup(tmp_path):
    server = serve(tmp_path)
    thread = split_off(server)
    address = f"127.0.0.1:{server.nntp}"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".slrnrc").write_text(slrnrc(address))
    (home / ".slrnrc").chmod(0o600)
    # subscribed to every group, nothing read yet
    (home / ".jnewsrc").write_text("comp.lang.c:\ncomp.lang.python:\nnews.readonly:\nrec.music.folk:\n")
    editor = tmp_path / "editor.sh"
    # slrn calls $EDITOR with the followup file; the "edit" appends a line of text.
    editor.write_text('#!/bin/sh\nfor f; do :; done\nprintf "\\nA followup from slrn.\\n" >> "$f"\n')
    editor.chmod(0o755)
    protocol = tmp_path / "slrn.log"  # slrn writes it unbuffered, each command as ">COMMAND"
    env = {
        **os.environ,
        "HOME": str(home),
        "NNTPSERVER": address,
        "TERM": "xterm",
        "EDITOR": str(editor),
        "VISUAL": str(editor),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    env.pop("SLRN_EDITOR", None)
    tmux = Tmux(f"moot-slrn-{os.getpid()}", env)
    # ada's unread count as the web shows it to her
    web = httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10, verify=tls())
    web.post("/api/login", json={"username": "ada", "password": PASSWORD}).raise_for_status()

    def web_unread() -> int:
        groups = web.get("/api/groups").json()["groups"]
        return next(g["unread"] for g in groups if g["name"] == "comp.lang.python")

    def commands() -> list[str]:
        return re.findall(r"^>([A-Z]+(?: \S+)?)", protocol.read_text(errors="replace"), re.M)

    try:
        tmux.start(f"slrn --debug {protocol}")
        # the group list shows groups with unread articles; `l` shows the others too
        tmux.wait_for("comp.lang.python", "News Groups")
        tmux.keys("l")
        tmux.wait_for("comp.lang.c", "news.readonly", "rec.music.folk")
        tmux.keys("Enter")  # the cursor is on comp.lang.python: its threads
        screen = tmux.wait_for("Hello", "Tangent", "unread] Group: comp.lang.python")
        # One line per thread, collapsed: [author], its article count, its subject.
        # The old thread holds the root, Märta's reply and the split's notice.
        threads = re.findall(r"\]\s+(\d+) (Hello|Tangent)\s*$", screen, re.M)
        assert threads == [("3", "Hello"), ("2", "Tangent")], screen
        tmux.keys("Enter")  # read the first article
        tmux.wait_for("First post", "Ada <ada@test.moot>", ".starts with a dot")
        # Märta's reply and the two split-off articles; ada's own article never counts
        assert web_unread() == 3
        tmux.keys("n")  # the next unread article
        tmux.wait_for("A reply from Märta")
        deadline = time.monotonic() + WAIT
        while web_unread() != 2:  # the read mark is written shortly after the reply
            assert time.monotonic() < deadline, "reading in slrn never marked the article read on the web"
            time.sleep(0.05)
        # The overview came by XOVER (one command for the group) and the two
        # articles by number: no HEAD per article, no fetch by Message-ID.
        sent = commands()
        assert "XOVER 1-5" in sent, sent
        fetched = [c for c in sent if c.split()[0] in ("ARTICLE", "HEAD", "BODY")]
        assert fetched == ["ARTICLE 1", "ARTICLE 2"], sent
        tmux.keys("f")  # follow up; the editor adds a line
        tmux.wait_for("Post the message?")
        tmux.keys("y")
        tmux.wait_for("Posting...done.")
        articles = httpx.get(f"{server.url}/api/threads/{thread}", verify=tls()).json()["articles"]
        posted = [a for a in articles if "A followup from slrn." in a["body"]]
        assert len(posted) == 1, articles
        assert posted[0]["parent_id"] == articles[1]["id"] and posted[0]["author"]["username"] == "ada"
        assert "> A reply from Märta" in posted[0]["body"]
    finally:
        web.close()
        tmux.stop()
        stop_process(server.proc)
