"""Keeping the control period on a busy CPU: a real-time scheduling class for the control
thread, and a short GIL switch interval while it runs.

Why: on a loaded board (inference on every core, a camera driver, a server) a normal-priority
thread that sleeps until its deadline wakes when the kernel gets round to it — several
milliseconds late at the 99th percentile. SCHED_FIFO makes the control thread preempt
everything of normal priority the moment its sleep ends. A Python control thread also needs
the GIL back from an inference worker, which by default may keep it for 5 ms: the switch
interval is shortened to 1 ms while the loop runs. Both are restored afterwards.

Inference threads are created by the control thread and would inherit its class; a thread
burning CPU at high real-time priority starves the system, so `worker_scheduling()` puts them
back to normal scheduling — unless `worker_priority` is given. That is for a policy that holds
the GIL while it computes (pure Python): a normal-priority worker preempted by other processes
keeps the GIL while off the CPU and the control thread waits behind it (priority inversion).
A real-time worker *below* the control thread releases it promptly. Policies whose compute
releases the GIL (onnxruntime, numpy, torch) or runs in another process do not need it.

Linux only; needs CAP_SYS_NICE (root, or `setcap cap_sys_nice+ep` on the interpreter, or an
rtprio limit in /etc/security/limits.conf). Without it the loop runs at normal priority and
says so once.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
_WARNED: set[str] = set()
_worker_priority: int | None = None  # set inside realtime_priority(worker_priority=...)


@contextmanager
def realtime_priority(
    priority: int = 50, switch_interval_s: float | None = 0.001, worker_priority: int | None = None
) -> Iterator[bool]:
    """Run the calling thread under SCHED_FIFO at `priority` (1..99) inside the block; yields
    whether that worked. Inference workers started inside run at normal priority, or under
    SCHED_FIFO at `worker_priority` (< priority). Restores everything on exit."""
    global _worker_priority
    if not 1 <= priority <= 99:
        raise ValueError(f"real-time priority must be 1..99, got {priority}")
    if worker_priority is not None and not 1 <= worker_priority < priority:
        raise ValueError(f"worker_priority must be in [1, {priority}), got {worker_priority}")
    previous_interval = sys.getswitchinterval()
    previous = _current_policy()
    applied = False
    if previous is not None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            applied = True
        except (PermissionError, OSError) as e:
            _warn_once("fifo", f"control thread stays at normal priority (SCHED_FIFO: {e})")
    else:
        _warn_once("platform", "real-time scheduling is not available on this platform")
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)
    _worker_priority = worker_priority if applied else None
    try:
        yield applied
    finally:
        _worker_priority = None
        sys.setswitchinterval(previous_interval)
        if applied and previous is not None:
            os.sched_setscheduler(0, previous[0], os.sched_param(previous[1]))


def worker_scheduling() -> None:
    """Called first by an inference thread: if it inherited a real-time class, run under
    SCHED_FIFO at the configured worker priority, or else back at normal scheduling."""
    current = _current_policy()
    if current is None or current[0] not in (os.SCHED_FIFO, os.SCHED_RR):
        return
    policy, param = os.SCHED_OTHER, os.sched_param(0)
    if _worker_priority is not None:
        policy, param = os.SCHED_FIFO, os.sched_param(_worker_priority)
    try:
        os.sched_setscheduler(0, policy, param)
    except (PermissionError, OSError) as e:  # lowering is always allowed; report if not
        log.warning("could not set the inference thread's scheduling: %s", e)


def _current_policy() -> tuple[int, int] | None:
    """(policy, priority) of the calling thread, or None where the OS has no such call."""
    if not hasattr(os, "sched_getscheduler"):
        return None
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning(message)
