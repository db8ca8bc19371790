"""A block's FP32 graph -> the precision its recipe names, with onnxruntime.quantization.

int8 graphs are pre-processed first (shape inference and onnxruntime's basic optimizations,
which fold ACT's frozen batch norm into the convolutions), so what gets quantized is what
will run. Static int8 is QDQ, calibrated on the dataset frames given; dynamic int8 quantizes
weights offline and activations per call (MatMul/Gemm; its ConvInteger is slower than float
convolution on CPUs). After quantizing, `op_report` counts which ops run in int8 and which
stayed float; a `portable` recipe refuses any op outside the standard ONNX domain.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgevla.export.onnx_export import quiet
from edgevla.export.recipes import BlockRecipe

_TYPES = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
_QDQ = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
_INTEGER_OPS = {"MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul", "QGemm"}
_STANDARD_DOMAINS = {"", "ai.onnx"}


class QuantizationError(ValueError):
    """A block that cannot be brought to its recipe's precision; the message names it."""


@dataclass(frozen=True)
class OpReport:
    quantized: dict[str, int]  # op type -> nodes running in integer
    float_ops: dict[str, int]  # op type -> nodes left float
    foreign: dict[str, int]  # "domain:op" -> nodes outside the standard domain
    weights_7bit: bool | None = None  # int8 only: reduce_range as resolved on this machine


class _Frames(CalibrationDataReader):
    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._iter: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)


def apply_recipe(
    name: str,
    fp32: Path,
    out: Path,
    recipe: BlockRecipe,
    calibration: list[dict[str, np.ndarray]],
    log: Path,
) -> OpReport:
    """Write block `name` at `recipe.precision` to `out`; returns its op report."""
    if recipe.precision == "fp32":
        shutil.copyfile(fp32, out)
    elif recipe.precision == "fp16":
        _to_fp16(fp32, out, log)
    else:
        prepared = out.with_suffix(".pre.onnx")
        with quiet(log):
            quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
            if recipe.precision == "int8-dynamic":
                _dynamic(prepared, out, recipe)
            else:
                if not calibration:
                    raise QuantizationError(f"block {name!r}: int8-static needs calibration frames")
                _static(prepared, out, recipe, calibration)
        prepared.unlink()
    report = op_report(onnx.load(str(out)))
    if recipe.precision.startswith("int8"):
        report = dataclasses.replace(report, weights_7bit=recipe.weights_7bit())
    if recipe.portable and report.foreign:
        raise QuantizationError(
            f"block {name!r}: the portable recipe allows standard ONNX ops only, the graph has "
            f"{report.foreign}"
        )
    return report


def _extra(recipe: BlockRecipe) -> dict[str, object]:
    return {"MatMulConstBOnly": recipe.matmul_const_b_only}


def _dynamic(model: Path, out: Path, recipe: BlockRecipe) -> None:
    quantize_dynamic(
        str(model),
        str(out),
        op_types_to_quantize=list(recipe.op_types),
        per_channel=recipe.per_channel,
        reduce_range=recipe.weights_7bit(),
        weight_type=_TYPES[recipe.weight_type],
        extra_options=_extra(recipe),
    )


def _static(
    model: Path, out: Path, recipe: BlockRecipe, calibration: list[dict[str, np.ndarray]]
) -> None:
    quantize_static(
        str(model),
        str(out),
        _Frames(calibration),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(recipe.op_types),
        per_channel=recipe.per_channel,
        reduce_range=recipe.weights_7bit(),
        activation_type=_TYPES[recipe.activation_type],
        weight_type=_TYPES[recipe.weight_type],
        calibrate_method=_METHODS[recipe.calibration],
        extra_options=_extra(recipe),
    )


def _to_fp16(fp32: Path, out: Path, log: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with quiet(log):
        model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    onnx.save(model, str(out))


def op_report(model: onnx.ModelProto) -> OpReport:
    """Which nodes compute in integer: integer ops, and ops fed by a DequantizeLinear whose
    output goes on to a QuantizeLinear (QDQ's "this op runs in int8"); the rest stayed float."""
    nodes = model.graph.node
    produced_by = {out: n.op_type for n in nodes for out in n.output}
    consumers: dict[str, list[str]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    quantized: Counter[str] = Counter()
    floating: Counter[str] = Counter()
    foreign: Counter[str] = Counter()
    for n in nodes:
        if n.domain not in _STANDARD_DOMAINS:
            foreign[f"{n.domain}:{n.op_type}"] += 1
        if n.op_type in _QDQ:
            continue
        fed = any(produced_by.get(i) == "DequantizeLinear" for i in n.input)
        feeds_q = all(all(c == "QuantizeLinear" for c in consumers.get(o, ["?"])) for o in n.output)
        if n.op_type in _INTEGER_OPS or (fed and feeds_q):
            quantized[n.op_type] += 1
        else:
            floating[n.op_type] += 1
    return OpReport(dict(quantized), dict(floating), dict(foreign))
