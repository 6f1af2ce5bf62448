"""Threading imported mail as JWZ and notmuch do, measured on the corpus in
tests/data/threading against the reference implementation in jwz_support;
placeholders for missing messages, filled in by a later import; exports that
keep the links and rebuild to Moot's tree; `<unknown@invalid>` round trips."""

import mailbox
import sqlite3
from pathlib import Path

import pytest

from moot.articles import importer
from tests.archive_support import check_consistency
from tests.jwz_support import compare, jwz, moot_threads, read_mbox

CORPUS = sorted((Path(__file__).parent / "data" / "threading").glob("*.mbox"))
GROUP = "test.threads"


async def site_with_group(make_site, name=GROUP):
    site = await make_site()
    admin = await site.client("root", "admin")
    assert (await admin.post("/api/groups", json={"name": name})).status_code == 201
    return site


def rows(site) -> dict[str, dict]:
    conn = sqlite3.connect(site.config.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return {
            r["message_id"]: dict(r)
            for r in conn.execute(
                "SELECT a.*, p.message_id AS parent_mid FROM articles a"
                " LEFT JOIN articles p ON p.id = a.parent_id"
            )
        }
    finally:
        conn.close()


def test_the_corpus_is_there():
    assert [p.name for p in CORPUS] == ["edge-cases.mbox", "list-archive.mbox"]


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.stem)
async def test_threads_match_jwz_on_the_corpus(make_site, source):
    site = await site_with_group(make_site)
    report = await importer.import_path(site.db, source, GROUP)
    assert report.accounted and report.skipped == 0, report.summary()
    result = compare(jwz(read_mbox(str(source))), moot_threads(site.config.db_path))
    assert result.misplaced == [] and result.wrong_parent == [], str(result)
    assert result.moot_threads == result.jwz_threads
    check_consistency(site.config.db_path)


async def test_replies_to_one_missing_message_share_a_placeholder_that_says_so(make_site):
    site = await site_with_group(make_site)
    await importer.import_path(site.db, CORPUS[1], GROUP)  # list-archive
    got = rows(site)
    question = got["<CAF8v2=q0@mail.example.com>"]  # the archive starts after it was asked
    assert question["status"] == "notice" and question["parent_id"] is None
    replies = [m for m, r in got.items() if r["parent_mid"] == "<CAF8v2=q0@mail.example.com>"]
    assert sorted(replies) == [
        "<20260303092011.GA4411@carol.example.org>",
        "<87h6a1.fsf@bob.example.net>",
        "<CAF8v2=q9@mail.example.com>",
    ]
    # a reply through an off-list message hangs under the nearest present ancestor
    assert got["<CAF8v2=r7@mail.example.com>"]["parent_mid"] == "<5f1c.release@erik.example.org>"
    # replies to the junk id <yes> stay apart, each its own thread
    assert (
        len(
            {
                got[m]["thread_id"]
                for m in ("<y1@jo.example.com>", "<y2@kim.example.com>", "<y3@lu.example.com>")
            }
        )
        == 3
    )
    page = await (await site.client()).get(f"/t/{question['thread_id']}")
    assert page.status_code == 200 and "Earlier message not in this archive." in page.text
    # a placeholder is nobody's text: not searchable
    found = await (await site.client()).get("/api/search", params={"q": "archive"})
    assert found.status_code == 200
    assert all(hit["article"]["message_id"] != question["message_id"] for hit in found.json()["results"])


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    path.write_bytes(b"".join(messages))
    return path


def raw_messages(source: Path) -> dict[str, bytes]:
    box = mailbox.mbox(str(source))
    try:
        return {msg["Message-ID"]: msg.as_bytes(unixfrom=True) + b"\n" for msg in box}
    finally:
        box.close()


