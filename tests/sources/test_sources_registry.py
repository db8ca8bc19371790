"""The one policy registry: every kind, its options, and the errors a user sees."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgevla.contracts import ChunkPolicy
from edgevla.features import CAMERAS, STATE_KEY, TASK_KEY, image_key
from edgevla.sources import PolicySourceError, parse_source, resolve_named, resolve_policy
from edgevla.sources.trivial import FixedChunkPolicy, HoldPolicy


def _observation(policy: ChunkPolicy, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    height, width = policy.spec.image_shape
    obs = {image_key(c): rng.integers(0, 256, (height, width, 3), np.uint8) for c in CAMERAS}
    obs[STATE_KEY] = np.array([0.0, -52.0, 80.0, 29.0, 0.0, 50.0], np.float32)
    obs[TASK_KEY] = "Put the tea bag in the mug"
    return obs


def test_parse_source_names_kinds_options_and_paths(tmp_path):
    assert parse_source("zeros") == ("zeros", "zeros", {})
    assert parse_source("arm=hold:chunk_size=50,fps=15") == (
        "arm",
        "hold",
        {"chunk_size": "50", "fps": "15"},
    )
    assert parse_source("scripted:continuous=true") == (
        "scripted",
        "scripted",
        {"continuous": "true"},
    )
    run = tmp_path / "run" / "pretrained_model"
    run.mkdir(parents=True)
    assert parse_source(str(run)) == ("run", str(run), {})
    assert parse_source(f"a={run}") == ("a", str(run), {})
    step = tmp_path / "demo" / "checkpoints" / "last" / "pretrained_model"
    step.mkdir(parents=True)
    assert parse_source(str(step))[0] == "demo"
    with pytest.raises(PolicySourceError, match="not key=value"):
        parse_source("zeros:chunk_size")
    with pytest.raises(PolicySourceError, match="has no kind"):
        parse_source("name=")


def test_trivial_kinds_and_their_options():
    zeros = resolve_policy("zeros:chunk_size=5,cameras=top+left,image=48x64")
    assert isinstance(zeros, FixedChunkPolicy)
    assert zeros.spec.chunk_size == 5 and zeros.spec.cameras == ("top", "left")
    assert zeros.spec.image_shape == (48, 64)
    chunk = zeros.predict_chunk({}, 9)
    assert chunk.timestep == 9 and not chunk.actions.any()
    hold = resolve_policy("hold")
    assert isinstance(hold, HoldPolicy) and hold.spec.cameras == CAMERAS
    obs = {STATE_KEY: np.arange(6, dtype=np.float32)}
    np.testing.assert_array_equal(hold.predict_chunk(obs).actions[-1], obs[STATE_KEY])
    with pytest.raises(PolicySourceError, match=r"unknown options \['chunk'\]"):
        resolve_policy("zeros:chunk=5")
    with pytest.raises(PolicySourceError, match="bad option value"):
        resolve_policy("zeros:image=48by64")


def test_unknown_sources_and_directories_say_what_they_lack(tmp_path):
    with pytest.raises(PolicySourceError, match=r"'act': not a known kind \(hold, scripted, zeros"):
        resolve_policy("act")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(PolicySourceError, match=r"neither a checkpoint .* it holds notes\.txt"):
        resolve_policy(str(tmp_path))
    with pytest.raises(PolicySourceError, match="a file, not a checkpoint"):
        resolve_policy(str(tmp_path / "notes.txt"))
    (tmp_path / "manifest.json").write_text(json.dumps({}))
    with pytest.raises(PolicySourceError, match=r"manifest\.json: schema_version None is not"):
        resolve_policy(str(tmp_path))
    with pytest.raises(PolicySourceError, match="two policies named 'zeros'"):
        resolve_named(["zeros", "zeros"])
    assert sorted(resolve_named(["zeros", "b=zeros"])) == ["b", "zeros"]


def test_a_corrupt_checkpoint_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PolicySourceError, match=r"config\.json.*not valid JSON"):
        resolve_policy(str(tmp_path))


@pytest.fixture(scope="module")
def act_dir(tmp_path_factory):
    from edgevla.policies.testing import tiny_act_checkpoint

    return tiny_act_checkpoint(tmp_path_factory.mktemp("act") / "pretrained_model")


@pytest.fixture(scope="module")
def smolvla_dir(tmp_path_factory):
    from edgevla.policies.testing import tiny_smolvla_checkpoint

    return tiny_smolvla_checkpoint(tmp_path_factory.mktemp("smolvla") / "pretrained_model")


def test_act_checkpoint_resolves_from_its_dir_step_or_run(act_dir):
    policy = resolve_policy(str(act_dir), fps=15.0)
    assert policy.spec.name == "act" and policy.spec.fps == 15.0
    assert policy.spec.cameras == CAMERAS and policy.spec.image_shape == (48, 64)
    chunk = policy.predict_chunk(_observation(policy), timestep=4)
    assert chunk.actions.shape == (10, 6) and chunk.timestep == 4
    again = resolve_policy(str(act_dir.parent)).predict_chunk(_observation(policy))
    np.testing.assert_array_equal(again.actions, chunk.actions)


def test_smolvla_checkpoint_reads_the_task_and_repeats_its_noise_per_episode(smolvla_dir):
    policy = resolve_policy(str(smolvla_dir))
    assert policy.spec.name == "smolvla" and policy.spec.extra["num_steps"] == 2
    obs = _observation(policy)
    first = policy.predict_chunk(obs).actions
    assert not np.array_equal(policy.predict_chunk(obs).actions, first)  # new noise
    policy.reset()
    np.testing.assert_array_equal(policy.predict_chunk(obs).actions, first)  # same seed
    with pytest.raises(KeyError, match="instruction string"):
        policy.predict_chunk({k: v for k, v in obs.items() if k != TASK_KEY})


def test_the_registry_imports_no_torch_for_the_device_kinds():
    code = (
        "import sys; from edgevla.sources import resolve_policy; "
        "resolve_policy('hold'); resolve_policy('zeros'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
