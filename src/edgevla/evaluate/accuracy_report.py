"""Runs `edgevla bench accuracy` end to end and writes what it found: config.json, the bundles
(bundles/<recipe>/), results.json (after every step, so a crash keeps what was measured) and
results.md, the table: one row per recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgevla.evaluate.accuracy import (
    LARGER,
    REFERENCE,
    AccuracyBenchConfig,
    bundle_of,
    load_recipes,
    run_sets,
    weights_of,
)
from edgevla.evaluate.progress import ProgressBar
from edgevla.evaluate.report import SET_LABELS, markdown_table, rate_cell, write_json
from edgevla.evaluate.summary import Summary, summarize
from edgevla.export.recipes import Recipe

Rows = dict[str, dict[str, Any]]  # recipe label -> its row of results.json


def run_accuracy_bench(
    config: AccuracyBenchConfig, out_dir: str | Path, *, progress: bool = True, workers: int = 1
) -> dict[str, Any]:
    """Export, measure and run every recipe; write config.json, results.json and results.md
    into `out_dir`; returns what results.json holds."""
    from edgevla.configio import config_to_dict, save_config

    out = Path(out_dir)
    recipes = load_recipes(config)  # every input checked before the first export
    starts = config.starts()
    weights_of(config.policy)
    if not Path(config.dataset).is_dir():
        raise FileNotFoundError(f"dataset {config.dataset}: no such directory")
    save_config(config, out / "config.json")
    given = dict(zip(recipes, config.recipes, strict=True))
    rows: Rows = {label: {"recipe": label, "given": given[label], "file": r.source}
                  for label, r in recipes.items()}  # fmt: skip
    data: dict[str, Any] = {"config": config_to_dict(config), "recipes": list(rows.values())}
    data["eager"] = _prepare(config, out, recipes, rows, progress)
    write_json(data, out / "results.json")
    runnable = [label for label, row in rows.items() if "refused" not in row]
    summaries: dict[str, dict[str, Summary]] = {}
    with ProgressBar(len(runnable) * sum(map(len, starts.values())), progress) as bar:
        for label in runnable:

            def tick(set_name: str, index: int, result, label=label) -> None:  # type: ignore[no-untyped-def]
                bar.set_postfix_str(f"{label} {set_name} ep {index}: {_ok(result.success)}")
                bar.update(1)

            results = run_sets(
                config, Path(rows[label]["bundle"]), workers=workers, on_episode=tick
            )
            summaries[label] = {name: summarize(rs) for name, rs in results.items()}
            rows[label]["success"] = {n: s.to_dict() for n, s in summaries[label].items()}
            rows[label]["episodes"] = [
                {"set": name, "episode": i, **r.summary()}
                for name, rs in results.items()
                for i, r in enumerate(rs)
            ]
            write_json(data, out / "results.json")
    (out / "results.md").write_text(accuracy_markdown(config, data, summaries))
    return data


def _ok(success: bool) -> str:
    return "ok" if success else "fail"


def _prepare(
    config: AccuracyBenchConfig, out: Path, recipes: dict[str, Recipe], rows: Rows, progress: bool
) -> dict[str, Any] | None:
    """Export every recipe, then measure each bundle's errors and latency (before any episode,
    so the timings have the machine to themselves). Returns eager PyTorch's latency."""
    from edgevla.export import ParityError
    from edgevla.export.quantize import QuantizationError

    with ProgressBar(2 * len(recipes), progress, unit="step") as bar:
        for label, row in rows.items():
            bar.set_postfix_str(f"{label}: export")
            try:
                bundle = bundle_of(config, row["given"], out, progress=_step(bar, label))
            except (ParityError, QuantizationError) as e:
                row["refused"] = str(e)
            else:
                row["bundle"] = str(bundle)
            bar.set_postfix_str(f"{label}: {'refused' if 'refused' in row else 'exported'}")
            bar.update(1)
        return _measure(config, recipes, rows, bar)


def _step(bar: ProgressBar, label: str):  # type: ignore[no-untyped-def]
    return lambda text: bar.set_postfix_str(f"{label}: {text}")


