from __future__ import annotations

import json

import pytest
import torch

from edgevla.policies.normalization import (
    Normalizer,
    StatsError,
    load_dataset_stats,
    stats_to_tensors,
    unflatten_stats,
)
from edgevla.policies.types import FeatureType, NormalizationMode, PolicyFeature

STATE = {"observation.state": PolicyFeature(FeatureType.STATE, (2,))}
ACTION = {"action": PolicyFeature(FeatureType.ACTION, (2,))}
STATS = {
    "observation.state": {
        "mean": [1.0, -2.0],
        "std": [2.0, 0.5],
        "min": [0.0, 3.0],
        "max": [4.0, 3.0],  # second dim has zero range
        "q01": [-1.0, 0.0],
        "q99": [1.0, 10.0],
        "q10": [0.0, 0.0],
        "q90": [0.5, 2.0],
    },
    "action": {"mean": [0.0, 1.0], "std": [1.0, 3.0]},
}


def _norm(mode: str, features=STATE) -> Normalizer:
    return Normalizer(features, {FeatureType.STATE: NormalizationMode(mode)}, STATS)


def test_mean_std_by_hand_and_inverse():
    n = _norm("MEAN_STD")
    x = torch.tensor([[3.0, -1.0]])
    y = n.normalize({"observation.state": x})["observation.state"]
    torch.testing.assert_close(y, torch.tensor([[2.0 / (2.0 + 1e-8), 1.0 / (0.5 + 1e-8)]]))
    torch.testing.assert_close(n.transform("observation.state", y, inverse=True), x)


def test_min_max_maps_to_minus_one_one_and_zero_range_uses_eps():
    n = _norm("MIN_MAX")
    y = n.normalize({"observation.state": torch.tensor([[0.0, 3.0], [4.0, 3.0], [2.0, 3.0]])})
    # dim 0: [0, 4] -> [-1, 1]; dim 1: max == min, so (x - min) / eps: x == min gives -1.
    torch.testing.assert_close(
        y["observation.state"], torch.tensor([[-1.0, -1.0], [1.0, -1.0], [0.0, -1.0]])
    )
    back = n.transform("observation.state", torch.tensor([[1.0, -1.0]]), inverse=True)
    torch.testing.assert_close(back, torch.tensor([[4.0, 3.0]]))


def test_quantile_modes_use_their_own_stats():
    x = torch.tensor([[0.0, 5.0]])
    q = _norm("QUANTILES").normalize({"observation.state": x})["observation.state"]
    torch.testing.assert_close(q, torch.tensor([[0.0, 0.0]]))  # midpoint of q01..q99
    q10 = _norm("QUANTILE10").normalize({"observation.state": x})["observation.state"]
    torch.testing.assert_close(q10, torch.tensor([[-1.0, 4.0]]))
    back = _norm("QUANTILES").transform("observation.state", q, inverse=True)
    torch.testing.assert_close(back, x)


def test_identity_and_unknown_keys_pass_through_untouched():
    n = _norm("IDENTITY")
    x = torch.tensor([[3.0, -1.0]])
    out = n.normalize({"observation.state": x, "task": "pick", "other": x})
    assert out["observation.state"] is x and out["task"] == "pick" and out["other"] is x


def test_action_unnormalization_broadcasts_over_chunks():
    n = Normalizer(ACTION, {FeatureType.ACTION: NormalizationMode.MEAN_STD}, STATS)
    chunk = torch.zeros(1, 4, 2)
    torch.testing.assert_close(
        n.unnormalize_action(chunk), torch.tensor([0.0, 1.0]).expand(1, 4, 2)
    )
    torch.testing.assert_close(
        n.unnormalize_action(torch.ones(3, 2)), torch.tensor([1.0, 4.0]).expand(3, 2)
    )


def test_image_stats_are_per_channel_and_broadcast():
    feats = {"observation.images.top": PolicyFeature(FeatureType.VISUAL, (3, 4, 5))}
    stats = {
        "observation.images.top": {
            "mean": [[[0.5]], [[0.25]], [[0.0]]],
            "std": [[[0.5]], [[0.25]], [[1.0]]],
        }
    }
    n = Normalizer(feats, {FeatureType.VISUAL: NormalizationMode.MEAN_STD}, stats)
    img = torch.full((1, 3, 4, 5), 0.5)
    out = n.normalize({"observation.images.top": img})["observation.images.top"]
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.5]), atol=1e-6, rtol=0)


def test_missing_and_misshapen_stats_are_errors_naming_the_stat():
    with pytest.raises(
        StatsError, match=r"observation\.state\.min: missing, needed for MIN_MAX"
    ) as e:
        Normalizer(
            STATE,
            {FeatureType.STATE: NormalizationMode.MIN_MAX},
            {"observation.state": {"max": [1, 2]}},
        )
    assert e.value.key == "observation.state.min"
    bad = {"observation.state": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}}
    with pytest.raises(
        StatsError, match=r"observation\.state\.mean: shape \(3,\), expected \(2,\)"
    ):
        Normalizer(STATE, {FeatureType.STATE: NormalizationMode.MEAN_STD}, bad)


def test_stats_are_float32_and_state_dict_is_flat(tmp_path):
    n = _norm("MEAN_STD")
    flat = n.state_dict()
    assert "observation.state.mean" in flat and "action.std" in flat  # extra features kept
    assert all(t.dtype == torch.float32 for t in flat.values())
    again = unflatten_stats(flat)
    torch.testing.assert_close(again["observation.state"]["q99"], torch.tensor([1.0, 10.0]))
    assert stats_to_tensors({"a": {"count": [3]}})["a"]["count"].dtype == torch.float32


def test_loads_lerobot_v3_meta_stats_json(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    stats = {
        "observation.state": {"mean": [0.1] * 6, "std": [1.0] * 6, "count": [10]},
        "observation.images.top": {
            "mean": [[[0.5]], [[0.4]], [[0.3]]],
            "std": [[[0.2]], [[0.2]], [[0.2]]],
        },
    }
    (meta / "stats.json").write_text(json.dumps(stats))
    loaded = load_dataset_stats(tmp_path)
    assert loaded["observation.images.top"]["mean"].shape == (3, 1, 1)
    assert loaded["observation.state"]["mean"].dtype == torch.float32
    assert load_dataset_stats(meta / "stats.json").keys() == loaded.keys()
    with pytest.raises(FileNotFoundError, match="stats.json"):
        load_dataset_stats(tmp_path / "nowhere")


def test_normalize_observation_keys_limits_observations_not_actions():
    feats = {**STATE, **ACTION}
    modes = {
        FeatureType.STATE: NormalizationMode.MEAN_STD,
        FeatureType.ACTION: NormalizationMode.MEAN_STD,
    }
    n = Normalizer(feats, modes, STATS, normalize_observation_keys=[])
    x = torch.tensor([[3.0, -1.0]])
    out = n.normalize({"observation.state": x, "action": torch.tensor([[1.0, 4.0]])})
    assert out["observation.state"] is x
    torch.testing.assert_close(out["action"], torch.tensor([[1.0, 1.0]]))
    assert n.step_config()["normalize_observation_keys"] == []
