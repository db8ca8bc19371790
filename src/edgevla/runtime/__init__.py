"""edgevla.runtime — the device side of DESIGN §2: action queue, aggregators, triggers, clocks
and latency models, the control loop, and the async feasibility planner. numpy only.
"""

from edgevla.contracts import (
    FLOAT_FEATURES,
    ActionChunk,
    ChunkPolicy,
    Environment,
    PolicySpec,
    PolicyUnavailable,
)
from edgevla.runtime.action_queue import ActionQueue, MergeReport, QueueCounters
from edgevla.runtime.aggregators import AGGREGATORS, get_aggregator
from edgevla.runtime.alignment import ALIGNMENTS, align_by_state
from edgevla.runtime.clocks import VirtualClock, WallClock
from edgevla.runtime.latency import (
    PROFILES,
    DistributionLatency,
    FixedLatency,
    SampledLatency,
    latency_model_from_string,
    profile,
)
from edgevla.runtime.loop import ControlLoop
from edgevla.runtime.realtime import realtime_priority
from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord
from edgevla.runtime.retry import RetrySchedule
from edgevla.runtime.subscribers import QueueSizeRecorder, plot_queue_size
from edgevla.runtime.triggers import (
    TRIGGERS,
    LatencyAwareTrigger,
    SyncTrigger,
    ThresholdTrigger,
    make_trigger,
)

__all__ = [
    "AGGREGATORS",
    "ALIGNMENTS",
    "FLOAT_FEATURES",
    "PROFILES",
    "TRIGGERS",
    "ActionChunk",
    "ActionQueue",
    "ChunkPolicy",
    "ControlLoop",
    "DistributionLatency",
    "Environment",
    "EpisodeResult",
    "EpisodeStart",
    "FixedLatency",
    "LatencyAwareTrigger",
    "MergeReport",
    "PolicySpec",
    "PolicyUnavailable",
    "QueueCounters",
    "QueueSizeRecorder",
    "RetrySchedule",
    "SampledLatency",
    "SyncTrigger",
    "ThresholdTrigger",
    "TickRecord",
    "VirtualClock",
    "WallClock",
    "align_by_state",
    "get_aggregator",
    "latency_model_from_string",
    "make_trigger",
    "plot_queue_size",
    "profile",
    "realtime_priority",
]
