"""Inference: the ChunkPolicy adapter, LeRobot's action queue, and temporal ensembling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgevla.contracts import ChunkPolicy
from edgevla.policies.act import ACTPolicy, TemporalEnsembler
from edgevla.policies.act.transformer import SinusoidalPositionEmbedding2d, sinusoidal_1d
from edgevla.policies.chunk_policy import TorchChunkPolicy

# --- temporal ensembling, by hand ---------------------------------------------------------


def _run(coeff: float, chunks: list[list[float]]) -> list[float]:
    ens = TemporalEnsembler(coeff, chunk_size=3)
    return [ens.update(torch.tensor(c).view(1, 3, 1)).item() for c in chunks]


CHUNKS = [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0], [1000.0, 2000.0, 3000.0]]


def test_ensembling_with_zero_coeff_is_the_plain_mean():
    # step 0: {1}; step 1: {2, 10}; step 2: {3, 20, 100}; step 3: {30, 200, 1000}
    assert _run(0.0, CHUNKS) == pytest.approx([1.0, 6.0, 41.0, 410.0])


def test_ensembling_weighs_older_predictions_more_for_positive_coeff():
    # coeff ln 2: weights 1, 1/2, 1/4 for the oldest, next, newest prediction of a step.
    want = [
        1.0,
        (2 + 10 / 2) / 1.5,
        (3 + 20 / 2 + 100 / 4) / 1.75,
        (30 + 200 / 2 + 1000 / 4) / 1.75,
    ]
    assert _run(math.log(2), CHUNKS) == pytest.approx(want, rel=1e-6)


def test_ensembler_reset_and_shape_check():
    ens = TemporalEnsembler(0.0, chunk_size=3)
    ens.update(torch.ones(1, 3, 1))
    ens.reset()
    assert ens.update(torch.full((1, 3, 1), 5.0)).item() == 5.0
    with pytest.raises(ValueError, match=r"expected actions \[B, 3, A\]"):
        ens.update(torch.ones(1, 4, 1))


def test_policy_select_action_ensembles_every_call(tiny_config, random_stats, random_policy):
    policy = random_policy(
        tiny_config(n_action_steps=1, temporal_ensemble_coeff=0.0), random_stats()
    )
    chunks = [torch.full((1, 5, 6), float(10**i)) for i in range(3)]
    policy.predict_action_chunk = lambda batch: chunks.pop(0)  # a fake chunk source
    got = [policy.select_action({})[0, 0].item() for _ in range(3)]
    assert got == pytest.approx([1.0, 5.5, 37.0])


def test_action_queue_queries_model_every_n_action_steps(tiny_config, random_stats, random_policy):
    policy = random_policy(tiny_config(n_action_steps=3), random_stats())
    calls = []

    def fake_chunk(batch):
        calls.append(1)
        return torch.arange(5.0).view(1, 5, 1).expand(1, 5, 6) + 100 * len(calls)

    policy.predict_action_chunk = fake_chunk
    got = [policy.select_action({})[0, 0].item() for _ in range(7)]
    assert got == [100, 101, 102, 200, 201, 202, 300]
    policy.reset()
    assert policy.select_action({})[0, 0].item() == 400 and len(calls) == 4


# --- position embeddings ------------------------------------------------------------------


def test_sinusoidal_1d_table():
    table = sinusoidal_1d(4, 6)
    assert table.dtype == torch.float32 and table.shape == (4, 6)
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(table[3, :2], torch.tensor([math.sin(3), math.cos(3)]))
    torch.testing.assert_close(
        table[2, 2:4],
        torch.tensor([math.sin(2 / 10000 ** (1 / 3)), math.cos(2 / 10000 ** (1 / 3))]),
    )


def test_2d_embedding_puts_y_then_x_channels():
    embed = SinusoidalPositionEmbedding2d(4)(torch.zeros(2, 7, 2, 3))
    assert embed.shape == (1, 8, 2, 3)
    y_last = 2 * math.pi * 2 / (2 + 1e-6)
    torch.testing.assert_close(
        embed[0, 0, 1, 0], torch.tensor(math.sin(y_last))
    )  # y channel, row 2
    x_first = 2 * math.pi * 1 / (3 + 1e-6)
    torch.testing.assert_close(
        embed[0, 4, 1, 0], torch.tensor(math.sin(x_first))
    )  # x channel, col 1
    assert torch.equal(embed[0, :4, :, 0], embed[0, :4, :, 2])  # y channels do not vary along x


# --- the ChunkPolicy adapter --------------------------------------------------------------


@pytest.fixture
def chunk_policy(tiny_config, random_stats, random_policy):
    return TorchChunkPolicy(random_policy(tiny_config(), random_stats()), fps=15.0)


def test_adapter_is_a_chunk_policy_with_a_filled_spec(chunk_policy):
    assert isinstance(chunk_policy, ChunkPolicy)
    spec = chunk_policy.spec
    assert (spec.chunk_size, spec.fps, spec.cameras, spec.image_shape) == (
        5,
        15.0,
        ("top", "gripper"),
        (48, 64),
    )
    assert spec.action_dim == 6 and spec.state_dim == 6 and spec.name == "act"


def test_prediction_is_deterministic_and_unnormalized(chunk_policy, observation):
    a = chunk_policy.predict_chunk(observation(), timestep=12)
    b = chunk_policy.predict_chunk(observation(), timestep=12)
    assert a.actions.shape == (5, 6) and a.actions.dtype == np.float32 and a.timestep == 12
    np.testing.assert_array_equal(a.actions, b.actions)
    policy = chunk_policy.policy
    with torch.no_grad():
        normalized = policy.predict_action_chunk(
            policy.preprocessor.normalize(chunk_policy.to_batch(observation()))
        )
    stats = policy.postprocessor.stats["action"]
    want = normalized[0] * stats["std"] + stats["mean"]
    np.testing.assert_allclose(a.actions, want.numpy(), rtol=0, atol=1e-6)


def test_uint8_images_become_unit_range_chw(chunk_policy, observation):
    obs = observation()
    batch = chunk_policy.to_batch(obs)
    image = batch["observation.images.top"]
    assert image.shape == (1, 3, 48, 64) and image.dtype == torch.float32
    torch.testing.assert_close(
        image[0, :, 5, 7], torch.from_numpy(obs["observation.images.top"][5, 7] / 255.0).float()
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.pop("observation.images.gripper"), "lacks 'observation.images.gripper'"),
        (
            lambda o: o.__setitem__("observation.state", np.zeros(5, np.float32)),
            r"expected float32\[6\]",
        ),
        (
            lambda o: o.__setitem__("observation.images.top", np.zeros((96, 128, 3), np.uint8)),
            "not resized",
        ),
        (
            lambda o: o.__setitem__("observation.images.top", np.zeros((3, 48, 64), np.uint8)),
            r"\(48, 64, 3\)",
        ),
        (
            lambda o: o.__setitem__("observation.images.top", np.zeros((48, 64, 3), np.float32)),
            "uint8",
        ),
    ],
)
def test_bad_observations_are_clear_errors(chunk_policy, observation, mutate, message):
    obs = observation()
    mutate(obs)
    with pytest.raises((KeyError, ValueError), match=message):
        chunk_policy.predict_chunk(obs)


def test_rename_map_reads_cameras_under_their_recorded_names(
    tiny_config, random_stats, random_policy, observation
):
    trained = random_policy(tiny_config(), random_stats())
    renamed = ACTPolicy(
        trained.config,
        preprocessor=trained.preprocessor,
        postprocessor=trained.postprocessor,
        rename_map={"observation.images.left": "observation.images.gripper"},
    )
    renamed.load_state_dict(trained.state_dict())
    adapter = TorchChunkPolicy(renamed)
    assert adapter.spec.cameras == ("top", "left")
    obs = observation()
    obs["observation.images.left"] = obs.pop("observation.images.gripper")
    np.testing.assert_array_equal(
        adapter.predict_chunk(obs).actions,
        TorchChunkPolicy(trained).predict_chunk(observation()).actions,
    )


def test_env_state_only_policy_predicts_without_cameras(tiny_config, random_stats):
    from edgevla.policies.types import FeatureType, PolicyFeature

    config = tiny_config(
        input_features={
            "observation.state": PolicyFeature(FeatureType.STATE, (6,)),
            "observation.environment_state": PolicyFeature(FeatureType.ENV, (3,)),
        },
        normalization_mapping={"STATE": "MEAN_STD", "ENV": "IDENTITY", "ACTION": "MEAN_STD"},
    )
    adapter = TorchChunkPolicy(ACTPolicy(config, random_stats()))
    assert adapter.spec.cameras == () and adapter.spec.image_shape is None
    obs = {
        "observation.state": np.zeros(6, np.float32),
        "observation.environment_state": [0.1, 0.2, 0.3],
    }
    assert adapter.predict_chunk(obs).actions.shape == (5, 6)


def test_a_fork_shares_the_weights_and_predicts_the_same(
    tiny_config, random_stats, random_policy, observation
):
    from edgevla.contracts import ACTION_RANGE

    adapter = TorchChunkPolicy(random_policy(tiny_config(), random_stats()))
    fork = adapter.fork()
    assert fork.policy is adapter.policy and fork.spec == adapter.spec
    np.testing.assert_array_equal(
        fork.predict_chunk(observation()).actions, adapter.predict_chunk(observation()).actions
    )
    lo, hi = adapter.spec.extra[ACTION_RANGE]["min"], adapter.spec.extra[ACTION_RANGE]["max"]
    assert len(lo) == len(hi) == 6 and all(a <= b for a, b in zip(lo, hi, strict=True))
