"""Wall-clock mode: a real worker thread and a sleeping loop. Kept under ~3 s in total."""

import threading
import time

import pytest

from edgevla.runtime.clocks import WallClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.emulate import LatencyEmulatingPolicy
from edgevla.runtime.inference import ThreadedInference
from edgevla.runtime.latency import FixedLatency
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.toy import LinePolicy, PointEnv


def test_wall_clock_episode_with_worker_thread_never_blocks_a_tick():
    latency = 0.15  # 4.5 ticks at 30 fps: far longer than a tick
    policy = LatencyEmulatingPolicy(LinePolicy(chunk_size=20, speed=0.5), FixedLatency(latency))
    config = RuntimeConfig(
        trigger="latency_aware", latency="wall", initial_latency_s=latency, margin_s=0.1
    )
    with ControlLoop(PointEnv(goal=0.5), policy, config, clock=WallClock()) as loop:
        t0 = time.perf_counter()
        r = loop.run_episode(max_ticks=120)
        wall = time.perf_counter() - t0
    assert r.success and not r.virtual_time
    assert r.chunks_received >= 3  # 30 actions of motion from chunks of 20
    assert all(lat >= latency for lat in r.latencies_s)
    assert r.starved_ticks == 0
    # the loop held its period while inference ran in the background
    assert r.period_max_dev_s < latency / 2
    assert r.period_mean_dev_s < 0.01
    assert wall == pytest.approx(r.ticks / 30, abs=0.1)


def test_wall_clock_warm_start_waits_for_the_first_chunk_before_tick_zero():
    latency = 0.15
    policy = LatencyEmulatingPolicy(LinePolicy(chunk_size=20, speed=0.5), FixedLatency(latency))
    with ControlLoop(
        PointEnv(goal=0.2),
        policy,
        RuntimeConfig(trigger="sync", latency="wall", warm_start=True),
        clock=WallClock(),
    ) as loop:  # fmt: skip
        t0 = time.perf_counter()
        r = loop.run_episode(max_ticks=120)
        wall = time.perf_counter() - t0
    assert r.success and r.first_wait_ticks == 0
    assert r.latencies_s[0] >= latency
    assert r.idle_ticks == 0  # the first chunk (20 actions) covers the whole 12-action move
    assert wall == pytest.approx(r.ticks / 30 + latency, abs=0.1)


def test_worker_keeps_only_the_newest_request():
    gate = threading.Event()

    class Gated(LinePolicy):
        def predict_chunk(self, observation, timestep=0):
            gate.wait(2.0)
            return super().predict_chunk(observation, timestep)

    env = PointEnv()
    inf = ThreadedInference(Gated(chunk_size=5), WallClock())
    try:
        inf.submit(env.reset(), 0)  # starts running, blocked on the gate
        time.sleep(0.05)
        inf.submit(env.reset(), 1)
        inf.submit(env.reset(), 2)  # replaces tick 1 before it started
        assert inf.in_flight and inf.replaced == 1
        gate.set()
        deadline = time.perf_counter() + 2.0
        got = []
        while len(got) < 2 and time.perf_counter() < deadline:
            got += inf.poll(0)
            time.sleep(0.005)
        assert [a.request_tick for a in got] == [0, 2]
        assert not inf.in_flight
    finally:
        inf.close()


def test_worker_errors_surface_in_the_control_loop():
    class Broken(LinePolicy):
        def predict_chunk(self, observation, timestep=0):
            raise RuntimeError("onnx session died")

    with (
        ControlLoop(
            PointEnv(), Broken(), RuntimeConfig(trigger="sync", latency="wall"), clock=WallClock()
        ) as loop,
        pytest.raises(RuntimeError, match="inference worker failed.*onnx session died"),
    ):
        loop.run_episode(max_ticks=30)


def test_two_workers_compute_two_requests_at_once():
    both_started = threading.Barrier(2, timeout=2.0)

    class Rendezvous(LinePolicy):
        def predict_chunk(self, observation, timestep=0):
            both_started.wait()  # raises BrokenBarrierError if the second never starts
            return super().predict_chunk(observation, timestep)

    env = PointEnv()
    inf = ThreadedInference(Rendezvous(chunk_size=5), WallClock(), workers=2)
    try:
        inf.submit(env.reset(), 0)
        time.sleep(0.05)  # the first worker has taken tick 0 and waits at the barrier
        inf.submit(env.reset(), 1)
        assert sorted(inf.in_flight_ticks) == [0, 1] and inf.replaced == 0
        deadline = time.perf_counter() + 3.0
        got = []
        while len(got) < 2 and time.perf_counter() < deadline:
            got += inf.poll(0)
            time.sleep(0.005)
        assert sorted(a.request_tick for a in got) == [0, 1]
        assert inf.in_flight_ticks == []
    finally:
        inf.close()
