"""The archive sweep: per-group policy over site defaults, references exempt,
each archive logged and announced; `moot sweep` runs it once."""

import io
import json
from datetime import UTC, datetime, timedelta

from moot.cli import main
from moot.stewardship import sweep
from tests.maint_support import build_tree, last_event


def days_ahead(n):
    return datetime.now(UTC) + timedelta(days=n)


async def test_sweep_archives_by_age_and_size_with_group_policy(make_site):
    site = await make_site(archive_after_days=10, archive_after_articles=4)
    t = await build_tree(site)  # the main thread has 5 articles, the other 2
    mod = await site.client("marta", "moderator")
    anon = await site.client()
    result = await sweep.sweep(site.db, site.config)  # now: only the size rule applies
    assert (result["archived"], result["by_size"]) == (1, 1)
    thread = (await anon.get(f"/api/threads/{t['thread']['id']}")).json()["thread"]
    assert thread["state"] == "archived" and thread["archived_at"]
    entry = (await anon.get("/api/modlog")).json()["entries"][0]
    assert entry["action"] == "archive" and entry["actor"] is None
    assert entry["data"] == {"from": "open", "rule": "size", "limit": 4}
    assert last_event(site)["type"] == "thread.archived"

    # The group's own policy wins over the site default: never by age here.
    await mod.put("/api/groups/comp.lang.python/policy", json={"archive_after_days": 0})
    assert (await sweep.sweep(site.db, site.config, now=days_ahead(30)))["archived"] == 0
    await mod.put("/api/groups/comp.lang.python/policy", json={"archive_after_days": 20})
    await mod.post(f"/api/threads/{t['other']['id']}/reference", json={"on": True})
    assert (await sweep.sweep(site.db, site.config, now=days_ahead(30)))["archived"] == 0  # reference
    await mod.post(f"/api/threads/{t['other']['id']}/reference", json={"on": False})
    assert (await sweep.sweep(site.db, site.config, now=days_ahead(15)))["archived"] == 0  # not yet
    result = await sweep.sweep(site.db, site.config, now=days_ahead(21))
    assert (result["archived"], result["by_age"]) == (1, 1)
    assert (await anon.get(f"/api/threads/{t['other']['id']}")).json()["thread"]["state"] == "archived"
    assert (await sweep.sweep(site.db, site.config, now=days_ahead(400)))["archived"] == 0  # all done


async def test_sweep_does_nothing_when_the_policy_says_never(make_site):
    site = await make_site(archive_after_days=0, archive_after_articles=0)
    await build_tree(site)
    assert (await sweep.sweep(site.db, site.config, now=days_ahead(9999)))["archived"] == 0


def test_moot_sweep_and_role_commands(tmp_path, capsys, monkeypatch):
    db = str(tmp_path / "cli.db")
    assert main(["init", "--db", db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough pw\n"))
    assert main(["adduser", "ada", "--db", db, "--password-stdin"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["archived"] == 0
    assert main(["role", "ada", "moderator", "--db", db, "--reason", "helps out"]) == 0
    assert capsys.readouterr().out == "ada is now moderator\n"
    assert main(["get", "--db", db, "/api/modlog"]) == 0
    entry = json.loads(capsys.readouterr().out)["entries"][0]
    assert (entry["action"], entry["actor"], entry["reason"]) == ("role", None, "helps out")
    assert main(["role", "nobody", "moderator", "--db", db]) == 2


def test_moot_group_create(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    assert main(["init", "--db", db]) == 0
    capsys.readouterr()
    args = ["--description", "Folk music", "--charter", "Tunes and songs", "--db", db]
    assert main(["group", "create", "rec.music.folk", *args]) == 0
    assert main(["group", "create", "moot.announce", "--status", "m", "--db", db]) == 0
    assert capsys.readouterr().out == "created rec.music.folk (open)\ncreated moot.announce (moderated)\n"
    assert main(["get", "--db", db, "/api/groups/rec.music.folk"]) == 0
    group = json.loads(capsys.readouterr().out)["group"]
    assert (group["description"], group["charter"], group["status"]) == ("Folk music", "Tunes and songs", "y")
    assert main(["get", "--db", db, "/api/modlog"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("group.create", "moot.announce", None),
        ("group.create", "rec.music.folk", None),
    ]
    assert main(["group", "create", "rec.music.folk", "--db", db]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["group", "create", "Not A Name", "--db", db]) == 2
    assert "group name" in capsys.readouterr().err
