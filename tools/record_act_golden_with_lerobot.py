"""Record, with LeRobot itself, the chunks of the golden ACT (tests/policies/act_lerobot_golden.py):
LeRobot's own ACTPolicy and processors built on the golden config, filled with the same
deterministic weights (plain and conditioned), predicting on the same observation.

Not part of edgevla and never imported by it. Run with a Python that has lerobot (0.4.4 recorded
the shipped numbers; tools/make_lerobot044_env.sh builds one; 0.6.1 gives the same), from the
repository root:

    /work/scratch/lerobot044/bin/python tools/record_act_golden_with_lerobot.py

It prints both chunks and how far each is from the numbers in act_lerobot_golden.py; exit
status 0 only if the plain chunk is the shipped LEROBOT_CHUNK (so the recording is the same
setup that produced it). torchvision: tools/lerobot_standin.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests" / "policies"), str(REPO / "src")]

FIELDS = ("chunk_size", "n_action_steps", "dim_model", "n_heads", "dim_feedforward",
          "n_encoder_layers", "n_decoder_layers", "n_vae_encoder_layers", "latent_dim",
          "dropout", "use_vae", "pre_norm", "feedforward_activation", "kl_weight",
          "pretrained_backbone_weights", "vision_backbone")  # fmt: skip


def lerobot_chunk(conditioned: bool) -> np.ndarray:
    import act_lerobot_golden as golden
    import torch
    from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.act.processor_act import make_act_pre_post_processors
    from lerobot.policies.utils import prepare_observation_for_inference

    ours = golden.golden_config()

    def features(source: dict) -> dict:
        return {
            k: PolicyFeature(FeatureType[f.type.name], tuple(f.shape)) for k, f in source.items()
        }

    config = ACTConfig(
        input_features=features(ours.input_features),
        output_features=features(ours.output_features),
        normalization_mapping={k: NormalizationMode[v] for k, v in golden.NORMALIZATION.items()},
        device="cpu",
        **{f: getattr(ours, f) for f in FIELDS},
    )
    stats, obs = golden.golden_inputs()
    stats = {k: {s: torch.tensor(v, dtype=torch.float32) for s, v in d.items()}
             for k, d in stats.items()}  # fmt: skip
    policy = ACTPolicy(config)
    golden.fill(policy, conditioned)
    policy.eval()
    pre, post = make_act_pre_post_processors(config, stats)
    batch = prepare_observation_for_inference(dict(obs), torch.device("cpu"))
    with torch.no_grad():
        return post(policy.predict_action_chunk(pre(batch)))[0].numpy()


def main() -> int:
    import lerobot_standin
    import transformers.image_utils  # noqa: F401  (before install(): records torchvision absent)

    lerobot_standin.install()
    import act_lerobot_golden as golden
    import lerobot

    print(f"lerobot {lerobot.__version__}")
    ok = True
    for conditioned, shipped in ((False, golden.LEROBOT_CHUNK),
                                 (True, golden.LEROBOT_CHUNK_CONDITIONED)):  # fmt: skip
        chunk = lerobot_chunk(conditioned)
        name = "LEROBOT_CHUNK_CONDITIONED" if conditioned else "LEROBOT_CHUNK"
        rows = ",\n".join("    [" + ", ".join(f"{v:.6f}" for v in row) + "]" for row in chunk)
        print(f"{name} = [\n{rows},\n]")
        if shipped is not None:
            diff = float(np.abs(chunk - np.array(shipped)).max())
            print(f"  vs the shipped {name}: max abs diff {diff:.3g}")
            ok &= conditioned or diff <= 1e-5
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
