"""Building a CheckResult from findings, the same way in every check."""

from __future__ import annotations

from typing import Any

from edgevla.dataset.doctor.report import FAIL, NOT_AVAILABLE, PASS, CheckResult, Finding

MAX_FINDINGS = 200  # per check in the report; the summary counts them all


def result(
    name: str,
    thresholds: dict[str, Any],
    findings: list[Finding],
    ok_summary: str,
    metrics: dict[str, Any] | None = None,
) -> CheckResult:
    status = FAIL if findings else PASS
    if findings:
        episodes = sorted({f.episode for f in findings if f.episode is not None})
        noun = "episode" if len(episodes) == 1 else "episodes"
        where = f" in {noun} {_ranges(episodes)}" if episodes else ""
        summary = f"{len(findings)} finding{'s' * (len(findings) != 1)}{where}"
    else:
        summary = ok_summary
    return CheckResult(
        name,
        thresholds["severity"],
        status,
        summary,
        {k: v for k, v in thresholds.items() if k != "severity"},
        tuple(findings[:MAX_FINDINGS]),
        metrics or {},
    )


def not_available(name: str, thresholds: dict[str, Any], why: str) -> CheckResult:
    t = {k: v for k, v in thresholds.items() if k != "severity"}
    return CheckResult(name, thresholds["severity"], NOT_AVAILABLE, why, t)


def _ranges(values: list[int], limit: int = 8) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    parts: list[str] = []
    start = prev = None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = v
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ", ".join(parts[:limit]) + (" ..." if len(parts) > limit else "")
