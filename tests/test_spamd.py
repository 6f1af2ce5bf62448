"""SpamAssassin scoring on every channel, with a real spamd (Debian's
`spamassassin`, started once for this worker on a loopback port with
--allow-tell): GTUBE refused by the API, NNTP POST (nntplib) and mail
(smtplib) with nothing stored; an ordinary post scored and shown; a low hold
threshold holds a member's mail with its score and rules in the queue JSON;
a moderator's approve and reject teach spamd (its Bayes counts move). With
spamd down (a closed port) or slow (a listener that never answers): members'
posts go on, a new account's wait in the queue, every miss is counted in
/metrics, nothing is lost."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3

import pytest

from moot.store.config import Config
from moot.store.errors import Spam
from tests.conftest import ANY_PORT, PASSWORD, seed
from tests.mail_support import (  # noqa: F401 - relay is a fixture
    GROUP,
    LIST,
    confirm_address,
    mail_settings,
    message,
    relay,
    send,
    until,
)
from tests.nntp_support import nntplib
from tests.processes import moot, reserved_port
from tests.spamd_support import SpamdUnusable, running_spamd

pytestmark = pytest.mark.xdist_group("spamd")  # one spamd for all of them

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
START_WAIT = 90.0  # spamd compiles its rules at start: seconds on a loaded 2-core machine
# Ada has posted (the seed) or is old (`member`); a fresh account is new.
TRUST = {"trust_new_days": 2.0, "trust_new_posts": 0}  # accounts made here are new; older ones are members


@pytest.fixture(scope="session")
def spamd():
    """A real spamd for this worker, stopped at the end; skipped when absent."""
    try:
        with running_spamd(children=1, start_wait=START_WAIT, allow_tell=True) as server:
            yield server
    except SpamdUnusable as e:
        pytest.skip(str(e))


async def member(site, name: str):
    """A signed-in client of an account made long ago: a member, never new."""
    await site.user(name)
    async with site.db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET created_at = '2020-01-01T00:00:00.000Z' WHERE username = ?", (name,)
        )
    return await site.client(name)


async def open_group(site):
    admin = await site.client("root", "admin")
    assert (await admin.post("/api/groups", json={"name": GROUP, "description": "Python"})).status_code == 201


def nntp_post(site, user: str, text: str) -> str:
    """POST over a real NNTP connection (run in a thread: the server shares this loop)."""
    with nntplib.NNTP("127.0.0.1", site.config.nntp_port, user=user, password=PASSWORD, timeout=20) as n:
        return n.post(io.BytesIO(text.encode()))


async def metric(site, outcome: str) -> float:
    client = await site.client()
    text = (await client.get("/metrics")).text
    return float(re.search(rf'^moot_spamd_total{{outcome="{outcome}"}} (\S+)$', text, re.M)[1])


async def test_gtube_is_refused_by_every_channel_and_an_ordinary_post_is_scored(make_site, relay, spamd):
    site = await make_site(
        **mail_settings(relay), nntp_port=ANY_PORT, spamd=spamd.address, metrics_allow=("127.0.0.1",), **TRUST
    )
    s = await seed(site)
    await confirm_address(s["ada"], relay, "ada@example.net")
    before = site.snapshot()

    r = await s["ada"].post(f"/api/groups/{GROUP}/threads", json={"subject": "Offer", "body": GTUBE})
    assert r.status_code == 422 and r.json()["error"]["code"] == "spam", r.text
    assert "SpamAssassin" in r.json()["error"]["message"] and r.json()["error"]["score"] > 900
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": f"Re\n{GTUBE}"})
    assert r.status_code == 422, r.text

    article = f"From: Ada <ada@example.net>\r\nNewsgroups: {GROUP}\r\nSubject: Offer\r\n\r\n{GTUBE}\r\n"
    with pytest.raises(nntplib.NNTPTemporaryError, match="^441.*SpamAssassin"):
        await asyncio.to_thread(nntp_post, site, "ada", article)

    data = message("Ada <ada@example.net>", LIST, "Offer", f"{GTUBE}\n")
    with pytest.raises(Exception) as refused:  # smtplib's SMTPDataError (550)
        await asyncio.to_thread(send, site.config.smtp_port, "ada@example.net", LIST, data)
    assert refused.value.smtp_code == 550 and b"SpamAssassin" in refused.value.smtp_error
    after = site.snapshot()
    assert after["articles"] == before["articles"] and after["queue"] == before["queue"]  # never shown

    r = await s["ada"].post(
        f"/api/groups/{GROUP}/threads", json={"subject": "Tomatoes", "body": "Mine ripened early this year."}
    )
    assert r.status_code == 201, r.text
    assert await metric(site, "scored") == 2 + 5 and await metric(site, "missed") == 0  # the seed's two too
    assert (
        "Spam scoring (SpamAssassin, docs/MODERATION.md): on: spamd at"
        in (await s["admin"].get("/admin/peers")).text
    )
    checked = await asyncio.to_thread(moot, "check", db_path=site.config.db_path, spamd=spamd.address)
    assert f"spam scoring: on, spamd at {spamd.address} answers" in checked.stdout


async def test_a_low_threshold_holds_mail_with_its_score_and_rules_and_decisions_teach_spamd(
    make_site, relay, spamd
):
    site = await make_site(**mail_settings(relay), spamd=spamd.address, spam_hold=0.5, **TRUST)
    await open_group(site)
    await confirm_address(await member(site, "ada"), relay, "ada@example.net")
    mona = await site.client("mona", "moderator")
    # Bodies differ: spamd's Bayes knows a message by its text, and would count the same one once.
    for subject, body in (("First", "Tomatoes ripened early.\n"), ("Second", "Cheap watches, click now.\n")):
        data = message("Ada <ada@example.net>", LIST, subject, body)
        assert await asyncio.to_thread(send, site.config.smtp_port, "ada@example.net", LIST, data) == {}
    items = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
    assert [i["why"] for i in items] == ["spam", "spam"] and {i["article"]["subject"] for i in items} == {
        "First",
        "Second",
    }
    for item in items:
        assert 0.5 <= item["spam"]["score"] < 15 and "NO_RELAYS" in item["spam"]["rules"]
    learnt = spamd.learnt()
    first, second = sorted(items, key=lambda i: i["article"]["subject"])
    r = await mona.post(f"/api/groups/{GROUP}/queue/{first['id']}/approve", json={})
    assert r.status_code == 200 and r.json()["article"]["subject"] == "First", r.text
    r = await mona.post(f"/api/groups/{GROUP}/queue/{second['id']}/reject", json={})
    assert r.status_code == 200, r.text
    await until(lambda: site.site.spamd.taught == 2, "spamd to learn both decisions")
    now = spamd.learnt()
    assert (
        now.get("nham", 0) == learnt.get("nham", 0) + 1 and now.get("nspam", 0) == learnt.get("nspam", 0) + 1
    )


class Silent:
    """A listener that accepts and never answers: a spamd too slow to wait for."""

    async def __aenter__(self) -> str:
        self.writers: list[asyncio.StreamWriter] = []
        self.server = await asyncio.start_server(lambda r, w: self.writers.append(w), "127.0.0.1", 0)
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize("how", ["down", "slow"])
async def test_without_spamd_members_post_and_new_accounts_wait(make_site, how):
    async with Silent() as silent:
        with reserved_port() as closed:
            address = f"127.0.0.1:{closed}" if how == "down" else silent
            site = await make_site(spamd=address, spamd_timeout=0.3, metrics_allow=("127.0.0.1",), **TRUST)
            await open_group(site)
            r = await (await member(site, "ada")).post(
                f"/api/groups/{GROUP}/threads", json={"subject": "Still", "body": "here"}
            )
            assert r.status_code == 201, r.text
            newbie = await site.client("newbie")
            r = await newbie.post(f"/api/groups/{GROUP}/threads", json={"subject": "Hi", "body": "new here"})
            assert r.status_code == 202 and r.json()["held"]["why"] == "spam", r.text
            mona = await site.client("mona", "moderator")
            (item,) = (await mona.get(f"/api/groups/{GROUP}/queue")).json()["items"]
            assert item["spam"] == {"score": None, "rules": []} and item["article"]["body"] == "new here"
            assert await metric(site, "missed") == 2
            # Approved, nothing lost: the article is shown and its author no longer frozen.
            r = await mona.post(f"/api/groups/{GROUP}/queue/{item['id']}/approve", json={})
            assert r.status_code == 200 and r.json()["article"]["body"] == "new here", r.text


async def test_a_poster_past_their_rate_is_refused_before_spamd_is_asked(make_site):
    with reserved_port() as closed:  # a spamd that would only be missed
        site = await make_site(
            spamd=f"127.0.0.1:{closed}", post_rate=1.0, post_burst=1, metrics_allow=("127.0.0.1",), **TRUST
        )
        await open_group(site)
        ada = await member(site, "ada")
        r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "One", "body": "first"})
        assert r.status_code == 201, r.text
        assert await metric(site, "missed") == 1
        r = await ada.post(f"/api/groups/{GROUP}/threads", json={"subject": "Two", "body": "second"})
        assert r.status_code == 429 and "Retry-After" in r.headers, r.text
        assert await metric(site, "missed") == 1  # spamd was not asked


async def test_a_burst_at_once_asks_spamd_no_more_than_the_posting_burst(make_site):
    async with Silent() as slow:  # each ask waits out the timeout: they all overlap
        site = await make_site(
            spamd=slow, spamd_timeout=0.5, post_rate=1.0, post_burst=2, metrics_allow=("127.0.0.1",), **TRUST
        )
        await open_group(site)
        ada = await member(site, "ada")
        answers = await asyncio.gather(
            *(
                ada.post(f"/api/groups/{GROUP}/threads", json={"subject": f"At once {n}", "body": "now"})
                for n in range(6)
            )
        )
        assert sorted(r.status_code for r in answers) == [201, 201, 429, 429, 429, 429]
        assert await metric(site, "missed") == 2  # only the burst's two reached spamd


def test_the_verdicts_policy():
    from moot.stewardship import spam
    from moot.stewardship.permissions import User

    member = User(1, "ada", "Ada", "member", created_at="2020-01-01T00:00:00.000Z", posts=10)
    fresh = User(2, "bo", "Bo", "member", created_at="2999-01-01T00:00:00.000Z")
    policy = spam.Policy(hold=5.0, refuse=15.0)
    assert spam.judge(None, fresh) is False
    assert spam.judge(spam.Verdict(4.9, policy=policy), fresh) is False
    assert spam.judge(spam.Verdict(5.0, policy=policy), member) is True
    with pytest.raises(Spam):
        spam.judge(spam.Verdict(1000.0, ("GTUBE",), policy), member)
    assert spam.judge(spam.Verdict(None, policy=policy), member) is False
    assert spam.judge(spam.Verdict(None, policy=policy), fresh) is True
    moderator = User(3, "mo", "Mo", "moderator", created_at="2999-01-01T00:00:00.000Z")
    assert spam.judge(spam.Verdict(None, policy=policy), moderator) is False
    for bad in ({"spamd": "nohost"}, {"spamd": "h:99999"}, {"spam_hold": 9.0, "spam_refuse": 8.0}):
        with pytest.raises(ValueError):
            Config(**bad).checked()
    assert Config(spamd="[::1]:783").spamd_address == ("::1", 783) and Config().spamd_address is None


async def test_forged_spam_in_a_members_name_is_refused_not_quoted_back_to_them(make_site, relay, spamd):
    site = await make_site(**mail_settings(relay, mail_trusted_relays=()), spamd=spamd.address, **TRUST)
    s = await seed(site)
    await confirm_address(s["ada"], relay, "ada@example.net")
    before = site.snapshot()
    data = message("Ada <ada@example.net>", LIST, "Offer", f"{GTUBE}\n")
    with pytest.raises(Exception) as refused:  # smtplib's SMTPDataError (550)
        await asyncio.to_thread(
            send, site.config.smtp_port, "attacker@evil.example", LIST, data, relayed=False
        )
    assert refused.value.smtp_code == 550 and b"SpamAssassin" in refused.value.smtp_error
    after = site.snapshot()  # nothing held, no confirmation mail queued to Ada
    assert (after["queue"], after["mail_queue"]) == (before["queue"], before["mail_queue"])


async def test_forged_mail_spamd_would_hold_waits_for_the_moderators_without_mailing_the_member(
    make_site, relay, spamd
):
    site = await make_site(
        **mail_settings(relay, mail_trusted_relays=()), spamd=spamd.address, spam_hold=0.5, **TRUST
    )
    await open_group(site)
    await confirm_address(await member(site, "ada"), relay, "ada@example.net")
    before = site.snapshot()
    data = message("Ada <ada@example.net>", LIST, "Offer", "Cheap watches, write back today.\n")
    await asyncio.to_thread(send, site.config.smtp_port, "attacker@evil.example", LIST, data, relayed=False)
    after = site.snapshot()
    assert after["mail_queue"] == before["mail_queue"]  # nothing quoted back to Ada
    assert len(after["queue"]) == len(before["queue"]) + 1
    with sqlite3.connect(site.config.db_path) as conn:
        assert conn.execute("SELECT why, state FROM queue").fetchall() == [("unverified", "waiting")]
