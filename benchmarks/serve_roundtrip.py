"""Loopback round trip of edgevla.serve, inference excluded.

One observation = three 640x480 RGB frames + float32[6] state; the reply is a float32[100, 6]
chunk from a policy that returns a precomputed chunk instantly. Prints p50/p90/p99 of the
robot-side round trip over N calls after warm-up, raw images and JPEG.

    .venv/bin/python benchmarks/serve_roundtrip.py [--calls 300] [--in-process]

By default the server runs in its own process (as it would on another machine), so client
and server do not share a GIL. Target on a 2-core machine: raw p50 <= 10 ms, p99 <= 25 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from edgevla.contracts import PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key
from edgevla.serve import PolicyServer, RemotePolicy
from edgevla.sources.trivial import FixedChunkPolicy

SPEC = PolicySpec(chunk_size=100, fps=30.0, image_shape=(480, 640), name="fixed")


def scene(seed: int) -> np.ndarray:
    """A camera-like uint8[480, 640, 3] frame: smooth gradients, blocks and sensor noise
    (pure noise would make JPEG unrealistically slow and large)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    img = np.stack([x / 640 * 200, y / 480 * 180, (x + y) / 1120 * 120 + 40], -1)
    for _ in range(6):
        y0, x0 = rng.integers(0, 400), rng.integers(0, 560)
        img[y0 : y0 + 80, x0 : x0 + 80] = rng.integers(0, 255, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def observation() -> dict:
    obs = {STATE_KEY: np.linspace(-1, 1, 6, dtype=np.float32), TASK_KEY: "Put the tea bag"}
    for i, cam in enumerate(SPEC.cameras):
        obs[image_key(cam)] = scene(i)
    return obs


def make_server(port: int = 0) -> PolicyServer:
    actions = np.random.default_rng(0).normal(size=(100, 6)).astype(np.float32)
    return PolicyServer({"fixed": FixedChunkPolicy(SPEC, actions)}, port=port)


def serve_forever() -> None:
    """Child mode: print the port, serve until stdin closes."""
    server = make_server()
    print(f"PORT {server.start()}", flush=True)
    sys.stdin.read()
    server.stop(grace=0)


def measure(address: str, jpeg_quality: int | None, calls: int, warmup: int) -> dict:
    obs = observation()
    with RemotePolicy(address, SPEC, jpeg_quality=jpeg_quality) as client:
        for t in range(warmup):
            client.predict_chunk(obs, t)
        rtt, compute = [], []
        for t in range(calls):
            start = time.perf_counter()
            chunk = client.predict_chunk(obs, t)
            rtt.append(time.perf_counter() - start)
            compute.append(client.last_timing.compute_s + client.last_timing.queue_wait_s)
            assert chunk.actions.shape == (100, 6) and chunk.timestep == t
    ms = np.array(rtt) * 1e3
    return {
        "p50": np.percentile(ms, 50),
        "p90": np.percentile(ms, 90),
        "p99": np.percentile(ms, 99),
        "max": ms.max(),
        "server_ms": np.median(compute) * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--in-process", action="store_true", help="server in this process")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_forever()
        return 0
    child = server = None
    if args.in_process:
        server = make_server()
        address = f"127.0.0.1:{server.start()}"
    else:
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        address = f"127.0.0.1:{child.stdout.readline().split()[1]}"
    payload = sum(v.nbytes for v in observation().values() if isinstance(v, np.ndarray))
    print(
        f"serve round trip, {payload / 1e6:.2f} MB observation (3x 640x480 RGB + state) -> "
        f"100x6 chunk, server {'in-process' if args.in_process else 'in a subprocess'}, "
        f"{args.calls} calls after {args.warmup} warm-up"
    )
    try:
        for label, quality in [("raw", None), (f"jpeg q{args.jpeg_quality}", args.jpeg_quality)]:
            r = measure(address, quality, args.calls, args.warmup)
            print(
                f"  {label:9s} p50 {r['p50']:6.2f} ms  p90 {r['p90']:6.2f} ms  "
                f"p99 {r['p99']:6.2f} ms  max {r['max']:6.2f} ms  "
                f"(server-side queue+compute {r['server_ms']:.3f} ms)"
            )
    finally:
        if server is not None:
            server.stop(grace=0)
        if child is not None:
            child.stdin.close()
            child.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
