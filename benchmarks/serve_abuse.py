"""Attacks on a live policy server while 4 good robots run: are they still served, does the
log stay bounded, does the server stay SERVING, does its memory level off?

Each attack is bounded in count and in time (--attack-s) and runs on 2 attacker threads from
the same host as the robots (the hardest case for per-host caps): garbage bytes on every RPC,
2,000 well-formed sessions, megabyte names, deep and huge JSON, a flood of cheap bad input
(unknown sessions), a flood of heavy bad input (full-size observations with a NaN state),
and, against a server with a token, calls without or with a wrong token. Prints per attack:
the calls made, the good robots' chunks/s and p99 round trip meanwhile, the slowest health
check, log bytes per bad call and the server's RSS; writes everything to --out.

    PYTHONPATH=src .venv/bin/python benchmarks/serve_abuse.py [--policy SOURCE] \
        [--attack-s 5] [--token-too]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).parent))

from serve_harness import (  # noqa: E402
    DEMO_ACT,
    Robot,
    ServerChild,
    observation,
    percentiles_ms,
    run_robots,
)

from edgevla.features import STATE_KEY  # noqa: E402
from edgevla.serve.auth import bearer_metadata  # noqa: E402
from edgevla.serve.proto import policy_service_pb2 as pb  # noqa: E402
from edgevla.serve.schema import spec_to_proto  # noqa: E402
from edgevla.serve.tensors import fill_raw  # noqa: E402

SERVICE = "/edgevla.v1.PolicyService/"
MB = "x" * 1_000_000


class Attacker:
    """A raw channel sending what no robot would; every call's status is counted."""

    def __init__(self, address: str, token: str | None) -> None:
        self.channel = grpc.insecure_channel(
            address,
            options=[("grpc.max_send_message_length", 64 << 20)],
        )
        self.metadata = bearer_metadata(token)
        self.codes: dict[str, int] = {}

    def call(self, method: str, payload: bytes) -> None:
        try:
            self.channel.unary_unary(method)(payload, timeout=5, metadata=self.metadata)
            code = "OK"
        except grpc.RpcError as e:
            code = e.code().name
        self.codes[code] = self.codes.get(code, 0) + 1


def _open(spec_msg: pb.PolicySpec | None = None, **fields) -> bytes:
    request = pb.OpenSessionRequest(**fields)
    if spec_msg is not None:
        request.expected.CopyFrom(spec_msg)
    return request.SerializeToString()


def attacks(spec, session_for: Callable[[Attacker], str]) -> dict[str, tuple[int, Callable]]:
    """name -> (calls, one call(attacker, i))."""
    rng = np.random.default_rng(0)
    garbage = [rng.bytes(int(n)) for n in rng.integers(1, 4096, 64)]
    methods = [SERVICE + m for m in ("OpenSession", "Infer", "CloseSession")]
    methods.append("/grpc.health.v1.Health/Check")
    expected = spec_to_proto(spec)
    deep = pb.PolicySpec()
    deep.CopyFrom(expected)
    deep.extra_json = "[" * 30_000 + "]" * 30_000
    huge = pb.PolicySpec()
    huge.CopyFrom(expected)
    huge.extra_json = '{"a": "' + MB + '"}'
    nan_obs = observation(spec)
    nan_obs[STATE_KEY] = np.full(spec.state_dim, np.nan, np.float32)

    def heavy(a: Attacker, i: int) -> None:
        request = pb.InferRequest(session_id=session_for(a), timestep=i)
        for key, value in nan_obs.items():
            if key != "task":
                fill_raw(request.observation[key], value)
        a.call(SERVICE + "Infer", request.SerializeToString())

    def oversized(a: Attacker, i: int) -> None:
        kind = i % 3
        if kind == 0:
            a.call(SERVICE + "OpenSession", _open(policy=MB))
        elif kind == 1:
            a.call(SERVICE + "OpenSession", _open(expected, task=MB, client_name=MB))
        else:
            request = pb.InferRequest(session_id=session_for(a))
            fill_raw(request.observation["k" * 100_000], np.zeros(1, np.float32))
            a.call(SERVICE + "Infer", request.SerializeToString())

    return {
        "garbage on every RPC": (
            2000, lambda a, i: a.call(methods[i % 4], garbage[i % len(garbage)])
        ),
        "2000 sessions": (2000, lambda a, i: a.call(SERVICE + "OpenSession", _open(expected))),
        "oversized names": (300, oversized),
        "deep and huge JSON": (
            400, lambda a, i: a.call(SERVICE + "OpenSession", _open(deep if i % 2 else huge))
        ),
        "cheap bad input flood": (
            5000,
            lambda a, i: a.call(
                SERVICE + "Infer", pb.InferRequest(session_id=f"{i:032x}").SerializeToString()
            ),
        ),
        "heavy bad input flood": (2000, heavy),
    }  # fmt: skip


