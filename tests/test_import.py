"""`moot import`: hostile mbox files, Maildir folders, thread rebuilding,
reruns, and random bytes, each ending in a full report and a consistent database."""

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moot.articles import importer, mbox, messages
from moot.cli import main
from moot.store.errors import Invalid, TooLarge
from tests.archive_support import check_consistency

GROUP = "comp.archive"


def message(
    mid=None,
    subject="Subject",
    body="Body text",
    date="Sat, 01 Jan 2000 10:00:00 +0000",
    sender="Ada <ada@example.org>",
    refs=None,
    in_reply_to=None,
    extra=b"",
    envelope=b"From ada@example.org Sat Jan  1 10:00:00 2000",
) -> bytes:
    head = [f"From: {sender}", f"Subject: {subject}"]
    if date:
        head.append(f"Date: {date}")
    if mid:
        head.append(f"Message-ID: {mid}")
    if refs:
        head.append(f"References: {refs}")
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    raw = "\n".join(head).encode() + b"\n" + extra
    if isinstance(body, str):
        body = body.encode()
    return envelope + b"\n" + raw + b"\n" + body + b"\n\n"


async def fresh(make_site):
    site = await make_site()
    admin = await site.client("root", "admin")
    assert (await admin.post("/api/groups", json={"name": GROUP})).status_code == 201
    return site


def articles(site) -> dict:
    conn = sqlite3.connect(site.config.db_path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT a.*, p.message_id AS parent_mid, r.message_id AS root_mid FROM articles a"
            " JOIN threads t ON t.id = a.thread_id JOIN articles r ON r.id = t.root_article_id"
            " LEFT JOIN articles p ON p.id = a.parent_id"
        ).fetchall()
        return {row["message_id"]: dict(row) for row in rows}
    finally:
        conn.close()


def test_parse_message_reads_encodings_and_falls_back():
    raw = mbox.RawMessage(
        1,
        (
            b"From: =?iso-8859-1?q?Ren=E9?= <rene@example.org>\nSubject: =?utf-8?b?w4fDoCB2YQ==?=\n"
            b"Date: Sun, 02 Jan 2000 12:00:00 +0200\nMessage-ID: <m1@example.org>\n"
            b"References: <r0@x> bad <r1@x>\nMIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
            b"Caf=E9 cr=E8me=\n joined\r\n"
        ),
        200,
    )
    parsed = messages.parse_message(raw)
    assert (parsed.author_name, parsed.author_addr) == ("René", "rene@example.org")
    assert parsed.subject == "Çà va" and parsed.body == "Café crème joined"
    assert parsed.created_at == "2000-01-02T10:00:00.000Z"
    assert parsed.parent_id == "<r1@x>" and parsed.refs == ("<r0@x>", "<r1@x>")


def test_an_html_only_message_is_read_as_its_text_as_mail_is():
    data = (
        b"From: A <a@example.org>\nSubject: Rich\nDate: Sat, 01 Jan 2000 00:00:00 +0000\n"
        b"Message-ID: <html@example.org>\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        b"<html><head><style>p{}</style></head><body><p>Hello <b>there</b></p><p>Second &amp; last</p></body></html>\n"
    )
    parsed = messages.parse_message(mbox.RawMessage(1, data, len(data)))
    assert parsed.body.strip() == "Hello there\n\nSecond & last"


def test_parse_message_refuses_what_it_cannot_use():
    for data, reason in [
        (b"no headers at all, just prose\n", "no headers"),
        (b"Subject: x\n\nno date anywhere\n", "no usable Date"),
        (b"Subject: x\nDate: Sat, 01 Jan 1800 00:00:00 +0000\n\nold\n", "out of range"),
        (
            b"Subject: x\nDate: Sat, 01 Jan 2000 00:00:00 +0000\nContent-Type: image/png\n\n\x89PNG",
            "no text part",
        ),
    ]:
        with pytest.raises(Invalid, match=reason):
            messages.parse_message(mbox.RawMessage(1, data, len(data)))
    big = b"Subject: x\nDate: Sat, 01 Jan 2000 00:00:00 +0000\n\n" + b"y" * 70_000
    with pytest.raises(TooLarge):
        messages.parse_message(mbox.RawMessage(1, big, len(big)))


