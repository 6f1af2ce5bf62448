"""Export a group as mbox and import it into a fresh site: the same tree,
subjects, bodies, dates and Message-IDs come out the other side."""

from moot.articles import importer
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