def _measure(
    config: AccuracyBenchConfig, recipes: dict[str, Recipe], rows: Rows, bar: ProgressBar
) -> dict[str, Any] | None:
    from edgevla.evaluate.bundle_errors import errors_vs_reference
    from edgevla.evaluate.bundle_latency import LatencyBenchConfig, run_latency_bench
    from edgevla.export.frames import dataset_observations
    from edgevla.runtime.bundle import load_bundle

    reference = load_bundle(rows[REFERENCE]["bundle"]) if "bundle" in rows[REFERENCE] else None
    frames = []
    if reference is not None:  # 2 frames per episode, 3 ticks off the export gate's own
        episodes = max(1, config.error_frames // 2)
        frames = dataset_observations(
            config.dataset, reference.spec, config.error_frames, episodes, offset=3
        )
    eager = None
    for label, row in rows.items():
        bar.set_postfix_str(f"{label}: errors and latency")
        if "bundle" in row:
            bundle = load_bundle(row["bundle"])
            row["gate_vs_pytorch"] = bundle.manifest.parity
            if reference is not None:
                row["vs_fp32"] = errors_vs_reference(bundle, reference, frames, recipes[label])
            timed = run_latency_bench(
                LatencyBenchConfig(
                    policy=row["bundle"],
                    compare=config.policy if eager is None else None,
                    runs=config.latency_runs,
                    dataset=config.dataset,
                )
            )
            row["latency"] = timed["bundle"]
            eager = eager or timed.get("eager")
        bar.update(1)
    return eager


def accuracy_markdown(
    config: AccuracyBenchConfig,
    data: Mapping[str, Any],
    summaries: Mapping[str, Mapping[str, Summary]],
) -> str:
    names = list(config.starts())
    headers = [
        "recipe", "latency p50 ms", "size MB", f"per block, max abs vs {REFERENCE}",
        f"end to end vs {REFERENCE}", "gate vs PyTorch", *(f"{_set_label(n)} success" for n in names),
    ]  # fmt: skip
    eager = data.get("eager")
    eager_ms = eager["end_to_end"]["p50_ms"] if eager else None
    body = [_row(row, summaries.get(row["recipe"], {}), names, eager_ms) for row in data["recipes"]]
    refused = [f"- `{r['recipe']}`: {r['refused']}" for r in data["recipes"] if "refused" in r]
    lines = [
        f"# Accuracy per export recipe: `{config.policy}`",
        "",
        _method(config),
        "",
        markdown_table(headers, body),
        "",
    ]
    if eager_ms is not None:
        lines += [f"PyTorch eager p50 {eager_ms:.1f} ms on the same frames.", ""]
    if refused:
        lines += ["Refused by the export's parity gate (no bundle, no episodes):", "", *refused, ""]
    return "\n".join(lines)


def _row(row: Mapping[str, Any], by_set: Mapping[str, Summary], names, eager_ms) -> list[Any]:
    label = f"`{row['recipe']}`"
    if "refused" in row:
        return [label, None, None, "refused by the parity gate (below)", *[None] * (2 + len(names))]
    latency = row["latency"]["end_to_end"]["p50_ms"]
    speed = f" ({eager_ms / latency:.1f}x eager)" if eager_ms else ""
    gate = row["gate_vs_pytorch"]
    errors = row.get("vs_fp32")
    return [
        label,
        f"{latency:.1f}{speed}",
        row["latency"]["size_mb"],
        ", ".join(f"{b} {r['max_abs']:.3g}" for b, r in errors["blocks"].items())
        if errors
        else None,
        f"{errors['end_to_end']['max_abs']:.3g} (actions {errors['actions']['max_abs']:.3g})"
        if errors
        else None,
        ", ".join(f"{b.replace('end_to_end', 'e2e')} {r['max_abs']:.3g}" for b, r in gate.items()),
        *(rate_cell(by_set[n]) if n in by_set else None for n in names),
    ]


def _set_label(name: str) -> str:
    base = name.removeprefix(LARGER)
    label = SET_LABELS.get(base, base)
    return f"larger {label}" if name.startswith(LARGER) else label


def _method(config: AccuracyBenchConfig) -> str:
    sizes = ", ".join(f"{_set_label(n)} {len(s)}" for n, s in config.starts().items())
    larger = (
        f"; larger seeded set: {config.episodes_per_cluster} random starts per training cluster, "
        f"the held-out cluster's 10 positions then random starts up to "
        f"{max(config.episodes_per_cluster, 10)}"
        if config.episodes_per_cluster
        else ""
    )
    training = [c for c in config.clusters if c != config.holdout]
    return (
        f"Each recipe exported from `{config.policy}` (frames from `{config.dataset}`). "
        f"Errors on {config.error_frames} dataset frames, normalized (the gate's scale; "
        "'actions': un-normalized joint targets, degrees and gripper 0-100): per block, that "
        f"block alone fed the {REFERENCE} bundle's inputs; end to end, the whole chain. 'gate vs "
        "PyTorch': the export's parity gate (manifest). Latency: `bench latency`, "
        f"{config.latency_runs} runs, end to end through the bundle runtime. Success: sync, "
        f"zero virtual latency, episodes cut at {config.max_seconds:g} s, as `edgevla eval`; "
        f"successes/episodes = rate [Wilson 95 % interval]. Episodes ({sizes}): NXP test "
        "(2 random starts per training cluster) and validation (the held-out cluster's 10 "
        f"positions){larger}; split seed {config.split_seed}, training clusters {training}, "
        f"held-out cluster {config.holdout}."
    )