def hostile_parts() -> list[bytes]:
    """An mbox's messages, each one of the edge cases an import must survive."""
    return [
        message(
            "<root@example.org>",
            subject="=?utf-8?q?Hi=0D=0ABcc:_victim@example.org?=",
            sender="=?utf-8?q?Eve=0D=0AX-Injected:_1?= <eve@example.org>",
        ),
        message(
            "<reply@example.org>",
            refs="<root@example.org>",
            subject="Re: Hi",
            body="From the top\n\nFrom here on, prose.\n>From escaped\n\nFrom nobody",
        ),
        message(None, subject="no id one", body="same content gives the same made-up id"),
        message(None, subject="no id two", body="another one"),
        message("<bad id with spaces@example.org>", subject="unusable id"),
        message("<big@example.org>", body=b"z" * (10 * 1024 * 1024)),
        message("<over64k@example.org>", body=b"w" * (65 * 1024)),
        message(
            "<b64@example.org>", body=b"!!!! not base64 ####", extra=b"Content-Transfer-Encoding: base64\n"
        ),
        message(
            "<latin@example.org>",
            body="caf\xe9".encode("latin-1"),
            extra=b"Content-Type: text/plain; charset=utf-8\n",
        ),
        message(
            "<bogus-charset@example.org>",
            subject="=?x-bogus?q?abc?=",
            body="x",
            extra=b"Content-Type: text/plain; charset=x-no-such-charset\n",
        ),
        message("<raw8bit@example.org>", subject="Gr\xfc\xdfe".encode("latin-1").decode("latin-1")),
        message("<ctrl@example.org>", body="bell\x07 and form\x0cfeed\x00nul"),
        message("<root@example.org>", subject="duplicate in the same file"),
        message("<late-child@example.org>", refs="<root@example.org> <late-parent@example.org>"),
        message("<late-parent@example.org>", refs="<root@example.org>"),
        message("<orphan@example.org>", refs="<never-seen@example.org>", subject="Re: lost"),
        message("<cycle-a@example.org>", refs="<cycle-b@example.org>"),
        message("<cycle-b@example.org>", refs="<cycle-a@example.org>"),
        message("<self@example.org>", refs="<self@example.org>"),
        message("<irt@example.org>", in_reply_to="<root@example.org> (Eve's message)"),
        message("<nodate@example.org>", date=None, envelope=b"From x@y Sun Feb  6 08:09:10 2000"),
        message("<nodate2@example.org>", date="garbage", envelope=b"From garbage at 12:00"),
        b"From junk@x Sat Jan  1 00:00:00 2000\nthis is not a message\n\n",
        message(
            "<multi@example.org>",
            body=(
                b"--B\nContent-Type: text/html\n\n<p>html</p>\n--B\nContent-Type: text/plain\n\nplain part\n"
                b"--B\nContent-Type: text/plain\nContent-Disposition: attachment\n\nattached\n--B--"
            ),
            extra=b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n",
        ),
    ]