async def test_a_later_import_fills_in_the_placeholder_and_reparents_it(make_site, tmp_path):
    site = await site_with_group(make_site)
    raw = raw_messages(CORPUS[0])  # edge-cases
    late = [raw["<o2@x.example>"]]
    await importer.import_path(
        site.db, write_mbox(tmp_path / "a.mbox", [raw["<o0@x.example>"], *late]), GROUP
    )
    before = rows(site)
    assert before["<o2@x.example>"]["parent_mid"] == "<o0@x.example>"  # its parent <o1> is missing
    # the ghost-rooted replies: both under the one placeholder <g0>
    await importer.import_path(
        site.db, write_mbox(tmp_path / "b.mbox", [raw["<g1@x.example>"], raw["<g2@x.example>"]]), GROUP
    )
    got = rows(site)
    assert got["<g0@x.example>"]["status"] == "notice"
    assert (
        got["<g1@x.example>"]["thread_id"]
        == got["<g2@x.example>"]["thread_id"]
        == got["<g0@x.example>"]["thread_id"]
    )
    ghost_thread = got["<g0@x.example>"]["thread_id"]

    # Now the missing <g0> arrives, itself a reply to <o0>: it takes its
    # placeholder's place and its thread moves under <o0>.
    g0 = (
        b"From tw@example.org Sun Feb  1 00:00:30 2026\nFrom: Test Writer <tw@example.org>\n"
        b"Date: Sun, 1 Feb 2026 00:00:30 +0000\nSubject: ghost root\nMessage-ID: <g0@x.example>\n"
        b"References: <o0@x.example>\n\nThe message the replies answered.\n\n"
    )
    report = await importer.import_path(site.db, write_mbox(tmp_path / "c.mbox", [g0]), GROUP)
    assert report.imported == 1 and report.filled == 1 and report.placeholders == 0 and report.accounted
    got = rows(site)
    filled = got["<g0@x.example>"]
    assert filled["id"] == before.get("<g0@x.example>", filled)["id"]
    assert (filled["status"], filled["subject"], filled["parent_mid"]) == (
        "ok",
        "ghost root",
        "<o0@x.example>",
    )
    assert got["<g1@x.example>"]["thread_id"] == got["<o0@x.example>"]["thread_id"] != ghost_thread
    assert got["<g1@x.example>"]["parent_mid"] == "<g0@x.example>"
    client = await site.client()
    old = (await client.get(f"/api/threads/{ghost_thread}")).json()
    assert old["thread"]["merged_into"] == got["<o0@x.example>"]["thread_id"]
    found = await client.get("/api/search", params={"q": "replies answered"})
    assert [h["article"]["message_id"] for h in found.json()["results"]] == ["<g0@x.example>"]
    check_consistency(site.config.db_path)
    # a rerun of every file changes nothing
    for name in ("a", "b", "c"):
        again = await importer.import_path(site.db, tmp_path / f"{name}.mbox", GROUP)
        assert again.imported == 0 and again.filled == 0
    assert rows(site) == got


async def test_the_corpus_imported_in_two_parts_threads_the_same(make_site, tmp_path):
    site = await site_with_group(make_site)
    raw = list(raw_messages(CORPUS[1]).values())  # list-archive
    first = write_mbox(tmp_path / "odd.mbox", raw[1::2])
    second = write_mbox(tmp_path / "even.mbox", raw[0::2])
    for part in (first, second):
        assert (await importer.import_path(site.db, part, GROUP)).accounted
    result = compare(jwz(read_mbox(str(CORPUS[1]))), moot_threads(site.config.db_path))
    assert result.misplaced == [], str(result)
    check_consistency(site.config.db_path)


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.stem)
async def test_an_export_keeps_the_links_and_rebuilds_to_moots_tree(make_site, tmp_path, source):
    site = await site_with_group(make_site)
    await importer.import_path(site.db, source, GROUP)
    r = await (await site.client()).get(f"/api/groups/{GROUP}/mbox")
    assert r.status_code == 200
    exported = write_mbox(tmp_path / "export.mbox", [r.content])
    carried = {mid: refs for mid, refs, _ in read_mbox(str(exported))}
    got = rows(site)
    for mid, row in got.items():
        if row["status"] == "notice":
            assert mid not in carried  # placeholders are not exported
        elif row["parent_mid"] is None:
            assert carried[mid] == row["refs"].split(), mid  # a root keeps its link to a missing parent
        else:
            # a reply carries its path in Moot's tree, ending at the parent it hangs under
            path, up = [], row["parent_mid"]
            while up is not None:
                path, up = [up, *path], got[up]["parent_mid"]
            assert carried[mid][-len(path) :] == path, mid
    # a reader rebuilding threads from the export gets Moot's threads and parents
    result = compare(jwz(read_mbox(str(exported))), moot_threads(site.config.db_path))
    assert result.misplaced == [] and result.wrong_parent == [], str(result)

    other = await site_with_group(make_site)
    await importer.import_path(other.db, exported, GROUP)
    again = compare(jwz(read_mbox(str(exported))), moot_threads(other.config.db_path))
    assert again.misplaced == [] and again.wrong_parent == [], str(again)


async def test_unknown_address_round_trips(make_site, tmp_path):
    site = await site_with_group(make_site)
    source = write_mbox(
        tmp_path / "in.mbox",
        [
            b"From MAILER-DAEMON Sat Jan  1 10:00:00 2000\nFrom: Someone without an address\n"
            b"Date: Sat, 01 Jan 2000 10:00:00 +0000\nSubject: hello\nMessage-ID: <noaddr@example.org>\n\nhi\n\n"
        ],
    )
    await importer.import_path(site.db, source, GROUP)
    first = rows(site)["<noaddr@example.org>"]
    assert first["author_addr"] is None
    r = await (await site.client()).get(f"/api/groups/{GROUP}/mbox")
    assert b"<unknown@invalid>" in r.content
    other = await site_with_group(make_site)
    await importer.import_path(other.db, write_mbox(tmp_path / "export.mbox", [r.content]), GROUP)
    again = rows(other)["<noaddr@example.org>"]
    assert (again["author_addr"], again["author_name"]) == (None, first["author_name"])


