"""Shared by serve_load.py and serve_abuse.py: a policy server in its own process (so robots
and server do not share a GIL, as on two machines), good robots at a fixed rate, percentiles.

    python benchmarks/serve_harness.py --child --policy SOURCE [--workers N]
        [--isolation thread|process] [--token T]
prints `PORT <n>` and serves until its stdin closes; its log goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgevla.contracts import ACTION_RANGE, PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key
from edgevla.runtime.retry import RetrySchedule
from edgevla.serve import RemotePolicy, ServeError

DEMO_ACT = "/work/main/demo/act-teabag"


class ServerChild:
    """`python serve_harness.py --child ...` as a context manager; `log` is its stderr file."""

    def __init__(
        self,
        policy: str,
        log: Path,
        *,
        workers: int = 1,
        isolation: str = "thread",
        token: str | None = None,
        sleep_ms: float = 0.0,
    ) -> None:
        self.cmd = [sys.executable, __file__, "--child", "--policy", policy]
        self.cmd += ["--workers", str(workers), "--isolation", isolation]
        self.cmd += ["--sleep-ms", str(sleep_ms)]
        if token:
            self.cmd += ["--token", token]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.address = ""

    def __enter__(self) -> ServerChild:
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PORT"):
            raise RuntimeError(f"server child did not start; see {self.log}")
        self.address = f"127.0.0.1:{line.split()[1]}"
        return self

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU seconds the server and its worker processes have used so far: per chunk, the
        cost that other jobs on a shared machine do not change much (unlike the rates)."""
        pids = [self.proc.pid]
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_bytes(self) -> int:
        self._log_file.flush()
        return self.log.stat().st_size

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
        self._log_file.close()


def observation(spec: PolicySpec, seed: int = 0) -> dict:
    """A joint state inside the policy's action range where it declares one (joint targets and
    joint states share units), noise images: in-distribution enough that the server's action
    guard does not refuse the chunk, as it rightly does for a state far outside the data."""
    rng = np.random.default_rng(seed)
    declared = spec.extra.get(ACTION_RANGE)
    if declared is not None and len(declared["min"]) == spec.state_dim:
        lo, hi = np.asarray(declared["min"]), np.asarray(declared["max"])
        state = lo + (hi - lo) * rng.uniform(0.4, 0.6, spec.state_dim)
    else:
        state = rng.normal(0, 10, spec.state_dim)
    obs: dict = {STATE_KEY: state.astype(np.float32), TASK_KEY: "t"}
    h, w = spec.image_shape or (64, 64)
    for cam in spec.cameras:
        obs[image_key(cam)] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return obs


@dataclass
class Robot:
    """One session asking for a chunk every tick at `fps` (one call in flight at a time)."""

    address: str
    fps: float = 30.0
    token: str | None = None
    round_trips: list[float] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)  # when each round trip ended
    errors: dict[str, int] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)

    def run(self, stop: threading.Event, seed: int) -> None:
        retry = RetrySchedule(initial_s=0.05, max_s=0.1, attempt_timeout_s=1.0)
        client = RemotePolicy(self.address, token=self.token, retry=retry, timeout=5)
        client.connect(timeout=30)
        obs = observation(client.spec, seed)
        period, tick, start = 1.0 / self.fps, 0, time.perf_counter()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                client.predict_chunk(obs, tick)
                self.round_trips.append(time.perf_counter() - t0)
                self.stamps.append(time.perf_counter())
            except ServeError as e:
                code = getattr(e, "code", None)
                name = type(e).__name__ + (f":{code.name}" if hasattr(code, "name") else "")
                self.errors[name] = self.errors.get(name, 0) + 1
                if not client.connected:
                    with contextlib.suppress(ServeError):
                        client.reconnect()
            self.sessions.add(client.session_id or "")
            tick = max(tick + 1, int((time.perf_counter() - start) / period))
            time.sleep(max(0.0, start + tick * period - time.perf_counter()))
        client.close()


def run_robots(robots: list[Robot], seconds: float, during=None) -> float:
    """Run every robot for `seconds` (calling `during()` meanwhile); returns the time run."""
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop, i)) for i, r in enumerate(robots)]
    for t in threads:
        t.start()
    time.sleep(2.0)  # connect and warm up
    for r in robots:
        r.round_trips.clear()
        r.stamps.clear()
    start = time.perf_counter()
    if during is not None:
        during()
    time.sleep(max(0.0, seconds - (time.perf_counter() - start)))
    elapsed = time.perf_counter() - start
    stop.set()
    for t in threads:
        t.join(30)
    return elapsed


def percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    if not seconds:
        return float("nan"), float("nan")
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


class Sleeping:
    """`policy` plus `ms` of sleep per chunk: compute that leaves the CPU free, as on an
    accelerator, so the pool's scheduling shows apart from the CPU this machine has spare."""

    def __init__(self, policy, ms: float) -> None:
        self.policy, self.spec, self.seconds = policy, policy.spec, ms / 1e3

    def reset(self) -> None:
        self.policy.reset()

    def fork(self):
        return Sleeping(self.policy, self.seconds * 1e3)

    def predict_chunk(self, observation, timestep=0):
        time.sleep(self.seconds)
        return self.policy.predict_chunk(observation, timestep)


def _child(args: argparse.Namespace) -> None:
    from edgevla.cli.serve import share_cores
    from edgevla.serve import PolicyServer
    from edgevla.serve.limits import ServeLimits
    from edgevla.sources import named_sources, resolve_named

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.isolation == "process":  # each worker process loads the source itself
        if args.sleep_ms:
            raise SystemExit("--sleep-ms wraps a loaded policy: use it with --isolation thread")
        policies = named_sources([args.policy])
    else:
        policies = resolve_named([args.policy])
        if args.sleep_ms:
            policies = {name: Sleeping(p, args.sleep_ms) for name, p in policies.items()}
        share_cores(args.workers)
    server = PolicyServer(
        policies,
        port=0,
        token=args.token,
        limits=ServeLimits(workers=args.workers, isolation=args.isolation),
    )
    print(f"PORT {server.start()}", flush=True)
    sys.stdin.read()
    server.stop(grace=0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--policy", default=DEMO_ACT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--isolation", default="thread", choices=["thread", "process"])
    parser.add_argument("--token", default=None)
    parser.add_argument("--sleep-ms", type=float, default=0.0)
    _child(parser.parse_args())