async def test_hostile_mbox_gives_a_report_and_a_consistent_database(make_site, tmp_path):
    site = await fresh(make_site)
    parts = hostile_parts()
    path = tmp_path / "hostile.mbox"
    path.write_bytes(b"".join(parts))
    report = await importer.import_path(site.db, path, GROUP)
    assert report.seen == len(parts) and report.accounted
    assert report.duplicates == 1
    reasons = {p.message_id or p.where: p.reason for p in report.problems}
    assert report.skipped == 4, report.summary()
    assert any("65" in r and "65536" in r for r in reasons.values())  # over the 64 KiB body limit
    assert sum("Date" in r for r in reasons.values()) == 1
    assert sum("no headers" in r for r in reasons.values()) == 1
    assert report.derived_ids == 3
    check_consistency(site.config.db_path)

    got = articles(site)
    # and one placeholder, for the message <orphan> replies to
    assert len(got) == report.imported + 1 == len(parts) - 4
    for row in got.values():
        for column in ("subject", "author_name", "author_addr", "message_id", "refs"):
            assert not any(c in (row[column] or "") for c in "\r\n\x00"), (column, row[column])
    root = got["<root@example.org>"]
    assert root["subject"] == "Hi  Bcc: victim@example.org" and root["author_name"] == "Eve  X-Injected: 1"
    assert (
        got["<reply@example.org>"]["body"]
        == "From the top\n\nFrom here on, prose.\nFrom escaped\n\nFrom nobody"
    )
    assert got["<late-child@example.org>"]["parent_mid"] == "<late-parent@example.org>"
    assert got["<late-child@example.org>"]["root_mid"] == "<root@example.org>"
    # its parent never came: it waits under a placeholder that a later import fills in
    assert got["<orphan@example.org>"]["parent_mid"] == "<never-seen@example.org>"
    assert got["<never-seen@example.org>"]["status"] == "notice"
    assert got["<never-seen@example.org>"]["parent_mid"] is None
    assert got["<orphan@example.org>"]["refs"] == "<never-seen@example.org>"
    cycle = [got["<cycle-a@example.org>"], got["<cycle-b@example.org>"]]
    assert sorted(r["parent_mid"] is None for r in cycle) == [False, True]
    assert got["<self@example.org>"]["parent_mid"] is None
    assert got["<irt@example.org>"]["parent_mid"] == "<root@example.org>"
    assert got["<irt@example.org>"]["refs"] == "<root@example.org>"
    assert got["<nodate@example.org>"]["created_at"] == "2000-02-06T08:09:10.000Z"
    assert got["<latin@example.org>"]["body"] == "caf\ufffd"
    assert got["<bogus-charset@example.org>"]["subject"] == "=?x-bogus?q?abc?="
    assert got["<raw8bit@example.org>"]["subject"] == "Grüße"
    assert got["<ctrl@example.org>"]["body"] == "bell and formfeednul"
    assert got["<multi@example.org>"]["body"] == "plain part"
    made_up = [m for m, r in got.items() if r["subject"] in ("unusable id", "no id one", "no id two")]
    assert len(made_up) == 3 and all(m.endswith("@import.invalid>") for m in made_up)
    assert reasons["<big@example.org>"].startswith("the message is 10485")

    again = await importer.import_path(site.db, path, GROUP)  # a rerun adds nothing
    assert again.imported == 0 and again.duplicates == report.imported + 1 and again.accounted
    assert articles(site).keys() == got.keys()
    check_consistency(site.config.db_path)


async def test_parsing_in_worker_processes_imports_the_same(make_site, tmp_path, monkeypatch):
    """A large source is parsed in other processes, in pieces; cut into many
    small pieces (replies, duplicates and bad messages in other pieces than
    what they name), it gives the same report and the same rows as a parse here."""
    monkeypatch.setattr(importer, "CHUNK_BYTES", 300)
    monkeypatch.setattr(importer, "HEAD_START", 0)  # every piece to the worker, none parsed here
    path = tmp_path / "hostile.mbox"
    path.write_bytes(b"".join(hostile_parts()))
    here, elsewhere = await fresh(make_site), await fresh(make_site)
    local = await importer.import_path(here.db, path, GROUP, batch_size=4, workers=0)
    pooled = await importer.import_path(elsewhere.db, path, GROUP, batch_size=4, workers=1)
    assert local.summary().splitlines()[1:] == pooled.summary().splitlines()[1:]
    assert (local.seen, local.imported, local.threads, local.duplicates, local.skipped) == (
        pooled.seen,
        pooled.imported,
        pooled.threads,
        pooled.duplicates,
        pooled.skipped,
    )
    assert [str(p) for p in local.problems] == [str(p) for p in pooled.problems]
    assert articles(here) == articles(elsewhere)

    monkeypatch.setattr(importer, "CHUNK_FILES", 2)
    folder = tmp_path / "Maildir"
    (folder / "cur").mkdir(parents=True)
    for i in range(5):  # children first, and one file that is no message
        raw = message(f"<md{i}@example.org>", refs=" ".join(f"<md{j}@example.org>" for j in range(i)) or None)
        (folder / "cur" / f"{9 - i}.host:2,S").write_bytes(raw.split(b"\n", 1)[1])
    (folder / "cur" / "0.host:2,S").write_bytes(b"not a message\n")
    local = await importer.import_path(here.db, folder, GROUP, workers=0)
    pooled = await importer.import_path(elsewhere.db, folder, GROUP, workers=1)
    assert (pooled.seen, pooled.imported, pooled.threads, pooled.skipped) == (6, 5, 1, 1)
    assert [p.where.replace(str(folder), "") for p in pooled.problems] == ["/cur/0.host:2,S"]
    assert articles(here) == articles(elsewhere)
    check_consistency(elsewhere.config.db_path)


