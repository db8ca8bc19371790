"""Markdown and JSON reports of evaluation runs, written beside the config that produced them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgevla.evaluate.summary import Summary


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats get 2-3 significant decimals, None shows as '—'."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the table {len(headers)} columns")
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    return str(value)


METRIC_HEADERS = (
    "completion s",
    "wait s",
    "standstill s",
    "idle %",
    "starved ticks",
    "stale / ep",
    "jerk",
    "inferences / ep",
)
SET_LABELS = {"test": "test", "validation": "validation (held-out)"}


def rate_cell(summary: Summary) -> str:
    """`17/20 = 0.85 [0.64, 0.95]`: successes, rate and its Wilson 95 % interval."""
    lo, hi = summary.success_ci95
    return (
        f"{summary.successes}/{summary.episodes} = {summary.success_rate:.2f} [{lo:.2f}, {hi:.2f}]"
    )


def summary_headers(set_names: Sequence[str]) -> list[str]:
    """The columns of `summary_rows` for these sets, in their order."""
    sets = [f"{SET_LABELS.get(name, name)} success" for name in set_names]
    return ["mode", *sets, "global success", *METRIC_HEADERS]


def summary_rows(summaries: Mapping[str, Mapping[str, Summary]]) -> list[list[Any]]:
    """One row per mode: success per set and over all (`rate_cell`, as the NXP report gives
    test, validation and global accuracy), then the timing and smoothness numbers over all
    episodes. `summaries`: mode -> {set name..., "all"} -> Summary."""
    rows = []
    for mode, by_set in summaries.items():
        total = by_set["all"]
        rows.append(
            [
                f"`{mode}`",
                *(rate_cell(by_set[name]) for name in by_set if name != "all"),
                rate_cell(total),
                total.completion_time_s,
                total.wait_s,
                total.standstill_s,
                100.0 * total.idle_fraction,
                total.starved_ticks,
                total.stale_dropped,
                total.jerk,
                total.inferences,
            ]
        )
    return rows


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Indented JSON, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    tmp.replace(path)
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def acceptance_lines(checks: Sequence[Mapping[str, Any]]) -> list[str]:
    """A bullet per async mode: each criterion checked, with the numbers behind it."""
    lines = []
    for c in checks:
        parts = [
            f"success not below sync (95 % intervals, every set): {_cell(c['success'])}"
            + ("" if c.get("success_point", True) else " (rate below sync's)")
        ]
        if "time" in c:
            hideable, still = c["hidden_of_hideable"], c.get("hidden_of_standstill")
            parts.append(
                f"time ≤ sync − 0.9 × wait: {_cell(c['time'])} (paired over "
                f"{c['paired_episodes']} episodes: {c['completion_s']:.2f} s vs sync "
                f"{c['sync_completion_s']:.2f} s, which waited {c['sync_wait_s']:.2f} s; hides "
                f"{c['hidden']:.0%} of that wait"
                + (f", {hideable:.0%} of the hideable part" if hideable is not None else "")
                + (f", {still:.0%} of its standstill" if still is not None else "")
                + ")"
            )
        if c.get("hidden_clean") is not None:
            parts.append(
                f"on the {c['clean_paired_episodes']} pairs with a single grasp it hides "
                f"{c['hidden_clean']:.0%} of sync's wait"
            )
        if "jerk" in c:
            parts.append(f"jerk < `{c['jerk_vs']}`: {_cell(c['jerk'])}")
        if "jerk_lerobot" in c:
            parts.append(
                f"jerk < LeRobot's `threshold:0.6+weighted_average`: {_cell(c['jerk_lerobot'])}"
            )
        if "no_starvation" in c:
            parts.append(f"no starved ticks (plan: feasible): {_cell(c['no_starvation'])}")
        lines.append(f"- `{c['mode']}` — " + "; ".join(parts))
    return lines
