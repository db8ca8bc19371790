"""Resolve what the user named with `--policy` into a ChunkPolicy: a checkpoint directory
(LeRobot layout, any registered type) or `scripted` (the sim expert planning chunks)."""

from __future__ import annotations

from pathlib import Path

from edgevla.contracts import ChunkPolicy


def load_chunk_policy(name: str, fps: float = 30.0) -> ChunkPolicy:
    if name == "scripted":
        from edgevla.sim.scripted_policy import ScriptedChunkPolicy

        return ScriptedChunkPolicy()
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"--policy {name}: no such checkpoint directory (or 'scripted')")
    from edgevla.policies.checkpoint import load_policy

    policy = load_policy(path)
    if policy.config.type == "smolvla":  # needs the task string and seeded flow noise
        from edgevla.policies.smolvla.chunk_policy import SmolVLAChunkPolicy

        return SmolVLAChunkPolicy(policy, fps=fps, seed=0)
    from edgevla.policies.chunk_policy import TorchChunkPolicy

    return TorchChunkPolicy(policy, fps=fps)
