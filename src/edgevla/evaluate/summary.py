"""Summary metrics of a set of episodes: the numbers a sync-vs-async table and an accuracy
report are made of (DESIGN §4, §6), and the Wilson interval every success rate is given with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgevla.runtime.records import EpisodeResult

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, episodes: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95 % by default). Unlike p ± z·SE it stays
    inside [0, 1] and is honest at 0/n and n/n, where thirty episodes often land."""
    if episodes < 1 or not 0 <= successes <= episodes:
        raise ValueError(f"need 0 <= successes <= episodes >= 1, got {successes}/{episodes}")
    p, n, z2 = successes / episodes, episodes, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Summary:
    """Means are per episode unless named otherwise; times are control time (ticks / fps)."""

    episodes: int
    successes: int
    success_rate: float
    completion_time_s: float | None  # mean over successful episodes; None if none succeeded
    episode_time_s: float
    wait_s: float  # time the arm waited for inference (idle), any reason
    first_wait_s: float  # of which before the first chunk: the same in every mode
    standstill_s: float  # of the wait, the part the arm stood still (not catching up)
    idle_fraction: float  # idle ticks / all ticks, over all episodes
    starved_ticks: int  # total: an async queue ran dry
    outage_ticks: int  # total: the policy was unreachable
    stale_dropped: float
    jerk: float  # RMS third derivative of the commanded targets (units/s³)
    inferences: float
    latency_p50_s: float | None
    latency_p95_s: float | None

    @property
    def success_ci95(self) -> tuple[float, float]:
        """Wilson 95 % interval of the success rate."""
        return wilson_interval(self.successes, self.episodes)

    @property
    def hideable_wait_s(self) -> float:
        """The waiting async inference could hide: all but the wait for the first chunk."""
        return self.wait_s - self.first_wait_s

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "success_ci95": list(self.success_ci95),
            "hideable_wait_s": self.hideable_wait_s,
        }


def summarize(results: Sequence[EpisodeResult]) -> Summary:
    """Aggregate episode results (all at the same fps)."""
    if not results:
        raise ValueError("summarize needs at least one episode result, got none")
    fps = {r.fps for r in results}
    if len(fps) != 1:
        raise ValueError(f"episodes at different fps cannot be summarized together: {sorted(fps)}")
    rate = fps.pop()
    done = [r.completion_time_s for r in results if r.success]
    ticks = sum(r.ticks for r in results)
    latencies = np.concatenate([np.asarray(r.latencies_s, dtype=np.float64) for r in results])
    return Summary(
        episodes=len(results),
        successes=len(done),
        success_rate=len(done) / len(results),
        completion_time_s=float(np.mean(done)) if done else None,
        episode_time_s=float(np.mean([r.episode_time_s for r in results])),
        wait_s=float(np.mean([r.idle_ticks for r in results])) / rate,
        first_wait_s=float(np.mean([r.first_wait_ticks for r in results])) / rate,
        standstill_s=float(np.mean([r.idle_ticks - r.held_motion_ticks for r in results])) / rate,
        idle_fraction=sum(r.idle_ticks for r in results) / max(ticks, 1),
        starved_ticks=sum(r.starved_ticks for r in results),
        outage_ticks=sum(r.outage_ticks for r in results),
        stale_dropped=float(np.mean([r.stale_dropped for r in results])),
        jerk=float(np.mean([r.jerk for r in results])),
        inferences=float(np.mean([r.inferences for r in results])),
        latency_p50_s=float(np.percentile(latencies, 50)) if latencies.size else None,
        latency_p95_s=float(np.percentile(latencies, 95)) if latencies.size else None,
    )


@dataclass(frozen=True)
class Paired:
    """Means over the episodes both runs completed: a comparison not biased by which episodes
    each one failed (a failed sync episode waits for 30 s of chunks and would inflate the wait
    a mode is asked to hide)."""

    episodes: int
    completion_s: float  # ours
    reference_completion_s: float
    reference_wait_s: float  # the reference's idle time on those episodes
    reference_first_wait_s: float  # of which before its first chunk
    reference_standstill_s: float  # of which the arm stood still (not catching up)


def paired_completion(
    results: Sequence[EpisodeResult], reference: Sequence[EpisodeResult]
) -> Paired | None:
    """`Paired` over the episodes both runs completed; None if there are none."""
    if len(results) != len(reference):
        raise ValueError(
            f"paired comparison needs the same episodes, got {len(results)} and {len(reference)}"
        )
    pairs = [(a, b) for a, b in zip(results, reference, strict=True) if a.success and b.success]
    if not pairs:
        return None
    theirs = [b for _, b in pairs]
    rate = theirs[0].fps

    def mean(values: Sequence[float]) -> float:
        return float(np.mean(np.asarray(values, dtype=np.float64)))

    return Paired(
        episodes=len(pairs),
        completion_s=mean([a.completion_time_s for a, _ in pairs]),  # type: ignore[misc]
        reference_completion_s=mean([b.completion_time_s for b in theirs]),  # type: ignore[misc]
        reference_wait_s=mean([b.idle_ticks for b in theirs]) / rate,
        reference_first_wait_s=mean([b.first_wait_ticks for b in theirs]) / rate,
        reference_standstill_s=mean([b.idle_ticks - b.held_motion_ticks for b in theirs]) / rate,
    )
