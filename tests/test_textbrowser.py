"""A text browser reads a thread: `w3m -dump` of the thread page, served by
the real app, shows the articles in tree order with their authors."""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import seed
from tests.processes import tls


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
    r = await bob.post(
        f"/api/articles/{s['root']['id']}/replies",
        json={"body": "A second direct reply.", "subject": "A side topic (was: Hello)"},
    )
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
        # a reply's own subject is set apart from its author's handle, in words
        assert re.search(r"@bob on A side topic", " ".join(text.split())), (program, text)


def test_w3m_and_lynx_read_the_changed_pages_signed_in_and_post_with_their_forms(tmp_path):
    """Against a real `moot serve`: each text browser, signed in by its session
    cookie, reads the thread page (outline link, next-page control), the
    outline page, the account page (drafts, recovery codes) and the search
    page; then posts the reply form's own fields (csrf from the page) as its
    POST option does, follows the 303 and shows the posted reply, and makes
    new recovery codes with the account page's form."""
    import httpx

    from tests.conftest import PASSWORD
    from tests.nntp_support import serve
    from tests.processes import stop_process

    programs = {"w3m": w3m(), "lynx": lynx()}
    server = serve(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=10, verify=tls()) as web:
            web.post("/api/login", json={"username": "ada", "password": PASSWORD}).raise_for_status()
            page = web.get("/t/1").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            r = web.put(
                "/api/drafts/thread:comp.lang.python",
                json={"body": "Half a thought about dots.", "version": 0},
            )
            assert r.status_code in (200, 201), r.text
            cookies = dict(web.cookies.items())
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        jar = tmp_path / "cookies.txt"
        config = tmp_path / "lynx.cfg"  # Debian's, with the cookie file read
        config.write_text("INCLUDE:/etc/lynx/lynx.cfg\nPERSISTENT_COOKIES:TRUE\n")
        jar.write_text(
            "".join(f"127.0.0.1\tFALSE\t/\tFALSE\t2147483647\t{k}\t{v}\n" for k, v in cookies.items())
        )

        def run(program: str, url: str, post: str | None = None) -> str:
            if program == "w3m":
                args = [
                    programs["w3m"],
                    "-dump",
                    "-cols",
                    "100",
                    "-O",
                    "UTF-8",
                    "-header",
                    f"Cookie: {header}",
                ]
                if post is not None:
                    (tmp_path / "post.txt").write_text(post)
                    args += ["-post", str(tmp_path / "post.txt")]
                stdin = None
            else:
                args = [
                    programs["lynx"],
                    f"-cfg={config}",
                    "-dump",
                    "-nolist",
                    "-width=100",
                    "-display_charset=utf-8",
                    f"-cookie_file={jar}",
                    "-accept_all_cookies",
                    *(["-post_data"] if post is not None else []),
                ]
                stdin = (post + "\n---\n").encode() if post is not None else None
            out = subprocess.run(
                [*args, server.url + url],
                input=stdin,
                capture_output=True,
                timeout=30,
                check=True,
                env={**os.environ, "HOME": str(tmp_path)},
            )
            return out.stdout.decode("utf-8")

        for program in [p for p, path in programs.items() if path]:
            thread = run(program, "/t/1")
            assert "Outline" in thread and "First post" in thread and "Mark thread read" in thread, (
                program,
                thread,
            )
            outline = run(program, "/t/1/outline")
            assert re.search(r"^[\s•*+-]*Hello Ada \S+ \S+", outline, re.M), (program, outline)
            assert re.search(r"» (New subject: )?Re: Héllo Marta", outline) or "» Marta" in outline, (
                program,
                outline,
            )
            account = run(program, "/account")
            assert "Recovery codes" in account and "Make new recovery codes" in account, (program, account)
            assert "Drafts" in account and "Half a thought about dots." in account, (program, account)
            found = run(program, "/search?q=dot")
            assert "Hello" in found and "starts with a dot" in found, (program, found)
            text = f"Posted from {program}, without scripts."
            answer = run(program, "/a/2/reply", post=f"csrf={csrf}&body={text.replace(' ', '+')}&subject=")
            assert text in answer and "Hello" in answer, (program, answer)
            codes = run(
                program, "/account/recovery-codes", post=f"csrf={csrf}&password={PASSWORD.replace(' ', '+')}"
            )
            assert "Your recovery codes" in codes, (program, codes)
            assert len(set(re.findall(r"\b[2-9A-Z]{4}-[2-9A-Z]{4}\b", codes))) == 10, (program, codes)
        with httpx.Client(base_url=server.url, timeout=10, verify=tls()) as web:
            bodies = [a["body"] for a in web.get("/api/threads/1").json()["articles"]]
        assert [b for b in bodies if b.startswith("Posted from")] == [
            f"Posted from {p}, without scripts." for p, path in programs.items() if path
        ]
    finally:
        stop_process(server.proc)
