"""Subscribers: everything that watches an episode without being part of the loop.

A subscriber is any object with any of `on_episode_start(start)`, `on_tick(record)`,
`on_episode_end(result)`. The dataset writer, a video recorder and the queue plot are all
subscribers, so the loop stays short and none of them is a special case inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.runtime.records import EpisodeResult, EpisodeStart, TickRecord


def notify(subscribers: Iterable[Any], event: str, payload: Any) -> None:
    """Call `event` on every subscriber that defines it."""
    for sub in subscribers:
        handler = getattr(sub, event, None)
        if handler is not None:
            handler(payload)


class QueueSizeRecorder:
    """Records the queue size of every tick and when requests and arrivals happened — the
    sawtooth that shows whether a trigger keeps the queue from running dry."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.fps = 30.0
        self.trigger = ""
        self.ticks: list[int] = []
        self.sizes: list[int] = []
        self.request_ticks: list[int] = []
        self.arrival_ticks: list[int] = []
        self.starved_ticks: list[int] = []

    def on_episode_start(self, start: EpisodeStart) -> None:
        self._clear()
        self.fps, self.trigger = start.fps, start.trigger

    def on_tick(self, record: TickRecord) -> None:
        self.ticks.append(record.tick)
        self.sizes.append(record.queue_size)
        if record.requested:
            self.request_ticks.append(record.tick)
        if record.arrived:
            self.arrival_ticks.append(record.tick)
        if record.starved:
            self.starved_ticks.append(record.tick)

    def on_episode_end(self, result: EpisodeResult) -> None:
        """Nothing to finish: the recorder holds the whole episode."""


def plot_queue_size(
    recorder: QueueSizeRecorder, path: str | Path, *, title: str | None = None
) -> Path:
    """Save the queue-size sawtooth with request (▼) and arrival (▲) markers to `path` (PNG).

    matplotlib is imported here, not at module level: the board has no plotting stack.
    """
    if not recorder.ticks:
        raise ValueError("the recorder holds no ticks: run an episode with it subscribed first")
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    t = np.asarray(recorder.ticks) / recorder.fps
    sizes = np.asarray(recorder.sizes)
    size_at = dict(zip(recorder.ticks, recorder.sizes, strict=True))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    ax.step(t, sizes, where="post", color="tab:blue", lw=1.2, label="queue size")
    for ticks, marker, color, label in (
        (recorder.request_ticks, "v", "tab:orange", "request"),
        (recorder.arrival_ticks, "^", "tab:green", "arrival"),
        (recorder.starved_ticks, "x", "tab:red", "starved"),
    ):
        if ticks:
            ys = [size_at[k] for k in ticks]
            ax.plot(np.asarray(ticks) / recorder.fps, ys, marker, color=color, ms=5, label=label)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("actions queued")
    ax.set_title(title or f"action queue — {recorder.trigger}")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
