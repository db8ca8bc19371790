"""A policy worker process: `python -m edgevla.serve.child (--source S | --factory M:F) --threads K`.

Started by edgevla.serve.pool, never by hand. It loads the policy itself (so torch is imported
here, and only when the source is a checkpoint), keeps one policy object per session
(edgevla.serve.instances), and answers frames (edgevla.serve.frames) on its stdin/stdout one
at a time. Its stdout is the pipe: anything the policy prints goes to stderr, with the logs.
It exits when its stdin closes — the server stopped, or died: no orphan outlives it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

from edgevla.contracts import ActionChunk
from edgevla.features import TASK_KEY
from edgevla.serve import schema
from edgevla.serve.frames import read_frame, write_frame
from edgevla.serve.instances import SessionPolicies
from edgevla.serve.pool import PolicyLoader

log = logging.getLogger("edgevla.serve.child")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="")
    parser.add_argument("--factory", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--label", default="worker")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [{args.label}] %(message)s"
    )
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a print() in a policy must not corrupt the pipe
    inp = os.fdopen(os.dup(0), "rb", buffering=0)
    loader = PolicyLoader(source=args.source, factory=args.factory)
    try:
        policy = loader.load(threads=args.threads)
        _share_cores(args.threads)
    except Exception as e:
        write_frame(out, {"op": "error", "message": f"{loader}: {type(e).__name__}: {e}"})
        return 1
    policies = SessionPolicies(args.label, policy)
    spec = schema.spec_to_proto(policy.spec).SerializeToString()
    write_frame(out, {"op": "ready", "mode": policies.mode}, {"spec": _bytes_array(spec)})
    while (frame := read_frame(inp)) is not None:
        header, arrays = frame
        if header["op"] == "forget":
            policies.forget(header["session"])
        elif header["op"] == "infer":
            reply, actions = _infer(policies, header, arrays)
            write_frame(out, reply, actions)
        else:
            raise ValueError(f"unknown op {header['op']!r} from the server")
    return 0


def _infer(policies: SessionPolicies, header: dict, arrays: dict) -> tuple[dict, dict]:
    """One predict_chunk: ("chunk", {"actions": float[T, A]}) or ("failed", message)."""
    observation = {**arrays, TASK_KEY: header["task"]}
    try:
        policy = policies.get(header["session"])
        started = time.perf_counter()
        chunk = policy.predict_chunk(observation, header["timestep"])
        compute_s = time.perf_counter() - started
        if not isinstance(chunk, ActionChunk):
            raise TypeError(f"predict_chunk returned {type(chunk).__name__}, not ActionChunk")
        reply = {"op": "chunk", "timestep": int(chunk.timestep), "compute_s": compute_s}
        return reply, {"actions": chunk.actions}
    except Exception as e:
        log.exception("policy failed (session %s)", header["session"][:8])
        return {"op": "failed", "message": f"{type(e).__name__}: {e}"}, {}


def _share_cores(threads: int) -> None:
    """torch's threads per call (its default, every core, fights the other workers); a
    bundle's onnxruntime threads were set as it loaded."""
    torch = sys.modules.get("torch")  # only a checkpoint's loading imported it
    if torch is not None:
        torch.set_num_threads(threads)


def _bytes_array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


if __name__ == "__main__":
    sys.exit(main())
