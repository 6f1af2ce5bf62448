"""Notification fan-out: one reply in a thread with 1,000 followers, each
signed in on /live. Every follower must get their `notification.created`;
measured: the reply's POST time and post-to-delivery latency (p50, p99),
against the same process delivering the thread's own `article.created` to
1,000 plain subscribers (no followers, no notifications), same run.

    python bench/notify.py [--followers 1000] [--posts 20] [--json OUT]

The server is a real `moot serve`; followers' sessions are made in the
database beforehand (1,000 sign-ins would cost 1,000 scrypt hashes) and
carried in signed cookies, as a browser would."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Row, emit, server, temp_dir  # noqa: E402
from live import SOURCES, Client, Http, close_clients, percentile, raise_nofile  # noqa: E402

SECRET = "bench-notify-secret"
PASSWORD = "bench password"
BODY = "A reply that a thousand followers hear of. "


def prepare(db_path: str, followers: int) -> dict:
    """The author, the followers with one session each, two threads (one followed by all)."""
    sys.path.insert(0, str(ROOT))
    from moot.articles import groups, posting
    from moot.people import accounts
    from moot.store.db import Database
    from moot.web.security import Cookies

    async def run():
        db = await Database(db_path, read_connections=1).open()
        cookies = Cookies(SECRET, secure=False, session_days=1)
        try:
            author = await accounts.create_user(db, "author", PASSWORD, "Author")
            digest = accounts.hash_password(PASSWORD)
            async with db.transaction() as conn:
                await groups.create_group(conn, None, "bench.notify", "Notification fan-out")
                await groups.create_group(conn, None, "bench.quiet", "Nothing happens here")
                followed = await posting.submit(
                    conn,
                    "bench.moot",
                    author,
                    posting.Submission(
                        body="Everyone follows this", subject="Followed", group="bench.notify"
                    ),
                )
                plain = await posting.submit(
                    conn,
                    "bench.moot",
                    author,
                    posting.Submission(
                        body="Everyone watches this, nobody follows it",
                        subject="Watched",
                        group="bench.notify",
                    ),
                )
                await conn.executemany(
                    "INSERT INTO users (username, display_name, password_hash, created_at)"
                    " VALUES (?, ?, ?, '2026-01-01T00:00:00.000Z')",
                    [(f"f{i}", f"Follower {i}", digest) for i in range(followers)],
                )
                await conn.execute(
                    "INSERT INTO follows (user_id, thread_id) SELECT id, ? FROM users"
                    " WHERE username GLOB 'f[0-9]*'",
                    (followed["thread"]["id"],),
                )
                rows = await conn.execute_fetchall("SELECT * FROM users WHERE username GLOB 'f[0-9]*'")
            sessions = []
            for row in rows:
                user = accounts.User.from_row(row)
                sessions.append(cookies.session_value(await accounts.start_session(db, user, days=1)))
            return {
                "followed": followed["article"]["id"],
                "plain": plain["article"]["id"],
                "plain_thread": plain["thread"]["id"],
                "sessions": sessions,
            }
        finally:
            await db.close()

    return asyncio.run(run())


class SignedClient(Client):
    def __init__(self, url: str, subscribe: str, cookie: str | None):
        super().__init__(url, subscribe)
        if cookie:
            self.request.headers["Cookie"] = f"moot_session={cookie}"


async def open_signed(
    port: int, cookies: list[str | None], subscribe: dict, batch: int = 200
) -> list[Client]:
    loop = asyncio.get_running_loop()
    url, text = f"ws://127.0.0.1:{port}/live", json.dumps({"type": "subscribe", **subscribe})
    clients: list[Client] = []
    for start in range(0, len(cookies), batch):
        made = [
            loop.create_connection(
                lambda c=c: SignedClient(url, text, c),
                "127.0.0.1",
                port,
                local_addr=(SOURCES[(start + i) % len(SOURCES)], 0),
            )
            for i, c in enumerate(cookies[start : start + batch])
        ]
        for _, client in await asyncio.gather(*made):
            clients.append(client)
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in clients[start:])), 60)
    return clients


def key_of(msg: dict, kind: str) -> str | None:
    data = msg.get("data")
    if msg.get("type") != kind or not isinstance(data, dict):
        return None
    article = data.get("article", data)
    return article["body"].rsplit(" ", 1)[-1] if isinstance(article, dict) and "body" in article else None


async def fan_out(http: Http, clients: list[Client], parent: int, kind: str, posts: int, tag: str) -> dict:
    starts, answered = {}, []
    for i in range(posts):
        key = f"{tag}{i}"
        t0 = time.perf_counter()
        status, _, text = await http.request(
            "POST", f"/api/articles/{parent}/replies", {"body": f"{BODY}{key}"}
        )
        assert status == 201, (status, text)
        answered.append((time.perf_counter() - t0) * 1000)
        starts[key] = t0
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.5)  # stragglers
    latencies, missing = [], 0
    for c in clients:
        got = {}
        for stamp, msg in c.messages():
            key = key_of(msg, kind)
            if key in starts:
                got[key] = stamp
        missing += len(starts) - len(got)
        latencies += [(stamp - starts[k]) * 1000 for k, stamp in got.items()]
    return {
        "post_ms": percentile(answered, 50),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "deliveries": len(latencies),
        "missing": missing,
    }


async def measure(port: int, data: dict, followers: int, posts: int) -> tuple[dict, dict]:
    http = await Http(port).open()
    status, _, _ = await http.request("POST", "/api/login", {"username": "author", "password": PASSWORD})
    assert status == 200
    # Followers: signed in, listening to a quiet group: what they hear is their own notifications.
    signed = await open_signed(port, data["sessions"], {"groups": ["bench.quiet"]})
    notified = await fan_out(http, signed, data["followed"], "notification.created", posts, "n")
    close_clients(signed)
    # Baseline: the same number of anonymous subscribers of a thread nobody follows.
    watchers = await open_signed(port, [None] * followers, {"threads": [data["plain_thread"]]})
    plain = await fan_out(http, watchers, data["plain"], "article.created", posts, "p")
    close_clients(watchers)
    http.close()
    return notified, plain


def run(followers: int, posts: int) -> list[Row]:
    raise_nofile()
    db_path = str(Path(temp_dir()) / "notify.db")
    data = prepare(db_path, followers)
    # 1,000 readers hold a /live connection each: above the default connection cap.
    with server(
        db_path,
        secret_key=SECRET,
        live_queue=10000,
        max_connections=4000,
        live_max_connections=4000,
        live_max_per_address=0,
    ) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        notified, plain = asyncio.run(measure(port, data, followers, posts))
    expected = followers * posts
    note = f"{followers} followers signed in on /live, {posts} replies 0.3 s apart"
    return [
        Row(
            "notify",
            "followers notified",
            notified["deliveries"],
            "deliveries",
            expected,
            "expected",
            "all",
            notified["deliveries"] == expected and notified["missing"] == 0,
            note,
        ),
        Row(
            "notify",
            f"reply POST with {followers:,} followers (p50)",
            notified["post_ms"],
            "ms",
            plain["post_ms"],
            "reply in an unfollowed thread",
            note="notification rows and events written in the reply's transaction",
        ),
        Row(
            "notify",
            "post to notification, p50",
            notified["p50"],
            "ms",
            plain["p50"],
            "post to article.created, same number of subscribers",
        ),
        Row(
            "notify",
            "post to notification, p99",
            notified["p99"],
            "ms",
            plain["p99"],
            "post to article.created, same number of subscribers",
            "ratio <= 2",
            notified["p99"] <= 2 * plain["p99"],
            note,
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    emit(run(args.followers, args.posts), args.json)
