"""The deployment files in docs/deploy/ as the guide installs them: the systemd
units pass `systemd-analyze verify` without a warning and keep the settings
the guide promises; the nginx site passes `nginx -t`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tls_support import self_signed

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
UNITS = ("moot.service", "moot-backup.service", "moot-backup.timer")
INSTALLED_MOOT = "/opt/moot/.venv/bin/moot"


def unit_settings(name: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_service_unit_keeps_what_the_guide_promises():
    s = unit_settings("moot.service")
    assert s["Restart"] == ["on-failure"]
    assert s["User"] == ["moot"] and "DynamicUser" not in s
    assert s["ProtectSystem"] == ["strict"]
    assert s["StateDirectory"] == ["moot"]
    assert s["ExecStart"] == [f"{INSTALLED_MOOT} serve"]
    assert "MOOT_DB_PATH=/var/lib/moot/moot.db" in s["Environment"]
    assert s["KillSignal"] == ["SIGTERM"]
    assert unit_settings("moot-backup.timer")["Persistent"] == ["true"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (Debian package systemd)",
)
def test_units_pass_systemd_analyze_verify(tmp_path):
    # verify also checks that ExecStart's program exists: point it at this
    # checkout's `moot`, which is what /opt/moot/.venv/bin/moot is once installed.
    moot = Path(sys.executable).parent / "moot"
    assert moot.exists(), "the moot command is not installed in this environment"
    for name in UNITS:
        text = (DEPLOY / name).read_text().replace(INSTALLED_MOOT, str(moot))
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(f"./{n}" for n in UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for unknown keys or bad values: its warnings count too.
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


@pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("openssl") is None,
    reason="nginx or openssl is not installed (Debian packages nginx, openssl)",
)
def test_nginx_site_passes_nginx_t(tmp_path):
    cert, key = self_signed(tmp_path, "news.example.org")
    site = (DEPLOY / "nginx-moot.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/news.example.org/fullchain.pem", cert)
    site = site.replace("/etc/letsencrypt/live/news.example.org/privkey.pem", key)
    (tmp_path / "site.conf").write_text(site)
    # The guide links the file into Debian's http {} block; this is that block, alone.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr
