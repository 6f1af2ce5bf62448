"""README.md's configuration table is the one Config generates."""

from pathlib import Path

from moot.config import help_table

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_setting_as_config_describes_it():
    assert help_table() in (ROOT / "README.md").read_text(encoding="utf-8")
