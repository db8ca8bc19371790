"""What the exporting CPU's int8 kernels need to know about it.

x86 without VNNI multiplies uint8 activations by int8 weights with `vpmaddubsw`, whose int16
sums saturate: with full 8-bit weights the errors are large (measured on an AVX2-only EPYC:
the demo ACT's int8-dynamic chunk off by 13 degrees and 0/5 sim successes, against 1.4 degrees
and 5/5 with 7-bit weights). VNNI (`vpdpbusd`) accumulates in int32 and needs no reduced range;
ARM's dot-product kernels do not saturate either.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
X86_MACHINES = ("x86_64", "amd64", "i686", "x86")


def _is_x86() -> bool:
    return platform.machine().lower() in X86_MACHINES


def x86_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The CPU's feature flags on x86 Linux; None elsewhere or when they cannot be read."""
    if not _is_x86():
        return None
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def needs_reduced_range(cpuinfo: Path = CPUINFO) -> bool:
    """True on x86 without VNNI, where 8-bit int8 weights saturate onnxruntime's u8s8 kernels.
    An x86 CPU whose flags cannot be read is treated as lacking VNNI (the safe side)."""
    if not _is_x86():
        return False
    flags = x86_flags(cpuinfo)
    return flags is None or not any(f in flags for f in VNNI_FLAGS)
