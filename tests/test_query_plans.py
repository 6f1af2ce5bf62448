"""Page queries read an index range from the cursor on: no full scan, no sort of the whole set."""

import sqlite3

from moot.articles import reading, tree


def plan(db_path, sql, params):
    conn = sqlite3.connect(db_path)
    try:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        conn.close()


def assert_index_only_range(steps, index):
    text = "\n".join(steps)
    assert f"USING INDEX {index}" in text or f"USING COVERING INDEX {index}" in text, text
    assert "TEMP B-TREE" not in text, text
    for step in steps:
        assert not (step.startswith("SCAN") and "USING" not in step), text


async def test_thread_page_plan(site):
    sql = reading.ARTICLE_SELECT + " WHERE a.thread_id = ? AND a.seq > ? ORDER BY a.seq LIMIT ?"
    steps = plan(site.config.db_path, sql, (1, 1 << 20, 51))
    assert_index_only_range(steps, "articles_tree")


async def test_thread_list_plan(site):
    sql = (
        reading.THREAD_SELECT + " WHERE t.group_id = ? AND (t.state = 'archived') = ?"
        " AND t.merged_into_thread_id IS NULL AND (t.last_article_at, t.id) < (?, ?)"
        " ORDER BY t.last_article_at DESC, t.id DESC LIMIT ?"
    )
    steps = plan(site.config.db_path, sql, (1, 0, "2026-01-01T00:00:00.000Z", 5, 51))
    assert_index_only_range(steps, "threads_listing")


async def test_subtree_and_gap_plans(site):
    """A sub-tree's end is index seeks up the ancestors (articles_parent), and
    a gap's neighbours two seeks on articles_tree: never a scan of a thread."""
    steps = plan(site.config.db_path, tree._SPAN, (1,))
    assert any("articles_parent (parent_id=? AND seq>?)" in s for s in steps), steps
    assert [s for s in steps if s.startswith("SCAN")] == ["SCAN up"], steps  # the walk's own rows
    steps = plan(site.config.db_path, tree._NEIGHBOURS, (1, 1 << 20))
    assert sum("articles_tree (thread_id=? AND seq" in s for s in steps) == 2, steps
    assert [s for s in steps if s.startswith("SCAN")] == ["SCAN CONSTANT ROW"], steps
