"""Latency models: how long one inference takes, as a distribution a virtual clock samples.

A benchmark that emulates a board's latency must be exact and repeatable on any machine, so
models are plain descriptions: `sample(rng)` draws one latency in seconds from the caller's
generator, `quantile(q)` answers the percentiles the planner and triggers reason with.

Board profiles are the NXP report's i.MX95 CPU latencies (DESIGN §6) used as medians. The
report gives single numbers, not spreads; the jitter below is our assumption — a lognormal
with σ_log = 0.05 (p95 ≈ +8.6 %, p99 ≈ +12.3 % above the median), typical run-to-run variation
of CPU inference on a quiet Linux board. Measure your board (`edgevla bench`) and pass the
samples file instead when it matters.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class LatencyModel(Protocol):
    seed: int  # default seed of a VirtualClock built on this model

    def sample(self, rng: np.random.Generator) -> float: ...

    def quantile(self, q: float) -> float:
        """Latency in seconds at probability q in [0, 1]."""
        ...

    def describe(self) -> str: ...


def _check_q(q: float) -> None:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q}")


@dataclass(frozen=True)
class FixedLatency:
    """Every inference takes exactly `seconds`."""

    seconds: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.seconds >= 0.0 and math.isfinite(self.seconds)):
            raise ValueError(f"latency must be a finite number >= 0 seconds, got {self.seconds}")

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.seconds)

    def quantile(self, q: float) -> float:
        _check_q(q)
        return float(self.seconds)

    def describe(self) -> str:
        return f"fixed {self.seconds:.3f} s"


@dataclass(frozen=True)
class DistributionLatency:
    """Lognormal latency: median `median_s`, log-space standard deviation `spread`.

    Lognormal because latency is a positive quantity whose variation is multiplicative
    (cache misses, frequency scaling, a busy core) with a right tail.
    """

    median_s: float
    spread: float = 0.05
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if not (self.median_s > 0.0 and math.isfinite(self.median_s)):
            raise ValueError(f"median_s must be a finite number > 0 seconds, got {self.median_s}")
        if not self.spread >= 0.0:
            raise ValueError(f"spread (σ of log latency) must be >= 0, got {self.spread}")

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.median_s * math.exp(self.spread * rng.standard_normal()))

    def quantile(self, q: float) -> float:
        _check_q(q)
        if self.spread == 0.0 or q == 0.5:
            return float(self.median_s)
        if q in (0.0, 1.0):
            return 0.0 if q == 0.0 else math.inf
        return float(self.median_s * math.exp(self.spread * NormalDist().inv_cdf(q)))

    def describe(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"{label}lognormal, median {self.median_s:.3f} s, σ_log {self.spread:.3f}"


@dataclass(frozen=True)
class SampledLatency:
    """Bootstrap from measured latencies: each sample is one of them, drawn uniformly."""

    samples: tuple[float, ...]
    seed: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "samples", tuple(float(s) for s in self.samples))
        if len(self.samples) == 0:
            raise ValueError("SampledLatency needs at least one measured latency, got none")
        bad = [s for s in self.samples if not (s >= 0.0 and math.isfinite(s))]
        if bad:
            raise ValueError(f"latency samples must be finite and >= 0 seconds, got {bad[:3]}")

    @classmethod
    def from_json(cls, path: str | Path, seed: int = 0) -> SampledLatency:
        """Read a JSON list of seconds, or an object with a `latencies_s` list."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"latency samples file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        if isinstance(data, dict):
            if "latencies_s" not in data:
                raise ValueError(f"{path}: expected a 'latencies_s' list, got keys {sorted(data)}")
            data = data["latencies_s"]
        if not isinstance(data, list) or not all(isinstance(x, (int, float)) for x in data):
            raise ValueError(f"{path}: expected a list of latencies in seconds")
        return cls(tuple(float(x) for x in data), seed=seed, source=str(path))

    def sample(self, rng: np.random.Generator) -> float:
        return float(self.samples[int(rng.integers(len(self.samples)))])

    def quantile(self, q: float) -> float:
        _check_q(q)
        return float(np.quantile(np.asarray(self.samples), q))

    def describe(self) -> str:
        src = f" from {self.source}" if self.source else ""
        return f"{len(self.samples)} measured samples{src}, median {self.quantile(0.5):.3f} s"


PROFILE_SPREAD = 0.05
# name -> median seconds per chunk on i.MX95 CPU (NXP report, DESIGN §6).
PROFILES: dict[str, float] = {
    "imx95-act-fp32": 2.86,
    "imx95-act-optimized": 0.32,
    "imx95-smolvla-fp32": 29.1,
    "imx95-smolvla-optimized": 6.15,
}


def profile(name: str, seed: int = 0) -> DistributionLatency:
    """A named board profile: the published latency as median, σ_log = PROFILE_SPREAD."""
    if name not in PROFILES:
        raise ValueError(f"unknown latency profile {name!r}; known: {', '.join(PROFILES)}")
    return DistributionLatency(PROFILES[name], PROFILE_SPREAD, seed=seed, name=name)


def latency_model_from_string(text: str, seed: int = 0) -> LatencyModel:
    """Parse a profile name, a number of seconds, `lognormal:MEDIAN:SPREAD`, or a .json file."""
    text = text.strip()
    if text in PROFILES:
        return profile(text, seed)
    if text.startswith("lognormal:"):
        parts = text.split(":")
        try:
            median, spread = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ValueError(f"expected lognormal:MEDIAN_S:SPREAD, got {text!r}") from None
        return DistributionLatency(median, spread, seed=seed)
    try:
        return FixedLatency(float(text), seed=seed)
    except ValueError as e:
        if not str(e).startswith("could not convert"):
            raise
    if text.endswith(".json"):
        return SampledLatency.from_json(text, seed=seed)
    raise ValueError(
        f"cannot read latency {text!r}: expected a profile ({', '.join(PROFILES)}), seconds "
        "(e.g. 0.32), lognormal:MEDIAN_S:SPREAD, or a .json file of measured latencies"
    )
