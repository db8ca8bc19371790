"""`edgevla doctor`: check a LeRobot v3.0 dataset for the defects the recording checklist
warns about (DESIGN §8). `run_doctor(root, config) -> Report`."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from edgevla.dataset.doctor.context import DoctorConfig, DoctorContext
from edgevla.dataset.doctor.registry import Check, resolve_thresholds, select
from edgevla.dataset.doctor.report import FAIL, CheckResult, Finding, Report
from edgevla.dataset.layout import DatasetFormatError
from edgevla.dataset.reader import DatasetReader

__all__ = ["DoctorConfig", "Report", "run_doctor"]


def run_doctor(root: str | Path, config: DoctorConfig, html: Path | None = None) -> Report:
    """Open the dataset (a malformed one fails here, naming the file) and run the checks;
    with `html`, also write the HTML report (with thumbnails of flagged frames) there."""
    start = time.perf_counter()
    checks = select(list(config.checks))
    thresholds = resolve_thresholds(checks, config.thresholds)
    reader = DatasetReader.open(root)
    ctx = DoctorContext(reader, config)
    results = tuple(_run_one(c, ctx, thresholds[c.name]) for c in checks)
    sampling = (
        "every frame"
        if config.full
        else f"{config.windows} windows of {config.window_frames} frames per episode"
    )
    report = Report(
        str(reader.root),
        reader.num_episodes,
        tuple(reader.video_keys),
        sampling,
        round(time.perf_counter() - start, 2),
        results,
        dataclasses.asdict(config),
    )
    if html is not None:
        from edgevla.dataset.doctor.html import write_html

        write_html(report, html, ctx)
    return report


def _run_one(check: Check, ctx: DoctorContext, thresholds: dict) -> CheckResult:
    """A file the check needs is damaged beyond reading: that is the check's finding (the
    other checks still run), with the reader's message naming the file."""
    try:
        return check.run(ctx, thresholds)
    except (DatasetFormatError, ValueError) as e:
        finding = Finding(str(e)[:300])
        t = {k: v for k, v in thresholds.items() if k != "severity"}
        return CheckResult(
            check.name, thresholds["severity"], FAIL, "could not read the dataset", t, (finding,)
        )
