"""ARTICLE and OVER by number come from encoded blocks (moot/nntp/blocks.py):
the same bytes as the uncached path, and never stale after an event."""

from __future__ import annotations

from moot.nntp.session import Session
from tests.conftest import seed
from tests.nntp_support import replies


async def raw(session: Session, *lines: str) -> bytes:
    return await session.receive(b"".join(line.encode() + b"\r\n" for line in lines))


async def test_numbered_replies_equal_the_message_id_path(site):
    s = await seed(site)
    ada = s["ada"]
    r = await ada.post(
        f"/api/articles/{s['reply']['id']}/replies",
        json={"body": ".leading dot\n..two\nnon-ASCII: café ☕\n\n.", "subject": "Ré: ünïcode"},
    )
    assert r.status_code == 201, r.text
    third = r.json()["article"]
    session = Session(site.site, "192.0.2.1")
    await raw(session, "GROUP comp.lang.python")
    for n, article in ((1, s["root"]), (2, s["reply"]), (3, third)):
        for keyword in ("ARTICLE", "HEAD", "BODY", "STAT"):
            by_number = await raw(session, f"{keyword} {n}")
            by_id = await raw(session, f"{keyword} {article['message_id']}")
            assert by_number == by_id, (keyword, n)
        over = replies(await raw(session, f"OVER {n}"))[0][1]
        over_id = replies(await raw(session, f"OVER {article['message_id']}"))[0][1]
        assert over[0].split(b"\t")[1:] == over_id[0].split(b"\t")[1:]
    assert [len(b) for _, b in replies(await raw(session, "OVER 1-", "OVER 2-3", "OVER 3-2", "OVER 9-"))] == [
        3,
        2,
        0,
        0,
    ]


async def test_blocks_follow_cancels_and_new_articles(site):
    s = await seed(site)
    session = Session(site.site, "192.0.2.1")
    await raw(session, "GROUP comp.lang.python")
    before = replies(await raw(session, "OVER 1-", "BODY 2"))
    assert len(before[0][1]) == 2 and before[1][1] == [b"A reply"]
    r = await s["ada"].post(f"/api/articles/{s['reply']['id']}/cancel", json={})
    assert r.status_code == 200, r.text
    r = await s["ada"].post(f"/api/articles/{s['root']['id']}/replies", json={"body": "Third"})
    assert r.status_code == 201, r.text
    after = replies(await raw(session, "OVER 1-", "BODY 2", "BODY 3", "ARTICLE 4"))
    assert len(after[0][1]) == 3 and after[0][1][1] != before[0][1][1]
    assert after[1][1] == [b"[This article was withdrawn by its author.]"]
    assert after[2][1] == [b"Third"]
    assert after[3][0] == 423
