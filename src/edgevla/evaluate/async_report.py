"""Runs `edgevla bench async` end to end and writes what it found: config.json, results.json,
results.md, the queue sawtooth of every mode and the commanded trajectories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgevla.evaluate.async_bench import (
    AsyncBenchConfig,
    ModeRun,
    acceptance,
    feasibility,
    run_modes,
)
from edgevla.evaluate.modes import slug
from edgevla.evaluate.report import (
    SUMMARY_HEADERS,
    acceptance_lines,
    markdown_table,
    summary_rows,
    write_json,
)
from edgevla.runtime.records import EpisodeResult


def run_async_bench(
    config: AsyncBenchConfig, out_dir: str | Path, *, progress: bool = True
) -> dict[str, Any]:
    """Run the benchmark and write config.json, results.json, results.md, one queue plot per
    mode and trajectories.png into `out_dir`; returns what results.json holds."""
    from edgevla.configio import config_to_dict, save_config
    from edgevla.sources import resolve_policy

    out = Path(out_dir)
    save_config(config, out / "config.json")
    policy = resolve_policy(config.policy, fps=config.fps)
    if abs(policy.spec.fps - config.fps) > 1e-6:
        raise ValueError(
            f"policy {config.policy!r} plans at {policy.spec.fps:g} fps, the bench runs at "
            f"{config.fps:g} (give the policy fps=..., e.g. scripted:fps={config.fps:g})"
        )
    total = len(config.modes) * sum(len(s) for s in config.starts().values())
    with _progress_bar(total, progress) as bar:

        def tick(mode: str, index: int, result: EpisodeResult) -> None:
            bar.set_postfix_str(f"{mode} ep {index}: {'ok' if result.success else 'fail'}")
            bar.update(1)

        runs = run_modes(config, policy, on_episode=tick)
    plans = feasibility(config, runs, policy.spec.chunk_size)
    feasible = {}
    for run in runs:
        report = plans[run.runtime.actions_per_chunk or policy.spec.chunk_size]
        feasible[run.mode] = report.feasible and report.feasible_p99
    checks = acceptance(runs, feasible)
    data = {
        "config": config_to_dict(config),
        "latency": config.base_runtime().latency_model().describe(),
        "feasibility": {str(n): p.to_dict() for n, p in plans.items()},
        "modes": [_mode_json(run) for run in runs],
        "acceptance": checks,
    }
    write_json(data, out / "results.json")
    images = _plots(runs, config.fps, out)
    (out / "results.md").write_text(_markdown(config, data, runs, plans, checks, images))
    return data


def _mode_json(run: ModeRun) -> dict[str, Any]:
    from edgevla.configio import config_to_dict

    summaries = {"all": run.summary().to_dict()}
    summaries.update({name: run.summary(name).to_dict() for name in run.results})
    episodes = [
        {"set": name, "episode": i, **result.summary()}
        for name, results in run.results.items()
        for i, result in enumerate(results)
    ]
    return {
        "mode": run.mode,
        "runtime": config_to_dict(run.runtime),
        "summary": summaries,
        "episodes": episodes,
    }


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
    sets = " / ".join(config.sets)
    lines = [
        "# Sync vs async inference, sim workcell",
        "",
        f"Latency {data['latency']} (virtual time: exact and repeatable), {config.fps:g} fps, "
        f"{config.actions_per_chunk} actions per chunk unless a mode says /N, policy "
        f"`{config.policy}`, margin {config.margin_s:g} s, episodes cut at "
        f"{config.max_seconds:g} s.",
        "",
        f"Success is given per set ({sets}) and overall. Completion: mean time to success of "
        "the successful episodes; wait: time the arm waited for inference per episode; jerk: "
        "RMS third derivative of the commanded targets (units/s³), mean per episode.",
        "",
        markdown_table(SUMMARY_HEADERS, summary_rows(summaries)),
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


class _progress_bar:
    """tqdm when asked for and installed; otherwise a no-op with the same calls."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, unit="episode", dynamic_ncols=True)

    def __enter__(self) -> _progress_bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix_str(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
