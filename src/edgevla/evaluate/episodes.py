"""Closed-loop episodes of any ChunkPolicy on any Environment, from a list of start positions.

One function serves `edgevla bench async` (sync vs async in virtual time), `edgevla run`, and
later `edgevla eval` / `select` of learned policies: the RuntimeConfig says how the policy is
run on the clock, the environment factory says where. Each episode gets a fresh trigger (a
latency-aware trigger learns within an episode) and, in virtual time, a clock seeded by the
episode's index, so every episode is repeatable on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from edgevla.contracts import ChunkPolicy, Environment, PolicySpec
from edgevla.features import DEFAULT_TASK
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.records import EpisodeResult
from edgevla.sim.clusters import StartPosition

EnvFactory = Callable[[PolicySpec], Environment]
"""Builds the environment for a policy: it renders exactly the cameras the spec asks for."""
PolicySource = ChunkPolicy | Callable[[], ChunkPolicy]
Subscribers = Iterable[Any] | Callable[[int, StartPosition], Iterable[Any]]


def sim_env_factory(config: Any | None = None) -> EnvFactory:
    """The tea-bag workcell configured for the policy: rendering only when the spec has
    cameras, those cameras only, at the spec's image size when it declares one.

    config: a `WorkcellConfig` (scene, physics); its render/cameras/size are overridden.
    """
    from edgevla.sim.config import WorkcellConfig
    from edgevla.sim.workcell import TeaBagWorkcell

    base = config if config is not None else WorkcellConfig()

    def make(spec: PolicySpec) -> Environment:
        scene = dataclasses.replace(base.scene, cameras=tuple(spec.cameras))
        if spec.image_shape is not None:
            height, width = spec.image_shape
            scene = dataclasses.replace(scene, width=int(width), height=int(height))
        if abs(base.fps - spec.fps) > 1e-6:
            raise ValueError(f"the policy runs at {spec.fps:g} fps, the workcell at {base.fps:g}")
        return TeaBagWorkcell(dataclasses.replace(base, scene=scene, render=bool(spec.cameras)))

    return make


def resolve_policy(policy: PolicySource) -> ChunkPolicy:
    """A ChunkPolicy, or the one a zero-argument factory builds."""
    if hasattr(policy, "predict_chunk"):
        return policy  # type: ignore[return-value]
    if callable(policy):
        built = policy()
        if not hasattr(built, "predict_chunk") or not hasattr(built, "spec"):
            raise TypeError(f"the policy factory returned {type(built).__name__}, not a policy")
        return built
    raise TypeError(f"expected a ChunkPolicy or a factory of one, got {type(policy).__name__}")


def run_episodes(
    policy: PolicySource,
    starts: Sequence[StartPosition],
    *,
    runtime: RuntimeConfig,
    env_factory: EnvFactory | None = None,
    env: Environment | None = None,
    max_seconds: float = 30.0,
    settle_seconds: float = 0.0,
    task: str = DEFAULT_TASK,
    subscribers: Subscribers = (),
    on_episode: Callable[[int, EpisodeResult], None] | None = None,
    first_episode: int = 0,
    reset_options: Callable[[StartPosition], dict[str, Any]] | None = None,
) -> list[EpisodeResult]:
    """One episode per start, in order; `env.reset` gets `reset_options(start)` (default:
    the tea bag at `start.pose` and `task`).

    env: use this environment instead of building one (it must match the policy). subscribers:
    for every episode, or `f(index, start) -> subscribers` for per-episode ones (a queue
    recorder of one episode). on_episode(index, result): progress. first_episode: index of
    starts[0] — it seeds the virtual clock, so a subset reproduces the full run's episodes.
    """
    if max_seconds <= 0 or settle_seconds < 0:
        raise ValueError(
            f"need max_seconds > 0 and settle_seconds >= 0, got {max_seconds}, {settle_seconds}"
        )
    chunk_policy = resolve_policy(policy)
    spec = chunk_policy.spec
    if env is None:
        env = (env_factory or sim_env_factory())(spec)
    fps = float(env.fps)
    results: list[EpisodeResult] = []
    for offset, start in enumerate(starts):
        index = first_episode + offset
        subs = subscribers(index, start) if callable(subscribers) else subscribers
        with ControlLoop(
            env,
            chunk_policy,
            trigger=runtime.build_trigger(),
            aggregator=runtime.aggregator,
            clock=runtime.build_clock(index),
            subscribers=list(subs),
            actions_per_chunk=runtime.actions_per_chunk,
            align=runtime.align,
            crossfade_min_s=runtime.crossfade_min_s,
            max_in_flight=runtime.max_in_flight,
            warm_start=runtime.warm_start,
        ) as loop:
            options = {"tea_bag": start.pose, "task": task}
            if reset_options is not None:
                options = reset_options(start)
            result = loop.run_episode(
                max_ticks=max(1, round(max_seconds * fps)),
                settle_ticks=round(settle_seconds * fps),
                **options,
            )
        results.append(result)
        if on_episode is not None:
            on_episode(index, result)
    return results
