"""Runs `edgevla bench async` end to end and writes what it found: config.json, results.json,
results.md, the queue sawtooth of every mode and the commanded trajectories."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from edgevla.evaluate.async_bench import (
    MEASURED,
    AsyncBenchConfig,
    ModeRun,
    acceptance,
    feasibility,
    measure_latency,
    run_modes,
)
from edgevla.evaluate.modes import slug
from edgevla.evaluate.phases import PHASES, summarize_phases
from edgevla.evaluate.progress import ProgressBar
from edgevla.evaluate.report import (
    acceptance_lines,
    markdown_table,
    summary_headers,
    summary_rows,
    write_json,
)
from edgevla.runtime.records import EpisodeResult


def run_async_bench(
    config: AsyncBenchConfig, out_dir: str | Path, *, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Run the benchmark and write config.json, results.json, results.md, one queue plot per
    mode and trajectories.png into `out_dir` (and measured_latency.json for latency
    "measured"); returns what results.json holds. workers: processes running episodes."""
    from edgevla.configio import config_to_dict, save_config
    from edgevla.sources import resolve_policy

    out = Path(out_dir)
    policy = resolve_policy(config.policy, fps=config.fps)
    if abs(policy.spec.fps - config.fps) > 1e-6:
        raise ValueError(
            f"policy {config.policy!r} plans at {policy.spec.fps:g} fps, the bench runs at "
            f"{config.fps:g} (give the policy fps=..., e.g. scripted:fps={config.fps:g})"
        )
    if config.latency == MEASURED:
        config = _measure(config, policy, out / "measured_latency.json")
    save_config(config, out / "config.json")
    total = len(config.modes) * sum(len(s) for s in config.starts().values())
    with ProgressBar(total, progress) as bar:

        def tick(mode: str, index: int, result: EpisodeResult) -> None:
            bar.set_postfix_str(f"{mode} ep {index}: {'ok' if result.success else 'fail'}")
            bar.update(1)

        runs = run_modes(config, policy, workers=workers, on_episode=tick)
    data = {
        "config": config_to_dict(config),
        "latency": config.base_runtime().latency_model().describe(),
        "modes": [_mode_json(run) for run in runs],
    }
    write_json(data, out / "results.json")  # the episodes first: the hours of work are kept
    plans = feasibility(config, runs, policy.spec.chunk_size)
    feasible = {}
    for run in runs:
        report = plans[run.runtime.actions_per_chunk or policy.spec.chunk_size]
        feasible[run.mode] = report.feasible and report.feasible_p99
    checks = acceptance(runs, feasible)
    data["feasibility"] = {str(n): p.to_dict() for n, p in plans.items()}
    data["acceptance"] = checks
    write_json(data, out / "results.json")
    images = _plots(runs, config.fps, out)
    (out / "results.md").write_text(_markdown(config, data, runs, plans, checks, images))
    return data


def _measure(config: AsyncBenchConfig, policy, path: Path) -> AsyncBenchConfig:
    """Time the policy here (measure_latency), save the samples to `path`, and return the
    config that replays them as its latency."""
    import os

    import numpy as np

    from edgevla.robots import make_env

    env = make_env("sim", policy.spec, fps=config.fps)
    try:
        starts = [s for set_starts in config.starts().values() for s in set_starts]
        samples = measure_latency(policy, env, starts)
    finally:
        env.close()
    threads = None
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # a torch-free policy: no intra-op threads to report
        pass
    p50, p95 = (float(np.percentile(samples, q)) for q in (50, 95))
    write_json(
        {"latencies_s": samples, "p50_s": p50, "p95_s": p95, "policy": config.policy,
         "cpu_count": os.cpu_count(), "torch_threads": threads,
         "how": "predict_chunk wall time in the bench process before any episode, 3 warm-up calls"},
        path,
    )  # fmt: skip
    return dataclasses.replace(config, latency=str(path))


def _mode_json(run: ModeRun) -> dict[str, Any]:
    from edgevla.configio import config_to_dict

    summaries = {"all": run.summary().to_dict()}
    summaries.update({name: run.summary(name).to_dict() for name in run.results})
    phases = {name: [p.as_dict() for p in splits] for name, splits in run.phases.items()}
    episodes = [
        {"set": name, "episode": i, **result.summary(), **_at(phases.get(name, []), i)}
        for name, results in run.results.items()
        for i, result in enumerate(results)
    ]
    return {
        "mode": run.mode,
        "runtime": config_to_dict(run.runtime),
        "summary": summaries,
        "phases": summarize_phases([p for splits in run.phases.values() for p in splits]),
        "episodes": episodes,
    }