async def test_maildir_out_of_order_and_deep_chains(make_site, tmp_path):
    site = await fresh(make_site)
    folder = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    # Children first: every reply arrives before its parent, four deep.
    chain = [f"<c{i}@example.org>" for i in range(5)]
    for i in reversed(range(5)):
        refs = " ".join(chain[:i]) or None
        raw = message(chain[i], refs=refs, subject=f"level {i}").split(b"\n", 1)[1]  # no From_ line
        (folder / ("cur" if i % 2 else "new") / f"{100 - i}.host:2,S").write_bytes(raw)
    (folder / "tmp" / "partial").write_bytes(b"half written")
    report = await importer.import_path(site.db, folder, GROUP)
    assert report.seen == report.imported == 5 and report.threads == 1, report.summary()
    got = articles(site)
    for i in range(1, 5):
        assert got[chain[i]]["parent_mid"] == chain[i - 1]
    check_consistency(site.config.db_path)

    deep = b"".join(
        message(f"<d{i}@example.org>", refs=f"<d{i - 1}@example.org>" if i else None)
        for i in range(importer.MAX_DEPTH + 5)
    )
    (tmp_path / "deep.mbox").write_bytes(deep)
    report = await importer.import_path(site.db, tmp_path / "deep.mbox", GROUP, batch_size=300)
    # Past the deepest level, replies attach one level up, in the same thread.
    assert report.imported == importer.MAX_DEPTH + 5 and report.threads == 1
    conn = sqlite3.connect(site.config.db_path)
    deepest = conn.execute("SELECT max(depth) FROM articles").fetchone()[0]
    at_limit = conn.execute(
        "SELECT count(*) FROM articles WHERE depth = ?", (importer.MAX_DEPTH - 1,)
    ).fetchone()[0]
    conn.close()
    assert deepest == importer.MAX_DEPTH - 1 and at_limit == 6
    check_consistency(site.config.db_path)


async def test_batches_that_fail_are_retried_one_message_at_a_time(make_site, tmp_path):
    site = await fresh(make_site)
    other = await site.client("root", "admin")
    await other.post("/api/groups", json={"name": "other.group"})
    # A Message-ID already used in another group is a duplicate, not a conflict.
    first = tmp_path / "a.mbox"
    first.write_bytes(message("<shared@example.org>") + message("<only-a@example.org>"))
    assert (await importer.import_path(site.db, first, "other.group")).imported == 2
    second = tmp_path / "b.mbox"
    second.write_bytes(
        message("<shared@example.org>") + message("<reply-x@example.org>", refs="<only-a@example.org>")
    )
    report = await importer.import_path(site.db, second, GROUP)
    assert (report.imported, report.duplicates) == (1, 1)
    got = articles(site)
    assert got["<reply-x@example.org>"]["parent_mid"] is None  # its parent is in another group
    check_consistency(site.config.db_path)


