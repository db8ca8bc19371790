"""Training: a tiny ACT on a tiny dataset trains, checkpoints in LeRobot's layout, resumes
bit-exactly, and its checkpoints load back as policies."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.policies.checkpoint import load_policy
from edgevla.policies.training.config import TrainConfig
from edgevla.policies.training.data import load_split, make_batch
from edgevla.policies.training.trainer import Trainer

TINY_ACT = {
    "dim_model": 32,
    "n_heads": 2,
    "dim_feedforward": 64,
    "n_encoder_layers": 1,
    "n_vae_encoder_layers": 1,
    "latent_dim": 4,
    "chunk_size": 5,
    "n_action_steps": 5,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "ds"
    write_synthetic_dataset(root, lengths=(12, 9), cameras={"top": (32, 32), "gripper": (32, 32)})
    return root


def _config(dataset, out, steps, **kw):
    """A tiny ACT run; any TrainConfig field in `kw` replaces its default here."""
    fields = {
        "policy": "act",
        "batch_size": 4,
        "save_every": 3,
        "log_every": 1,
        "val_every": 100,
        "seed": 7,
        "policy_overrides": TINY_ACT,
        "num_threads": 1,
        **kw,
    }
    return TrainConfig(dataset=str(dataset), output_dir=str(out), steps=steps, **fields)


def test_action_chunks_are_padded_past_the_episode_end(dataset):
    from edgevla.dataset.reader import DatasetReader

    reader = DatasetReader.open(dataset)
    frames = load_split(reader, [0, 1], ["observation.images.top"], progress=False)
    batch = make_batch(frames, np.array([9, 11, 12]), chunk_size=4)
    pad = batch["action_is_pad"].numpy()
    assert pad.tolist() == [[False, False, False, True], [False, True, True, True], [False] * 4]
    ep0 = reader.episode(0, images=False)["action"]
    np.testing.assert_array_equal(batch["action"][1, 0].numpy(), ep0[11])
    assert batch["observation.images.top"].shape == (3, 3, 32, 32)
    assert (
        0.0
        <= float(batch["observation.images.top"].min())
        <= float(batch["observation.images.top"].max())
        <= 1.0
    )


def test_training_writes_lerobot_layout_and_the_checkpoint_loads(dataset, tmp_path):
    run = Trainer(_config(dataset, tmp_path / "run", steps=3), progress=False).run()
    step_dir = run / "checkpoints" / "000003"
    assert (run / "checkpoints" / "last").resolve() == step_dir.resolve()
    for name in (
        "config.json",
        "model.safetensors",
        "train_config.json",
        "policy_preprocessor.json",
    ):
        assert (step_dir / "pretrained_model" / name).is_file(), name
    for name in (
        "optimizer_state.safetensors",
        "optimizer_param_groups.json",
        "rng_state.safetensors",
        "training_step.json",
    ):
        assert (step_dir / "training_state" / name).is_file(), name
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and all(np.isfinite(r["loss"]) for r in log)
    policy = load_policy(run)
    assert policy.config.chunk_size == 5 and policy.config.dim_model == 32


@pytest.mark.parametrize(
    "opts", [{}, {"backbone_batch_norm": True}, {"precision": "bf16"}], ids=["fp32", "bn", "bf16"]
)
def test_killed_and_resumed_run_ends_with_the_same_weights(dataset, tmp_path, opts):
    straight = Trainer(_config(dataset, tmp_path / "a", steps=6, **opts), progress=False).run()
    Trainer(_config(dataset, tmp_path / "b", steps=3, **opts), progress=False).run()  # killed
    resumed = Trainer.from_run(tmp_path / "b", steps=6, progress=False).run()
    a = load_file(str(straight / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_training_refuses_a_non_empty_run_dir(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "x").write_text("keep")
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(_config(dataset, out, steps=1), progress=False).run()
    assert (out / "x").read_text() == "keep"


def test_smolvla_trains_through_the_same_trainer_and_reloads(dataset, tmp_path):
    from edgevla.policies.smolvla.testing import write_vlm_folder

    vlm = write_vlm_folder(tmp_path / "tiny-vlm")
    overrides = {
        "vlm_model_name": str(vlm),
        "chunk_size": 8,
        "n_action_steps": 8,
        "num_steps": 2,
        "num_vlm_layers": 2,
        "resize_imgs_with_padding": [64, 64],
    }
    config = TrainConfig(
        policy="smolvla",
        dataset=str(dataset),
        output_dir=str(tmp_path / "run"),
        steps=2,
        batch_size=2,
        save_every=2,
        log_every=1,
        seed=3,
        policy_overrides=overrides,
        num_threads=1,
    )
    run = Trainer(config, progress=False).run()
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(np.isfinite(r["loss"]) for r in log)
    policy = load_policy(run)
    assert policy.config.type == "smolvla" and policy.config.chunk_size == 8


def test_trained_batch_norm_is_saved_as_lerobots_frozen_batch_norm(dataset, tmp_path):
    frozen = Trainer(_config(dataset, tmp_path / "f", steps=3), progress=False).run()
    thawed = Trainer(
        _config(dataset, tmp_path / "t", steps=3, backbone_batch_norm=True), progress=False
    ).run()
    weights = "checkpoints/last/pretrained_model/model.safetensors"
    a, b = load_file(str(frozen / weights)), load_file(str(thawed / weights))
    assert a.keys() == b.keys()  # no batch counters: LeRobot's FrozenBatchNorm2d layout
    key = "model.backbone.layer1.0.bn1.running_mean"
    assert torch.count_nonzero(a[key]) == 0  # frozen from scratch: the identity
    assert torch.count_nonzero(b[key]) > 0  # trained: statistics of the camera images
    assert not torch.equal(b["model.backbone.bn1.weight"], a["model.backbone.bn1.weight"])
    policy = load_policy(thawed)  # loads into frozen batch norm, as LeRobot would
    torch.testing.assert_close(policy.state_dict()[key], b[key], rtol=0, atol=0)


def _weights(run):
    return load_file(str(run / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"))


def test_fine_tuning_starts_from_the_checkpoints_weights_and_architecture(dataset, tmp_path):
    base = Trainer(_config(dataset, tmp_path / "base", steps=3), progress=False).run()
    # No --set: the architecture (dim_model 32, chunk 5) must come from the checkpoint.
    frozen = _config(
        dataset,
        tmp_path / "tuned",
        steps=1,
        seed=8,
        lr=0.0,  # AdamW with lr 0 leaves every weight where it started
        policy_overrides={"optimizer_lr_backbone": 0.0},  # --set still applies on top
        init_from=str(base / "checkpoints" / "last" / "pretrained_model"),
    )
    tuned = Trainer(frozen, progress=False).run()
    a, b = _weights(base), _weights(tuned)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert load_policy(tuned).config.dim_model == 32
    # With a learning rate it moves away from the start, and the schedule decays it to 0.
    moving = Trainer(
        _config(
            dataset,
            tmp_path / "moving",
            steps=3,
            init_from=str(base),
            scheduler="cosine",
            warmup_steps=1,
        ),
        progress=False,
    ).run()
    assert not torch.equal(
        _weights(moving)["model.action_head.weight"], a["model.action_head.weight"]
    )
    # A resume needs only the run itself, not the checkpoint it was fine-tuned from.
    shutil.rmtree(base)
    resumed = Trainer.from_run(moving, steps=4, progress=False).run()
    assert load_policy(resumed).config.dim_model == 32


def test_fine_tuning_refuses_a_checkpoint_trained_on_other_cameras(dataset, tmp_path):
    one_cam = Trainer(
        _config(dataset, tmp_path / "one", steps=1, cameras=("top",)), progress=False
    ).run()
    with pytest.raises(ValueError, match=r"input_features .*observation.images.top.* do not match"):
        Trainer(
            _config(dataset, tmp_path / "two", steps=1, init_from=str(one_cam)), progress=False
        ).run()
    with pytest.raises(ValueError, match="policy type is 'act', expected 'smolvla'"):
        Trainer(
            _config(
                dataset,
                tmp_path / "three",
                steps=1,
                policy="smolvla",
                policy_overrides={},
                init_from=str(one_cam),
            ),
            progress=False,
        ).run()


def test_bf16_autocast_trains_fp32_weights_and_logs_finite_losses(dataset, tmp_path):
    run = Trainer(
        _config(dataset, tmp_path / "bf16", steps=3, precision="bf16"), progress=False
    ).run()
    fp32 = Trainer(_config(dataset, tmp_path / "fp32", steps=3), progress=False).run()
    a, b = _weights(run), _weights(fp32)
    assert all(t.dtype == torch.float32 for t in a.values())  # autocast never touches weights
    assert not torch.equal(a["model.action_head.weight"], b["model.action_head.weight"])
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in log)
    with pytest.raises(ValueError, match="precision must be fp32 or bf16"):
        _config(dataset, tmp_path / "x", steps=1, precision="fp16")


def test_random_shift_moves_whole_images_by_at_most_the_limit():
    from edgevla.policies.training.data import random_shift

    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    same = random_shift(images, 0, torch.Generator().manual_seed(0))
    assert same is images
    seen = set()
    for seed in range(20):
        shifted = random_shift(images, 2, torch.Generator().manual_seed(seed))
        assert shifted.shape == images.shape
        for i in range(2):
            # the interior is the original moved by (dy, dx) with |dy|, |dx| <= 2
            found = [
                (dy, dx)
                for dy in range(-2, 3)
                for dx in range(-2, 3)
                if torch.equal(
                    shifted[i, :, 2:6, 2:6], images[i, :, 2 + dy : 6 + dy, 2 + dx : 6 + dx]
                )
            ]
            assert len(found) == 1
            seen.add(found[0])
    assert len(seen) > 5  # the offsets vary
    a = random_shift(images, 2, torch.Generator().manual_seed(3))
    b = random_shift(images, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # drawn from the generator: a resumed run draws the same


def test_image_shift_trains_and_resumes_bit_exactly(dataset, tmp_path):
    opts = {"image_shift": 2}
    straight = Trainer(_config(dataset, tmp_path / "a", steps=6, **opts), progress=False).run()
    Trainer(_config(dataset, tmp_path / "b", steps=3, **opts), progress=False).run()
    resumed = Trainer.from_run(tmp_path / "b", steps=6, progress=False).run()
    plain = Trainer(_config(dataset, tmp_path / "c", steps=6), progress=False).run()
    a, b, c = _weights(straight), _weights(resumed), _weights(plain)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["model.action_head.weight"], c["model.action_head.weight"])
