"""SmolVLA (SmolVLM2 + flow-matching action expert), weight- and checkpoint-compatible with
LeRobot's.

- `config`: SmolVLAConfig, LeRobot's config.json form
- `vlm`: the VLM's transformers config and tokenizer, found offline (built-in SmolVLM2-500M)
- `expert`: SmolVLM + action expert and their three walks (prefill, denoise, joint)
- `model`: VLAFlowMatching - vision / prefill / denoise stages, sampling and the training loss
- `policy`: SmolVLAPolicy - batches, tokens, normalization, LeRobot's policy methods
- `processors`: checkpoint processor pipelines; `build`: build_policy with file reading
"""

from __future__ import annotations

from edgevla.policies.registry import PolicyType
from edgevla.policies.smolvla.build import build_for_training, build_policy, load_vlm_weights
from edgevla.policies.smolvla.config import TYPE_NAME, SmolVLAConfig
from edgevla.policies.smolvla.expert import KVCache, SmolVLMWithExpertModel
from edgevla.policies.smolvla.model import VLAFlowMatching
from edgevla.policies.smolvla.policy import SmolVLAPolicy
from edgevla.policies.smolvla.processors import from_pipelines, pipelines
from edgevla.policies.smolvla.tokenizer import build_word_tokenizer, save_word_tokenizer
from edgevla.policies.smolvla.vlm import load_tokenizer, load_vlm_config, smolvlm_config

POLICY_TYPE = PolicyType(
    name=TYPE_NAME,
    config_from_json=SmolVLAConfig.from_json,
    from_pipelines=from_pipelines,
    pipelines=pipelines,
    for_training=build_for_training,
    reads_task=True,
    stochastic=True,
    fine_tune_fields={"load_vlm_weights": False},
)

__all__ = [
    "KVCache",
    "POLICY_TYPE",
    "SmolVLAConfig",
    "SmolVLAPolicy",
    "SmolVLMWithExpertModel",
    "VLAFlowMatching",
    "build_for_training",
    "build_policy",
    "build_word_tokenizer",
    "load_tokenizer",
    "load_vlm_config",
    "load_vlm_weights",
    "save_word_tokenizer",
    "smolvlm_config",
]
