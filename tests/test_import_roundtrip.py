"""Export a group as mbox and import it into a fresh site: the same tree,
subjects, bodies, dates and Message-IDs come out the other side."""

import io
from email import message_from_bytes

from moot.articles import importer, mbox
from tests.archive_support import build_group, check_consistency, shape


async def test_export_then_import_into_a_fresh_site_keeps_everything(make_site, tmp_path):
    old = await make_site()
    made = await build_group(old, threads=4)
    # A split leaves the moved root's stored References pointing at its old
    # parent: the export must follow the tree as it is now.
    moderator = await old.client("mod", "moderator")
    moved = made["articles"][2]
    r = await moderator.post(
        f"/api/threads/{moved['thread_id']}/split",
        json={"article_id": moved["id"], "reason": "a topic of its own"},
    )
    assert r.status_code == 201, r.text
    r = await (await old.client()).get("/api/groups/comp.lang.python/mbox")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/mbox")
    path = tmp_path / "export.mbox"
    path.write_bytes(r.content)

    new = await make_site(domain="elsewhere.example")
    admin = await new.client("root", "admin")
    assert (await admin.post("/api/groups", json={"name": "comp.lang.python"})).status_code == 201
    report = await importer.import_path(new.db, path, "comp.lang.python")
    before, after = (
        shape(old.config.db_path, "comp.lang.python"),
        shape(new.config.db_path, "comp.lang.python"),
    )
    # 24 articles and the split's notice; 4 threads and the split-off one.
    assert report.seen == report.imported == len(before) == 25 and report.threads == 5
    assert report.accounted and report.skipped == 0 and report.duplicates == 0
    for mid, was in before.items():
        now = dict(after[mid])
        if was["thread_root"] == moved["message_id"]:
            # A split thread's own subject and start (the moderator's choice and
            # the split's time) are not in any article; its tree and articles are.
            for key in ("thread_subject", "thread_created_at"):
                now[key] = was[key]
        assert now == was, mid
    check_consistency(new.config.db_path)

    again = await importer.import_path(new.db, path, "comp.lang.python")
    assert again.imported == 0 and again.duplicates == again.seen == 25
    assert shape(new.config.db_path, "comp.lang.python") == after


async def test_export_writes_the_tree_path_of_replies_placed_by_their_nearest_ancestor(make_site, tmp_path):
    """A reply whose References name a missing message goes under its nearest
    present ancestor (or a placeholder): the export writes its path in the tree
    as References and the parent it hangs under as In-Reply-To, and an import
    of the export builds the same tree."""

    def message(mid: str, refs: str = "", in_reply_to: str = "") -> str:
        head = ["From: Ada <ada@example.org>", "Date: Sat, 01 Jan 2000 10:00:00 +0000"]
        head += [f"Subject: About {mid}", f"Message-ID: {mid}"]
        head += [f"References: {refs}"] * bool(refs) + [f"In-Reply-To: {in_reply_to}"] * bool(in_reply_to)
        return "From ada@example.org Sat Jan  1 10:00:00 2000\n" + "\n".join(head) + "\n\nText\n\n"

    source = tmp_path / "source.mbox"
    source.write_text(
        message("<r@x>")
        + message("<a@x>", "<r@x>")
        + message("<c@x>", "<r@x> <a@x> <gone@x>", "<gone@x>")
        + message("<e@x>", "<r@x> <gone@x> <c@x>", "<c@x>")
        + message("<d@x>", "<m1@x> <m2@x>")
    )
    sites = []
    for domain in ("test.moot", "elsewhere.example"):
        site = await make_site(domain=domain)
        admin = await site.client("root", "admin")
        assert (await admin.post("/api/groups", json={"name": "comp.lang.python"})).status_code == 201
        sites.append(site)
    await importer.import_path(sites[0].db, source, "comp.lang.python")
    r = await (await sites[0].client()).get("/api/groups/comp.lang.python/mbox")
    assert r.status_code == 200
    (tmp_path / "export.mbox").write_bytes(r.content)
    exported = {
        m["Message-ID"]: m
        for m in (message_from_bytes(raw.data) for raw in mbox.split(io.BytesIO(r.content)))
    }
    expected = {
        "<r@x>": (None, None),
        "<a@x>": ("<r@x>", "<r@x>"),
        "<c@x>": ("<r@x> <a@x>", "<a@x>"),
        "<e@x>": ("<r@x> <a@x> <c@x>", "<c@x>"),
        "<d@x>": ("<m1@x>", "<m1@x>"),  # under the placeholder for the root of its missing ancestry
    }
    got = {
        mid: (" ".join(m["References"].split()) if m["References"] else None, m["In-Reply-To"])
        for mid, m in exported.items()
    }
    assert got == expected
    await importer.import_path(sites[1].db, tmp_path / "export.mbox", "comp.lang.python")
    before = shape(sites[0].config.db_path, "comp.lang.python")
    after = shape(sites[1].config.db_path, "comp.lang.python")
    assert {mid: row["parent"] for mid, row in after.items()} == {
        mid: row["parent"] for mid, row in before.items()
    }
    check_consistency(sites[1].config.db_path)
