import pytest

from edgevla.configio import load_config, save_config
from edgevla.runtime.clocks import VirtualClock, WallClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.latency import profile
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.toy import LinePolicy, PointEnv


def test_config_builds_seeded_virtual_clocks_and_model_seeded_trigger():
    cfg = RuntimeConfig(latency="imx95-act-optimized", seed=5)
    c0, c1 = cfg.build_clock(0), cfg.build_clock(1)
    assert isinstance(c0, VirtualClock) and (c0.seed, c1.seed) == (5, 6)
    trig = cfg.build_trigger()
    assert trig.name == "latency_aware"
    assert trig.predicted_latency() == pytest.approx(profile("imx95-act-optimized").quantile(0.95))
    assert (
        RuntimeConfig(trigger="threshold", threshold=0.2, latency="0.1").build_trigger().threshold
        == 0.2
    )


def test_wall_config():
    cfg = RuntimeConfig(latency="wall", initial_latency_s=0.3)
    assert isinstance(cfg.build_clock(), WallClock)
    assert cfg.build_trigger().predicted_latency() == 0.3
    with pytest.raises(ValueError, match="needs initial_latency_s"):
        RuntimeConfig(latency="wall")


def test_bad_config_fails_at_construction():
    with pytest.raises(ValueError, match="unknown trigger 'eager'"):
        RuntimeConfig(trigger="eager", latency="0.1")
    with pytest.raises(ValueError, match="unknown aggregator"):
        RuntimeConfig(aggregator="max", latency="0.1")
    with pytest.raises(ValueError, match="cannot read latency"):
        RuntimeConfig(latency="fast")
    with pytest.raises(ValueError, match="max_in_flight must be 1"):
        RuntimeConfig(trigger="sync", latency="0.1", max_in_flight=2)
    with pytest.raises(ValueError, match="max_in_flight must be >= 1"):
        RuntimeConfig(latency="0.1", max_in_flight=0)


def test_config_round_trips_through_json(tmp_path):
    cfg = RuntimeConfig(trigger="sync", latency="lognormal:0.4:0.1", actions_per_chunk=30)
    assert load_config(RuntimeConfig, save_config(cfg, tmp_path / "runtime.json")) == cfg


def test_swapping_the_clock_between_episodes_uses_the_new_one():
    cfg = RuntimeConfig(latency="lognormal:0.5:0.3")
    loop = ControlLoop(PointEnv(goal=2.0), LinePolicy(chunk_size=40), cfg)
    lat = []
    for episode in (0, 1, 0):
        loop.clock = cfg.build_clock(episode)
        lat.append(loop.run_episode(max_ticks=600).latencies_s)
    assert lat[0] == lat[2] != lat[1]
