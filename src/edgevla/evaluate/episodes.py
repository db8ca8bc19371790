"""Closed-loop episodes of any ChunkPolicy on any Environment, from a list of start positions.

One function serves `edgevla bench async`, `eval`, `select` (through `evaluate.parallel`) and
`edgevla run`: the RuntimeConfig says how the policy is run on the clock, the environment
factory says where. Each episode gets a fresh trigger (a
latency-aware trigger learns within an episode) and, in virtual time, a clock seeded by the
episode's index, so every episode is repeatable on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from edgevla.contracts import ChunkPolicy, Environment
from edgevla.features import DEFAULT_TASK
from edgevla.robots import EnvFactory
from edgevla.robots import env_factory as env_factory_of
from edgevla.runtime.config import RuntimeConfig
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.records import EpisodeResult

if TYPE_CHECKING:
    from edgevla.sim.clusters import StartPosition

PolicySource = ChunkPolicy | Callable[[], ChunkPolicy]
Subscribers = Iterable[Any] | Callable[[int, Any], Iterable[Any]]
"""For every episode, or `f(index, start) -> subscribers` for per-episode ones."""


def chunk_policy_of(policy: PolicySource) -> ChunkPolicy:
    """A ChunkPolicy, or the one a zero-argument factory builds (a `--policy` string is
    `edgevla.sources.resolve_policy`'s job)."""
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
) -> list[EpisodeResult]:
    """One episode per start, in order; the environment is reset with `start=` and `task=`.

    env_factory: builds the environment for the policy's spec (default: `make_env("sim")`).
    env: use this environment instead of building one (it must match the policy). subscribers:
    for every episode, or `f(index, start) -> subscribers` for per-episode ones (a queue
    recorder of one episode). on_episode(index, result): progress. first_episode: index of
    starts[0] — it seeds the virtual clock, so a subset reproduces the full run's episodes.
    """
    if max_seconds <= 0 or settle_seconds < 0:
        raise ValueError(
            f"need max_seconds > 0 and settle_seconds >= 0, got {max_seconds}, {settle_seconds}"
        )
    chunk_policy = chunk_policy_of(policy)
    spec = chunk_policy.spec
    if env is None:
        env = (env_factory or env_factory_of("sim"))(spec)
    fps = float(env.fps)
    results: list[EpisodeResult] = []
    for offset, start in enumerate(starts):
        index = first_episode + offset
        subs = subscribers(index, start) if callable(subscribers) else subscribers
        with ControlLoop(
            env,
            chunk_policy,
            runtime,
            clock=runtime.build_clock(index),
            subscribers=list(subs),
        ) as loop:
            result = loop.run_episode(
                max_ticks=max(1, round(max_seconds * fps)),
                settle_ticks=round(settle_seconds * fps),
                start=start,
                task=task,
            )
        results.append(result)
        if on_episode is not None:
            on_episode(index, result)
    return results
