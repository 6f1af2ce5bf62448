"""DKIM on the mail Moot sends: with MOOT_MAIL_DKIM_KEY every mail (list mail,
digests, confirmations) leaves signed for the list domain, and dkimpy verifies
it against the key published through the site's DNS lookup; each parses
clean under Python's strict email policy and carries List-Post, List-Archive
and Archived-At. `moot check` prints the record to publish, or why the key
cannot be used."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from moot.mail import mailqueue, signing
from moot.store.config import Config
from tests.conftest import seed
from tests.mail_support import (
    GROUP,
    LIST,
    confirm_address,
    dkim_key,
    mail_settings,
    relay,  # noqa: F401  (fixture)
    strict,
    subject_of,
)
from tests.processes import moot

SELECTOR = "s2026"
BOB, CAROL = "bob@example.org", "carol@example.org"


@pytest.fixture(scope="session")
def key(tmp_path_factory) -> tuple[str, bytes]:
    return dkim_key(tmp_path_factory.mktemp("dkim"))


def publishing(record: bytes, looked_up: list[bytes]):
    """A DNS lookup that knows the one record of SELECTOR at lists.test."""

    def lookup(name: bytes, timeout: float = 5.0) -> bytes | None:
        looked_up.append(name)
        return record if name == f"{SELECTOR}._domainkey.lists.test.".encode() else None

    return lookup


async def test_mail_moot_sends_is_signed_verifies_and_parses_strictly(make_site, relay, key):
    path, record = key
    ts = await make_site(**mail_settings(relay, mail_dkim_key=path, mail_dkim_selector=SELECTOR))
    looked_up: list[bytes] = []
    ts.site.dkim_dns = dns = publishing(record, looked_up)
    seeded = await seed(ts, GROUP)
    bob = await ts.client("bob")
    await confirm_address(bob, relay, BOB)
    r = await bob.put(f"/api/groups/{GROUP}/subscription", json={"mail": "each"})
    assert r.status_code == 200, r.text
    carol = await ts.client("carol")
    await confirm_address(carol, relay, CAROL)
    r = await carol.put(f"/api/groups/{GROUP}/subscription", json={"mail": "digest"})
    assert r.status_code == 200, r.text
    subject = "Grüße aus Köln," + " a long subject" * 8
    r = await seeded["ada"].post(
        f"/api/groups/{GROUP}/threads", json={"subject": subject, "body": "Ünïcode body\n" + "x" * 1200}
    )
    root = r.json()["article"]
    r = await seeded["ada"].post(f"/api/articles/{root['id']}/replies", json={"body": "Plain reply"})
    assert r.status_code == 201, r.text
    async with ts.db.transaction() as conn:
        assert await mailqueue.queue_digests(conn, "lists.test") == 1
    (digest,) = await relay.wait(CAROL, where=subject_of("digest"))
    mails = [*await relay.wait(BOB, 3), *await relay.wait(CAROL, 2)]
    confirm = f"Confirm your address for {ts.config.site_name}"
    assert [str(m.message["Subject"]) for m in mails[:4]] == [confirm, subject, "Re: " + subject, confirm]

    for received in mails:
        msg = strict(received.data, dns)
        assert msg["DKIM-Signature"].startswith("v=1; a=rsa-sha256; c=relaxed/relaxed; d=lists.test;")
        if msg["List-Id"]:
            assert msg["List-Post"] == f"<mailto:{LIST}>"
            assert msg["List-Archive"] == f"<https://forum.test/g/{GROUP}>"
    assert looked_up and set(looked_up) == {f"{SELECTOR}._domainkey.lists.test.".encode()}
    article, reply = (strict(m.data) for m in mails[1:3])
    link = f"<https://forum.test/m/{quote(root['message_id'], safe='@')}>"
    assert article["Archived-At"] == link  # RFC 5064
    assert reply["Archived-At"].startswith("<https://forum.test/m/") and reply["In-Reply-To"]
    parts = [p for p in strict(digest.data).walk() if p["Message-ID"]][1:]
    assert len(parts) == 2 and all(
        p["Archived-At"].strip().startswith("<https://forum.test/m/") for p in parts
    )

    # The signature covers what a receiver judges by: a changed Reply-To, a
    # changed one-click header or a line added to the body breaks it.
    data = mails[1].data
    for tampered in (
        data.replace(b"Reply-To: comp.lang.python+", b"Reply-To: evil+"),
        data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: x"),
        data + b"P.S. send money\r\n",
    ):
        assert tampered != data
        with pytest.raises(AssertionError):
            strict(tampered, dns)


async def test_moot_check_prints_the_record_to_publish_or_why_the_key_is_unusable(make_site, key, tmp_path):
    path, record = key
    db = (await make_site()).config.db_path
    settings = {"mail_domain": "lists.test", "mail_dkim_selector": SELECTOR}
    checked = moot("check", "--db", db, mail_dkim_key=path, **settings)
    assert f'{SELECTOR}._domainkey.lists.test IN TXT "{record.decode()}"' in checked.stdout

    missing = moot("check", "--db", db, check=False, mail_dkim_key=str(tmp_path / "absent.pem"), **settings)
    assert missing.returncode == 1
    assert f"cannot read MOOT_MAIL_DKIM_KEY '{tmp_path / 'absent.pem'}': No such file" in missing.stdout

    (tmp_path / "garbage.pem").write_text("not a key\n")
    garbage = str(tmp_path / "garbage.pem")
    refused = moot("serve", "--db", db, check=False, smtp_url="smtp://127.0.0.1:1", mail_dkim_key=garbage)
    assert refused.returncode == 2 and "holds no RSA private key" in refused.stderr
    with pytest.raises(signing.DkimConfigError, match="holds no RSA private key"):
        signing.Signer.from_config(Config(mail_domain="lists.test", mail_dkim_key=garbage))
    with pytest.raises(signing.DkimConfigError, match="is no DNS name"):
        signing.Signer.from_config(Config(mail_dkim_key=path, mail_dkim_selector="s; l=0"))