def _at(rows: list[dict[str, Any]], i: int) -> dict[str, Any]:
    """Episode i's phase split, without its duplicate `success`."""
    return {k: v for k, v in rows[i].items() if k != "success"} if i < len(rows) else {}


def _phase_table(runs: list[ModeRun]) -> list[str]:
    """Where each mode's time goes: median seconds per phase (wait in brackets) over its
    successful episodes; grasp attempts and drops per episode over all."""
    headers = ["mode", *(f"{p} s (wait)" for p in PHASES), "grasp attempts / ep", "drops / ep"]
    body = []
    for run in runs:
        s = summarize_phases([p for splits in run.phases.values() for p in splits])
        cells = [f"{s[f'{p}_s']:.2f} ({s[f'{p}_wait_s']:.2f})" for p in PHASES]
        body.append([f"`{run.mode}`", *cells, f"{s['grasp_attempts']:.2f}", f"{s['drops']:.2f}"])
    return [markdown_table(headers, body)]


def _plots(runs: list[ModeRun], fps: float, out: Path) -> list[str]:
    from edgevla.evaluate.plots import plot_trajectories
    from edgevla.features import JOINT_NAMES
    from edgevla.runtime.subscribers import plot_queue_size

    images = []
    for run in runs:
        name = f"queue_{slug(run.mode)}.png"
        plot_queue_size(run.queue, out / name, title=f"action queue, first episode — {run.mode}")
        images.append(name)
    first = {run.mode: run.all_results()[0].commanded for run in runs}
    plot_trajectories(
        first, fps, out / "trajectories.png", joint_names=JOINT_NAMES,
        title="commanded targets, first episode",
    )  # fmt: skip
    return [*images, "trajectories.png"]


def _markdown(config, data, runs, plans, checks, images) -> str:
    from edgevla.cli.plan import format_report

    summaries = {
        run.mode: {**{n: run.summary(n) for n in run.results}, "all": run.summary()} for run in runs
    }
    lines = [
        "# Sync vs async inference, sim workcell",
        "",
        f"Latency {data['latency']} (virtual time: exact and repeatable), {config.fps:g} fps, "
        f"{config.actions_per_chunk} actions per chunk unless a mode says /N, policy "
        f"`{config.policy}`, margin {config.margin_s:g} s, episodes cut at "
        f"{config.max_seconds:g} s.",
        "",
        _sets_line(config),
        "",
        "Success per set and overall as successes/episodes = rate [Wilson 95 % interval]. "
        "Completion: mean time to success of the successful episodes; wait: time the arm "
        "waited for inference per episode; standstill: the part of that wait the arm stood "
        "still (a position-controlled arm keeps catching up on a target it lags while the "
        "loop holds it, see `metrics.motion_while_held`); jerk: RMS third derivative of the commanded "
        "targets (units/s³), mean per episode; starved ticks: total over all episodes.",
        "",
        markdown_table(summary_headers(config.sets), summary_rows(summaries)),
        "",
        "## Where the time goes (phase split)",
        "",
        "Median seconds per phase over the successful episodes, the part spent waiting for "
        "inference in brackets (reach: until the gripper first closes; grasp: until the bag "
        "is held; transport: until it is last released; release: until success); grasp "
        "attempts and drops (the bag leaving the jaws before the final release) per episode.",
        "",
        *_phase_table(runs),
        "",
        "## Acceptance (each async mode against sync)",
        "",
        *(acceptance_lines(checks) or ["- (no sync run to compare with)"]),
        "",
        "## Feasibility (`edgevla plan`)",
        "",
    ]
    for n, report in plans.items():
        lines += [f"{n} actions per chunk:", "", "```", format_report(report), "```", ""]
    lines += ["## Plots", "", *(f"![{name}]({name})" for name in images), ""]
    return "\n".join(lines)


def _sets_line(config: AsyncBenchConfig) -> str:
    counts = {name: len(starts) for name, starts in config.starts().items()}
    training = [c for c in config.clusters if c != config.holdout]
    k = config.episodes_per_cluster
    kind = (
        "the NXP sets (test: 2 random starts per training cluster; validation: the held-out "
        "cluster's 10 positions)"
        if k is None
        else f"the larger seeded set ({k} random starts per training cluster; the held-out "
        f"cluster's 10 positions, then random starts up to {max(k, 10)})"
    )
    sizes = ", ".join(f"{name} {n}" for name, n in counts.items())
    return (
        f"Episodes: {kind}, split seed {config.split_seed}: {sizes} episodes per mode; training "
        f"clusters {training}, held-out cluster {config.holdout}."
    )
