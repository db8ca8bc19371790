"""Feasibility before a run (DESIGN §4): can async inference keep the action queue from running
dry for this latency, fps and chunk length, and with which trigger?

The rule people quote is T_inference < T_execution with T_execution = actions_per_chunk / fps.
That forgets stale actions: a chunk starts at the tick of its observation, so the
ceil(L·fps) actions whose ticks pass while it is computed are dropped on arrival. The time a
chunk really covers is (actions_per_chunk − ceil(L·fps)) / fps, and the next inference plus a
margin must fit in it:

    L + margin ≤ (actions_per_chunk − ceil(L·fps)) / fps      (≈ actions_per_chunk/fps ≥ 2L)

checked at the latency model's p95 (what the latency-aware trigger plans for) and p99 (the
tail). In ticks, with ℓ = ceil(L·fps) and R = ceil((L + margin)·fps) the trigger's request
point: a chunk requested at tick r covers up to r + T, so requests go out every T − R ticks and
each stays in flight ℓ ticks. One at a time that needs ℓ ≤ T − R. Pipelined, with k requests
allowed in flight, it needs ℓ ≤ k·(T − R) — which only helps if the inference device answers k
requests at once in about the time of one (a GPU server; not one NPU busy with each).
 The Monte Carlo numbers come from running the real control loop in virtual time on the
toy world, with latencies drawn from the model — the same code as a real run, not a formula.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from edgevla.runtime.clocks import VirtualClock
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.latency import LatencyModel
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.records import TickRecord
from edgevla.runtime.toy import LinePolicy, PointEnv
from edgevla.runtime.triggers import LatencyAwareTrigger

EPS = 1e-9
PIPELINE_HINT_MAX = 4  # suggest pipelining only up to this many requests in flight


@dataclass(frozen=True)
class ModeEstimate:
    """Monte Carlo averages for one trigger over the simulated episodes."""

    trigger: str
    inferences_per_episode: float
    idle_ticks_per_episode: float  # arm waiting for inference, any reason
    starved_ticks_per_episode: float  # async queue ran dry
    starved_ticks_per_chunk: float
    p_starve_per_chunk: float  # fraction of chunks that landed after the queue ran dry


@dataclass(frozen=True)
class FeasibilityReport:
    latency: str
    fps: float
    actions_per_chunk: int
    margin_s: float
    max_in_flight: int  # requests allowed in flight at once (1: no pipelining)
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    chunk_duration_s: float  # actions_per_chunk / fps
    stale_actions_p95: int  # ceil(p95·fps): dropped from each chunk on arrival
    usable_duration_p95_s: float  # (actions_per_chunk − stale) / fps
    usable_duration_p99_s: float
    feasible: bool  # p95 + margin ≤ usable time at p95
    feasible_p99: bool  # the same at p99
    request_at_actions: int  # latency_aware requests when this many actions remain
    chunk_size_threshold: float  # the same point as LeRobot's chunk_size_threshold
    min_actions_per_chunk: int  # smallest chunk feasible at p99
    max_chunk_size: int  # what the policy can produce (caps the recommendation)
    min_in_flight_p99: int | None  # fewest requests in flight feasible at p99 (None: none is)
    recommended_actions_per_chunk: int
    recommended_trigger: str
    recommended_max_in_flight: int
    episode_s: float
    episodes: int
    estimates: tuple[ModeEstimate, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ticks(seconds: float, fps: float) -> int:
    return math.ceil(seconds * fps - EPS)


def fits(
    latency_s: float, fps: float, actions_per_chunk: int, margin_s: float, in_flight: int = 1
) -> bool:
    """ceil(L·fps) ≤ in_flight · (T − ceil((L + margin)·fps)), with T − R ≥ 1; for one in
    flight that is latency + margin ≤ (actions_per_chunk − ceil(latency·fps)) / fps."""
    spacing = actions_per_chunk - _ticks(latency_s + margin_s, fps)
    return spacing >= 1 and _ticks(latency_s, fps) <= in_flight * spacing


def min_actions_per_chunk(latency_s: float, fps: float, margin_s: float, in_flight: int = 1) -> int:
    """Smallest chunk for which `fits` holds: ceil((L + margin)·fps) + ceil(ceil(L·fps) / k)."""
    stale = _ticks(latency_s, fps)
    return _ticks(latency_s + margin_s, fps) + max(1, math.ceil(stale / in_flight))


def min_in_flight(
    latency_s: float, fps: float, actions_per_chunk: int, margin_s: float
) -> int | None:
    """Fewest requests in flight for which `fits` holds; None if the chunk does not even
    outlast the request point (T ≤ R): no pipelining helps then."""
    spacing = actions_per_chunk - _ticks(latency_s + margin_s, fps)
    if spacing < 1:
        return None
    return max(1, math.ceil(_ticks(latency_s, fps) / spacing))


def plan(
    latency: LatencyModel,
    fps: float,
    actions_per_chunk: int,
    *,
    margin_s: float = 0.1,
    max_chunk_size: int | None = None,
    threshold: float | None = None,
    episode_s: float = 30.0,
    episodes: int = 20,
    seed: int = 0,
    max_in_flight: int = 1,
) -> FeasibilityReport:
    """Check async feasibility and estimate starvation by Monte Carlo (see module docstring).

    `max_chunk_size`: the most actions the policy produces (its trained chunk size; default
    `actions_per_chunk`, i.e. the chunk cannot grow). `threshold`: also simulate LeRobot's
    fixed `chunk_size_threshold` trigger at this value. `max_in_flight`: the most requests the
    inference device runs at once (`RuntimeConfig(max_in_flight=...)`); the recommendation uses
    no more of them than it needs.
    """
    if (
        fps <= 0 or actions_per_chunk < 1 or margin_s < 0 or episodes < 1 or episode_s <= 0
        or max_in_flight < 1
    ):  # fmt: skip
        raise ValueError(
            "need fps > 0, actions_per_chunk >= 1, margin_s >= 0, episodes >= 1, episode_s > 0, "
            f"max_in_flight >= 1; got {fps}, {actions_per_chunk}, {margin_s}, {episodes}, "
            f"{episode_s}, {max_in_flight}"
        )
    cap = actions_per_chunk if max_chunk_size is None else int(max_chunk_size)
    if cap < actions_per_chunk:
        raise ValueError(f"max_chunk_size {cap} is below actions_per_chunk {actions_per_chunk}")
    p50, p95, p99 = (latency.quantile(q) for q in (0.5, 0.95, 0.99))
    if not math.isfinite(p99):
        raise ValueError(f"latency p99 must be finite, got {p99} for {latency.describe()}")
    k = max_in_flight
    t_min = min_actions_per_chunk(p99, fps, margin_s, k)
    feasible = fits(p95, fps, actions_per_chunk, margin_s, k)
    feasible_p99 = fits(p99, fps, actions_per_chunk, margin_s, k)
    k_min = min_in_flight(p99, fps, actions_per_chunk, margin_s)
    request_at = LatencyAwareTrigger(p95, margin_s=margin_s).request_point(fps)
    if feasible_p99:
        rec_t, rec_trigger = actions_per_chunk, "latency_aware"
        rec_k = k_min if k_min is not None else k  # no more in flight than needed
    elif t_min <= cap:  # grow the chunk until the tail fits
        rec_t, rec_trigger = t_min, "latency_aware"
        rec_k = k
    elif feasible:  # only the tail does not fit and nothing else helps
        rec_t, rec_trigger, rec_k = actions_per_chunk, "latency_aware", k
    else:  # async would starve every chunk while executing plans from stale observations
        rec_t, rec_trigger, rec_k = actions_per_chunk, "sync", 1
    triggers: list[tuple[str, dict[str, float], int]] = [
        ("latency_aware", {"initial_latency_s": p95, "margin_s": margin_s}, k),
        ("sync", {}, 1),
    ]
    if threshold is not None:
        triggers.append(("threshold", {"threshold": threshold}, 1))
    ticks = max(1, round(episode_s * fps))
    estimates = tuple(
        _simulate(
            RuntimeConfig(
                trigger=name, aggregator="latest_only", latency="wall", max_in_flight=k_, **opts
            ),
            latency,
            fps,
            actions_per_chunk,
            ticks,
            episodes,
            seed,
        )
        for name, opts, k_ in triggers
    )
    report = FeasibilityReport(
        latency=latency.describe(),
        fps=float(fps),
        actions_per_chunk=actions_per_chunk,
        margin_s=margin_s,
        max_in_flight=k,
        latency_p50_s=p50,
        latency_p95_s=p95,
        latency_p99_s=p99,
        chunk_duration_s=actions_per_chunk / fps,
        stale_actions_p95=math.ceil(p95 * fps - EPS),
        usable_duration_p95_s=(actions_per_chunk - math.ceil(p95 * fps - EPS)) / fps,
        usable_duration_p99_s=(actions_per_chunk - math.ceil(p99 * fps - EPS)) / fps,
        feasible=feasible,
        feasible_p99=feasible_p99,
        request_at_actions=request_at,
        chunk_size_threshold=min(1.0, request_at / actions_per_chunk),
        min_actions_per_chunk=t_min,
        max_chunk_size=cap,
        min_in_flight_p99=k_min,
        recommended_actions_per_chunk=rec_t,
        recommended_trigger=rec_trigger,
        recommended_max_in_flight=rec_k,
        episode_s=ticks / fps,
        episodes=episodes,
        estimates=estimates,
        notes=(),
    )
    return _with_notes(report)


class _LateChunks:
    """Counts chunks that landed after the queue had run dry while they were computed."""

    def __init__(self) -> None:
        self.chunks = self.late = 0
        self._dry = False

    def on_tick(self, record: TickRecord) -> None:
        if record.arrived:
            self.chunks += record.arrived
            self.late += self._dry or record.starved
            self._dry = False
        elif record.starved:
            self._dry = True


def _simulate(
    runtime: RuntimeConfig,
    latency: LatencyModel,
    fps: float,
    apc: int,
    ticks: int,
    episodes: int,
    seed: int,
) -> ModeEstimate:
    """Run `episodes` timing-only episodes (the toy never succeeds), each with a fresh loop
    (a fresh trigger) on a virtual clock of `latency` seeded by the episode."""
    idle = starved = inferences = 0
    late = _LateChunks()
    for i in range(episodes):
        loop = ControlLoop(
            PointEnv(fps=fps, tolerance=None),
            LinePolicy(chunk_size=apc, fps=fps),
            runtime,
            clock=VirtualClock(latency, seed=seed + i),
            subscribers=[late],
        )
        result = loop.run_episode(max_ticks=ticks)
        idle, starved = idle + result.idle_ticks, starved + result.starved_ticks
        inferences += result.inferences
    return ModeEstimate(
        trigger=runtime.trigger,
        inferences_per_episode=inferences / episodes,
        idle_ticks_per_episode=idle / episodes,
        starved_ticks_per_episode=starved / episodes,
        starved_ticks_per_chunk=starved / max(late.chunks, 1),
        p_starve_per_chunk=late.late / max(late.chunks, 1),
    )


def max_latency_for(
    actions_per_chunk: int, fps: float, margin_s: float, in_flight: int = 1
) -> float:
    """The largest latency for which `fits` holds (bisection; `fits` is monotone in L)."""
    lo, hi = 0.0, actions_per_chunk / fps
    if not fits(lo, fps, actions_per_chunk, margin_s, in_flight):
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        ok = fits(mid, fps, actions_per_chunk, margin_s, in_flight)
        lo, hi = (mid, hi) if ok else (lo, mid)
    return lo


def _with_notes(r: FeasibilityReport) -> FeasibilityReport:
    """Plain-language conclusions, most important first."""
    notes = []
    est = {e.trigger: e for e in r.estimates}
    if not r.feasible:
        flight = f" with {r.max_in_flight} in flight" if r.max_in_flight > 1 else ""
        notes.append(
            f"async cannot keep up{flight}: {r.stale_actions_p95} of {r.actions_per_chunk} "
            "actions go stale while a chunk is computed. Needs p95 latency <= "
            f"{max_latency_for(r.actions_per_chunk, r.fps, r.margin_s, r.max_in_flight):.3f} s "
            f"at this chunk length, or >= {r.min_actions_per_chunk} actions per chunk (policy "
            f"max {r.max_chunk_size})."
        )
    if (
        not r.feasible_p99
        and r.min_in_flight_p99 is not None
        and r.max_in_flight < r.min_in_flight_p99 <= PIPELINE_HINT_MAX
    ):
        notes.append(
            f"or pipeline: max_in_flight = {r.min_in_flight_p99} keeps the queue fed at p99 — "
            "only if the inference device runs that many requests at once in about the time "
            "of one (a GPU server; not a single NPU). Check with --max-in-flight "
            f"{r.min_in_flight_p99}."
        )
    elif not r.feasible_p99:
        notes.append(
            "p95 fits but the p99 tail does not: expect a dry queue on about "
            f"{est['latency_aware'].p_starve_per_chunk:.1%} of chunks."
        )
    if r.recommended_actions_per_chunk != r.actions_per_chunk:
        notes.append(
            f"use actions_per_chunk = {r.recommended_actions_per_chunk}: the smallest that fits "
            "at p99 (larger ones work too but execute longer open-loop between observations)."
        )
    sync = est["sync"]
    notes.append(
        f"sync would leave the arm waiting {sync.idle_ticks_per_episode / r.fps:.1f} s of every "
        f"{r.episode_s:.0f} s ({sync.idle_ticks_per_episode / (r.episode_s * r.fps):.0%})."
    )
    notes.append(
        f"LeRobot users: chunk_size_threshold = {r.chunk_size_threshold:.2f} requests at the same "
        f"point as latency_aware ({r.request_at_actions} actions left), for this latency only."
    )
    if "threshold" in est:
        t = est["threshold"]
        notes.append(
            f"your threshold trigger: {t.starved_ticks_per_episode:.1f} starved ticks and "
            f"{t.inferences_per_episode:.1f} inferences per episode, vs "
            f"{est['latency_aware'].starved_ticks_per_episode:.1f} and "
            f"{est['latency_aware'].inferences_per_episode:.1f} with latency_aware."
        )
    return replace(r, notes=tuple(notes))
