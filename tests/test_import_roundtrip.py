"""Export a group as mbox and import it into a fresh site: the same tree,
subjects, bodies, dates and Message-IDs come out the other side."""

from server import importer
from tests.archive_support import build_group, check_consistency, shape


async def test_export_then_import_into_a_fresh_site_keeps_everything(make_site, tmp_path):
    old = await make_site()
    await build_group(old, threads=4)
    r = await (await old.client()).get("/api/groups/comp.lang.python/mbox")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/mbox")
    path = tmp_path / "export.mbox"
    path.write_bytes(r.content)

    new = await make_site(domain="elsewhere.example")
    admin = await new.client("root", "admin")
    assert (await admin.post("/api/groups", json={"name": "comp.lang.python"})).status_code == 201
    report = await importer.import_path(new.db, path, "comp.lang.python")
    before, after = shape(old.config.db_path, "comp.lang.python"), shape(new.config.db_path, "comp.lang.python")
    assert report.seen == report.imported == len(before) == 24 and report.threads == 4
    assert report.accounted and report.skipped == 0 and report.duplicates == 0
    for mid, was in before.items():
        now = after[mid]
        # Authors come back as names without accounts; everything else is identical.
        assert now == was, mid
    check_consistency(new.config.db_path)

    again = await importer.import_path(new.db, path, "comp.lang.python")
    assert again.imported == 0 and again.duplicates == again.seen == 24
    assert shape(new.config.db_path, "comp.lang.python") == after
