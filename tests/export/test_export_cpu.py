import platform

import pytest

from edgevla.export import cpu
from edgevla.export.recipes import BlockRecipe


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize(
    ("flags", "needed"),
    [("fpu sse2 avx2 fma", True), ("avx2 avx512f avx512_vnni", False), ("avx2 avx_vnni", False)],
)
def test_x86_without_vnni_needs_7bit_weights(tmp_path, monkeypatch, flags, needed):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert cpu.needs_reduced_range(_cpuinfo(tmp_path, flags)) is needed


def test_unreadable_x86_flags_take_the_safe_side_and_arm_never_needs_it(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert cpu.needs_reduced_range(tmp_path / "missing") is True
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert cpu.needs_reduced_range(_cpuinfo(tmp_path, "fp asimd")) is False
    assert cpu.x86_flags(_cpuinfo(tmp_path, "fp asimd")) is None


def test_recipe_reduce_range_is_true_false_or_auto(monkeypatch):
    assert BlockRecipe(reduce_range=True).weights_7bit() is True
    assert BlockRecipe(reduce_range=False).weights_7bit() is False
    monkeypatch.setattr("edgevla.export.recipes.needs_reduced_range", lambda: True)
    assert BlockRecipe().weights_7bit() is True  # "auto" is the default
    with pytest.raises(ValueError, match="reduce_range must be true, false or 'auto'"):
        BlockRecipe(reduce_range="sometimes")
