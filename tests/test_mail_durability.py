"""The mail outbox across crashes, with real processes: `moot serve` killed
(SIGKILL) while a mail is queued but unsent, and while the relay holds a mail
it has not acknowledged. Nothing is lost; a resend carries the same Message-ID."""

from __future__ import annotations

import re
import sqlite3

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.mail_support import Relay, subject_of
from tests.processes import reserved_port, start_process, stop_process, tls

GROUP = "misc.test"


def serve(db, log, relay_url: str):
    proc = start_process(
        db,
        log,
        smtp_url=relay_url,
        mail_domain="lists.test",
        mail_poll_interval=0.1,
        mail_lease=0.5,
        mail_retry_delay=0.1,
    )
    return proc, proc.listening().url


@pytest.fixture
def clients():
    """httpx clients made during a test, closed at its end."""
    made: list[httpx.Client] = []
    yield made
    for client in made:
        client.close()


def account(base: str, name: str, made: list) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, verify=tls())
    made.append(client)
    r = client.post("/api/register", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return client


def confirm(client: httpx.Client, relay: Relay, address: str) -> None:
    assert client.put("/api/me/email", json={"email": address}).status_code == 200
    mail = relay.wait_sync(address, where=subject_of("Confirm"))[-1]
    token = re.search(r"/confirm/(\S+)", mail.message.get_body(("plain",)).get_content())[1]
    assert client.post("/api/confirm", json={"token": token}).status_code == 200


def queue_rows(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT kind, recipient, status, message_id FROM mail_queue WHERE kind = 'article' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def set_up_site(base: str, relay: Relay, made: list) -> tuple[httpx.Client, httpx.Client]:
    admin = account(base, "root", made)  # the first account is the admin
    assert admin.post("/api/groups", json={"name": GROUP}).status_code == 201
    bob = account(base, "bob", made)
    confirm(bob, relay, "bob@example.org")
    assert bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"}).status_code == 200
    return admin, bob


def test_a_mail_queued_when_the_process_dies_is_sent_after_restart(tmp_path, clients):
    db, log = tmp_path / "site.db", tmp_path / "serve.log"
    with Relay() as relay, reserved_port() as nothing_there:
        proc, base = serve(db, log, relay.url)
        try:
            admin, bob = set_up_site(base, relay, clients)
        finally:
            stop_process(proc)
        # The relay goes away: the article's mail is queued and fails its attempts.
        proc, base = serve(db, log, f"smtp://127.0.0.1:{nothing_there}")
        admin = httpx.Client(base_url=base, cookies=admin.cookies, timeout=30, verify=tls())
        clients.append(admin)
        try:
            r = admin.post(f"/api/groups/{GROUP}/threads", json={"subject": "While down", "body": "Queued."})
            assert r.status_code == 201, r.text
            message_id = r.json()["article"]["message_id"]
            assert queue_rows(db) == [("article", "bob@example.org", "queued", message_id)]
        finally:
            proc.kill()  # SIGKILL: no orderly stop
            proc.wait()
        proc, base = serve(db, log, relay.url)
        try:
            (mail,) = relay.wait_sync("bob@example.org", where=subject_of("While down"))
            assert mail.message["Message-ID"] == message_id
        finally:
            stop_process(proc)
    assert queue_rows(db) == [("article", "bob@example.org", "sent", message_id)]


def test_a_mail_the_relay_took_but_never_acknowledged_is_resent_with_the_same_message_id(tmp_path, clients):
    db, log = tmp_path / "site.db", tmp_path / "serve.log"
    with Relay() as relay:
        proc, base = serve(db, log, relay.url)
        try:
            admin, _ = set_up_site(base, relay, clients)
            relay.release.clear()  # the relay keeps the DATA reply back
            r = admin.post(f"/api/groups/{GROUP}/threads", json={"subject": "In flight", "body": "Once?"})
            message_id = r.json()["article"]["message_id"]
            relay.wait_sync("bob@example.org", where=subject_of("In flight"))
        finally:
            proc.kill()  # dies between the relay taking the mail and the queue marking it sent
            proc.wait()
        relay.release.set()
        assert queue_rows(db) == [("article", "bob@example.org", "queued", message_id)]
        proc, base = serve(db, log, relay.url)
        try:
            first, again = relay.wait_sync("bob@example.org", 2, where=subject_of("In flight"))
        finally:
            stop_process(proc)
    # At least once: the copy carries the same Message-ID, so mail clients fold it.
    assert first.message["Message-ID"] == again.message["Message-ID"] == message_id
    assert queue_rows(db) == [("article", "bob@example.org", "sent", message_id)]


def test_moot_serve_smtp_port_flag_runs_the_receiver(tmp_path, clients):
    import smtplib
    import subprocess
    import sys

    from tests.mail_support import AUTHSERV, message, vouched
    from tests.processes import ROOT, moot_env, read_listening

    db = tmp_path / "site.db"
    with Relay() as relay, open(tmp_path / "serve.log", "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moot",
                "serve",
                "--db",
                str(db),
                "--port",
                "0",
                "--nntp-port",
                "0",
                "--smtp-port",
                "any",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env=moot_env(
                smtp_url=relay.url,
                mail_domain="lists.test",
                mail_poll_interval=0.1,
                mail_authserv_id=AUTHSERV,
                mail_trusted_relays="127.0.0.1",
            ),
        )
        try:
            ports = read_listening(tmp_path / "serve.log", proc, want=("http", "smtp"))
            base, smtp_port = ports.url, ports.smtp
            admin, bob = set_up_site(base, relay, clients)
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as client:
                client.sendmail(
                    "bob@example.org",
                    [f"{GROUP}@lists.test"],
                    vouched(
                        "bob@example.org", message("Bob <bob@example.org>", f"{GROUP}@lists.test", "By mail")
                    ),
                )
            threads = admin.get(f"/api/groups/{GROUP}/threads").json()["threads"]
            assert [t["subject"] for t in threads] == ["By mail"]
        finally:
            stop_process(proc)
    assert "SMTP for @lists.test at 127.0.0.1:" in (tmp_path / "serve.log").read_text()
