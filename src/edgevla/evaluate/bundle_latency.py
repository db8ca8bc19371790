"""`edgevla bench latency`: a bundle's per-block and end-to-end latency, beside the PyTorch
checkpoint it came from (eager) on the same inputs in the same run.

Inputs are dataset frames (`dataset`) or seeded random observations of the bundle's spec
(latency does not depend on pixel values). Peak memory is the process's peak resident set
(`ru_maxrss`), read after the bundle's runs and again after eager's: the bundle's is measured
before torch is imported, so it is what a board-side process would hold.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.contracts import Observation, PolicySpec
from edgevla.features import STATE_KEY, TASK_KEY, image_key


@dataclass(frozen=True)
class LatencyBenchConfig:
    policy: str  # a bundle directory
    compare: str | None = None  # a checkpoint to time eagerly on the same inputs
    runs: int = 30
    warmup: int = 3
    dataset: str | None = None
    seed: int = 0


def random_observations(spec: PolicySpec, count: int, seed: int) -> list[Observation]:
    rng = np.random.default_rng(seed)
    height, width = spec.image_shape or (64, 64)
    observations = []
    for _ in range(count):
        observation: Observation = {
            image_key(c): rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            for c in spec.cameras
        }
        observation[STATE_KEY] = rng.normal(0, 10, spec.state_dim).astype(np.float32)
        observation[TASK_KEY] = "Put the tea bag in the mug"
        observations.append(observation)
    return observations


def _percentiles(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p95_ms": float(np.percentile(seconds, 95) * 1e3),
        "mean_ms": float(np.mean(seconds) * 1e3),
    }


def _time(call: Callable[[Observation], Any], inputs: list[Observation], config) -> list[float]:
    for i in range(config.warmup):
        call(inputs[i % len(inputs)])
    seconds = []
    for i in range(config.runs):
        start = time.perf_counter()
        call(inputs[i % len(inputs)])
        seconds.append(time.perf_counter() - start)
    return seconds


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _bundle_timings(policy, inputs: list[Observation], config) -> dict[str, Any]:
    """End to end through predict_chunk, and each block's session.run on its real feeds."""
    end_to_end = _time(policy.predict_chunk, inputs, config)
    blocks: dict[str, list[float]] = {b.name: [] for b in policy.manifest.blocks}
    for i in range(config.runs):
        tensors = policy.block_inputs(inputs[i % len(inputs)])
        for block, session in zip(policy.manifest.blocks, policy.sessions, strict=True):
            feeds = {t.name: tensors[t.name] for t in block.inputs}
            start = time.perf_counter()
            outputs = session.run(None, feeds)
            blocks[block.name].append(time.perf_counter() - start)
            tensors.update(zip((t.name for t in block.outputs), outputs, strict=True))
    return {
        "end_to_end": _percentiles(end_to_end),
        "blocks": {
            b.name: {"precision": b.precision, **_percentiles(blocks[b.name])}
            for b in policy.manifest.blocks
        },
    }


def run_latency_bench(config: LatencyBenchConfig) -> dict[str, Any]:
    """The bundle first (its sessions closed before eager runs, so their idle threads do not
    compete with torch's), then eager on the same inputs."""
    result: dict[str, Any] = {"config": vars(config)}
    result["bundle"], inputs = _bundle_part(config)
    if config.compare:
        result["eager"] = _eager(config, inputs)
        result["speedup_p50"] = (
            result["eager"]["end_to_end"]["p50_ms"] / result["bundle"]["end_to_end"]["p50_ms"]
        )
    return result


def _bundle_part(config: LatencyBenchConfig) -> tuple[dict[str, Any], list[Observation]]:
    from edgevla.runtime.bundle import load_bundle

    bundle_dir = Path(config.policy)
    policy = load_bundle(bundle_dir)
    if config.dataset:
        from edgevla.export.frames import dataset_observations

        inputs = dataset_observations(config.dataset, policy.spec, 8)
    else:
        inputs = random_observations(policy.spec, 8, config.seed)
    part = {
        "recipe": policy.manifest.recipe.get("name"),
        "size_mb": sum((bundle_dir / b.file).stat().st_size for b in policy.manifest.blocks) / 1e6,
        **_bundle_timings(policy, inputs, config),
        "peak_rss_mb": _peak_rss_mb(),
    }
    return part, inputs


def _eager(config: LatencyBenchConfig, inputs: list[Observation]) -> dict[str, Any]:
    from edgevla.policies.checkpoint import WEIGHTS_NAME, resolve_pretrained_dir
    from edgevla.sources import resolve_policy

    eager = resolve_policy(str(config.compare))
    weights = resolve_pretrained_dir(config.compare) / WEIGHTS_NAME
    return {
        "end_to_end": _percentiles(_time(eager.predict_chunk, inputs, config)),
        "size_mb": weights.stat().st_size / 1e6,
        "peak_rss_mb": _peak_rss_mb(),
    }


def latency_markdown(result: dict[str, Any]) -> str:
    bundle = result["bundle"]
    lines = [
        f"bundle {result['config']['policy']} (recipe {bundle['recipe']}), "
        f"{result['config']['runs']} runs",
        "",
        "| part | precision | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for name, t in bundle["blocks"].items():
        lines.append(f"| {name} | {t['precision']} | {t['p50_ms']:.1f} | {t['p95_ms']:.1f} |")
    e2e = bundle["end_to_end"]
    lines.append(f"| bundle end to end | | {e2e['p50_ms']:.1f} | {e2e['p95_ms']:.1f} |")
    if "eager" in result:
        eager = result["eager"]["end_to_end"]
        lines.append(f"| PyTorch eager | fp32 | {eager['p50_ms']:.1f} | {eager['p95_ms']:.1f} |")
    lines += [
        "",
        f"bundle size {bundle['size_mb']:.1f} MB, peak RSS {bundle['peak_rss_mb']:.0f} MB",
    ]
    if "eager" in result:
        lines.append(
            f"eager weights {result['eager']['size_mb']:.1f} MB, peak RSS with torch "
            f"{result['eager']['peak_rss_mb']:.0f} MB; speedup (p50) "
            f"{result['speedup_p50']:.2f}x"
        )
    return "\n".join(lines)
