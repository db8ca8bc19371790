"""`edgevla bench async`: sync against async modes on the NXP evaluation sets (or the larger
seeded set, `episodes_per_cluster`), in the sim, with a latency emulated exactly in virtual time
(DESIGN §4, §6): a board's, a given one, or this machine's own (`latency="measured"`: the
policy's predict_chunk timed here first, then replayed as the latency distribution).

Every mode runs the same episodes (same starts, same per-episode latency draws), so rows differ
only by how the runtime schedules, aligns and blends chunks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edgevla.contracts import ChunkPolicy, Environment
from edgevla.evaluate.modes import DEFAULT_MODES, parse_mode
from edgevla.evaluate.parallel import EpisodeRunner, ShardResult, shards_of
from edgevla.evaluate.phases import PhaseSplit
from edgevla.evaluate.protocol import default_split, evaluation_starts
from edgevla.evaluate.summary import Paired, Summary, paired_completion, summarize
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.records import EpisodeResult
from edgevla.runtime.subscribers import QueueSizeRecorder
from edgevla.sim.clusters import StartPosition

SETS = ("test", "validation")
MEASURED = "measured"  # latency: this machine's, timed before the episodes (measure_latency)


@dataclass(frozen=True)
class AsyncBenchConfig:
    """Saved beside the results as config.json; `edgevla bench async` builds it from flags."""

    latency: str = "imx95-act-optimized"
    fps: float = 30.0
    actions_per_chunk: int = 100
    modes: tuple[str, ...] = DEFAULT_MODES
    sets: tuple[str, ...] = SETS
    policy: str = "scripted"  # a policy source (edgevla.sources)
    clusters: tuple[int, ...] = field(default_factory=lambda: default_split()[0])  # training
    holdout: int | None = field(default_factory=lambda: default_split()[1])
    split_seed: int = 0  # seeds the evaluation sets
    episodes_per_cluster: int | None = None  # None: the NXP sets; K: the larger seeded set
    seed: int = 0  # seeds the latency draws (episode i uses seed + i)
    margin_s: float = 0.1
    max_seconds: float = 30.0
    episodes_per_set: int | None = None  # None: whole sets; N: the first N of each (a smoke run)
    warm_start: bool = False  # every mode: first chunk before the clock starts (RuntimeConfig)

    def __post_init__(self) -> None:
        unknown = [s for s in self.sets if s not in SETS]
        if unknown or not self.sets:
            raise ValueError(f"sets must be some of {list(SETS)}, got {list(self.sets)}")
        if not self.modes:
            raise ValueError("no run modes given")
        if self.episodes_per_set is not None and self.episodes_per_set < 1:
            raise ValueError(f"episodes_per_set must be >= 1, got {self.episodes_per_set}")
        measured = self.latency == MEASURED  # modes checked against any latency until measured
        base = dataclasses.replace(self, latency="0") if measured else self
        for mode in self.modes:  # fail before any episode runs
            parse_mode(mode, base.base_runtime())

    def base_runtime(self) -> RuntimeConfig:
        if self.latency == MEASURED:
            raise ValueError("latency 'measured' is measured first: see measure_latency")
        return RuntimeConfig(
            latency=self.latency,
            seed=self.seed,
            actions_per_chunk=self.actions_per_chunk,
            margin_s=self.margin_s,
            warm_start=self.warm_start,
        )

    def starts(self) -> dict[str, list[StartPosition]]:
        """set name -> its start positions (the report's protocol, DESIGN §6)."""
        training = tuple(c for c in self.clusters if c != self.holdout)
        sets = evaluation_starts(training, self.holdout, self.split_seed, self.episodes_per_cluster)
        chosen = {name: sets[name][: self.episodes_per_set] for name in self.sets}
        empty = [name for name, starts in chosen.items() if not starts]
        if empty:
            raise ValueError(f"evaluation sets {empty} are empty (no held-out cluster?)")
        return chosen


@dataclass
class ModeRun:
    """One mode's episodes and their phase splits, by set, plus the queue recording of its
    first episode."""

    mode: str
    runtime: RuntimeConfig
    results: dict[str, list[EpisodeResult]] = field(default_factory=dict)
    phases: dict[str, list[PhaseSplit]] = field(default_factory=dict)
    queue: QueueSizeRecorder = field(default_factory=QueueSizeRecorder)

    def all_results(self) -> list[EpisodeResult]:
        return [r for results in self.results.values() for r in results]

    def all_phases(self) -> list[PhaseSplit]:
        return [p for phases in self.phases.values() for p in phases]

    def summary(self, set_name: str | None = None) -> Summary:
        return summarize(self.all_results() if set_name is None else self.results[set_name])


def run_modes(
    config: AsyncBenchConfig,
    policy: ChunkPolicy,
    *,
    workers: int = 1,
    on_episode: Callable[[str, int, EpisodeResult], None] | None = None,
) -> list[ModeRun]:
    """Run every mode on every chosen set; episode indices (latency seeds) run across sets.
    workers > 1: episodes in that many processes, each loading `config.policy`."""
    starts = config.starts()
    runs = [ModeRun(mode, parse_mode(mode, config.base_runtime())) for mode in config.modes]
    tags: list[tuple[ModeRun, str]] = []
    shards = []
    for run in runs:
        first = 0
        for set_name, set_starts in starts.items():
            shards += shards_of(
                run.runtime,
                set_starts,
                config.max_seconds,
                first=first,
                record_queue=True,
                record_phases=True,
            )
            tags += [(run, set_name)] * len(set_starts)
            first += len(set_starts)

    def finished(i: int, shard: ShardResult) -> None:
        run, set_name = tags[i]
        run.results.setdefault(set_name, []).extend(shard.results)
        run.phases.setdefault(set_name, []).extend(shard.phases)
        if shard.queue is not None:
            run.queue = shard.queue
        for offset, result in enumerate(shard.results):
            if on_episode is not None:
                on_episode(run.mode, shards[i].first_episode + offset, result)

    source = config.policy if workers > 1 else None
    options = {"fps": config.fps}
    with EpisodeRunner(source, workers, policy=policy, env_options=options, fps=config.fps) as r:
        r.run(shards, finished)
    return runs


def measure_latency(
    policy: ChunkPolicy, env: Environment, starts: Sequence[StartPosition], samples: int = 40
) -> list[float]:
    """Wall seconds of `samples` predict_chunk calls on this machine, on reset observations of
    the first starts (cycled), after 3 warm-up calls: the policy's own latency distribution
    here, which the bench then replays in virtual time (exact and repeatable)."""
    import time

    if samples < 1 or not starts:
        raise ValueError(f"need samples >= 1 and a start, got {samples} and {len(starts)} starts")
    observations = [env.reset(start=s) for s in starts[:10]]
    policy.reset()
    for obs in observations[:3]:
        policy.predict_chunk(obs, 0)
    timed = []
    for i in range(samples):
        began = time.perf_counter()
        policy.predict_chunk(observations[i % len(observations)], 0)
        timed.append(time.perf_counter() - began)
    return timed


LEROBOT_MODE = "threshold:0.6+weighted_average"  # LeRobot's async defaults, as the issue names


def acceptance(runs: list[ModeRun], feasible: Mapping[str, bool]) -> list[dict]:
    """The issue's acceptance checks of each async mode against `sync` (when both ran);
    `feasible`: mode -> whether `edgevla plan` calls its latency and chunk length feasible
    (then a latency-aware mode must never starve).

    success: on every set and over all, the success interval overlaps sync's or lies above it
    (the issue's reading; `success_point` compares the rates alone).
    time: over the episodes both completed, the mean completion time must be at most sync's
    minus 0.9 × sync's mean wait on those same episodes; `hidden` is the fraction of that wait
    saved, `of hideable` the same over the wait that excludes the first chunk (no mode can
    start before it lands), `of standstill` over the part of sync's wait the arm stood still: a
    position-controlled arm keeps moving while sync holds a target it lags, and no async
    schedule can save that part.
    jerk: below the same trigger with `weighted_average`, and `jerk_lerobot` below LeRobot's
    setting (`threshold:0.6+weighted_average`) when that ran.
    """
    by_mode = {r.mode: r for r in runs}
    sync = by_mode.get("sync")
    checks: list[dict] = []
    if sync is None:
        return checks
    ref = sync.summary()
    for run in runs:
        if run.runtime.trigger == "sync":
            continue
        s = run.summary()
        row: dict = {
            "mode": run.mode,
            "success": all(_not_below(run.summary(n), sync.summary(n)) for n in _sets(run, sync)),
            "success_point": s.success_rate >= ref.success_rate,
        }
        paired = paired_completion(run.all_results(), sync.all_results())
        if paired is not None and paired.reference_wait_s > 0:
            saved = paired.reference_completion_s - paired.completion_s
            hideable = paired.reference_wait_s - paired.reference_first_wait_s
            still = paired.reference_standstill_s
            hidden = saved / paired.reference_wait_s
            row.update(
                time=hidden >= 0.9,
                completion_s=paired.completion_s,
                sync_completion_s=paired.reference_completion_s,
                sync_wait_s=paired.reference_wait_s,
                paired_episodes=paired.episodes,
                hidden=hidden,
                hidden_of_hideable=saved / hideable if hideable > 0 else None,
                hidden_of_standstill=saved / still if still > 0 else None,
            )
        clean = _single_grasp_pairs(run, sync)
        if clean is not None:
            row.update(clean_paired_episodes=clean.episodes, hidden_clean=_hidden(clean))
        twin = by_mode.get(_twin(run.mode, "weighted_average"))
        if run.runtime.aggregator != "weighted_average" and twin is not None:
            row.update(jerk=s.jerk < twin.summary().jerk, jerk_vs=twin.mode)
        lerobot = by_mode.get(LEROBOT_MODE)
        if lerobot is not None and run is not lerobot:
            row["jerk_lerobot"] = s.jerk < lerobot.summary().jerk
        if run.runtime.trigger == "latency_aware" and feasible.get(run.mode, False):
            row["no_starvation"] = s.starved_ticks == 0
        checks.append(row)
    return checks


def _single_grasp_pairs(run: ModeRun, sync: ModeRun) -> Paired | None:
    """Paired over the episodes both completed with a single grasp: the runtime's part of the
    saving, without the re-grasp tail (which episodes re-grasp differs between modes)."""
    ours, theirs = run.all_phases(), sync.all_phases()
    if not ours or len(ours) != len(run.all_results()) or len(theirs) != len(ours):
        return None
    keep = [a.grasp_attempts == 1 == b.grasp_attempts for a, b in zip(ours, theirs, strict=True)]

    def pick(results: list[EpisodeResult]) -> list[EpisodeResult]:
        return [r for r, k in zip(results, keep, strict=True) if k]

    return paired_completion(pick(run.all_results()), pick(sync.all_results()))


def _hidden(paired: Paired) -> float | None:
    """The share of the reference's wait on the paired episodes that was saved."""
    if paired.reference_wait_s <= 0:
        return None
    return (paired.reference_completion_s - paired.completion_s) / paired.reference_wait_s


def _sets(run: ModeRun, sync: ModeRun) -> list[str | None]:
    """The sets both ran, then None (all episodes)."""
    return [n for n in run.results if n in sync.results] + [None]


def _not_below(ours: Summary, theirs: Summary) -> bool:
    """Our 95 % interval overlaps theirs or lies above it."""
    return ours.success_ci95[1] >= theirs.success_ci95[0]


def _twin(mode: str, aggregator: str) -> str:
    """The same mode string with another aggregator."""
    head, plus, rest = mode.partition("+")
    if not plus:
        return mode
    tail = next((i for i, c in enumerate(rest) if c in "@/"), len(rest))
    return f"{head}+{aggregator}{rest[tail:]}"


def feasibility(config: AsyncBenchConfig, runs: list[ModeRun], max_chunk_size: int) -> dict:
    """`edgevla plan`'s verdict for every actions-per-chunk the modes use."""
    from edgevla.runtime.plan import plan

    model = config.base_runtime().latency_model()
    sizes = sorted({run.runtime.actions_per_chunk or max_chunk_size for run in runs})
    return {
        n: plan(
            model,
            config.fps,
            n,
            margin_s=config.margin_s,
            max_chunk_size=max(n, max_chunk_size),
            episodes=5,
            episode_s=20.0,
            seed=config.seed,
        )
        for n in sizes
    }
