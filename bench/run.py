"""Run every benchmark scenario and write bench/RESULTS.md and bench/out/results.json.

    ./run bench                 # every scenario (about 12 minutes on 2 cores)
    ./run bench posting size    # only these
    ./run bench --list

Each scenario is its own script, runnable alone (see SCENARIOS), with a real
`moot serve` process on loopback and its load from a separate process where
HTTP or WebSocket is measured. Every figure that has a baseline was measured
in the same run, on the same machine, with the same settings; every scenario
checks that the work was really done before it reports a number. Each run is
bounded: a scenario that overruns its time limit is stopped and reported."""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from common import machine

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"

# name: (script and arguments, time limit in seconds, what it measures)
SCENARIOS = {
    "thread_read": (
        ["thread_read.py", "--seconds", "8"],
        180,
        "first page of a 50-article thread vs a bare JSON endpoint, same process",
    ),
    "pages": (
        ["pages.py", "--seconds", "5"],
        300,
        "HTML page of a 200-article thread: anonymous, signed in, 304, gzip, through nginx",
    ),
    "outline": (
        ["outline.py", "--samples", "7"],
        240,
        "a 1,000-article thread's outline in Chromium: open and jump, vs opening the plain thread page",
    ),
    "metrics_overhead": (
        ["metrics_overhead.py", "--seconds", "8"],
        240,
        "thread-read requests/s with /metrics on vs off, same run",
    ),
    "posting": (
        ["posting.py", "--seconds", "8"],
        300,
        "replies/s with 16 concurrent posters vs raw aiosqlite inserts, same durability",
    ),
    "writepath": (
        ["writepath.py", "--seconds", "4", "--profile", "out/writepath-profile.txt"],
        600,
        "WAL pages, bytes, commits and server CPU per article, web and NNTP, 1 and 16 posters; fsync bound",
    ),
    "spamd": (
        ["spamd.py", "--seconds", "5", "--rounds", "2"],
        300,
        "replies/s with every reply scored by a real spamd vs scoring off, same run",
    ),
    "size": (
        ["size.py", "--seconds", "3"],
        300,
        "pages of a 100,000-article thread and a 100,000-thread group vs the same at 100",
    ),
    "split_sweep": (
        ["split_sweep.py"],
        600,
        "split of a 10,000-article sub-tree; archive sweep over 100,000 threads",
    ),
    "live": (["live.py"], 600, "post-to-delivery to 1,000 subscribers; memory per idle connection at 10,000"),
    "doors": (
        ["doors.py"],
        300,
        "a thread page's latency from one address while another floods /live with 1,000 sockets, vs idle",
    ),
    "notify": (
        ["notify.py"],
        300,
        "notification fan-out: one reply in a thread with 1,000 followers signed in on /live",
    ),
    "nntp": (
        ["nntp.py", "--seconds", "4"],
        600,
        "NNTP against INN2 (started here): POST (also against the least Python server, bench/nntp_floor.py), OVER, ARTICLE, connect+GROUP+QUIT per second",
    ),
    "idle": (
        ["idle.py", "--seconds", "10"],
        120,
        "an idle server's CPU with every background task on vs a bare uvicorn, idle",
    ),
    "repetition": (
        ["repetition.py", "--articles", "400", "--rounds", "5"],
        300,
        "write path CPU per article with the repetition checks on vs off, same run",
    ),
    "signin_storm": (
        ["signin_storm.py", "--samples", "5"],
        300,
        "a legitimate sign-in during a 100-request bogus sign-in storm vs alone",
    ),
    "peering": (
        ["peering.py", "--articles", "2000", "--seconds", "10"],
        900,
        "articles/s Moot to INN2 and INN2 to Moot (streaming) vs INN2, replication lag between two Moot nodes",
    ),
    "mail": (
        ["mail.py"],
        600,
        "mail queued and handed to a relay for 1 article to 10,000 subscribers; incoming mail accepted/s",
    ),
    "federation": (
        ["federation.py", "--followers", "1000"],
        300,
        "fan-out of one article and of its Delete to 1,000 shared inboxes (signed) vs bare unsigned POSTs",
    ),
    "federation_in": (
        ["federation_in.py", "--seconds", "3", "--rounds", "3"],
        300,
        "incoming signed Create/s at a group's inbox (both signature schemes) vs NNTP POST/s, same server",
    ),
    "archive": (
        ["archive.py", "--articles", "1000000"],
        900,
        "import and search on a generated 1,000,000-article archive",
    ),
}


def run_one(name: str) -> list[dict]:
    args, limit, _ = SCENARIOS[name]
    OUT.mkdir(exist_ok=True)
    out = OUT / f"{name}.json"
    out.unlink(missing_ok=True)
    started = time.monotonic()
    print(f"== {name}", flush=True)
    try:
        proc = subprocess.run(
            [sys.executable, str(BENCH / args[0]), *args[1:], "--json", str(out)], cwd=BENCH, timeout=limit
        )
        failed = proc.returncode != 0 and f"exit status {proc.returncode}"
    except subprocess.TimeoutExpired:
        failed = f"stopped after its {limit} s limit"
    elapsed = time.monotonic() - started
    if failed or not out.exists():
        return [
            {
                "scenario": name,
                "metric": "FAILED",
                "value": None,
                "unit": "",
                "note": failed or "wrote no results",
                "seconds": elapsed,
            }
        ]
    rows = json.loads(out.read_text())
    for row in rows:
        row["seconds"] = elapsed
    return rows


def number(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def markdown(rows: list[dict], info: dict, command: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Measured {info['date']} with `{command}` (total {info['total_s']:.0f} s).",
        "",
        f"Machine: {info['cores']} cores, {info['cpu']}, Python {info['python']}, "
        f"SQLite {info['sqlite']}, {info['platform']}.",
        "",
        "Every ratio is value / baseline, both measured in the same run. The machine is "
        "shared and noisy; compare ratios, not absolute figures.",
        "",
        "| scenario | metric | value | baseline | ratio | target | met | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        baseline = f"{number(r.get('baseline'))} ({r.get('baseline_name', '')})" if r.get("baseline") else ""
        met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
        ratio = number(r["ratio"]) if r.get("ratio") is not None else ""
        lines.append(
            f"| {r['scenario']} | {r['metric']} | {number(r.get('value'))} {r.get('unit', '')} | "
            f"{baseline} | {ratio} | {r.get('target', '')} | {met} | {r.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def notes(results: Path) -> str:
    """The written sections of RESULTS.md after its table (from its first
    "## " heading on), kept when a full run writes the table anew."""
    text = results.read_text() if results.exists() else ""
    at = text.find("\n## ")
    return "" if at < 0 else text[at:]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help="which to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args()
    if args.list:
        for name, (argv, limit, what) in SCENARIOS.items():
            print(f"{name:12} {what} (python bench/{' '.join(argv)}; limit {limit} s)")
        return 0
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    names = args.scenarios or list(SCENARIOS)
    started = time.monotonic()
    rows = [row for name in names for row in run_one(name)]
    info = {**machine(), "date": datetime.date.today().isoformat(), "total_s": time.monotonic() - started}
    command = "./run bench" + ("" if not args.scenarios else " " + " ".join(names))
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    table = markdown(rows, info, command)
    if not args.scenarios:
        results = BENCH / "RESULTS.md"
        results.write_text(table + notes(results))
    print("\n" + table)
    return 1 if any(r["metric"] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
