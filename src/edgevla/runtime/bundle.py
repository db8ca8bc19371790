"""A bundle as a ChunkPolicy (DESIGN §3, §7): numpy and onnxruntime only, the board's side.

`load_bundle(path)` reads the manifest, checks every block file (present, SHA-256, loadable,
its graph's inputs and outputs as the manifest says) and opens one onnxruntime session per
block with the block's session settings. `predict_chunk` checks the observation as the torch
policy does (same keys, uint8 images of the trained size, float state), normalizes in numpy,
runs the blocks in order and returns the un-normalized chunk float32[T, A].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgevla.contracts import ActionChunk, Observation, PolicySpec, checked_image, checked_vector
from edgevla.features import ACTION_KEY, STATE_KEY, TASK_KEY, image_key
from edgevla.runtime.bundle_manifest import (
    ACTIONS_OUTPUT,
    IMAGES_INPUT,
    STATE_INPUT,
    BlockSpec,
    BundleError,
    Manifest,
    SessionSettings,
    read_manifest,
    sha256_of,
)
from edgevla.runtime.normalize import NumpyNormalizer

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int64)": "int64"}


@dataclass(frozen=True)
class BundleRuntimeConfig:
    """Overrides of the manifest's per-block session settings (None: keep the manifest's)."""

    threads: int | None = None
    graph_optimization: str | None = None

    def apply(self, settings: SessionSettings) -> SessionSettings:
        changes = {k: v for k, v in vars(self).items() if v is not None}
        return replace(settings, **changes)


def load_bundle(path: str | Path, config: BundleRuntimeConfig | None = None) -> BundlePolicy:
    """The bundle in directory `path`; a BundleError names the file at fault."""
    bundle = Path(path)
    manifest = read_manifest(bundle)
    config = config or BundleRuntimeConfig()
    sessions = [
        _open_block(bundle, block, config.apply(block.session)) for block in manifest.blocks
    ]
    _check_dataflow(manifest, bundle)
    return BundlePolicy(manifest, sessions)


def _open_block(bundle: Path, block: BlockSpec, settings: SessionSettings) -> ort.InferenceSession:
    file = bundle / block.file
    if not file.is_file():
        raise BundleError(file, f"block {block.name!r} file not found")
    digest = sha256_of(file)
    if digest != block.sha256:
        raise BundleError(
            file,
            f"SHA-256 mismatch for block {block.name!r}: manifest {block.sha256[:16]}…, "
            f"file {digest[:16]}… (corrupt or replaced)",
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = _OPT_LEVELS[settings.graph_optimization]
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for a bad graph
        raise BundleError(
            file, f"onnxruntime cannot load block {block.name!r}: {str(e)[:300]}"
        ) from None
    _check_signature(file, block, session)
    return session


def _check_signature(file: Path, block: BlockSpec, session: ort.InferenceSession) -> None:
    """The graph's inputs and outputs must be exactly the manifest's (name, dtype, shape)."""
    for kind, declared, actual in (
        ("inputs", block.inputs, session.get_inputs()),
        ("outputs", block.outputs, session.get_outputs()),
    ):
        graph = [(a.name, _ORT_TYPES.get(a.type, a.type), tuple(a.shape)) for a in actual]
        manifest = [(t.name, t.dtype, tuple(t.shape)) for t in declared]
        if graph != manifest:
            raise BundleError(
                file,
                f"block {block.name!r}: graph {kind} {str(graph)[:300]} disagree with the "
                f"manifest's {str(manifest)[:300]}",
            )


def _check_dataflow(manifest: Manifest, bundle: Path) -> None:
    n_cameras = len(manifest.cameras)
    height, width = manifest.image_shape
    available = {IMAGES_INPUT: (n_cameras, 3, height, width), STATE_INPUT: None}
    for block in manifest.blocks:
        for tensor in block.inputs:
            if tensor.name not in available:
                raise BundleError(
                    bundle / block.file,
                    f"block {block.name!r} reads {tensor.name!r}, which no earlier block "
                    f"produces (available: {sorted(available)})",
                )
            shape = available[tensor.name]
            if shape is not None and tuple(tensor.shape) != shape:
                raise BundleError(
                    bundle / block.file,
                    f"block {block.name!r} input {tensor.name!r} has shape {tensor.shape}, "
                    f"expected {shape}",
                )
        available.update({t.name: tuple(t.shape) for t in block.outputs})
    if ACTIONS_OUTPUT not in available:
        raise BundleError(bundle / "manifest.json", f"no block outputs {ACTIONS_OUTPUT!r}")


class BundlePolicy:
    """The bundle's blocks behind the ChunkPolicy protocol; stateless between chunks."""

    def __init__(self, manifest: Manifest, sessions: list[ort.InferenceSession]) -> None:
        self.manifest = manifest
        self.sessions = sessions
        self._observation = {t.name: t for t in manifest.observation}
        self._image_keys = [image_key(c) for c in manifest.cameras]
        self._norms = {n.key: NumpyNormalizer(n) for n in manifest.normalization}
        self.spec = PolicySpec(
            chunk_size=manifest.chunk_size,
            fps=manifest.fps,
            cameras=tuple(manifest.cameras),
            image_shape=tuple(manifest.image_shape),
            action_names=tuple(manifest.action_names),
            state_dim=self._state_dim(),
            name=f"{manifest.policy_type}-bundle",
            extra={"n_action_steps": manifest.n_action_steps},
        )

    def _state_dim(self) -> int:
        state = self._observation.get(STATE_KEY)
        return int(state.shape[0]) if state is not None else 0

    def reset(self) -> None:
        """Nothing to forget: each chunk depends on its observation only."""

    def predict_chunk(self, observation: Observation, timestep: int = 0) -> ActionChunk:
        """-> actions float32[chunk_size, A] (joint targets) for the observation at `timestep`."""
        normalized = self.run_blocks(self.block_inputs(observation))[ACTIONS_OUTPUT][0]
        actions = self._norm(ACTION_KEY, normalized, inverse=True)
        return ActionChunk(np.ascontiguousarray(actions, dtype=np.float32), timestep)

    def block_inputs(self, observation: Observation) -> dict[str, np.ndarray]:
        """Observation -> the normalized `images` float32[C, 3, H, W] and `state` float32[1, S]."""
        for key in self._observation:
            if key not in observation:
                have = sorted(k for k in observation if k != TASK_KEY)
                raise KeyError(f"observation lacks {key!r} needed by the policy; it has {have}")
        tensors: dict[str, np.ndarray] = {}
        if self._image_keys:
            images = [self._image(k, observation[k]) for k in self._image_keys]
            tensors[IMAGES_INPUT] = np.ascontiguousarray(np.stack(images))
        if STATE_KEY in self._observation:
            state = self._vector(STATE_KEY, observation[STATE_KEY])
            tensors[STATE_INPUT] = self._norm(STATE_KEY, state)[None]
        return tensors

    def run_blocks(self, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run every block in order; returns all tensors, the blocks' outputs added."""
        tensors = dict(tensors)
        for block, session in zip(self.manifest.blocks, self.sessions, strict=True):
            feeds = {t.name: tensors[t.name] for t in block.inputs}
            outputs = session.run([t.name for t in block.outputs], feeds)
            tensors.update(zip((t.name for t in block.outputs), outputs, strict=True))
        return tensors

    def _norm(self, key: str, x: np.ndarray, inverse: bool = False) -> np.ndarray:
        norm = self._norms.get(key)
        if norm is None:
            return x
        return norm.unnormalize(x) if inverse else norm.normalize(x)

    def _image(self, key: str, image: Any) -> np.ndarray:
        """uint8[H, W, 3] -> normalized float32[3, H, W] (the torch policy's checks)."""
        image = checked_image(key, image, tuple(self._observation[key].shape))
        chw = (image.astype(np.float32) / np.float32(255)).transpose(2, 0, 1)
        return self._norm(key, chw)

    def _vector(self, key: str, value: Any) -> np.ndarray:
        return checked_vector(key, value, tuple(self._observation[key].shape))
