"""One block to one FP32 ONNX graph with static shapes, quietly.

torch 2.13's `torch.onnx.export` defaults to the dynamo exporter, which needs onnxscript; the
TorchScript exporter (`dynamo=False`) traces these blocks reliably (plain convolutions,
attention and linear layers, no data-dependent control flow). Its warnings and whatever it
prints, from Python or from C++, go to a log file beside the bundle, not to the terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import onnx
import torch

from edgevla.export.act_blocks import Block

OPSET = 17  # LayerNormalization is a standard op from 17 on


@contextlib.contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send warnings and fd 1 / fd 2 (C++ output too) to `log` while the body runs."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "a") as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            for w in caught:
                sink.write(f"{w.category.__name__}: {w.message}\n")


def export_block(block: Block, path: Path, log: Path) -> Path:
    """Trace `block.module` at its static input shapes and write `path` (checked by onnx)."""
    examples = tuple(torch.zeros(t.shape, dtype=torch.float32) for t in block.inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with quiet(log), torch.no_grad():
        torch.onnx.export(
            block.module,
            examples,
            str(path),
            input_names=[t.name for t in block.inputs],
            output_names=[t.name for t in block.outputs],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    onnx.checker.check_model(str(path))
    return path
