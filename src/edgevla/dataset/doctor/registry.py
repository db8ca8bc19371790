"""Checks are small functions registered by name, each with its default thresholds and
severity; a thresholds file overrides them per check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgevla.dataset.doctor.report import SEVERITIES

if TYPE_CHECKING:
    from edgevla.dataset.doctor.context import DoctorContext
    from edgevla.dataset.doctor.report import CheckResult

CheckFunction = Callable[["DoctorContext", dict[str, Any]], "CheckResult"]


@dataclass(frozen=True)
class Check:
    name: str
    group: str
    severity: str
    defaults: dict[str, Any]
    run: CheckFunction
    doc: str


CHECKS: dict[str, Check] = {}


def check(name: str, group: str, severity: str, **defaults: Any) -> Callable:
    """Register `fn(ctx, thresholds) -> CheckResult` under `name`."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")

    def register(fn: CheckFunction) -> CheckFunction:
        if name in CHECKS:
            raise ValueError(f"check {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        CHECKS[name] = Check(name, group, severity, dict(defaults), fn, doc)
        return fn

    return register


def all_checks() -> dict[str, Check]:
    """Every registered check (importing the check modules registers them)."""
    from edgevla.dataset.doctor import checks_video  # noqa: I001 (report order)
    from edgevla.dataset.doctor import checks_image, checks_motion, checks_units
    from edgevla.dataset.doctor import checks_protocol

    del checks_video, checks_image, checks_motion, checks_units, checks_protocol
    return dict(CHECKS)


def select(names: list[str] | None) -> list[Check]:
    """Checks by name or group ('video', 'image', 'motion', 'protocol'); None: all."""
    checks = all_checks()
    if not names:
        return list(checks.values())
    groups = {c.group for c in checks.values()}
    unknown = [n for n in names if n not in checks and n not in groups]
    if unknown:
        raise ValueError(
            f"unknown checks {unknown}; known: {sorted(checks)} or groups {sorted(groups)}"
        )
    return [c for c in checks.values() if c.name in names or c.group in names]


def resolve_thresholds(checks: list[Check], overrides: dict[str, Any]) -> dict[str, dict]:
    """Each check's thresholds, `overrides` ({check: {param: value}}) applied; an unknown
    check or parameter is an error naming it (a typo must not silently keep a default)."""
    known = all_checks()
    if not isinstance(overrides, dict):
        raise ValueError("thresholds must be an object {check: {param: value}}")
    for name, params in overrides.items():
        if name not in known:
            raise ValueError(f"thresholds for unknown check {name!r}; known: {sorted(known)}")
        if not isinstance(params, dict):
            raise ValueError(f"thresholds[{name!r}] must be an object, got {params!r:.60}")
        bad = sorted(set(params) - set(known[name].defaults) - {"severity"})
        if bad:
            raise ValueError(
                f"thresholds[{name!r}]: unknown parameters {bad}; "
                f"known: {sorted(known[name].defaults)}"
            )
    out = {}
    for c in checks:
        merged = {**c.defaults, **overrides.get(c.name, {})}
        merged.setdefault("severity", c.severity)
        if merged["severity"] not in SEVERITIES:
            raise ValueError(f"thresholds[{c.name!r}]['severity'] must be one of {SEVERITIES}")
        out[c.name] = merged
    return out
