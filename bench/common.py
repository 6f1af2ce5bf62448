"""Shared pieces of the benchmarks: a real `moot serve` process on loopback,
wrk as the separate load process, and result rows with same-run baselines."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.processes import MootProcess  # noqa: E402


@dataclass
class Row:
    """One measured figure. `ratio` is value / baseline, both from the same run."""

    scenario: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def emit(rows: list[Row], out: str | None) -> None:
    """Print the rows; with `out`, also write them as JSON for bench/run.py."""
    for row in rows:
        ratio = f"  ratio {row.ratio:.2f}" if row.ratio is not None else ""
        base = f" vs {row.baseline:,.1f} ({row.baseline_name})" if row.baseline is not None else ""
        print(
            f"{row.scenario}: {row.metric} = {row.value:,.2f} {row.unit}{base}{ratio}"
            f"{'  target ' + row.target if row.target else ''}"
            f"{'  MET' if row.met else '  MISSED' if row.met is False else ''}",
            flush=True,
        )
    if out:
        Path(out).write_text(json.dumps([r.to_json() for r in rows], indent=2))


def command_line(run, doc: str | None, **defaults) -> None:
    """A scenario script's main: `--NAME VALUE` for each keyword of `run`
    (typed like its default) and `--json OUT`, then the rows emitted."""
    parser = argparse.ArgumentParser(description=doc)
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--json")
    args = vars(parser.parse_args())
    out = args.pop("json")
    emit(run(**args), out)


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(db_path: str, *, nntp: bool = False, smtp: bool = False, profile: str | None = None, **env):
    """A real `moot serve` subprocess on a free loopback port of its choosing
    (and NNTP, SMTP on others when asked); yields its base URL and the process,
    whose `listening()` names every port. With `profile`, the server runs under
    cProfile (bench/profiled.py) and writes its statistics there when stopped."""
    environment = {
        **os.environ,
        "MOOT_POST_RATE": "1000000",
        "MOOT_POST_BURST": "1000000",
        "MOOT_SWEEP_INTERVAL": "0",
        # The load comes from one loopback address (bench/doors.py sets its own).
        "MOOT_HTTP_MAX_PER_ADDRESS": "0",
        "MOOT_LIVE_MAX_PER_ADDRESS": "0",
        **{f"MOOT_{k.upper()}": str(v) for k, v in env.items()},
    }
    start = [str(ROOT / "bench" / "profiled.py"), profile] if profile else ["-m", "moot"]
    args = [sys.executable, *start, "serve", "--db", db_path, "--port", "0"]
    args += ["--nntp-port", "any" if nntp else "0", "--smtp-port", "any" if smtp else "0"]
    want = ("http", *(["nntp"] if nntp else []), *(["smtp"] if smtp else []))
    proc = MootProcess(args, db_path + ".server.log", want, environment)
    try:
        url = proc.listening().url
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def need_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
            shell=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return shutil.which("wrk")
    raise SystemExit("the benchmarks need wrk (Debian package 'wrk') as their load generator")


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx responses plus socket errors
    raw: str = field(repr=False, default="")


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    *,
    seconds: int = 8,
    connections: int = 32,
    threads: int = 1,
    script: str | None = None,
    headers: dict | None = None,
) -> WrkResult:
    """Run wrk against `url` (bounded by `seconds`) and parse its latency report."""
    args = [need_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    percentiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M))  # wrk pads "1.15s "
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return WrkResult(
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        _ms(percentiles["50"]),
        _ms(percentiles["99"]),
        int(re.search(r"(\d+) requests in", out).group(1)),
        errors,
        out,
    )


def temp_dir() -> str:
    return tempfile.mkdtemp(prefix="moot-bench-")


async def poster_and_group(db_path: str, password: str, group: str) -> None:
    """The account 'bench' ("Bench Poster", `password`) and the group `group`,
    written into the database at `db_path` through the domain layer."""
    from moot.articles import groups
    from moot.people import accounts
    from moot.store.db import Database

    db = await Database(db_path, read_connections=1).open()
    try:
        await accounts.create_user(db, "bench", password, "Bench Poster")
        async with db.transaction() as conn:
            await groups.create_group(conn, None, group, "benchmark group")
    finally:
        await db.close()
