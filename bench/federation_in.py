"""Articles taken in from the fediverse against articles posted over NNTP, in
one run, by the same `moot serve`.

    python bench/federation_in.py [--seconds 3] [--batch 1000] [--rounds 3] [--json OUT]

Moot runs with federation on (its public URL https://127.0.0.1:PORT, served
as plain HTTP as behind a proxy) and its NNTP server. A local actor server (a
thread of this process) serves one remote Person actor with an RSA key; its
key is fetched once, on the first activity, and cached as in real life. The
load processes sign each `Create{Page}` (a new thread addressed to the group,
as Lemmy sends) with Moot's own signing code (federation/signatures.py),
before the clock starts, and POST them on keep-alive connections to the
group's inbox; each is verified, checked and posted through the write path
as an article. The baseline is NNTP POST of a new article by a signed-in
member on as many connections (bench/nntp.py's posters), same server, same
run, in rounds that interleave the three (each row is the round of the median
ratio). Afterwards every accepted Create must be an article (its ap_objects row)."""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import sqlite3
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, Row, command_line, poster_and_group, temp_dir
from nntp import post_rate

sys.path.insert(0, str(ROOT))
from tests.processes import MootProcess, moot_env, reserved_port, stop_process  # noqa: E402

GROUP = "bench.fediverse"
PASSWORD = "bench-password-1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def actor_server(public_pem: str) -> tuple[ThreadingHTTPServer, str]:
    """A remote instance with one actor, /users/bench; its base URL."""

    class Actor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path != "/users/bench":
                self.send_error(404)
                return
            me = f"{base}/users/bench"
            body = json.dumps(
                {
                    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
                    "id": me,
                    "type": "Person",
                    "preferredUsername": "bench",
                    "name": "Bench Poster",
                    "inbox": f"{me}/inbox",
                    "endpoints": {"sharedInbox": f"{base}/inbox"},
                    "publicKey": {"id": f"{me}#main-key", "owner": me, "publicKeyPem": public_pem},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/activity+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Actor)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def signed_creates(site: str, actor: str, private_pem: str, scheme: str, tag: str, count: int) -> list:
    """`count` Create{Page} requests to the group's inbox: (path, headers, body)."""
    from moot.federation import signatures

    group = f"{site}/g/{GROUP}"
    url = f"{group}/inbox"
    made = []
    for i in range(count):
        page = {
            "id": f"{actor}/pages/{tag}-{i}",
            "type": "Page",
            "attributedTo": actor,
            "name": f"From the fediverse {tag} {i}",
            "content": f"<p>An article from another server, number <b>{i}</b> of {tag}.</p><p>Two paragraphs.</p>",
            "published": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "to": [PUBLIC],
            "cc": [group],
            "audience": group,
        }
        create = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/creates/{tag}-{i}",
            "type": "Create",
            "actor": actor,
            "object": page,
            "to": [PUBLIC],
            "cc": [group],
            "audience": group,
        }
        body = json.dumps(create).encode()
        headers = {"Content-Type": "application/activity+json"}
        headers |= signatures.sign(
            "POST", url, headers, body, key_id=f"{actor}#main-key", private_pem=private_pem, scheme=scheme
        )
        made.append((f"/g/{GROUP}/inbox", headers, body))
    return made


def _sender(args: tuple) -> tuple[int, int, float]:
    """(accepted, refused, seconds) of one connection sending its pre-signed Creates."""
    port, site, actor, private_pem, scheme, tag, count, seconds, barrier = args
    requests = signed_creates(site, actor, private_pem, scheme, tag, count)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    barrier.wait()
    accepted = refused = 0
    started = time.monotonic()
    for path, headers, body in requests:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status == 202:
            accepted += 1
        else:
            refused += 1
            if refused == 1:
                print(f"refused: {response.status} {response.reason}", file=sys.stderr)
        if time.monotonic() - started >= seconds:
            break
    elapsed = time.monotonic() - started
    connection.close()
    return accepted, refused, elapsed


def create_rate(
    port, site, actor, private_pem, scheme, connections, seconds, batch, tag
) -> tuple[float, int, int]:
    """Creates/s taken (202) on `connections` connections; (rate, accepted, refused)."""
    with multiprocessing.Manager() as manager:
        barrier = manager.Barrier(connections)
        jobs = [
            (port, site, actor, private_pem, scheme, f"{tag}{n}", batch, seconds, barrier)
            for n in range(connections)
        ]
        with multiprocessing.Pool(connections) as pool:
            results = pool.map(_sender, jobs)
    accepted = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    return sum(r[0] / r[2] for r in results), accepted, refused


