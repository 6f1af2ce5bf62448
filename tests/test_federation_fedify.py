"""Moot against a real fediverse server: a Fedify peer (tests/fedify/peer.mjs,
installed by npm into a cache folder; skipped, saying why, where npm or the
registry cannot be reached) and one `moot serve` over TLS on loopback, both
trusting a throwaway CA. The peer finds a group by WebFinger, follows it,
receives its threads as Announce, replies into a thread (seen on the web and
over NNTP, and announced back), edits and deletes its reply, and has a
forged request refused; once for each signature scheme the peer knocks with
first. fediverse-pasture's verify_actor then probes the group's inbox."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from moot.articles import groups
from moot.federation.objects import article_url
from moot.people import accounts
from moot.store.db import Database
from tests import fedify_support
from tests.conftest import PASSWORD, password_hash
from tests.nntp_support import nntplib
from tests.processes import ROOT, MootProcess, moot_env, reserved_port, stop_process

pytestmark = pytest.mark.xdist_group("fedify")  # one peer and one server for the module

GROUPS = {"rfc9421": "fedi.rfc9421", "draft-cavage-http-signatures-12": "fedi.cavage"}
WAIT = 30.0  # seconds a delivery may take on a loaded 2-core machine


@dataclass
class World:
    base: str  # https://127.0.0.1:PORT, Moot's MOOT_PUBLIC_URL
    nntp: int
    peer: fedify_support.FedifyPeer
    web: httpx.Client  # signed in as ada
    folder: Path
    cert: str
    key: str
    ca: str

    @property
    def host(self) -> str:
        return self.base.removeprefix("https://")

    def group_actor(self, knock: str) -> str:
        return f"{self.base}/g/{GROUPS[knock]}"


async def prepare(db_path: str) -> None:
    """Ada, a member, and one group per first knock."""
    db = await Database(db_path, read_connections=1).open()
    try:
        await accounts.create_user(db, "ada", PASSWORD, "Ada", password_hash=password_hash())
        async with db.transaction() as conn:
            for name in GROUPS.values():
                await groups.create_group(conn, None, name, "Fediverse test group")
    finally:
        await db.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    try:
        script = fedify_support.install()
    except fedify_support.Unavailable as why:
        pytest.skip(f"no Fedify peer: {why}")
    folder = tmp_path_factory.mktemp("fedify")
    ca, cert, key = fedify_support.throwaway_ca(folder)
    db_path = str(folder / "site.db")
    asyncio.run(prepare(db_path))
    with reserved_port() as port:
        base = f"https://127.0.0.1:{port}"
        args = [sys.executable, "-m", "moot", "serve", "--db", db_path, "--port", str(port)]
        args += ["--nntp-port", "any", "--smtp-port", "0", "--nntps-port", "0"]
        args += ["--tls-cert", cert, "--tls-key", key]
        env = moot_env(federation="on", public_url=base, federation_allow_private="true")
        env["SSL_CERT_FILE"] = ca  # Moot's client trusts the peer's certificate through its CA
        proc = MootProcess(args, folder / "moot.log", ("http", "nntp"), env)
    try:
        # The peer starts while Moot does (each takes a second or two).
        peer = fedify_support.FedifyPeer(script, folder / "peer.log", ca=ca, cert=cert, key=key)
        try:
            ports = proc.listening()
            with httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=ca), timeout=30) as web:
                r = web.post("/api/login", json={"username": "ada", "password": PASSWORD})
                assert r.status_code == 200, r.text
                yield World(base, ports.nntp, peer, web, folder, cert, key, ca)
        finally:
            peer.close()
    finally:
        stop_process(proc)


def refers_to(value, url: str) -> bool:
    """Whether an activity's `object` is `url`, or an object or activity
    whose id (or whose own object's id) is `url`."""
    if isinstance(value, str):
        return value == url
    if isinstance(value, dict):
        return value.get("id") == url or refers_to(value.get("object"), url)
    return False


def poll(check, what: str, timeout: float = WAIT):
    """check()'s first truthy answer, asked until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def thread_articles(world: World, thread_id: int) -> list[dict]:
    r = world.web.get(f"/api/threads/{thread_id}")
    assert r.status_code == 200, r.text
    return r.json()["articles"]


def nntp_article(world: World, message_id: str) -> tuple[dict[str, str], str]:
    """The article's headers and body as Moot's NNTP server gives them."""
    with nntplib.NNTP("127.0.0.1", world.nntp, timeout=20) as news:
        _, info = news.article(message_id)
    lines = [line.decode("utf-8") for line in info.lines]
    blank = lines.index("")
    headers = dict(line.split(": ", 1) for line in lines[:blank] if ": " in line)
    return headers, "\n".join(lines[blank + 1 :])


def test_fedify_finds_a_group_and_a_member_by_webfinger(world):
    knock = "rfc9421"
    name = GROUPS[knock]
    found = world.peer.do("lookup", knock, handle=f"{name}@{world.host}")
    assert found["webfinger"]["subject"] == f"acct:{name}@{world.host}"
    selves = [link for link in found["webfinger"]["links"] if link["rel"] == "self"]
    assert [link["href"] for link in selves] == [world.group_actor(knock)]
    group = found["actor"]
    assert group["type"] == "Group"
    assert group["id"] == world.group_actor(knock)
    assert group["preferredUsername"] == name
    assert group["inbox"] == f"{world.group_actor(knock)}/inbox"
    member = world.peer.do("lookup", knock, handle=f"ada@{world.host}")["actor"]
    assert (member["type"], member["id"]) == ("Person", f"{world.base}/u/ada")


@pytest.mark.parametrize("knock", list(GROUPS), ids=["rfc9421", "cavage"])
def test_follow_announce_reply_edit_delete_and_a_forged_request(world, knock):
    peer, name, group = world.peer, GROUPS[knock], world.group_actor(knock)

    # Follow → Accept, the peer's first knock taken at once.
    follow = peer.do("follow", knock, target=f"{name}@{world.host}")
    assert [(s["scheme"], s["status"]) for s in follow["sent"]] == [(knock, 202)], follow
    accept = peer.wait_for(
        knock, lambda a: a["type"] == "Accept" and refers_to(a.get("object"), follow["id"]), "Accept"
    )
    assert (
        accept["scheme"] == "rfc9421"
    )  # Moot's first knock, which Fedify verified (wait_for takes only those)

    # A thread started on the web reaches the peer as an Announce by the group.
    r = world.web.post(
        f"/api/groups/{name}/threads", json={"subject": "Hello fediverse", "body": "Posted on the web."}
    )
    assert r.status_code == 201, r.text
    root = r.json()["article"]
    root_url = article_url(world.base, root["message_id"])
    announce = peer.wait_for(
        knock,
        lambda a: a["type"] == "Announce" and refers_to(a.get("object"), root_url),
        "the thread's Announce",
    )
    assert announce["activity"]["actor"] == group

    # A reply from the peer becomes an article in the thread, on the web and over NNTP.
    content = "<p>Hello from <b>Fedify</b>, in reply.</p>"
    reply = peer.do("create", knock, target=group, inReplyTo=root_url, content=content)
    assert [s["status"] for s in reply["sent"]] in ([202], [200]), reply

    def the_reply():
        return next((a for a in thread_articles(world, root["thread_id"]) if "Hello from" in a["body"]), None)

    article = poll(the_reply, "the peer's reply in the thread")
    assert "Fedify" in article["body"] and "<b>" not in article["body"]
    assert article["author"]["username"] is None
    assert article["author"]["display_name"].startswith("alice@127.0.0.1")  # name@host, linked to the actor
    assert article["author"]["url"] == peer.peers[knock]["actor"]
    assert "\u202e" not in json.dumps(article, ensure_ascii=False)
    assert article["message_id"].startswith("<ap.")
    headers, body = nntp_article(world, article["message_id"])
    assert headers["Message-ID"] == article["message_id"]
    assert headers["Newsgroups"] == name
    assert root["message_id"] in headers["References"]
    assert "Hello from Fedify" in body.replace("*", "")  # bold may become *Fedify*

    # The group announces the reply to its followers, the peer among them, as it was received.
    announced = peer.wait_for(
        knock,
        lambda a: a["type"] == "Announce" and refers_to(a.get("object"), reply["id"]),
        "the reply's Announce",
    )
    assert announced["activity"]["actor"] == group
    assert refers_to(announced["activity"]["object"], reply["activity"])  # the Create the peer sent

    # An edit from the peer changes the article; a Delete withdraws it.
    peer.do("update", knock, target=group, id=reply["id"], content="<p>Edited from Fedify.</p>")
    poll(
        lambda: next(
            (a for a in thread_articles(world, root["thread_id"]) if "Edited from Fedify" in a["body"]), None
        ),
        "the edit",
    )
    peer.do("delete", knock, target=group, id=reply["id"])
    withdrawn = poll(
        lambda: next(
            (
                a
                for a in thread_articles(world, root["thread_id"])
                if a["id"] == article["id"] and a["status"] == "cancelled"
            ),
            None,
        ),
        "the withdrawal",
    )
    assert "Edited from Fedify" not in withdrawn["body"]

    # A Create signed with a key that is not the actor's, or whose body changed
    # after signing, is refused with 401 and stores nothing.
    for flaw in ("key", "body"):
        forged = peer.do(
            "forged", knock, target=group, inReplyTo=root_url, content=f"Forged {flaw}", flaw=flaw
        )
        assert forged["status"] == 401, forged
    assert not [a for a in thread_articles(world, root["thread_id"]) if "Forged" in a["body"]]


def test_verify_actor_from_fediverse_pasture(world):
    try:
        python = fedify_support.pasture_python()
    except fedify_support.Unavailable as why:
        pytest.skip(str(why))
    group = world.group_actor("rfc9421")
    done = subprocess.run(
        [python, str(ROOT / "tests" / "pasture_probe.py"), group, world.cert, world.key],
        cwd=world.folder,  # bovine leaves a JSON-LD cache file where it runs
        env={**moot_env(), "SSL_CERT_FILE": world.ca},
        capture_output=True,
        text=True,
        timeout=120,
    )
    (world.folder / "pasture.log").write_text(done.stderr)  # its servers' and bovine's log, for a failure
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.splitlines()[-1])
    result, steps = probe["result"], probe["steps"]
    assert result["webfinger"] is True, steps
    for name in ("alice", "bob", "claire", "dean", "emily", "frank"):
        assert result[name]["get_actor"] is True, (name, steps)
    # Unsigned POSTs are refused; signed ones are taken, with the actor's key
    # fetched by a signed GET where the actor asks for one (claire, frank).
    assert {name: result[name]["post_inbox"] for name in result if name != "webfinger"} == {
        "alice": False,
        "bob": True,
        "claire": True,
        "dean": False,
        "emily": True,
        "frank": True,
    }, steps