def run_attack(address, token, calls, one, seconds) -> tuple[int, dict, float]:
    """Two threads share `calls`, each stopping at `seconds`; returns (made, codes, took)."""
    done, lock, codes = [0], threading.Lock(), {}
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        attacker = Attacker(address, token)
        while time.perf_counter() < deadline:
            with lock:
                if done[0] >= calls:
                    break
                i = done[0]
                done[0] += 1
            one(attacker, i)
        with lock:
            for k, v in attacker.codes.items():
                codes[k] = codes.get(k, 0) + v
        attacker.channel.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], codes, time.perf_counter() - start


class HealthProbe:
    """Checks health every 0.2 s; `worst()` is the slowest answer since the last call."""

    def __init__(self, address: str) -> None:
        self.stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(address))
        self.samples: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            t0 = time.perf_counter()
            try:
                status = self.stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            except grpc.RpcError as e:
                name = e.code().name
            self.samples.append((time.perf_counter() - t0, name))

    def worst(self) -> tuple[float, set[str]]:
        samples, self.samples = self.samples, []
        return max((s for s, _ in samples), default=float("nan")), {n for _, n in samples}


def campaign(policy: str, token: str | None, attack_s: float, sleep_ms: float) -> list[dict]:
    rows: list[dict] = []
    log = Path(tempfile.mkdtemp()) / "server.log"
    with ServerChild(policy, log, token=token, sleep_ms=sleep_ms) as server:
        robots = [Robot(server.address, token=token) for _ in range(4)]
        probe = HealthProbe(server.address)
        sessions: dict[int, str] = {}

        def session_for(a: Attacker) -> str:  # one real session per attacker, opened once
            if id(a) not in sessions:
                reply = pb.OpenSessionReply.FromString(
                    a.channel.unary_unary(SERVICE + "OpenSession")(
                        _open(adopt=True), timeout=5, metadata=a.metadata
                    )
                )
                sessions[id(a)] = reply.session_id
            return sessions[id(a)]

        def during() -> None:
            from edgevla.sources import resolve_policy

            spec = resolve_policy(policy).spec
            plan = attacks(spec, session_for)
            if token:  # the same attacks, then calls without and with a wrong token
                for name in ("no token", "wrong token"):
                    plan[name] = (3000, lambda a, i: a.call(SERVICE + "Infer", b""))
            label = f"token {'on' if token else 'off'}"
            _baseline(rows, robots, probe, server, label, attack_s)
            for name, (calls, one) in plan.items():
                attacker_token = {"no token": None, "wrong token": "wrong"}.get(name, token)
                log0, start = server.log_bytes(), time.perf_counter()
                made, codes, took = run_attack(server.address, attacker_token, calls, one, attack_s)
                rows.append(
                    _row(name, label, robots, probe, server, start, made, took, codes, log0)
                )
                _print(rows[-1])

        run_robots(robots, seconds=0.0, during=during)
        probe.stop.set()
    return rows


def _baseline(rows, robots, probe, server, label, seconds) -> None:
    log0, start = server.log_bytes(), time.perf_counter()
    probe.worst()
    time.sleep(seconds)
    rows.append(_row("no attack", label, robots, probe, server, start, 0, seconds, {}, log0))
    _print(rows[-1])


def _row(name, label, robots, probe, server, start, made, took, codes, log0) -> dict:
    trips = [
        rt for r in robots for rt, t in zip(r.round_trips, r.stamps, strict=False) if t >= start
    ]
    p50, p99 = percentiles_ms(trips)
    worst, statuses = probe.worst()
    grown = server.log_bytes() - log0
    return {
        "attack": name, "server": label, "calls": made, "seconds": took, "codes": codes,
        "robot_hz": len(trips) / took / len(robots) if took else float("nan"),
        "robot_p50_ms": p50, "robot_p99_ms": p99, "health_worst_ms": worst * 1e3,
        "health": sorted(statuses), "log_bytes": grown,
        "log_bytes_per_call": grown / made if made else float("nan"),
        "rss_mb": server.rss_mb(),
        "robot_sessions": sum(len(r.sessions) for r in robots),
    }  # fmt: skip


def _print(r: dict) -> None:
    print(
        f"[{r['server']}] {r['attack']:22s} {r['calls']:5d} calls in {r['seconds']:4.1f} s | "
        f"robots {r['robot_hz']:4.1f} Hz p99 {r['robot_p99_ms']:6.0f} ms | health worst "
        f"{r['health_worst_ms']:5.0f} ms {r['health']} | log {r['log_bytes_per_call']:5.1f} B/call "
        f"| RSS {r['rss_mb']:5.0f} MB | robot sessions {r['robot_sessions']} | {r['codes']}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=DEMO_ACT)
    parser.add_argument("--attack-s", type=float, default=5.0)
    parser.add_argument("--token-too", action="store_true", help="repeat against a token server")
    parser.add_argument("--sleep-ms", type=float, default=0.0, help="add sleeping compute")
    parser.add_argument("--out", type=Path, default=Path("serve_abuse.json"))
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = campaign(args.policy, None, args.attack_s, args.sleep_ms)
    if args.token_too:
        rows += campaign(args.policy, "bench-token", args.attack_s, args.sleep_ms)
    args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
