"""`moot` under cProfile, every thread profiled (the writer's thread does the
writes), statistics of all threads written to OUT when it exits.

    python bench/profiled.py OUT serve --db ...   # any `moot` arguments"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading

out, argv = sys.argv[1], sys.argv[2:]
profiles: list[cProfile.Profile] = []
thread_run = threading.Thread.run


def profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
    profiles.append(profile)
    profile.enable()
    try:
        thread_run(self)
    finally:
        profile.disable()


threading.Thread.run = profiled_run  # type: ignore[method-assign]
main = cProfile.Profile()
main.enable()
try:
    from moot.cli import main as moot_main

    code = moot_main(argv)
finally:
    main.disable()
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    stats.dump_stats(out)
sys.exit(code)
