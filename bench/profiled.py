"""`moot` under cProfile, every thread profiled (the writer's thread does the
writes), statistics of all threads written to OUT when it exits.

    python bench/profiled.py OUT serve --db ...   # any `moot` arguments

Time is each thread's own CPU time (time.thread_time), so a thread waiting
(the writer for work, the loop for sockets) costs nothing. SIGUSR1 clears
what was gathered so far in every thread, so a benchmark sends it just before
its load and the statistics cover the load alone (not start-up, imports or
sign-ins)."""

from __future__ import annotations

import cProfile
import pstats
import signal
import sys
import threading
import time

out, argv = sys.argv[1], sys.argv[2:]
profiles: list[cProfile.Profile] = []
thread_run = threading.Thread.run


def profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile(time.thread_time)
    profiles.append(profile)
    profile.enable()
    try:
        thread_run(self)
    finally:
        profile.disable()


def clear(signum: int, frame: object) -> None:
    for profile in profiles:
        profile.clear()  # safe while enabled: calls under way are then not counted


threading.Thread.run = profiled_run  # type: ignore[method-assign]
main = cProfile.Profile(time.thread_time)
profiles.append(main)
signal.signal(signal.SIGUSR1, clear)
main.enable()
try:
    from moot.cli import main as moot_main

    code = moot_main(argv)
finally:
    main.disable()
    stats = pstats.Stats(main)
    for profile in profiles[1:]:
        profile.create_stats()
        if profile.stats:  # a thread that ran nothing since SIGUSR1 has none
            stats.add(profile)
    stats.dump_stats(out)
sys.exit(code)
