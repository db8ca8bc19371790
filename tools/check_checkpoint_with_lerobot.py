"""Check that checkpoints LeRobot itself saves (ACT, SmolVLA; lerobot 0.6.1, ACT also 0.4.4)
predict, through edgevla's policy registry, the chunk LeRobot predicts - that SmolVLA trains as it
does - and that each ACT exports (`edgevla export --recipe fp32`, no dataset) to a bundle whose
chunk, run by onnxruntime through the same registry, is LeRobot's.

Not part of edgevla and never imported by it. Two interpreters: the project's (this script's
`main`, edgevla) and a scratch one with lerobot (its `make` step), built outside the repository:

    tools/make_lerobot061_env.sh /work/scratch/lerobot061
    EDGEVLA_LEROBOT_PYTHON=/work/scratch/lerobot061/bin/python \
        .venv/bin/python tools/check_checkpoint_with_lerobot.py [--out DIR]
    tools/make_lerobot044_env.sh /work/scratch/lerobot044     # 0.4.4: its ACT only
    EDGEVLA_LEROBOT_PYTHON=/work/scratch/lerobot044/bin/python \
        .venv/bin/python tools/check_checkpoint_with_lerobot.py --policies act,act_default

torchvision: LeRobot imports it, and no CPU build fits the project's torch;
`tools/lerobot_standin.py` (the dataset check's stand-in too) provides the few parts used
(ResNet-18 in torchvision's layout, the layer getter, and edgevla's frozen batch norm, whose
formula tests/policies/test_policies_resnet.py checks) - see its docstring.

What happens: edgevla writes a tiny SmolVLM folder (config + word tokenizer, no weights); LeRobot
builds random-weight ACT and SmolVLA policies (ACT twice: a small one, and LeRobot's default
architecture with a narrower transformer, chunk 100 and three cameras, its config saved naming
the ImageNet backbone weights as LeRobot's default does; SmolVLA twice: expert-only, and with
the VLM training beside a shallower expert), saves each with `save_pretrained` (policy and
both processors), and records its own chunk on a fixed observation (for SmolVLA with the noise
edgevla's registry policy draws for seed 0), its training loss on a batch with `action_is_pad`,
and which parameters it trains. edgevla then loads each checkpoint with
`edgevla.sources.resolve_policy(path)` and compares: the chunk to float tolerance (--atol), the
loss, the trainable parameter names; each ACT it exports with `edgevla export --recipe fp32`
and compares the bundle's chunk (--bundle-rtol: FP32 ONNX is not bit-equal to torch). Exit
status 0 only if all agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEED = 0  # the registry's noise seed for SmolVLA
SHAPE = (48, 64)  # camera images, H x W
CAMERAS = ("top", "gripper")
TASK = "Put the tea bag in the mug"
CHUNK = 8
# the small ACT, and LeRobot's default ACT (resnet18, 4+1 layers, 4-layer VAE encoder, latent 32,
# chunk 100) with a narrower transformer to keep the check quick
ACT_VARIANTS = {
    "act": {
        "cameras": CAMERAS,
        "shape": SHAPE,
        "fields": {
            "chunk_size": CHUNK,
            "n_action_steps": CHUNK,
            "dim_model": 64,
            "n_heads": 4,
            "dim_feedforward": 128,
            "n_encoder_layers": 2,
            "n_vae_encoder_layers": 1,
            "latent_dim": 8,
        },  # fmt: skip
    },
    "act_default": {
        "cameras": ("top", "left_wrist", "right_wrist"),
        "shape": (96, 128),
        "fields": {"dim_model": 256, "dim_feedforward": 1024},
    },
}
SMOLVLA_VARIANTS = {
    "smolvla": {},
    "smolvla_vlm_trains": {
        "num_vlm_layers": 4,
        "num_expert_layers": 2,
        "self_attn_every_n_layers": 4,
        "train_expert_only": False,
        "freeze_vision_encoder": False,
    },
}

# --- LeRobot side (the LeRobot interpreter; edgevla only as the stand-in's batch norm) --------


def _observation(cameras=CAMERAS, shape=SHAPE) -> dict[str, np.ndarray]:
    """A fixed observation as a robot gives it: uint8 HxWx3 images, float32 state."""
    yy, xx = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    obs = {}
    for k, cam in enumerate(cameras):
        pixels = np.stack([(yy * 5 + xx * 3 + ch * 40 + k * 17) % 256 for ch in range(3)], -1)
        obs[f"observation.images.{cam}"] = pixels.astype(np.uint8)
    obs["observation.state"] = np.linspace(-0.5, 0.7, 6).astype(np.float32)
    return obs


def _stats(torch, visual: bool, cameras=CAMERAS) -> dict:
    """Dataset statistics with a wide action scale, so un-normalized chunks are not tiny."""
    idx = torch.arange(6, dtype=torch.float32)
    stats = {
        "observation.state": {"mean": 0.1 * idx, "std": 0.5 + 0.1 * idx},
        "action": {"mean": 3.0 * idx - 5.0, "std": 4.0 + 2.0 * idx},
    }
    if visual:
        for cam in cameras:
            stats[f"observation.images.{cam}"] = {
                "mean": torch.tensor([0.45, 0.5, 0.4]).reshape(3, 1, 1),
                "std": torch.tensor([0.25, 0.2, 0.3]).reshape(3, 1, 1),
            }
    return stats


def _features(feature_type, policy_feature, cameras=CAMERAS, shape=SHAPE) -> tuple[dict, dict]:
    inputs = {
        f"observation.images.{c}": policy_feature(feature_type.VISUAL, (3, *shape)) for c in cameras
    }
    inputs["observation.state"] = policy_feature(feature_type.STATE, (6,))
    return inputs, {"action": policy_feature(feature_type.ACTION, (6,))}


def _predict(policy, pre, post, noise=None, observation=None) -> np.ndarray:
    import torch
    from lerobot.policies.utils import prepare_observation_for_inference

    observation = _observation() if observation is None else observation
    batch = prepare_observation_for_inference(observation, torch.device("cpu"), TASK)
    kwargs = {} if noise is None else {"noise": noise}
    with torch.no_grad():
        chunk = post(policy.predict_action_chunk(pre(batch), **kwargs))
    return chunk[0].numpy()


def _make_act(out: Path, name: str) -> None:
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.act.processor_act import make_act_pre_post_processors

    variant = ACT_VARIANTS[name]
    cameras, shape = variant["cameras"], variant["shape"]
    inputs, outputs = _features(FeatureType, PolicyFeature, cameras, shape)
    config = ACTConfig(input_features=inputs, output_features=outputs, device="cpu",
                       pretrained_backbone_weights=None, **variant["fields"])  # fmt: skip
    torch.manual_seed(SEED)
    policy = ACTPolicy(config)
    with torch.no_grad():  # non-trivial frozen batch norms, so they are checked too
        for i, (key, buf) in enumerate(sorted(policy.named_buffers())):
            if ".bn" in key or ".downsample.1." in key:
                wave = torch.sin(torch.arange(buf.numel(), dtype=torch.float32) * 0.7 + i)
                buf.copy_(1.0 + 0.2 * wave if key.endswith(("weight", "var")) else 0.1 * wave)
    policy.eval()
    pre, post = make_act_pre_post_processors(config, _stats(torch, visual=True, cameras=cameras))
    chunk = _predict(policy, pre, post, observation=_observation(cameras, shape))
    if name == "act_default":  # saved as LeRobot's default config names its backbone (no download)
        config.pretrained_backbone_weights = "ResNet18_Weights.IMAGENET1K_V1"
    _save(out / name, policy, pre, post, {"chunk": chunk})


def _noise(torch) -> object:
    """What edgevla's registry policy draws for seed SEED (TorchChunkPolicy + sample_noise)."""
    generator = torch.Generator().manual_seed(SEED)
    return torch.normal(0.0, 1.0, (1, CHUNK, 32), generator=generator, dtype=torch.float32)


