"""The doctor's report as data: JSON is the source of truth, the table and HTML are views."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEVERITIES = ("info", "warn", "error")
PASS, FAIL, NOT_AVAILABLE = "pass", "fail", "not available"
REPORT_VERSION = 1


@dataclass(frozen=True)
class Finding:
    """One thing wrong, and where: episode / camera (feature key) / frame within the episode."""

    message: str
    episode: int | None = None
    camera: str | None = None
    frame: int | None = None
    value: float | None = None
    reference: tuple[int, int] | None = None  # (episode, frame) this was compared with


@dataclass(frozen=True)
class CheckResult:
    name: str
    severity: str
    status: str  # PASS | FAIL | NOT_AVAILABLE
    summary: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)  # per-episode numbers for plots


@dataclass(frozen=True)
class Report:
    dataset: str
    episodes: int
    cameras: tuple[str, ...]
    sampling: str
    seconds: float
    results: tuple[CheckResult, ...]
    config: dict[str, Any] = field(default_factory=dict)  # the DoctorConfig that made it

    def failed(self, fail_on: str) -> list[CheckResult]:
        """Failing checks at `fail_on` severity or above."""
        floor = SEVERITIES.index(fail_on)
        return [
            r for r in self.results if r.status == FAIL and SEVERITIES.index(r.severity) >= floor
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a measurement that came out NaN or infinite is null."""
        return _finite({"report_version": REPORT_VERSION, **asdict(self)})

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_table(report: Report, max_findings: int = 3) -> str:
    """The terminal view: one line per check, then its first findings."""
    width = max(len(r.name) for r in report.results) if report.results else 5
    lines = [
        f"edgevla doctor: {report.dataset} ({report.episodes} episodes, "
        f"cameras {', '.join(report.cameras) or '-'}; {report.sampling}; {report.seconds:.1f} s)",
        f"{'check':<{width}}  {'severity':<8}  {'status':<13}  summary",
    ]
    for r in report.results:
        lines.append(f"{r.name:<{width}}  {r.severity:<8}  {r.status:<13}  {r.summary}")
        for f in r.findings[:max_findings]:
            lines.append(f"{'':<{width}}    - {_where(f)}{f.message}")
        if len(r.findings) > max_findings:
            lines.append(f"{'':<{width}}    ... {len(r.findings) - max_findings} more in the JSON")
    failed = [r for r in report.results if r.status == FAIL]
    lines.append(f"{len(failed)} of {len(report.results)} checks failed")
    return "\n".join(lines)


def _where(f: Finding) -> str:
    parts = []
    if f.episode is not None:
        parts.append(f"episode {f.episode}")
    if f.camera is not None:
        parts.append(f.camera)
    if f.frame is not None:
        parts.append(f"frame {f.frame}")
    return (", ".join(parts) + ": ") if parts else ""
