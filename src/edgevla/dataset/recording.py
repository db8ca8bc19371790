"""A recording session: the plan's episodes, run by the control loop, into a dataset.

Data flows one way: RecordingPlan -> ControlLoop(workcell, policy) -> DatasetRecorder ->
DatasetWriter. The policy is the scripted expert (`ExpertPolicy`, one target per tick, under
a sync trigger with zero latency: exactly the commands it would give on its own), optionally
with DART execution noise (`NoisyExecution`); then only successful demonstrations are kept
and a failed one is retried from a slightly nudged start. Or it is any policy source
(`config.policy`): its rollouts are all kept, each with its `success`, the material for
learning from a policy's own mistakes. Every episode carries its cluster, start, recovery flag,
calibration hash and joint unit. An interrupted session keeps every finished episode and
`resume=True` continues with the next planned one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgevla.configio import config_from_dict, config_to_dict
from edgevla.contracts import ChunkPolicy
from edgevla.dataset.splits import EpisodeSpec, RecordingPlan
from edgevla.features import CAMERAS, DEFAULT_TASK, JOINT_UNITS, JOINT_UNITS_META, MOTOR_NAMES

if TYPE_CHECKING:  # imported where used: a config or a plan needs neither the sim nor the loop
    from edgevla.dataset.recorder import DatasetRecorder, RecordedEpisode
    from edgevla.runtime.loop import ControlLoop
    from edgevla.sim.expert_policy import ExpertPolicy
    from edgevla.sim.kinematics import ArmKinematics

RETRIES = 3
EXPERT_SOURCE = "edgevla sim workcell, scripted IK expert"


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
    # A policy source whose rollouts are recorded (edgevla.sources); None: the scripted expert.
    policy: str | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.action_noise_deg:
            raise ValueError(
                "action noise fades out before the expert's grasp, which only the scripted "
                f"expert plans; it cannot be used with policy {self.policy!r}"
            )
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
    succeeded: int = 0  # of the recorded episodes (all of them for demonstrations)
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


@dataclass
class _Rig:
    """What performs the episodes: the loop over the workcell, its recorder, and the expert
    (None when recording another policy's rollouts)."""

    loop: ControlLoop
    recorder: DatasetRecorder
    kinematics: ArmKinematics  # the workcell's (recovery starts)
    expert: ExpertPolicy | None


class RecordingSession:
    """Construct, then `run()`; `open()` does the I/O (loads a policy source, creates or
    resumes the dataset). `policy`: the already loaded `config.policy`, if the caller has it."""

    def __init__(
        self,
        root: str | Path,
        config: RecordConfig,
        resume: bool = False,
        progress: bool = True,
        on_episode: Callable[[int, bool], None] | None = None,
        policy: ChunkPolicy | None = None,
    ) -> None:
        self.root = Path(root)
        self.config = config
        self.resume = resume
        self.progress = progress
        self.on_episode = on_episode
        self.plan = config.plan()  # validates clusters/holdout before any work
        if policy is not None and config.policy is None:
            raise ValueError("a policy was given but config.policy names none (the expert)")
        if policy is not None:
            check_policy_fits(policy, config)
        self.policy = policy
        self.writer = None

    def open(self) -> None:
        from edgevla.dataset.writer import DatasetWriter

        cfg = self.config
        if cfg.policy is not None and self.policy is None:
            from edgevla.sources import resolve_policy

            self.policy = resolve_policy(cfg.policy, fps=cfg.fps)
            check_policy_fits(self.policy, cfg)
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
        recording = config_to_dict(cfg)
        if cfg.policy is None:
            del recording["policy"]  # expert recordings keep the metadata they always had
        self.writer.set_edgevla_meta(
            {
                "recording": recording,
                "plan": self.plan.to_dict(),
                "split": {
                    "train_clusters": list(self.plan.training_clusters),
                    "holdout_cluster": self.plan.holdout,
                },
                "source": _source(cfg),
            }
        )

    def run(self) -> RecordSummary:
        from tqdm import tqdm

        from edgevla.sim.config import SceneConfig, WorkcellConfig
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
                rig = self._rig(cell)
                with rig.loop:
                    for spec in todo:
                        ok = self._perform(rig, spec, calib, summary)
                        if self.on_episode is not None:
                            self.on_episode(spec.index, ok)
                        bar.update(1)
                        elapsed = time.perf_counter() - start
                        bar.set_postfix(
                            frames=summary.frames,
                            fps=f"{summary.frames / max(elapsed, 1e-9):.1f}",
                        )
        except KeyboardInterrupt:
            summary.interrupted = True
            writer.discard_episode()
        finally:
            bar.close()
            summary.seconds = time.perf_counter() - start
            writer.close()
        return summary

    def _rig(self, cell: Any) -> _Rig:  # cell: TeaBagWorkcell
        """The control loop that performs the plan: sync, zero virtual latency (recording is
        about the policy's behaviour, not a board's timing), the recorder subscribed."""
        from edgevla.dataset.recorder import DatasetRecorder
        from edgevla.robots.sim import SimEnvironment
        from edgevla.runtime.config import RuntimeConfig
        from edgevla.runtime.loop import ControlLoop
        from edgevla.sim.expert_policy import ExpertPolicy
        from edgevla.sim.kinematics import ArmKinematics
        from edgevla.sim.perturbation import NoisyExecution

        cfg = self.config
        kin = ArmKinematics(cell.model)
        expert = ExpertPolicy(kin, cell.fps) if cfg.policy is None else None
        policy = expert if expert is not None else self.policy
        env: Any = SimEnvironment(cell)  # reset(start=...): the one owner of what a start means
        if cfg.action_noise_deg and expert is not None:
            env = NoisyExecution(
                env,
                cfg.action_noise_deg,
                lambda: expert.ticks_until("closing"),
                time_constant_s=cfg.noise_time_constant_s,
                seed=cfg.seed,
            )

        def demonstrated(result: object, reached: bool) -> bool:
            """A demonstration: success once, and the bag in the mug when the plan is done."""
            return reached and cell.tea_bag_in_mug()

        # A rollout is judged by the loop's success, as in eval.
        recorder = DatasetRecorder(
            self.writer,
            cfg.task,
            keep_failed=expert is None,
            judge=demonstrated if expert is not None else None,
        )
        runtime = RuntimeConfig(
            trigger="sync",
            aggregator="latest_only",
            latency="0",
            actions_per_chunk=policy.spec.extra.get("n_action_steps"),  # LeRobot's, as eval
        )
        loop = ControlLoop(env, policy, runtime, subscribers=[recorder])
        return _Rig(loop, recorder, kin, expert)

    def _perform(self, rig: _Rig, spec: EpisodeSpec, calib: str, summary: RecordSummary) -> bool:
        """One planned episode, retried from nudged starts while a demonstration fails."""
        attempts = RETRIES if rig.expert is not None else 1
        for attempt in range(attempts):
            tried = spec if attempt == 0 else _nudged(spec, attempt)
            summary.retried += attempt > 0
            outcome = self._episode(rig, tried, calib)
            if outcome.index is not None:
                summary.recorded += 1
                summary.frames += outcome.frames
                summary.succeeded += outcome.success
            if outcome.index is not None and outcome.success:
                return True
        if rig.expert is not None:
            summary.failed.append(spec.index)
        return False

    def _episode(self, rig: _Rig, spec: EpisodeSpec, calib: str) -> RecordedEpisode:
        """Run `spec` through the loop; the recorder keeps or discards it. A demonstration
        ends when the expert's plan does (it retreats to rest after the success), a rollout
        at its success (as in eval) or after `max_seconds`."""
        from edgevla.sim.expert import recovery_arm_pose

        cfg = self.config
        arm = None
        if spec.recovery:
            arm = recovery_arm_pose(rig.kinematics, np.random.default_rng(spec.seed))
        options: dict[str, Any] = {"start": spec.start, "arm_pose": arm, "task": cfg.task}
        if cfg.action_noise_deg:
            options["noise_seed"] = spec.seed
        rig.recorder.next_episode(
            {
                **spec.meta(),
                "plan_index": spec.index,
                "calibration_sha256": calib,
                JOINT_UNITS_META: JOINT_UNITS,
            }
        )
        max_ticks = max(1, int(cfg.max_seconds * cfg.fps))
        expert = rig.expert
        rig.loop.run_episode(
            max_ticks=max_ticks,
            settle_ticks=max_ticks if expert is not None else 0,  # never ends a demo early
            stop_when=(lambda: expert.finished) if expert is not None else None,
            **options,
        )
        return rig.recorder.last


def check_policy_fits(policy: ChunkPolicy, config: RecordConfig) -> None:
    """A policy whose rollouts are recorded sees the recording's cameras at its resolution."""
    spec = policy.spec
    unknown = sorted(set(spec.cameras) - set(CAMERAS))
    if unknown:
        raise ValueError(
            f"policy {spec.name!r} wants cameras {unknown}; the workcell has {CAMERAS}"
        )
    size = (config.height, config.width)
    if spec.image_shape is not None and tuple(spec.image_shape) != size:
        h, w = spec.image_shape
        raise ValueError(
            f"policy {spec.name!r} sees {h}x{w} (HxW) images, the recording renders "
            f"{size[0]}x{size[1]}: record with --resolution {w}x{h}"
        )
    if spec.action_dim != len(MOTOR_NAMES):
        raise ValueError(
            f"policy {spec.name!r} commands {spec.action_dim} joints, the SO-101 has "
            f"{len(MOTOR_NAMES)}"
        )


def _source(config: RecordConfig) -> str:
    if config.policy is None:
        return EXPERT_SOURCE
    return f"edgevla sim workcell, rollouts of policy {config.policy}"


def _diff(a: RecordConfig, b: RecordConfig) -> str:
    da, db = config_to_dict(a), config_to_dict(b)
    parts = [f"{k}={da[k]!r} (now {db[k]!r})" for k in da if da[k] != db[k]]
    return ", ".join(parts)
