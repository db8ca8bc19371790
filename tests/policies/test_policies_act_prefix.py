"""The prefix-conditioned ACT: exactly ACT without a prefix, continues a prefix it is given,
trains from an ACT checkpoint, and is handed the queue's head by the control loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgevla.contracts import ACTION_PREFIX
from edgevla.dataset.synthetic import write_synthetic_dataset
from edgevla.features import ACTION_PREFIX_KEY
from edgevla.policies.act import ACTPolicy
from edgevla.policies.act_prefix import ACTPrefixConfig, ACTPrefixPolicy
from edgevla.policies.checkpoint import load_policy, save_pretrained
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.training.config import TrainConfig
from edgevla.policies.training.trainer import Trainer

TINY_ACT = {
    "dim_model": 32, "n_heads": 2, "dim_feedforward": 64, "n_encoder_layers": 1,
    "n_vae_encoder_layers": 1, "latent_dim": 4, "chunk_size": 5, "n_action_steps": 5,
}  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "ds"
    write_synthetic_dataset(root, lengths=(12, 9), cameras={"top": (32, 32)})
    return root


def _weights(run):
    return load_file(str(run / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"))


def _prefix_from(act: ACTPolicy, **fields) -> ACTPrefixPolicy:
    """A prefix ACT holding `act`'s weights (its own projection at its zero start)."""
    config = ACTPrefixConfig(**{**act.config.__dict__, **fields})
    policy = ACTPrefixPolicy(config, preprocessor=act.preprocessor, postprocessor=act.postprocessor)
    missing = policy.load_state_dict(act.state_dict(), strict=False).missing_keys
    assert missing == [
        "model.decoder_prefix_input_proj.weight",
        "model.decoder_prefix_input_proj.bias",
    ]
    return policy.eval()


def test_without_training_it_predicts_exactly_what_its_act_predicts(
    tiny_config, random_stats, random_policy, observation
):
    act = random_policy(tiny_config(chunk_size=8, n_action_steps=8), random_stats()).eval()
    ours = TorchChunkPolicy(_prefix_from(act, max_prefix=4))
    want = TorchChunkPolicy(act).predict_chunk(observation()).actions
    obs = observation()
    np.testing.assert_array_equal(ours.predict_chunk(obs).actions, want)  # no prefix key
    obs[ACTION_PREFIX_KEY] = np.zeros((0, 6), np.float32)
    np.testing.assert_array_equal(ours.predict_chunk(obs).actions, want)  # empty prefix
    obs[ACTION_PREFIX_KEY] = want[:3] + 5.0  # zero projection: read, but weighs nothing yet
    np.testing.assert_array_equal(ours.predict_chunk(obs).actions, want)
    assert ours.spec.extra[ACTION_PREFIX] == 4


def test_a_prefix_changes_the_chunk_and_only_its_first_max_prefix_rows_are_read(
    tiny_config, random_stats, random_policy, observation
):
    act = random_policy(tiny_config(chunk_size=8, n_action_steps=8), random_stats()).eval()
    policy = _prefix_from(act, max_prefix=3)
    torch.nn.init.normal_(policy.model.decoder_prefix_input_proj.weight)
    ours = TorchChunkPolicy(policy)
    obs = observation()
    base = ours.predict_chunk(obs).actions
    obs[ACTION_PREFIX_KEY] = np.tile(np.float32([5, -40, 70, 20, 3, 60]), (3, 1))
    moved = ours.predict_chunk(obs).actions
    assert np.abs(moved - base).max() > 1e-3
    obs[ACTION_PREFIX_KEY] = np.concatenate([obs[ACTION_PREFIX_KEY], base[:4] * 9])  # past 3
    np.testing.assert_array_equal(ours.predict_chunk(obs).actions, moved)
    obs[ACTION_PREFIX_KEY] = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match=r"observation.action_prefix: expected float32\[k, 6\]"):
        ours.predict_chunk(obs)