def run(seconds: float = 3.0, batch: int = 1000, rounds: int = 3) -> list[Row]:
    from moot.federation import keys

    private_pem, public_pem = keys.new_pair()
    db_path = temp_dir() + "/federation_in.db"
    asyncio.run(poster_and_group(db_path, PASSWORD, GROUP))
    httpd, remote = actor_server(public_pem)
    actor = f"{remote}/users/bench"
    with reserved_port() as port:
        site = f"https://127.0.0.1:{port}"
        env = moot_env(
            federation="on",
            public_url=site,
            federation_allow_private="true",
            post_rate=1_000_000,
            post_burst=1_000_000,
            sweep_interval=0,
        )
        args = [sys.executable, "-m", "moot", "serve", "--db", db_path, "--port", str(port)]
        args += ["--nntp-port", "any", "--smtp-port", "0"]
        proc = MootProcess(args, db_path + ".server.log", ("http", "nntp"), env)
    try:
        nntp = proc.listening().nntp
        # The first Create fetches the actor and its key; then it is cached.
        rate, accepted, refused = create_rate(port, site, actor, private_pem, "cavage", 1, 30, 1, "warm")
        assert accepted == 1, f"the warm-up Create was refused (see {db_path}.server.log)"
        # Rounds interleave the three so that the shared machine's noise hits them alike.
        measured: dict[str, list[float]] = {}
        for n in range(rounds):
            for connections in (1, 4):
                measured.setdefault(f"nntp{connections}", []).append(
                    post_rate(nntp, True, GROUP, connections, seconds)
                )
                for scheme in ("cavage", "rfc9421"):
                    tag = f"{scheme}{connections}-{n}-"
                    rate, accepted, refused = create_rate(
                        port, site, actor, private_pem, scheme, connections, seconds, batch, tag
                    )
                    assert refused == 0, f"{refused} Creates refused (see {db_path}.server.log)"
                    measured.setdefault(f"{scheme}{connections}", []).append(rate)
                    measured.setdefault(f"{scheme}{connections}-n", []).append(accepted)
    finally:
        stop_process(proc)
        httpd.shutdown()
    conn = sqlite3.connect(db_path)
    try:
        stored = conn.execute(
            "SELECT count(*) FROM ap_objects o JOIN articles a ON a.id = o.article_id WHERE a.status = 'ok'"
        ).fetchone()[0]
    finally:
        conn.close()
    sent = 1 + sum(sum(v) for k, v in measured.items() if k.endswith("-n"))
    assert stored == sent, f"{sent} Creates accepted but {stored} articles stored"
    rows = []
    for connections in (1, 4):
        plural = "s" * (connections > 1)
        nntp_rates = measured[f"nntp{connections}"]
        for scheme, label in (("cavage", "draft-cavage"), ("rfc9421", "RFC 9421")):
            rates = measured[f"{scheme}{connections}"]
            ratios = [rate / base for rate, base in zip(rates, nntp_rates, strict=True)]
            middle = sorted(range(rounds), key=lambda i: ratios[i])[
                rounds // 2
            ]  # the round of the median ratio
            rows.append(
                Row(
                    "federation_in",
                    f"incoming Create{{Page}}/s, {connections} connection{plural}, {label} (median of {rounds} rounds' ratios)",
                    rates[middle],
                    "articles/s",
                    baseline=nntp_rates[middle],
                    baseline_name=f"NNTP POST/s, {connections} connection{plural}, same server, same round",
                    target="ratio >= 0.5",
                    met=ratios[middle] >= 0.5,
                    note=f"{sum(measured[f'{scheme}{connections}-n']):,} signed Creates, each verified (RSA 2048)"
                    " and stored as an article (checked after), signed before the clock started; rounds: "
                    + ", ".join(f"{r:.0f}/{b:.0f}" for r, b in zip(rates, nntp_rates, strict=True)),
                )
            )
    return rows


if __name__ == "__main__":
    command_line(run, __doc__, seconds=3.0, batch=1000, rounds=3)
