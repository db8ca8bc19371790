"""Many robots against one policy server: per-session rate and round trip vs --workers.

Each robot is a session asking for a chunk every tick at 30 Hz (one call in flight); the
server runs in its own process with the demo ACT (any --policy source). Prints, for every
(isolation, workers, sessions), the chunks per second each session got and the p50/p99
round trip, and writes them to --out as JSON.

    PYTHONPATH=src .venv/bin/python benchmarks/serve_load.py [--sessions 1,4,8] \
        [--workers 1,2] [--isolation thread,process] [--seconds 10] \
        [--policy /work/main/demo/act-teabag]

`--isolation thread`: the workers are threads of the server (one GIL); `process`: a worker
process each, loading the policy itself with cores/workers torch threads. On a shared 2-core
machine the rates move with whatever else runs: note the load average; the server's CPU
time per chunk (its worker processes included) moves much less.
`--policy hold --sleep-ms 30` isolates the pool's scheduling: 30 ms of compute per chunk that
leaves the CPU free, as an accelerator would.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serve_harness import DEMO_ACT, Robot, ServerChild, percentiles_ms, run_robots  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=DEMO_ACT)
    parser.add_argument("--sessions", default="1,4,8")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--isolation", default="thread,process")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--sleep-ms", type=float, default=0.0, help="add sleeping compute")
    parser.add_argument("--out", type=Path, default=Path("serve_load.json"))
    args = parser.parse_args()
    rows = []
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    runs = [(i, int(w)) for i in args.isolation.split(",") for w in args.workers.split(",")]
    for isolation, workers in runs:
        log = Path(tempfile.mkdtemp()) / "server.log"
        child = ServerChild(
            args.policy, log, workers=workers, isolation=isolation, sleep_ms=args.sleep_ms
        )
        with child as server:
            for n in [int(s) for s in args.sessions.split(",")]:
                robots = [Robot(server.address, args.fps) for _ in range(n)]
                cpu: list[float] = []
                elapsed = run_robots(robots, args.seconds, functools.partial(_sample, server, cpu))
                cpu_ms = (server.cpu_s() - cpu[0]) * 1e3
                trips = [t for r in robots for t in r.round_trips]
                p50, p99 = percentiles_ms(trips)
                rate = len(trips) / elapsed / n
                kinds: dict[str, int] = {}
                for r in robots:
                    for name, count in r.errors.items():
                        kinds[name] = kinds.get(name, 0) + count
                errors = sum(kinds.values())
                rows.append(
                    {"isolation": isolation, "workers": workers, "sessions": n, "rate_hz": rate, "total_hz": rate * n,
                     "p50_ms": p50, "p99_ms": p99, "cpu_ms_per_chunk": cpu_ms / max(1, len(trips)),
                     "errors": errors, "error_kinds": kinds,
                     "load": os.getloadavg()[0]}
                )  # fmt: skip
                print(
                    f"{isolation:7s} workers {workers}  sessions {n}: {rate:5.1f} Hz per session "
                    f"({rate * n:5.1f} in all), round trip p50 {p50:6.1f} ms p99 {p99:6.1f} ms, "
                    f"server CPU {cpu_ms / max(1, len(trips)):5.1f} ms per chunk, "
                    f"{errors} errors {kinds or ''}, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    args.out.write_text(json.dumps(rows, indent=1))
    return 0


def _sample(server: ServerChild, into: list[float]) -> None:
    into.append(server.cpu_s())


if __name__ == "__main__":
    sys.exit(main())