def test_command_line_import_prints_a_summary(tmp_path):
    db = tmp_path / "cli.db"
    source = tmp_path / "in.mbox"
    source.write_bytes(
        message("<one@example.org>")
        + message("<two@example.org>", refs="<one@example.org>")
        + b"From x@y Sat Jan  1 00:00:00 2000\ngarbage\n\n"
    )
    env = {**os.environ, "MOOT_DB_PATH": str(db)}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "moot", "import", str(source), "--group", GROUP, "--create"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # one message was skipped
    assert "3 messages read: 2 imported into 1 new threads, 0 already here, 1 skipped" in done.stdout
    assert "no headers" in done.stdout and done.stderr == ""  # no progress bar off a terminal
    done = subprocess.run(
        [sys.executable, "-m", "moot", "import", str(source), "--group", "no.such"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no group named" in done.stderr


def test_command_line_import_names_a_missing_file_or_a_folder_that_is_no_maildir(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    assert main(["init", "--db", db]) == 0
    (tmp_path / "folder").mkdir()
    for path, says in [(tmp_path / "nothing.mbox", "no such file"), (tmp_path / "folder", "not a Maildir")]:
        assert main(["import", str(path), "--group", GROUP, "--create", "--db", db]) == 2
        assert says in capsys.readouterr().err
    # nor was the group made for an import that could not begin
    assert main(["get", "--db", db, "/api/groups"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"] == []


def test_progress_bar_draws_only_on_a_terminal():
    class Terminal:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    term = Terminal()
    bar = importer.Progress(1000, term, interval=0)
    bar.show(250, 5000)
    bar.show(1000, 20000, final=True)
    assert "25.0%" in term.text and "ETA" in term.text and "/s" in term.text and term.text.endswith("\n")
    quiet = Terminal()
    quiet.isatty = lambda: False
    importer.Progress(10, quiet).show(5, 5, final=True)
    assert quiet.text == ""


FROM = b"From fuzz@example.org Sat Jan  1 00:00:00 2000\n"
CHUNKS = st.sampled_from(
    [
        FROM,
        b"\n",
        b"Subject: s\n",
        b"Date: Sat, 01 Jan 2000 00:00:00 +0000\n",
        b"Message-ID: <fixed@example.org>\n",
        b"References: <fixed@example.org>\n",
        b"Content-Transfer-Encoding: base64\n",
        b"Content-Type: multipart/mixed; boundary=x\n",
        b"--x\n",
        b"=?utf-8?q?=0D=0A?=",
        b">From x\n",
        b"\r\n",
        b"\xff\xfe",
        b"\x00",
        base64.b64encode(os.urandom(12)) + b"\n",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.lists(st.one_of(CHUNKS, st.binary(max_size=40)), max_size=60).map(b"".join),
    )
)
async def test_random_bytes_never_crash_or_half_import(make_site, tmp_path, data):
    site = getattr(make_site, "fuzz_site", None)
    if site is None:
        site = make_site.fuzz_site = await fresh(make_site)
    before = len(articles(site))
    path = tmp_path / "fuzz.mbox"
    path.write_bytes(data)
    report = await importer.import_path(site.db, path, GROUP, batch_size=3)
    assert report.accounted, report.summary()
    assert not any("refused by the database" in p.reason for p in report.problems), report.summary()
    assert len(articles(site)) == before + report.imported - report.filled + report.placeholders
    check_consistency(site.config.db_path)


async def test_replies_imported_into_a_thread_reach_its_readers(make_site, tmp_path):
    """A second import that adds replies to a thread already here refreshes that
    thread's cached page and routes the event to the thread's watchers."""
    site = await fresh(make_site)
    (tmp_path / "a.mbox").write_bytes(message("<root@example.org>"))
    await importer.import_path(site.db, tmp_path / "a.mbox", GROUP)
    client = await site.client()
    async with site.db.read() as conn:
        (tid,) = await (await conn.execute("SELECT id FROM threads")).fetchone()
    assert len((await client.get(f"/api/threads/{tid}")).json()["articles"]) == 1  # now cached
    (tmp_path / "b.mbox").write_bytes(message("<reply@example.org>", refs="<root@example.org>"))
    await importer.import_path(site.db, tmp_path / "b.mbox", GROUP)
    assert len((await client.get(f"/api/threads/{tid}")).json()["articles"]) == 2
    async with site.db.read() as conn:
        (topics,) = await (
            await conn.execute("SELECT topics FROM events ORDER BY id DESC LIMIT 1")
        ).fetchone()
    assert f"t:{tid}" in topics.split()


async def test_an_imports_articles_are_all_searchable_when_it_ends(make_site, tmp_path, monkeypatch):
    """Imported articles wait in the search queue, as posted ones do, and the
    index takes them in large batches while the import runs and when it ends:
    when import_path returns, nothing waits and each is found by its words."""
    monkeypatch.setattr(importer, "INDEX_EVERY", 4)  # a drain of the queue mid-import too
    site = await fresh(make_site)
    parts = [message("<r@example.org>", subject="Root", body="zebra root")]
    parts += [
        message(f"<m{i}@example.org>", subject=f"Reply {i}", body=f"zebra word{i}", refs="<r@example.org>")
        for i in range(10)
    ]
    parts.append(message("<late@example.org>", body="zebra late", refs="<never@example.org>"))
    (tmp_path / "s.mbox").write_bytes(b"".join(parts))
    report = await importer.import_path(site.db, tmp_path / "s.mbox", GROUP, batch_size=3)
    assert report.imported == len(parts) and report.placeholders == 1
    conn = sqlite3.connect(site.config.db_path)  # the index itself, not a search (which drains first)
    try:
        assert (
            conn.execute(
                "SELECT count(*) FROM articles WHERE id > (SELECT article_id FROM search_indexed)"
            ).fetchone()[0]
            == 0
        )
        found = conn.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'zebra'").fetchall()
        assert len(found) == len(parts)  # the placeholder is no article: not indexed
        assert (
            conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'word7'").fetchone()[0]
            == 1
        )
    finally:
        conn.close()
    check_consistency(site.config.db_path)
