"""`edgevla record` end to end: the sim expert (or a policy's rollouts) through the control
loop into a LeRobot v3.0 dataset and back."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgevla.cli import main
from edgevla.dataset.reader import DatasetReader
from edgevla.dataset.recording import RecordConfig, RecordingSession
from edgevla.features import STATE_KEY

SMALL = dict(
    clusters=(1, 2),
    holdout=2,
    episodes_per_cluster=1,
    recovery_per_cluster=0,
    width=64,
    height=48,
)


def test_recorded_dataset_reads_back_exactly_and_frames_within_codec_tolerance(tmp_path):
    root = tmp_path / "ds"
    session = RecordingSession(root, RecordConfig(**SMALL), progress=False)
    session.open()
    kept: list[dict] = []
    real_add = session.writer.add_frame

    def spy_add(**frame):
        kept.append({k: (dict(v) if isinstance(v, dict) else np.copy(v)) for k, v in frame.items()})
        real_add(**frame)

    session.writer.add_frame = spy_add
    summary = session.run()
    assert summary.recorded == 2 and not summary.failed and summary.retried == 0

    ds = DatasetReader.open(root)
    assert ds.num_episodes == 2 and ds.fps == 30
    ep0, ep1 = ds.episode(0), ds.episode(1)
    frames = [*kept[: len(ep0["action"])]]
    assert len(kept) == len(ep0["action"]) + len(ep1["action"])
    np.testing.assert_array_equal(ep0["action"], np.stack([f["action"] for f in frames]))
    np.testing.assert_array_equal(ep0["observation.state"], np.stack([f["state"] for f in frames]))
    np.testing.assert_allclose(ep0["timestamp"], np.arange(len(frames)) / 30.0, atol=1e-6)
    for cam in ("top", "gripper", "left"):
        original = np.stack([f["images"][f"observation.images.{cam}"] for f in frames]).astype(
            float
        )
        decoded = ep0[f"observation.images.{cam}"].astype(float)
        assert decoded.shape == original.shape
        assert np.abs(decoded - original).mean() < 6.0, f"{cam}: frames differ beyond codec loss"
    meta = ds.episode_meta(0)
    assert (
        meta["cluster"] == 1 and meta["recovery"] is False and len(meta["calibration_sha256"]) == 64
    )


def test_action_noise_pushes_the_arm_but_the_dataset_keeps_the_experts_targets(tmp_path):
    """DART: same start with and without noise -> the same recorded targets up to the grasp
    (the expert plans from its own last target, not from the pushed arm), different states."""
    one = dict(SMALL, clusters=(1,), holdout=None)
    clean = DatasetReader.open(_record(tmp_path / "clean", RecordConfig(**one)))
    noisy_cfg = RecordConfig(**one, action_noise_deg=(4.0, 4.0, 4.0, 6.0, 15.0))
    noisy = DatasetReader.open(_record(tmp_path / "noisy", noisy_cfg))
    a, b = clean.episode(0, images=False), noisy.episode(0, images=False)
    gripper_closing = int(np.argmax(np.diff(a["action"][:, 5]) < -1e-3))  # jaws start closing
    assert gripper_closing > 30
    before = slice(0, gripper_closing)
    np.testing.assert_array_equal(a["action"][before], b["action"][before])
    pushed = np.abs(a["observation.state"][before, :5] - b["observation.state"][before, :5])
    assert pushed.max(axis=0)[4] > 5.0  # wrist roll, std 15 deg: pushed well off the path
    assert pushed.max() > 2.0 and pushed[:3].max() < 1.0  # nothing at the start (fade-in)
    assert noisy.edgevla_meta["recording"]["action_noise_deg"] == [4.0, 4.0, 4.0, 6.0, 15.0]


def test_the_control_loop_records_exactly_what_the_expert_commands_on_its_own(tmp_path):
    """The reference is the expert run by hand on the workcell (the recording loop before it
    went through ControlLoop): same targets, same states, same end, DART noise included."""
    from edgevla.sim.config import SceneConfig, WorkcellConfig
    from edgevla.sim.expert import ScriptedExpert
    from edgevla.sim.kinematics import ArmKinematics
    from edgevla.sim.perturbation import NOISE_STREAM, ExecutionNoise
    from edgevla.sim.workcell import TeaBagWorkcell

    config = RecordConfig(**dict(SMALL, clusters=(3,), holdout=None), action_noise_deg=(3,) * 5)
    ds = DatasetReader.open(_record(tmp_path / "ds", config))
    recorded = ds.episode(0, images=False)
    spec = config.plan().episodes()[0]
    scene = SceneConfig(width=config.width, height=config.height)
    with TeaBagWorkcell(WorkcellConfig(scene=scene, render=False)) as cell:
        expert = ScriptedExpert(ArmKinematics(cell.model), cell.fps)
        rng = np.random.default_rng([spec.seed, NOISE_STREAM])
        noise = ExecutionNoise(config.action_noise_deg, config.fps, rng)
        obs, states, actions = cell.reset(tea_bag=spec.start.pose, task=config.task), [], []
        for _ in range(int(config.max_seconds * config.fps)):
            action = expert.act(obs)
            if expert.finished:
                break
            states.append(obs[STATE_KEY])
            actions.append(action)
            obs, _ = cell.step(noise.apply(action, expert.ticks_until("closing")))
        assert cell.tea_bag_in_mug()
    np.testing.assert_array_equal(recorded["action"], np.stack(actions))
    np.testing.assert_array_equal(recorded["observation.state"], np.stack(states))


def _record(root: Path, config: RecordConfig) -> Path:
    summary = RecordingSession(root, config, progress=False).run()
    assert summary.recorded == 1 and not summary.failed
    return root


def test_held_out_cluster_never_appears_in_training(tmp_path):
    root = tmp_path / "ds"
    assert main(["record", "--out", str(root), "--clusters", "1,2", "--holdout", "2",
                 "--episodes-per-cluster", "1", "--recovery-per-cluster", "1",
                 "--resolution", "32x32", "--no-progress"]) == 0  # fmt: skip
    ds = DatasetReader.open(root)
    train = ds.episodes_in_split("train")
    val = ds.episodes_in_split("validation")
    assert train and val and not set(train) & set(val)
    assert all(ds.episode_meta(i)["cluster"] != 2 for i in train)
    assert all(ds.episode_meta(i)["cluster"] == 2 for i in val)
    assert sum(ds.episode_meta(i)["recovery"] for i in train) == 1
    assert ds.edgevla_meta["split"] == {"train_clusters": [1], "holdout_cluster": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clusters", "1,2,42"], "unknown clusters [42]"),
        (["--clusters", "1,2", "--holdout", "6"], "held-out cluster 6 is not in"),
        (["--resolution", "640by480"], "WIDTHxHEIGHT"),
        (["--resolution", "640x"], "WIDTHxHEIGHT"),
        (["--clusters", "a,b"], "--clusters must look like"),
        (["--palette", "neon"], "--palette"),
        (["--action-noise", "3,3"], "5 non-negative degrees"),
        (["--action-noise", "3,3,3,3,-1"], "5 non-negative degrees"),
        (["--action-noise", "3;3"], "comma-separated numbers"),
        (["--policy", "hold", "--action-noise", "3,3,3,3,3"], "cannot be used with policy"),
        (["--policy", "no_such_kind"], "not a known kind"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["record", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_non_empty_out_without_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["record", "--out", str(out), "--resolution", "32x32"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_recording_killed_mid_episode_keeps_finished_episodes_and_resume_completes(tmp_path):
    root = tmp_path / "ds"
    args = ["record", "--out", str(root), "--clusters", "1,2,3", "--holdout", "3",
            "--episodes-per-cluster", "1", "--recovery-per-cluster", "0",
            "--resolution", "32x32", "--no-progress"]  # fmt: skip
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    proc = subprocess.Popen([sys.executable, "-m", "edgevla.cli", *args], env=env)
    info = root / "meta" / "info.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if info.is_file() and json.loads(info.read_text())["total_episodes"] >= 1:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # well into the second episode
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ds = DatasetReader.open(root)
    kept = ds.num_episodes
    assert 1 <= kept < 3
    first = ds.episode(0)["action"].copy()

    assert main([*args, "--resume"]) == 0
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 3
    np.testing.assert_array_equal(ds.episode(0)["action"], first)
    assert [ds.episode_meta(i)["plan_index"] for i in range(3)] == [0, 1, 2]
    assert Path(root / "meta" / "edgevla.json").is_file()


ROLLOUT = ["--clusters", "1,2", "--holdout", "2", "--episodes-per-cluster", "1",
           "--recovery-per-cluster", "0", "--no-progress"]  # fmt: skip


def test_rollouts_of_a_policy_keep_failures_and_store_each_episodes_success(tmp_path, capsys):
    planner, holder = tmp_path / "scripted", tmp_path / "hold"
    assert main(["record", "--out", str(planner), "--policy", "scripted", *ROLLOUT,
                 "--resolution", "32x32"]) == 0  # fmt: skip
    assert main(["record", "--out", str(holder), "--policy", "hold", *ROLLOUT,
                 "--resolution", "32x32", "--max-seconds", "1"]) == 0  # fmt: skip
    assert "0 of 2 rollouts succeeded" in capsys.readouterr().out
    for root, success in ((planner, True), (holder, False)):
        ds = DatasetReader.open(root)
        assert ds.num_episodes == 2  # failed or not, every planned episode is kept
        assert [ds.episode_meta(i)["success"] for i in range(2)] == [success, success]
        assert [ds.episode_meta(i)["plan_index"] for i in range(2)] == [0, 1]
        assert ds.episodes_in_split("validation") == [1]
        assert ds.edgevla_meta["split"] == {"train_clusters": [1], "holdout_cluster": 2}
    assert DatasetReader.open(holder).episode(0, images=False)["action"].shape == (30, 6)
    meta = DatasetReader.open(planner).edgevla_meta
    assert meta["recording"]["policy"] == "scripted" and "rollouts" in meta["source"]


def test_resume_refuses_a_different_policy(tmp_path, capsys):
    root = tmp_path / "ds"
    args = ["record", "--out", str(root), *ROLLOUT, "--resolution", "32x32", "--max-seconds", "0.2"]
    assert main([*args, "--policy", "hold", "--episodes-per-cluster", "1"]) == 0
    assert main([*args, "--policy", "zeros", "--resume"]) == 2
    assert "policy='hold' (now 'zeros')" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_act(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from edgevla.policies.testing import tiny_act_checkpoint

    return tiny_act_checkpoint(tmp_path_factory.mktemp("act") / "pretrained_model")


def test_record_policy_of_a_tiny_checkpoint_stores_per_episode_success(tmp_path, tiny_act):
    root = tmp_path / "ds"
    assert main(["record", "--out", str(root), "--policy", str(tiny_act), *ROLLOUT,
                 "--resolution", "64x48", "--max-seconds", "0.5"]) == 0  # fmt: skip
    ds = DatasetReader.open(root)
    assert ds.num_episodes == 2
    assert [ds.episode_meta(i)["success"] for i in range(2)] == [False, False]  # random weights
    assert len(ds.episode(0)["action"]) == 15
    assert ds.edgevla_meta["recording"]["policy"] == str(tiny_act.resolve())


def test_a_policy_trained_at_another_resolution_is_refused_before_any_work(
    tmp_path, capsys, tiny_act
):
    out = tmp_path / "never"
    assert main(["record", "--out", str(out), "--policy", str(tiny_act), *ROLLOUT,
                 "--resolution", "32x32"]) == 2  # fmt: skip
    assert "record with --resolution 64x48" in capsys.readouterr().err
    assert not out.exists()
