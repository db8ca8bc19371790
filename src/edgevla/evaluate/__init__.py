"""edgevla.evaluate — closed-loop episodes, the evaluation protocol, metrics, reports and plots
(DESIGN §2, §6): everything above it may be used here, nothing below depends on it."""

from edgevla.evaluate.async_bench import AsyncBenchConfig, ModeRun, acceptance, run_modes
from edgevla.evaluate.async_report import run_async_bench
from edgevla.evaluate.episodes import chunk_policy_of, run_episodes
from edgevla.evaluate.modes import DEFAULT_MODES, parse_mode
from edgevla.evaluate.report import markdown_table, write_json
from edgevla.evaluate.summary import Summary, paired_completion, summarize, wilson_interval

__all__ = [
    "DEFAULT_MODES",
    "AsyncBenchConfig",
    "ModeRun",
    "Summary",
    "acceptance",
    "markdown_table",
    "paired_completion",
    "parse_mode",
    "chunk_policy_of",
    "run_async_bench",
    "run_episodes",
    "run_modes",
    "summarize",
    "wilson_interval",
    "write_json",
]
