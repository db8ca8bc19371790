"""Run modes named in one short string, so a benchmark's rows say exactly what ran.

    sync                                   the blocking loop: the arm waits for every chunk
    threshold:0.6+weighted_average         LeRobot's chunk_size_threshold and aggregate_fn
    latency_aware+crossfade                request by measured latency (margin from the bench)
    latency_aware:0.2+crossfade            ... with a 0.2 s margin
    latency_aware+crossfade@time           arriving chunks aligned by the clock only
    latency_aware+crossfade:0.1            ... cross-fading at least 0.1 s (crossfade_min_s)
    threshold:0.6+weighted_average/80      ... with 80 actions per chunk (the LeRobot blog's)
    latency_aware+crossfade*2              up to 2 requests in flight (pipelined inference)

Grammar: TRIGGER[:VALUE][+AGGREGATOR[:BLEND]][@ALIGN][/ACTIONS_PER_CHUNK][*MAX_IN_FLIGHT].
VALUE is the threshold of `threshold` and the margin in seconds of `latency_aware`; BLEND is
crossfade's shortest blend in seconds. Sync's aggregator is irrelevant (a chunk never lands on
queued actions) and defaults to latest_only.
"""

from __future__ import annotations

import dataclasses
import re

from edgevla.runtime.config import RuntimeConfig

_MODE = re.compile(
    r"^(?P<trigger>[a-z_]+)(?::(?P<value>[0-9.]+))?"
    r"(?:\+(?P<aggregator>[a-z_]+)(?::(?P<blend>[0-9.]+))?)?"
    r"(?:@(?P<align>[a-z]+))?(?:/(?P<apc>[0-9]+))?(?:\*(?P<flight>[0-9]+))?$"
)

DEFAULT_MODES: tuple[str, ...] = (
    "sync",
    "threshold:0.6+weighted_average",  # LeRobot's defaults, as the blog's user ran them
    "threshold:0.2+weighted_average",  # NXP's i.MX95 setting
    "latency_aware+weighted_average",
    "latency_aware+latest_only",
    "latency_aware+crossfade",
    "latency_aware+crossfade@time",  # what state alignment buys
)


def parse_mode(text: str, base: RuntimeConfig) -> RuntimeConfig:
    """The RuntimeConfig `text` describes, other fields (latency, seed, margin...) from `base`.

    base.actions_per_chunk applies unless the mode names its own.
    """
    found = _MODE.match(text.strip())
    if found is None:
        raise ValueError(
            f"cannot read run mode {text!r}: expected TRIGGER[:VALUE][+AGGREGATOR[:BLEND]][@ALIGN]"
            "[/ACTIONS_PER_CHUNK][*MAX_IN_FLIGHT], e.g. 'sync', 'threshold:0.6+weighted_average', "
            "'latency_aware:0.1+crossfade@state/50'"
        )
    trigger, value = found["trigger"], found["value"]
    aggregator = found["aggregator"] or ("latest_only" if trigger == "sync" else base.aggregator)
    changes: dict = {"trigger": trigger, "aggregator": aggregator}
    if value is not None:
        if trigger == "threshold":
            changes["threshold"] = float(value)
        elif trigger == "latency_aware":
            changes["margin_s"] = float(value)
        else:
            raise ValueError(f"run mode {text!r}: trigger {trigger!r} takes no :VALUE")
    if found["blend"] is not None:
        if aggregator != "crossfade":
            raise ValueError(f"run mode {text!r}: only crossfade takes a :BLEND length")
        changes["crossfade_min_s"] = float(found["blend"])
    if found["align"]:
        changes["align"] = found["align"]
    if found["apc"]:
        changes["actions_per_chunk"] = int(found["apc"])
    if found["flight"]:
        changes["max_in_flight"] = int(found["flight"])
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as e:
        raise ValueError(f"run mode {text!r}: {e}") from None


def slug(mode: str) -> str:
    """A file-name-safe form of a mode string: `threshold:0.6+weighted_average` ->
    `threshold-0.6_weighted_average`."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", mode.replace(":", "-")).strip("_")
