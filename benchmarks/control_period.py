"""The 30 Hz control period on the wall clock while inference loads the CPU.

The control loop runs on the main thread; inference runs on the loop's worker thread and burns
CPU for ~0.3 s per chunk (an i.MX95-like ACT latency). Three kinds of load:

- numpy: BLAS matmuls, which release the GIL (what an ONNX Runtime or torch policy does);
- python: a pure-Python loop that holds the GIL except at the interpreter's switch points —
  the worst case for a Python control thread;
- process: the numpy load in a separate process (a policy server on the same board).

Each load runs three ways: the control thread at normal priority ("normal"); under SCHED_FIFO
with a 1 ms GIL switch interval ("fifo": `edgevla.runtime.realtime`, `edgevla run --realtime`);
and the same with the inference worker under SCHED_FIFO below it ("fifo+worker": `--realtime
--worker-priority 10`, which only a GIL-holding policy needs).
Reports p50 / p99 / max of |period − 1/fps| over all ticks. Target: p99 <= 3 ms.

    .venv/bin/python benchmarks/control_period.py [--seconds 20] [--load numpy python process]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
import time

import numpy as np

from edgevla.contracts import ActionChunk, Observation
from edgevla.runtime.clocks import WallClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.realtime import realtime_priority
from edgevla.runtime.toy import LinePolicy, PointEnv


def burn_numpy(seconds: float) -> None:
    """Matrix products until `seconds` have passed (the GIL is released inside BLAS)."""
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = np.tanh(a @ a.T * 1e-2)


def burn_python(seconds: float) -> None:
    """Pure-Python arithmetic: holds the GIL but for the interpreter's switch interval."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        for i in range(2000):
            x = (x * 31 + i) % 1000003


def _process_load(stop) -> None:
    while not stop.is_set():
        burn_numpy(0.3)


class BurningPolicy(LinePolicy):
    """A line policy whose every chunk costs `seconds` of CPU work in the worker thread."""

    def __init__(self, burn, seconds: float, **kw) -> None:
        super().__init__(**kw)
        self.burn, self.seconds = burn, seconds

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        self.burn(self.seconds)
        return super().predict_chunk(observation, timestep)


class Periods:
    """Subscriber: the start time of every tick."""

    def __init__(self) -> None:
        self.starts: list[float] = []

    def on_tick(self, record) -> None:
        self.starts.append(record.time_s)


MODES = ("normal", "fifo", "fifo+worker")


def _scheduling(mode: str):
    if mode == "normal":
        return contextlib.nullcontext(False)
    return realtime_priority(worker_priority=10 if mode == "fifo+worker" else None)


def measure(
    load: str, seconds: float, fps: float, latency: float, mode: str, spin_s: float
) -> dict[str, float]:
    """One wall-clock episode under `load` with the control thread scheduled per `mode`."""
    burn = {"numpy": burn_numpy, "python": burn_python, "process": lambda s: time.sleep(s)}[load]
    policy = BurningPolicy(burn, latency, chunk_size=30, fps=fps, speed=0.2)
    runtime = RuntimeConfig(
        trigger="latency_aware", latency="wall", initial_latency_s=latency * 1.3, margin_s=0.1
    )
    periods = Periods()
    env = PointEnv(fps=fps, goal=1e6, tolerance=None)  # never succeeds: runs the full time
    stop = multiprocessing.Event()
    helper = None
    if load == "process":
        helper = multiprocessing.Process(target=_process_load, args=(stop,), daemon=True)
        helper.start()
    try:
        with (
            ControlLoop(
                env, policy, runtime, clock=WallClock(spin_s), subscribers=[periods]
            ) as loop,
            _scheduling(mode) as applied,
        ):
            result = loop.run_episode(max_ticks=round(seconds * fps))
    finally:
        stop.set()
        if helper is not None:
            helper.join(5)
    dev = np.abs(np.diff(np.asarray(periods.starts)) - 1.0 / fps) * 1e3
    return {
        "p50_ms": float(np.percentile(dev, 50)),
        "p99_ms": float(np.percentile(dev, 99)),
        "max_ms": float(dev.max()),
        "chunks": result.chunks_received,
        "fifo": applied,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--latency", type=float, default=0.3, help="CPU seconds per chunk")
    parser.add_argument(
        "--load", nargs="+", default=["numpy", "python", "process"],
        choices=["numpy", "python", "process"],
    )  # fmt: skip
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--spin-ms", type=float, default=0.5, help="poll before the deadline")
    args = parser.parse_args(argv)
    print(f"{args.seconds:g} s each, {args.latency:g} s CPU per chunk, spin {args.spin_ms:g} ms")
    print(f"{'load':<9}{'control':<13}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'chunks':>8}")
    refused = False
    for load in args.load:
        for mode in args.modes:
            r = measure(load, args.seconds, args.fps, args.latency, mode, args.spin_ms / 1e3)
            refused |= mode != "normal" and not r["fifo"]
            print(
                f"{load:<9}{mode:<13}{r['p50_ms']:>8.3f}{r['p99_ms']:>8.3f}{r['max_ms']:>8.3f}"
                f"{r['chunks']:>8d}"
            )
    if refused:
        print("SCHED_FIFO was refused (needs CAP_SYS_NICE): those rows ran at normal priority")
    return 0


if __name__ == "__main__":
    sys.exit(main())