async def test_the_original_dates_offset_is_kept_for_display_and_export(make_site, tmp_path):
    site = await site_with_group(make_site)
    source = write_mbox(
        tmp_path / "tz.mbox",
        [
            b"From asha@example.in Mon Mar  2 04:45:00 2026\nFrom: Asha <asha@example.in>\n"
            b"Date: Mon, 2 Mar 2026 10:15:00 +0530\nSubject: Chai\nMessage-ID: <chai@example.in>\n\nMorning.\n\n",
            b"From ed@example.us Sun Mar  1 23:50:00 2026\nFrom: Ed <ed@example.us>\n"
            b"Date: Sun, 1 Mar 2026 18:50:00 -0500\nSubject: Re: Chai\nMessage-ID: <late@example.us>\n"
            b"References: <chai@example.in>\n\nEvening here.\n\n",
        ],
    )
    await importer.import_path(site.db, source, GROUP)
    client = await site.client()
    chai = (await client.get("/api/articles/<chai@example.in>")).json()["article"]
    late = (await client.get("/api/articles/<late@example.us>")).json()["article"]
    # stored in UTC, for order; the offset kept beside it
    assert (chai["created_at"], chai["utc_offset"]) == ("2026-03-02T04:45:00.000Z", 330)
    assert (late["created_at"], late["utc_offset"]) == ("2026-03-01T23:50:00.000Z", -300)
    page = (await client.get(f"/t/{chai['thread_id']}")).text
    assert "2026-03-02 04:45" in page and "(10:15 +0530 there)" in page and "(18:50 -0500 there)" in page
    # the export writes each Date as it was; a re-import gets the same instant and offset
    r = await client.get(f"/api/groups/{GROUP}/mbox")
    assert b"Date: Mon, 02 Mar 2026 10:15:00 +0530" in r.content
    assert b"Date: Sun, 01 Mar 2026 18:50:00 -0500" in r.content
    other = await site_with_group(make_site)
    await importer.import_path(other.db, write_mbox(tmp_path / "again.mbox", [r.content]), GROUP)
    again = rows(other)
    assert (again["<chai@example.in>"]["created_at"], again["<chai@example.in>"]["utc_offset"]) == (
        "2026-03-02T04:45:00.000Z",
        330,
    )
    assert again["<late@example.us>"]["utc_offset"] == -300


def test_news_dates_carry_the_authors_offset():
    from moot.news import news

    assert news.news_date("2026-03-02T04:45:00.000Z", 330) == "Mon, 02 Mar 2026 10:15:00 +0530"
    assert news.news_date("2026-03-01T23:50:00.000Z", -300) == "Sun, 01 Mar 2026 18:50:00 -0500"
    assert news.news_date("2026-03-01T23:50:00.000Z") == "Sun, 01 Mar 2026 23:50:00 +0000"


async def test_newsreaders_see_no_placeholders(make_site, tmp_path):
    from moot.nntp.session import Session
    from tests.nntp_support import replies

    site = await site_with_group(make_site)
    await importer.import_path(site.db, CORPUS[1], GROUP)  # list-archive: one placeholder
    placeholder = rows(site)["<CAF8v2=q0@mail.example.com>"]
    session = Session(site.site, "192.0.2.1")

    async def talk(*lines: str) -> list[tuple[int, list[bytes]]]:
        return replies(await session.receive("".join(line + "\r\n" for line in lines).encode()))

    got = await talk(
        "ARTICLE <CAF8v2=q0@mail.example.com>",
        f"GROUP {GROUP}",
        f"ARTICLE {placeholder['number']}",
        "OVER 1-100",
        "LISTGROUP",
    )
    assert [code for code, _ in got] == [430, 211, 423, 224, 211]
    over_numbers = [int(line.split(b"\t")[0]) for line in got[3][1]]
    assert placeholder["number"] not in over_numbers and len(over_numbers) == 20
    assert placeholder["number"] not in [int(n) for n in got[4][1]]
    # a reply's References still name it, as the mail did
    reply = rows(site)["<87h6a1.fsf@bob.example.net>"]
    got = await talk(f"HEAD {reply['number']}")
    assert b"References: <CAF8v2=q0@mail.example.com>" in b"\n".join(got[0][1])