def _make_smolvla(out: Path, name: str, vlm: Path, overrides: dict) -> None:
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
    from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors

    inputs, outputs = _features(FeatureType, PolicyFeature)
    fields = {"chunk_size": CHUNK, "n_action_steps": CHUNK, "num_steps": 3, "num_vlm_layers": 2,
              "resize_imgs_with_padding": (64, 64), "vlm_model_name": str(vlm),
              "load_vlm_weights": False, "device": "cpu"}  # fmt: skip
    config = SmolVLAConfig(
        input_features=inputs, output_features=outputs, **{**fields, **overrides}
    )
    torch.manual_seed(SEED)
    policy = SmolVLAPolicy(config)
    pre, post = make_smolvla_pre_post_processors(config, _stats(torch, visual=False))
    noise = _noise(torch)
    reference = {"chunk": _predict(policy, pre, post, noise.clone()), "noise": noise.numpy()}
    reference.update(_smolvla_loss(policy, pre))
    trainable = sorted(n for n, p in policy.named_parameters() if p.requires_grad)
    (out / f"{name}_trainable.json").write_text(json.dumps(trainable, indent=1))
    _save(out / name, policy, pre, post, reference)


def _training_batch(torch) -> tuple[dict, object, object]:
    """Two samples, the second padded past its episode's end, with fixed noise and time."""
    obs = _observation()
    batch = {k: torch.from_numpy(v).float() for k, v in obs.items()}
    batch = {
        k: (v.div(255).permute(2, 0, 1) if "images" in k else v)[None].repeat(2, *[1] * v.ndim)
        for k, v in batch.items()
    }
    batch["observation.images.top"][1] = batch["observation.images.top"][1].flip(-1)
    steps = torch.sin(torch.arange(2 * CHUNK * 6, dtype=torch.float32) * 0.3).reshape(2, CHUNK, 6)
    batch["action"] = 6.0 * steps
    batch["action_is_pad"] = torch.zeros(2, CHUNK, dtype=torch.bool)
    batch["action_is_pad"][1, CHUNK - 3 :] = True
    batch["task"] = [TASK, "put the bag"]
    noise = 0.8 * torch.sin(torch.arange(2 * CHUNK * 32, dtype=torch.float32) * 0.731)
    return batch, noise.reshape(2, CHUNK, 32), torch.tensor([0.37, 0.81])


