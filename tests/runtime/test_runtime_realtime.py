"""Real-time scheduling of the control thread: applied inside the block, restored after, never
inherited at full priority by an inference worker; the wall clock's spin-wait."""

import os
import sys
import threading
import time

import pytest

from edgevla.runtime.clocks import WallClock
from edgevla.runtime.realtime import realtime_priority, worker_scheduling

linux = pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling")


def _policy() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


@linux
def test_realtime_block_restores_scheduling_and_switch_interval():
    before, interval = _policy(), sys.getswitchinterval()
    with realtime_priority(priority=20, switch_interval_s=0.001) as applied:
        assert sys.getswitchinterval() == pytest.approx(0.001)
        if applied:
            assert _policy() == (os.SCHED_FIFO, 20)
        else:
            assert _policy() == before  # refused (no CAP_SYS_NICE): runs as before
    assert _policy() == before and sys.getswitchinterval() == pytest.approx(interval)


@linux
@pytest.mark.parametrize(("worker_priority", "expected"), [(None, os.SCHED_OTHER), (5, 5)])
def test_workers_never_inherit_the_control_threads_priority(worker_priority, expected):
    seen: list[tuple[int, int]] = []

    def worker() -> None:
        worker_scheduling()
        seen.append(_policy())

    with realtime_priority(priority=20, worker_priority=worker_priority) as applied:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(5)
    if not applied:
        pytest.skip("SCHED_FIFO not permitted here")
    if worker_priority is None:
        assert seen == [(os.SCHED_OTHER, 0)]
    else:
        assert seen == [(os.SCHED_FIFO, expected)]


def test_bad_priorities_are_refused():
    with pytest.raises(ValueError, match="1..99"), realtime_priority(priority=0):
        pass
    with (
        pytest.raises(ValueError, match=r"worker_priority must be in \[1, 20\)"),
        realtime_priority(priority=20, worker_priority=30),
    ):
        pass


def test_wall_clock_waits_until_the_deadline_not_before():
    clock = WallClock(spin_s=0.002)
    for _ in range(5):
        deadline = clock.now() + 0.01
        clock.wait_until(deadline)
        assert time.perf_counter() >= deadline
    with pytest.raises(ValueError, match=r"spin_s must be in \[0, 0.01\]"):
        WallClock(spin_s=0.5)
