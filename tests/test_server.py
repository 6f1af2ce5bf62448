"""The real `moot` command: a uvicorn server on a loopback port, the CLI, restarts."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moot(*args, db, input=None, check=True):
    env = {**os.environ, "MOOT_DB_PATH": str(db)}
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=env, input=input,
                          capture_output=True, text=True, timeout=120, check=check)


class Server:
    def __init__(self, db):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(db).with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--db", str(db), "--port", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/groups", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def test_demo_serve_register_post_restart(tmp_path):
    db = tmp_path / "site.db"
    out = moot("demo", db=db)
    assert "6 groups" in out.stdout
    server = Server(db)
    try:
        with httpx.Client(base_url=server.url) as client:
            groups = client.get("/api/groups").json()["groups"]
            assert {"comp.lang.python", "rec.music.folk"} <= {g["name"] for g in groups}
            r = client.post("/api/register", json={"username": "newcomer", "password": "a fine password"})
            assert r.status_code == 201 and r.json()["user"]["role"] == "member"
            r = client.post("/api/groups/comp.lang.python/threads",
                            json={"subject": "Hello from a newcomer", "body": "Hi all.\r\nGlad to be here."})
            assert r.status_code == 201
            article = r.json()["article"]
            r = client.post(f"/api/articles/{article['id']}/replies", json={"body": "Replying to myself"})
            reply = r.json()["article"]
            tree = client.get(f"/api/threads/{article['thread_id']}").json()
            assert [(a["id"], a["depth"]) for a in tree["articles"]] == [(article["id"], 0), (reply["id"], 1)]
            assert tree["articles"][0]["body"] == "Hi all.\nGlad to be here."
    finally:
        server.stop()
    server = Server(db)  # permanence: the same article after a restart, by Message-ID
    try:
        again = httpx.get(server.url + "/api/articles/" + reply["message_id"]).json()["article"]
        assert again == reply
    finally:
        server.stop()


def test_cli_adduser_init_and_get(tmp_path):
    db = tmp_path / "cli.db"
    assert moot("init", db=db).returncode == 0
    out = moot("adduser", "marta", "--moderator", "--password-stdin", db=db, input="a long password\n")
    assert "marta (moderator)" in out.stdout
    bad = moot("adduser", "x", "--password-stdin", db=db, input="a long password\n", check=False)
    assert bad.returncode == 2 and "username" in bad.stderr
    out = moot("get", "/api/groups", db=db)
    assert json.loads(out.stdout) == {"groups": []}
    missing = moot("get", "/api/threads/5", db=db, check=False)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "not_found"