def _smolvla_loss(policy, pre) -> dict[str, np.ndarray]:
    import torch

    batch, noise, time = _training_batch(torch)
    processed = pre(dict(batch))
    policy.train()
    with torch.no_grad():
        loss, _ = policy.forward(dict(processed), noise=noise.clone(), time=time)
        per_sample, _ = policy.forward(dict(processed), noise=noise.clone(), time=time,
                                       reduction="none")  # fmt: skip
    policy.eval()
    return {"loss": loss.numpy(), "per_sample_loss": per_sample.numpy()}


def _save(directory: Path, policy, pre, post, reference: dict) -> None:
    policy.save_pretrained(directory)
    pre.save_pretrained(directory)
    post.save_pretrained(directory)
    np.savez(directory.parent / f"{directory.name}_lerobot.npz", **reference)


def make(out: Path, vlm: Path, names: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import lerobot_standin
    import transformers.image_utils  # noqa: F401  (before install(): records torchvision absent)

    smolvla = [n for n in names if n in SMOLVLA_VARIANTS]
    if smolvla:
        lerobot_standin.expose_smolvlm_pil_processor()
    lerobot_standin.install()
    import lerobot

    if smolvla:
        lerobot_standin.tokenizer_only_processor()

    print(f"lerobot {lerobot.__version__}, transformers {transformers.__version__}")
    (out / "lerobot_version.txt").write_text(lerobot.__version__)
    for name in names:
        if name in ACT_VARIANTS:
            _make_act(out, name)
        else:
            _make_smolvla(out, name, vlm, SMOLVLA_VARIANTS[name])


# --- edgevla side ------------------------------------------------------------------------------


def _load(path: Path, seed: int):
    """The checkpoint as every command loads it: through the policy registry."""
    from edgevla.sources import resolve_policy

    return resolve_policy(str(path), seed=seed)


def _chunk_error(name: str, got: np.ndarray, want: np.ndarray, atol: float) -> tuple[bool, str]:
    diff = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    ok = got.shape == want.shape and diff <= atol * max(1.0, scale)
    return (
        ok,
        f"{name}: chunk max abs diff {diff:.3g} on a scale of {scale:.3g} (rel {diff / scale:.2g})",
    )


def _compare_training(out: Path, name: str, reference, atol: float) -> list[tuple[bool, str]]:
    import torch

    from edgevla.policies.checkpoint import load_policy

    policy = load_policy(out / name)
    batch, noise, time = _training_batch(torch)
    task = batch.pop("task")
    normalized = dict(policy.preprocessor.normalize(batch), task=task)
    policy.train()
    with torch.no_grad():
        loss, _ = policy(dict(normalized), noise=noise.clone(), time=time)
        per_sample, _ = policy(dict(normalized), noise=noise.clone(), time=time, reduction="none")
    got = np.concatenate([[loss.item()], per_sample.numpy()])
    want = np.concatenate([[float(reference["loss"])], reference["per_sample_loss"]])
    diff = float(np.abs(got - want).max())
    results = [
        (diff <= atol, f"{name}: loss {got[0]:.6f} vs LeRobot {want[0]:.6f} (max diff {diff:.2g})")
    ]
    trainable = sorted(n for n, p in policy.named_parameters() if p.requires_grad)
    theirs = json.loads((out / f"{name}_trainable.json").read_text())
    differ = sorted(set(trainable) ^ set(theirs))
    results.append(
        (not differ, f"{name}: {len(trainable)} trainable parameters, differing {differ[:6]}")
    )
    return results


def compare(out: Path, names: list[str], atol: float, bundle_rtol: float) -> list[tuple[bool, str]]:
    results = []
    for name in names:
        act = ACT_VARIANTS.get(name)
        obs = _observation(act["cameras"], act["shape"]) if act else _observation()
        reference = np.load(out / f"{name}_lerobot.npz")
        policy = _load(out / name, SEED)
        chunk = policy.predict_chunk({**obs, "task": TASK}).actions
        results.append(_chunk_error(name, chunk, reference["chunk"], atol))
        if act:
            bundle = _export_fp32(out / name)
            chunk = _load(bundle, SEED).predict_chunk({**obs, "task": TASK}).actions
            results.append(
                _chunk_error(f"{name} fp32 bundle", chunk, reference["chunk"], bundle_rtol)
            )
        else:
            legacy = _legacy_chunk(policy, obs, reference["noise"])
            results.append(_legacy_differs(name, legacy, reference["chunk"], atol))
            results += _compare_training(out, name, reference, atol)
    return results


def _export_fp32(checkpoint: Path) -> Path:
    """`edgevla export --recipe fp32` as a user runs it on a checkpoint with no dataset beside it."""
    bundle = checkpoint.with_name(f"{checkpoint.name}_fp32")
    command = [sys.executable, "-m", "edgevla.cli", "export", "--policy", str(checkpoint),
               "--out", str(bundle), "--recipe", "fp32", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(command, check=True, env=env)
    return bundle


def _legacy_chunk(chunk_policy, obs: dict, noise: np.ndarray) -> np.ndarray:
    """The chunk under LeRobot 0.4's float32 patch positions (must NOT match 0.6.1)."""
    import torch

    policy = chunk_policy.policy
    policy.patch_positions = "transformers-4.57-float32"
    batch = policy.preprocessor.normalize(chunk_policy.to_batch({**obs, "task": TASK}))
    actions = policy.predict_action_chunk(batch, noise=torch.from_numpy(noise))
    policy.patch_positions = "exact"
    return policy.postprocessor.unnormalize_action(actions)[0].numpy()


def _legacy_differs(name: str, legacy: np.ndarray, want: np.ndarray, atol: float):
    diff = float(np.abs(legacy - want).max())
    text = f"{name}: (the 0.4 float32 patch positions would be off by {diff:.3g})"
    return diff > atol * max(1.0, float(np.abs(want).max())), text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="check", choices=["check", "make"])
    parser.add_argument(
        "--policies",
        default=",".join([*ACT_VARIANTS, *SMOLVLA_VARIANTS]),
        help=f"comma-separated, of {', '.join([*ACT_VARIANTS, *SMOLVLA_VARIANTS])}",
    )
    parser.add_argument("--out", type=Path, help="working directory (default: a temporary one)")
    parser.add_argument("--vlm", type=Path, help="(make) the tiny SmolVLM folder")
    parser.add_argument("--lerobot-python", default=os.environ.get("EDGEVLA_LEROBOT_PYTHON"))
    parser.add_argument("--atol", type=float, default=1e-5, help="relative to max(1, scale)")
    parser.add_argument(
        "--bundle-rtol", type=float, default=1e-4, help="fp32 bundle: relative to max(1, scale)"
    )
    args = parser.parse_args(argv)
    names = args.policies.split(",")
    unknown = sorted(set(names) - {*ACT_VARIANTS, *SMOLVLA_VARIANTS})
    if unknown:
        parser.error(f"--policies: unknown {unknown}")
    if args.step == "make":
        make(args.out, args.vlm, names)
        return 0
    if not args.lerobot_python:
        parser.error("name a Python with lerobot: --lerobot-python or EDGEVLA_LEROBOT_PYTHON")
    sys.path.insert(0, str(REPO / "src"))
    from edgevla.policies.smolvla.testing import write_vlm_folder

    out = args.out or Path(tempfile.mkdtemp(prefix="edgevla-lerobot-ckpt-"))
    out.mkdir(parents=True, exist_ok=True)
    vlm = write_vlm_folder(out / "vlm")
    step = [args.lerobot_python, __file__, "make", "--out", str(out), "--vlm", str(vlm),
            "--policies", ",".join(names)]  # fmt: skip
    subprocess.run(step, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    results = compare(out, names, args.atol, args.bundle_rtol)
    version = (out / "lerobot_version.txt").read_text()
    for ok, text in results:
        print(("  ok    " if ok else "  FAIL  ") + text)
    failed = [text for ok, text in results if not ok]
    print(
        f"FAIL: {len(failed)} checks"
        if failed
        else f"OK: edgevla predicts LeRobot {version}'s chunks"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
