"""The bundle manifest of an exported ACT (schema: `edgevla.runtime.bundle_manifest`)."""

from __future__ import annotations

from pathlib import Path

from edgevla.export.act_blocks import Block
from edgevla.export.parity import ParityResult
from edgevla.export.quantize import OpReport
from edgevla.export.recipes import Recipe
from edgevla.features import ACTION_KEY, camera_of
from edgevla.policies.chunk_policy import TorchChunkPolicy
from edgevla.policies.normalization import REQUIRED_STATS, NormalizationMode
from edgevla.policies.types import FeatureType
from edgevla.runtime.bundle_manifest import (
    SCHEMA_VERSION,
    BlockSpec,
    FeatureNorm,
    Manifest,
    TensorSpec,
    sha256_of,
)


def build_manifest(
    wrapper: TorchChunkPolicy,
    pretrained: Path,
    blocks: list[Block],
    recipe: Recipe,
    reports: dict[str, OpReport],
    bundle: Path,
    parity: list[ParityResult],
) -> Manifest:
    policy = wrapper.policy
    config = policy.config  # type: ignore[attr-defined]
    spec = wrapper.spec
    source_of = {new: old for old, new in (policy.rename_map or {}).items()}  # type: ignore[union-attr]
    observation, norms = [], []
    for key, feature in config.input_features.items():
        source = source_of.get(key, key)
        if feature.type is FeatureType.VISUAL:
            channels, height, width = feature.shape
            observation.append(TensorSpec(source, "uint8", (height, width, channels)))
        else:
            observation.append(TensorSpec(source, "float32", tuple(feature.shape)))
        norms.append(_norm(policy.preprocessor, key, source))  # type: ignore[union-attr]
    norms.append(_norm(policy.postprocessor, ACTION_KEY, ACTION_KEY))  # type: ignore[union-attr]
    cameras = tuple(camera_of(source_of.get(k, k)) for k in config.image_features)
    return Manifest(
        schema_version=SCHEMA_VERSION,
        policy_type=config.type,
        chunk_size=config.chunk_size,
        fps=spec.fps,
        n_action_steps=config.n_action_steps,
        cameras=cameras,
        image_shape=tuple(spec.image_shape),  # type: ignore[arg-type]
        action_names=tuple(spec.action_names),
        observation=tuple(observation),
        normalization=tuple(norms),
        blocks=tuple(_block_spec(b, recipe, reports[b.name], bundle) for b in blocks),
        recipe=recipe.to_json(),
        parity={r.block: r.to_json() for r in parity},
        source={
            "path": str(pretrained),
            "sha256": sha256_of(pretrained / "model.safetensors"),
        },
    )


def _block_spec(block: Block, recipe: Recipe, report: OpReport, bundle: Path) -> BlockSpec:
    file = f"blocks/{block.name}.onnx"
    settings = recipe.block(block.name)
    return BlockSpec(
        name=block.name,
        file=file,
        inputs=block.inputs,
        outputs=block.outputs,
        precision=settings.precision,
        sha256=sha256_of(bundle / file),
        session=settings.session,
        quantized_ops=report.quantized,
        float_ops=report.float_ops,
        weights_7bit=report.weights_7bit,
    )


def _norm(normalizer, key: str, source: str) -> FeatureNorm:  # type: ignore[no-untyped-def]
    """The statistics `normalizer` applies to `key`, keyed by the observation key `source`."""
    if not normalizer._applies_to(key):  # its rule for which keys it touches, not re-spelled
        return FeatureNorm(source, NormalizationMode.IDENTITY.name, eps=normalizer.eps)
    mode = normalizer.mode(key)
    low, high = REQUIRED_STATS[mode]
    stats = normalizer.stats[key]
    return FeatureNorm(
        key=source,
        mode=mode.name,
        low=stats[low].tolist(),
        high=stats[high].tolist(),
        eps=normalizer.eps,
    )
