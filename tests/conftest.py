"""Suite-wide setup: headless rendering for every test that touches the sim."""

import os

# MuJoCo picks its GL backend at import; EGL is Debian's headless Mesa (setup.sh installs it).
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_export_inputs(tmp_path_factory):
    """(checkpoint, dataset): a random tiny ACT and a synthetic dataset it reads."""
    from edgevla.export.testing import tiny_export_inputs

    return tiny_export_inputs(tmp_path_factory.mktemp("export-inputs"))


@pytest.fixture(scope="session")
def fp32_bundle(tiny_export_inputs, tmp_path_factory):
    """The tiny ACT exported with the fp32 recipe (export and runtime tests share it)."""
    from edgevla.export import ExportConfig, export_bundle

    checkpoint, dataset = tiny_export_inputs
    out = tmp_path_factory.mktemp("bundles") / "fp32"
    export_bundle(ExportConfig(checkpoint, out, dataset, recipe="fp32", parity_frames=4))
    return out
