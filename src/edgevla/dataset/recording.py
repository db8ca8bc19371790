"""A recording session: the plan's episodes, performed by the sim expert, into a dataset.

Data flows one way: RecordingPlan -> workcell + expert -> DatasetWriter. Only successful
demonstrations are kept (a failed one is retried from a slightly nudged start); every episode
carries its cluster, start, recovery flag and calibration hash. An interrupted session keeps
every finished episode and `resume=True` continues with the next planned one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgevla.configio import config_from_dict, config_to_dict
from edgevla.dataset.splits import EpisodeSpec, RecordingPlan
from edgevla.features import CAMERAS, DEFAULT_TASK, IMAGE_KEY_PREFIX, MOTOR_NAMES, STATE_KEY

RETRIES = 3
NOISE_STREAM = 0xDA27  # the noise draws from its own stream of the episode seed


@dataclass(frozen=True)
class RecordConfig:
    clusters: tuple[int, ...] = tuple(range(1, 12))
    holdout: int | None = 6
    episodes_per_cluster: int = 10
    recovery_per_cluster: int = 2
    fps: int = 30
    width: int = 640
    height: int = 480
    task: str = DEFAULT_TASK
    seed: int = 0
    palette: str = "high_contrast"
    codec: str = "libsvtav1"
    calibration_files: tuple[str, ...] = ()
    max_seconds: float = 20.0
    num_clusters: int = 11
    # DART execution noise (edgevla.sim.perturbation): std in degrees per arm joint, empty = off.
    action_noise_deg: tuple[float, ...] = ()
    noise_time_constant_s: float = 0.5

    def __post_init__(self) -> None:
        if self.action_noise_deg:
            from edgevla.sim.perturbation import ExecutionNoise

            # Refuse bad settings before the first episode, not at it.
            ExecutionNoise(
                self.action_noise_deg,
                self.fps,
                np.random.default_rng(0),
                self.noise_time_constant_s,
            )

    def plan(self) -> RecordingPlan:
        return RecordingPlan(
            self.clusters,
            self.holdout,
            self.episodes_per_cluster,
            self.recovery_per_cluster,
            self.num_clusters,
            self.seed,
        )


@dataclass
class RecordSummary:
    root: Path
    recorded: int = 0
    skipped_existing: int = 0
    retried: int = 0
    failed: list[int] = field(default_factory=list)  # plan indices no retry could complete
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False


def calibration_hash(config: RecordConfig) -> str:
    if config.calibration_files:
        from edgevla.dataset.calibration import hash_files

        return hash_files(config.calibration_files)
    from edgevla.sim.calibration import sim_calibration_sha256

    return sim_calibration_sha256()


def _nudged(spec: EpisodeSpec, attempt: int) -> EpisodeSpec:
    """The same start moved by a few millimetres and degrees: a fresh try at a failed demo."""
    rng = np.random.default_rng([spec.seed, attempt])
    dx, dy = rng.uniform(-0.004, 0.004, size=2)
    start = replace(
        spec.start,
        x=spec.start.x + float(dx),
        y=spec.start.y + float(dy),
        yaw=spec.start.yaw + math.radians(float(rng.uniform(-3, 3))),
    )
    return replace(spec, start=start, seed=spec.seed + 7919 * attempt)


class RecordingSession:
    """Construct, then `run()`; `open()` does the I/O (creates or resumes the dataset)."""

    def __init__(
        self,
        root: str | Path,
        config: RecordConfig,
        resume: bool = False,
        progress: bool = True,
        on_episode: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.config = config
        self.resume = resume
        self.progress = progress
        self.on_episode = on_episode
        self.plan = config.plan()  # validates clusters/holdout before any work
        self.writer = None

    def open(self) -> None:
        from edgevla.dataset.writer import DatasetWriter

        cfg = self.config
        if self.resume:
            self.writer = DatasetWriter.resume(self.root)
            saved = (self.writer.edgevla_meta or {}).get("recording")
            if saved is not None:
                previous = config_from_dict(RecordConfig, saved)
                if previous != cfg:
                    self.writer.close()
                    raise ValueError(
                        f"--resume with different settings than the recording in {self.root}: "
                        f"it was made with {_diff(previous, cfg)}"
                    )
            return
        cams = {c: (cfg.height, cfg.width) for c in CAMERAS}
        self.writer = DatasetWriter.create(
            self.root,
            fps=cfg.fps,
            robot_type="so101_follower",
            cameras=cams,
            state_names=MOTOR_NAMES,
            action_names=MOTOR_NAMES,
            codec=cfg.codec,
        )
        self.writer.set_edgevla_meta(
            {
                "recording": config_to_dict(cfg),
                "plan": self.plan.to_dict(),
                "split": {
                    "train_clusters": list(self.plan.training_clusters),
                    "holdout_cluster": self.plan.holdout,
                },
                "source": "edgevla sim workcell, scripted IK expert",
            }
        )

    def run(self) -> RecordSummary:
        from tqdm import tqdm

        from edgevla.sim.config import SceneConfig, WorkcellConfig
        from edgevla.sim.expert import ScriptedExpert
        from edgevla.sim.kinematics import ArmKinematics
        from edgevla.sim.workcell import TeaBagWorkcell

        if self.writer is None:
            self.open()
        writer = self.writer
        cfg = self.config
        summary = RecordSummary(self.root)
        done = {int(m.get("plan_index", -1)) for m in writer.episode_metas()}
        specs = self.plan.episodes()
        todo = [s for s in specs if s.index not in done]
        summary.skipped_existing = len(specs) - len(todo)
        scene = SceneConfig(width=cfg.width, height=cfg.height, palette=cfg.palette)
        calib = calibration_hash(cfg)
        start = time.perf_counter()
        bar = tqdm(
            total=len(specs), initial=summary.skipped_existing, unit="ep", disable=not self.progress
        )
        bar.set_description("recording")
        try:
            with TeaBagWorkcell(WorkcellConfig(scene=scene, fps=cfg.fps)) as cell:
                kin = ArmKinematics(cell.model)
                expert = ScriptedExpert(kin, cell.fps)
                for spec in todo:
                    ok = False
                    for attempt in range(RETRIES):
                        tried = spec if attempt == 0 else _nudged(spec, attempt)
                        summary.retried += attempt > 0
                        ok, frames = self._record_one(cell, kin, expert, tried, calib)
                        if ok:
                            summary.recorded += 1
                            summary.frames += frames
                            break
                    if not ok:
                        summary.failed.append(spec.index)
                    if self.on_episode is not None:
                        self.on_episode(spec.index, ok)
                    bar.update(1)
                    elapsed = time.perf_counter() - start
                    bar.set_postfix(
                        frames=summary.frames, fps=f"{summary.frames / max(elapsed, 1e-9):.1f}"
                    )
        except KeyboardInterrupt:
            summary.interrupted = True
            writer.discard_episode()
        finally:
            bar.close()
            summary.seconds = time.perf_counter() - start
            writer.close()
        return summary

    def _record_one(self, cell, kin, expert, spec: EpisodeSpec, calib: str) -> tuple[bool, int]:
        """Perform one episode into the writer; saves it if the expert succeeded."""
        from edgevla.sim.expert import recovery_arm_pose

        writer = self.writer
        noise = None
        if self.config.action_noise_deg:
            from edgevla.sim.perturbation import ExecutionNoise

            noise = ExecutionNoise(
                self.config.action_noise_deg,
                self.config.fps,
                np.random.default_rng([spec.seed, NOISE_STREAM]),
                self.config.noise_time_constant_s,
            )
        arm = recovery_arm_pose(kin, np.random.default_rng(spec.seed)) if spec.recovery else None
        obs = cell.reset(tea_bag=spec.start.pose, arm_pose=arm, task=self.config.task)
        expert.reset()
        success = False
        max_ticks = int(self.config.max_seconds * self.config.fps)
        for _ in range(max_ticks):
            action = expert.act(obs)
            if expert.finished:
                break
            writer.add_frame(
                state=obs[STATE_KEY],
                action=action,  # the expert's target, also when the arm is pushed off it
                images={k: v for k, v in obs.items() if k.startswith(IMAGE_KEY_PREFIX)},
            )
            if noise is not None:
                action = noise.apply(action, expert.ticks_until("closing"))
            obs, info = cell.step(action)
            success |= bool(info["success"])
        if not (success and cell.tea_bag_in_mug()):
            writer.discard_episode()
            return False, 0
        frames = writer.episode_frames
        meta: dict[str, Any] = {
            **spec.meta(),
            "plan_index": spec.index,
            "calibration_sha256": calib,
        }
        writer.save_episode(self.config.task, meta)
        return True, frames


def _diff(a: RecordConfig, b: RecordConfig) -> str:
    da, db = config_to_dict(a), config_to_dict(b)
    parts = [f"{k}={da[k]!r} (now {db[k]!r})" for k in da if da[k] != db[k]]
    return ", ".join(parts)
