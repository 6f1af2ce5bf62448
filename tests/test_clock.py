"""Stored times: the stamp of now is the stamp `stamp` gives the same moment,
in order, across second boundaries and from several threads at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from moot.store import clock


def test_now_is_the_stamp_of_the_moment_across_seconds_and_threads():
    runs: list[list[tuple[str, str, str]]] = [[] for _ in range(4)]

    def stamp_into(seen: list[tuple[str, str, str]]) -> None:
        start = datetime.now(UTC)
        while (datetime.now(UTC) - start).total_seconds() < 1.1:  # at least one second boundary
            before = clock.stamp(datetime.now(UTC))
            seen.append((before, clock.now(), clock.stamp(datetime.now(UTC))))

    threads = [threading.Thread(target=stamp_into, args=(seen,)) for seen in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seen in runs:
        assert len({now[:19] for _, now, _ in seen}) >= 2
        assert all(before <= now <= after and clock.parse(now) for before, now, after in seen)
        stamps = [now for _, now, _ in seen]
        assert stamps == sorted(stamps)
