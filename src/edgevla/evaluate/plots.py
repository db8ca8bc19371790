"""Plots of a benchmark: what the commanded targets did in each mode (the jerk, the holds, a
stale chunk pulling the arm back). The queue sawtooth itself is `runtime.plot_queue_size`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def plot_trajectories(
    commanded: Mapping[str, np.ndarray],
    fps: float,
    path: str | Path,
    *,
    joint_names: Sequence[str],
    joints: Sequence[int] = (1, 2, 5),
    title: str = "",
) -> Path:
    """One panel per joint index in `joints`, one line per mode; commanded: mode ->
    float32[ticks, A] targets of the same episode."""
    if not commanded:
        raise ValueError("no trajectories to plot")
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(10, 2.4 * len(joints)))
    axes = fig.subplots(len(joints), 1, sharex=True, squeeze=False)[:, 0]
    for mode, traj in commanded.items():
        traj = np.asarray(traj)
        if traj.ndim != 2 or traj.shape[1] <= max(joints):
            raise ValueError(
                f"{mode}: expected targets [ticks, A > {max(joints)}], got {traj.shape}"
            )
        t = np.arange(len(traj)) / fps
        for ax, j in zip(axes, joints, strict=True):
            ax.plot(t, traj[:, j], lw=1.1, label=mode)
    for ax, j in zip(axes, joints, strict=True):
        ax.set_ylabel(joint_names[j] if j < len(joint_names) else f"joint {j}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
