"""Scenario: replies per second with 16 concurrent posters through the HTTP
API with every reply scored by a real SpamAssassin spamd (started here on a
loopback port), against the same with scoring off, in alternating rounds of
the same run. spamd's rules cost tens of milliseconds of CPU per message, so
this shows what scoring costs a busy site, not a target to meet.

    python bench/spamd.py [--seconds 8] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager

from common import Row, command_line
from posting import moot_posts

from tests.spamd_support import SpamdUnusable, running_spamd

START_WAIT = 120.0


@contextmanager
def spamd(children: int = 2) -> Iterator[str]:
    """A spamd on a free loopback port; yields HOST:PORT."""
    try:
        with running_spamd(children=children, start_wait=START_WAIT) as server:
            yield server.address
    except SpamdUnusable as e:
        raise SystemExit(str(e)) from None


def run(seconds: int, rounds: int = 3) -> list[Row]:
    measured = []
    with spamd() as address:
        for _ in range(rounds):
            off = moot_posts(seconds, "FULL")
            on = moot_posts(seconds, "FULL", spamd=address, spamd_timeout=10)
            measured.append((on[0] / off[0], on, off))
            print(f"round: {on[0]:,.1f} replies/s scored vs {off[0]:,.1f} unscored", flush=True)
    ratio, on, off = statistics.median_low(measured)
    return [
        Row(
            "spamd",
            f"replies/s, 16 posters, each scored by spamd (2 children) (median of {rounds} rounds' ratios)",
            on[0],
            "replies/s",
            off[0],
            "scoring off, same round",
            note="every acknowledged reply checked in the database; rounds: "
            + ", ".join(f"{m[1][0]:.0f}/{m[2][0]:.0f}" for m in measured),
        ),
        Row("spamd", "reply p50 with scoring", on[1], "ms", off[1], "scoring off"),
        Row("spamd", "reply p99 with scoring", on[2], "ms", off[2], "scoring off"),
    ]


if __name__ == "__main__":
    command_line(run, __doc__, seconds=8, rounds=3)
