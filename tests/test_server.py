"""The real `moot` command: a uvicorn server on a loopback port, the CLI, restarts."""

import json

import httpx
import pytest

from moot.cli import main
from tests.processes import moot, moot_server, tls


def test_demo_serve_register_post_restart(tmp_path):
    db = tmp_path / "site.db"
    out = moot("demo", db_path=db)
    assert "6 groups" in out.stdout
    with moot_server(db, tmp_path / "server.log") as url, httpx.Client(base_url=url, verify=tls()) as client:
        groups = client.get("/api/groups").json()["groups"]
        assert {"comp.lang.python", "rec.music.folk"} <= {g["name"] for g in groups}
        r = client.post("/api/register", json={"username": "newcomer", "password": "a fine password"})
        assert r.status_code == 201 and r.json()["user"]["role"] == "member"
        r = client.post(
            "/api/groups/comp.lang.python/threads",
            json={"subject": "Hello from a newcomer", "body": "Hi all.\r\nGlad to be here."},
        )
        assert r.status_code == 201
        article = r.json()["article"]
        r = client.post(f"/api/articles/{article['id']}/replies", json={"body": "Replying to myself"})
        reply = r.json()["article"]
        tree = client.get(f"/api/threads/{article['thread_id']}").json()
        assert [(a["id"], a["depth"]) for a in tree["articles"]] == [(article["id"], 0), (reply["id"], 1)]
        assert tree["articles"][0]["body"] == "Hi all.\nGlad to be here."
    # permanence: the same article after a restart, by Message-ID
    with moot_server(db, tmp_path / "server.log") as url:
        assert (
            httpx.get(url + "/api/articles/" + reply["message_id"], verify=tls()).json()["article"] == reply
        )


def test_cli_adduser_init_and_get(tmp_path):
    db = tmp_path / "cli.db"
    assert moot("init", db_path=db).returncode == 0
    out = moot("adduser", "marta", "--moderator", "--password-stdin", db_path=db, input="a long password\n")
    assert "marta (moderator)" in out.stdout
    bad = moot("adduser", "x", "--password-stdin", db_path=db, input="a long password\n", check=False)
    assert bad.returncode == 2 and "username" in bad.stderr
    out = moot("get", "/api/groups", db_path=db)
    assert json.loads(out.stdout) == {"groups": []}
    missing = moot("get", "/api/threads/5", db_path=db, check=False)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "not_found"


def test_cli_get_prints_a_streamed_answer_and_ends(tmp_path):
    # An mbox export is a streaming response, which listens for the client to leave as it sends.
    db, archive = str(tmp_path / "cli.db"), tmp_path / "in.mbox"
    archive.write_bytes(
        b"From a@example.org Mon Dec  7 10:00:00 2026\nFrom: A <a@example.org>\nSubject: Kept\n"
        b"Message-ID: <kept@example.org>\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n\nText.\n"
    )
    assert main(["import", str(archive), "--group", "comp.test", "--create", "--db", db]) == 0
    out = moot("get", "/api/groups/comp.test/mbox", db_path=db)
    assert out.stdout.startswith("From ") and "Subject: Kept" in out.stdout


def test_a_missing_or_foreign_database_file_is_named_without_a_traceback_and_none_is_made(tmp_path, capsys):
    junk, missing = tmp_path / "junk.db", tmp_path / "missing.db"
    junk.write_text("not a database\n")
    for argv, status, says in [
        (["check", "--db", str(junk)], 1, "cannot be used: file is not a database"),
        (["get", "/api/groups", "--db", str(junk)], 1, "cannot be used: file is not a database"),
        (["check", "--db", str(missing)], 2, "no database at"),
        (["backup", str(tmp_path / "copy.db"), "--db", str(missing)], 2, "no database at"),
        (["backup", str(tmp_path / "no" / "copy.db"), "--db", str(junk)], 2, "no folder"),
    ]:
        assert main(argv) == status, argv
        err = capsys.readouterr().err
        assert err.startswith("moot: ") and says in err and "Traceback" not in err, (argv, err)
    # An MTA's pipe to a mistyped database: try later (75), never a bounce for good, nothing made.
    out = moot(
        "deliver", "--group", "comp.test", input="From: a@b\nSubject: x\n\nx\n", db_path=missing, check=False
    )
    assert out.returncode == 75 and "451 no database at" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["import", "x.mbox", "--group", "a.b", "--batch", "0"],
            "--batch: '0' is not a whole number of 1 or more",
        ),
        (["import", "x.mbox", "--group", "a.b", "--batch", "-5"], "is not a whole number of 1 or more"),
        (["reset-password", "bob", "--base-url", "not a url"], "is not an http:// or https:// address"),
        (
            ["suspend", "bob", "--days", "1", "--reason", "r", "--remove-days", "-1"],
            "--remove-days: '-1' is not",
        ),
    ],
)
def test_an_option_out_of_its_range_is_a_usage_error(argv, says, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and says in capsys.readouterr().err


def test_a_bad_setting_is_named_without_a_traceback(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "site.db")
    for name, value, says in [
        ("MOOT_POST_RATE", "abc", "MOOT_POST_RATE='abc' is not a number"),
        ("MOOT_READ_CONNECTIONS", "4.5", "MOOT_READ_CONNECTIONS='4.5' is not a whole number"),
        ("MOOT_LOG_REQUESTS", "perhaps", "MOOT_LOG_REQUESTS='perhaps' is not true or false"),
        ("MOOT_SESSION_DAYS", "-1", "MOOT_SESSION_DAYS must be 1 or more"),
        ("MOOT_EDIT_GRACE_MINUTES", "-5", "MOOT_EDIT_GRACE_MINUTES must be 0 or more"),
        ("MOOT_TRUSTED_PROXIES", "garbage", "MOOT_TRUSTED_PROXIES: 'garbage' does not appear"),
    ]:
        monkeypatch.setenv(name, value)
        assert main(["init", "--db", db]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("moot: ") and says in err and "Traceback" not in err, err
        monkeypatch.delenv(name)


def test_the_readme_lists_every_command():
    from pathlib import Path

    from moot.cli import parser

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    commands = next(a for a in parser()._actions if a.dest == "command").choices
    missing = [name for name in commands if f"| `moot {name}" not in readme]
    assert missing == [], f"README.md's table of commands lacks {missing}"


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path, monkeypatch, capsys):
    """`moot get /api/groups | head -1`: the reader leaves early; no traceback."""
    import io
    import os

    db = str(tmp_path / "site.db")
    assert main(["init", "--db", db]) == 0

    class Gone(io.TextIOBase):
        def __init__(self):
            self.fd = os.open(os.devnull, os.O_WRONLY)

        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            return self.fd

    gone = Gone()
    monkeypatch.setattr("sys.stdout", gone)
    assert main(["get", "--db", db, "/api/groups"]) == 1
    os.close(gone.fd)


def test_a_port_another_server_holds_is_named_before_serving(tmp_path):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        done = moot("serve", "--port", "any", "--nntp-port", port, db_path=tmp_path / "site.db", check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"moot: cannot listen for NNTP on 127.0.0.1:{port} (--nntp-port, MOOT_NNTP_PORT; 0 turns it off):"
        " Address already in use: another server listens there"
    )
    assert "Moot serving" not in done.stdout  # nothing claimed to serve
