import json
import math

import numpy as np
import pytest

from edgevla.runtime.clocks import VirtualClock, WallClock
from edgevla.runtime.latency import (
    PROFILES,
    DistributionLatency,
    FixedLatency,
    SampledLatency,
    latency_model_from_string,
    profile,
)


def test_fixed_latency():
    m = FixedLatency(0.32)
    assert m.sample(np.random.default_rng(0)) == 0.32
    assert m.quantile(0.99) == 0.32
    with pytest.raises(ValueError, match="finite number >= 0"):
        FixedLatency(-1.0)


def test_lognormal_quantiles_match_samples():
    m = DistributionLatency(0.5, 0.2)
    rng = np.random.default_rng(1)
    xs = np.array([m.sample(rng) for _ in range(20000)])
    assert np.median(xs) == pytest.approx(0.5, rel=0.02)
    assert np.quantile(xs, 0.95) == pytest.approx(m.quantile(0.95), rel=0.03)
    assert m.quantile(0.95) == pytest.approx(0.5 * math.exp(0.2 * 1.6448536), rel=1e-6)


def test_sampled_latency_bootstraps_only_measured_values(tmp_path):
    path = tmp_path / "lat.json"
    path.write_text(json.dumps({"latencies_s": [0.1, 0.2, 0.4]}))
    m = SampledLatency.from_json(path)
    rng = np.random.default_rng(0)
    assert {m.sample(rng) for _ in range(200)} == {0.1, 0.2, 0.4}
    assert m.quantile(0.5) == pytest.approx(0.2)
    path.write_text("[0.3, 0.3]")
    assert SampledLatency.from_json(path).quantile(1.0) == 0.3
    path.write_text('{"samples": [1]}')
    with pytest.raises(ValueError, match="expected a 'latencies_s' list"):
        SampledLatency.from_json(path)
    with pytest.raises(ValueError, match="at least one"):
        SampledLatency(())


def test_profiles_are_the_published_medians_with_small_jitter():
    for name, seconds in PROFILES.items():
        m = profile(name)
        assert m.quantile(0.5) == seconds
        assert seconds < m.quantile(0.99) < 1.15 * seconds
    assert PROFILES["imx95-act-optimized"] == 0.32


def test_latency_model_from_string(tmp_path):
    assert latency_model_from_string("imx95-smolvla-fp32").quantile(0.5) == 29.1
    assert latency_model_from_string("0.32") == FixedLatency(0.32)
    m = latency_model_from_string("lognormal:0.5:0.1", seed=3)
    assert isinstance(m, DistributionLatency) and m.seed == 3 and m.spread == 0.1
    path = tmp_path / "s.json"
    path.write_text("[0.25]")
    assert latency_model_from_string(str(path)).quantile(0.5) == 0.25
    with pytest.raises(ValueError, match="imx95-act-fp32.*seconds.*json"):
        latency_model_from_string("imx8-act")
    with pytest.raises(ValueError, match=">= 0"):
        latency_model_from_string("-3")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        latency_model_from_string(str(tmp_path / "missing.json"))


def test_virtual_clock_is_deterministic_per_seed():
    m = DistributionLatency(0.3, 0.2)
    a = [VirtualClock(m, seed=1).sample_latency() for _ in range(3)]
    c1, c2, c3 = VirtualClock(m, seed=1), VirtualClock(m, seed=1), VirtualClock(m, seed=2)
    s1 = [c1.sample_latency() for _ in range(5)]
    assert s1 == [c2.sample_latency() for _ in range(5)]
    assert s1 != [c3.sample_latency() for _ in range(5)]
    assert a[0] == s1[0]


def test_virtual_clock_jumps_and_never_goes_back():
    c = VirtualClock(FixedLatency(0.0))
    c.wait_until(1.5)
    assert c.now() == 1.5
    c.wait_until(1.0)
    assert c.now() == 1.5


def test_wall_clock_sleeps_until_deadline():
    c = WallClock()
    t0 = c.now()
    c.wait_until(t0 + 0.02)
    assert c.now() - t0 >= 0.02