def test_training_draws_prefixes_and_the_projection_learns(
    tiny_config, random_stats, random_policy, observation
):
    act = random_policy(tiny_config(chunk_size=8, n_action_steps=8), random_stats())
    policy = _prefix_from(act, max_prefix=4, prefix_none_share=0.0).train()
    obs = TorchChunkPolicy(policy).to_batch(observation())
    batch = {k: v.expand(3, *v.shape[1:]).clone() for k, v in obs.items()}
    batch["action"] = torch.randn(3, 8, 6)
    batch["action_is_pad"] = torch.zeros(3, 8, dtype=torch.bool)
    loss, _ = policy(policy.preprocessor.normalize(batch))
    loss.backward()
    assert policy.model.decoder_prefix_input_proj.weight.grad.abs().sum() > 0


def test_config_round_trips_as_its_own_type(tmp_path, tiny_config, random_stats, random_policy):
    act = random_policy(tiny_config(), random_stats())
    saved = save_pretrained(_prefix_from(act, max_prefix=5), tmp_path / "p")
    loaded = load_policy(saved)
    assert isinstance(loaded, ACTPrefixPolicy) and loaded.config.max_prefix == 5
    with pytest.raises(ValueError, match="max_prefix must be in"):
        ACTPrefixConfig(**{**act.config.__dict__, "max_prefix": 0})


def test_fine_tune_from_an_act_checkpoint_keeps_its_weights(dataset, tmp_path):
    def config(out, **kw):
        return TrainConfig(
            dataset=str(dataset), output_dir=str(out), batch_size=4, save_every=2, log_every=1,
            val_every=100, seed=7, num_threads=1, **kw,
        )  # fmt: skip

    base = Trainer(
        config(tmp_path / "act", policy="act", steps=2, policy_overrides=TINY_ACT), progress=False
    ).run()
    tuned = Trainer(
        config(
            tmp_path / "prefix",
            policy="act_prefix",
            steps=1,
            lr=0.0,
            policy_overrides={"optimizer_lr_backbone": 0.0, "max_prefix": 3},
            init_from=str(base),
        ),  # fmt: skip
        progress=False,
    ).run()
    a, b = _weights(base), _weights(tuned)
    assert set(b) - set(a) == {
        "model.decoder_prefix_input_proj.weight",
        "model.decoder_prefix_input_proj.bias",
    }
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert load_policy(tuned).config.max_prefix == 3
    with pytest.raises(ValueError, match="policy type is 'act_prefix', expected 'act'"):
        Trainer(
            config(tmp_path / "back", policy="act", steps=1, init_from=str(tuned)), progress=False
        ).run()


def test_the_prefix_projection_learns_in_its_own_group(tiny_config, random_stats, random_policy):
    act = random_policy(tiny_config(), random_stats())
    policy = _prefix_from(act, max_prefix=2, prefix_lr=2e-3)
    groups = policy.optim_param_groups()
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in policy.parameters())  # each exactly once
    assert groups[-1]["lr"] == 2e-3
    assert {id(p) for p in groups[-1]["params"]} == {
        id(p) for p in policy.model.decoder_prefix_input_proj.parameters()
    }


def test_a_random_initial_projection_reads_the_prefix_from_the_start(
    tiny_config, random_stats, random_policy, observation
):
    act = random_policy(tiny_config(chunk_size=8, n_action_steps=8), random_stats()).eval()
    ours = TorchChunkPolicy(_prefix_from(act, max_prefix=4, prefix_init_std=0.05))
    obs = observation()
    base = ours.predict_chunk(obs).actions
    np.testing.assert_array_equal(base, TorchChunkPolicy(act).predict_chunk(obs).actions)
    obs[ACTION_PREFIX_KEY] = base[:3] + 5.0
    assert np.abs(ours.predict_chunk(obs).actions - base).max() > 1e-4
    with pytest.raises(ValueError, match="prefix_init_std must be >= 0"):
        ACTPrefixConfig(**{**act.config.__dict__, "max_prefix": 4, "prefix_init_std": -1.0})
