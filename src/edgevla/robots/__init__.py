"""Environments by name (DESIGN §2, §3, §9): `make_env("sim", spec)` builds the sim workcell for a
policy; `lerobot:<robot type>` (a real arm through LeRobot) comes in a later issue.

Every environment is started from a protocol start position (`reset(start=..., task=...)`): the
environment, not the runner, knows what a start means (for the sim: where the tea bag lies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgevla.contracts import Environment, PolicySpec

ENV_HELP = "environment: sim (the tea-bag workcell); lerobot:<robot type> comes in a later issue"

EnvFactory = Callable[[PolicySpec], Environment]
"""Builds the environment for a policy: it renders exactly the cameras the spec asks for."""


class EnvSourceError(ValueError):
    """An environment name that names nothing this install can build."""


def _sim(spec: PolicySpec, options: str, **kwargs: Any) -> Environment:
    if options:
        raise EnvSourceError(f"environment 'sim' takes no ':{options}'; expected {ENV_HELP}")
    from edgevla.robots.sim import sim_environment

    return sim_environment(spec, **kwargs)


def _lerobot(spec: PolicySpec, options: str, **kwargs: Any) -> Environment:
    robot = options or "<robot type>"
    raise EnvSourceError(
        f"environment 'lerobot:{robot}': the LeRobot robot adapter is not implemented yet "
        "(a later issue); use 'sim'"
    )


ENVIRONMENTS: dict[str, Callable[..., Environment]] = {"sim": _sim, "lerobot": _lerobot}


def make_env(name: str, spec: PolicySpec, **options: Any) -> Environment:
    """The environment `name` (`KIND[:OPTIONS]`) built for `spec`; keyword options go to the
    kind's builder (sim: `fps`, `config` — a WorkcellConfig)."""
    kind, _, rest = name.strip().partition(":")
    if kind not in ENVIRONMENTS:
        raise EnvSourceError(f"unknown environment {name!r}; expected {ENV_HELP}")
    return ENVIRONMENTS[kind](spec, rest, **options)


def env_factory(name: str = "sim", **options: Any) -> EnvFactory:
    """`make_env(name, spec, **options)` for the spec given later (the policy's)."""
    if name.strip().partition(":")[0] not in ENVIRONMENTS:
        raise EnvSourceError(f"unknown environment {name!r}; expected {ENV_HELP}")
    return lambda spec: make_env(name, spec, **options)


__all__ = ["ENVIRONMENTS", "ENV_HELP", "EnvFactory", "EnvSourceError", "env_factory", "make_env"]
