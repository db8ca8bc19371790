"""The base install serves a bundle (issue 12): a fresh virtualenv holding only `pip install
<repo>` with no extras (numpy, onnxruntime, grpcio, protobuf; no torch) runs `edgevla serve` on
an exported tiny ACT, and a client of the full install gets the chunk the full install computes.

The fresh venv needs a package index (PyPI or pip's configured one): without one the test fails
saying so; it never skips. The venv's device libraries are pinned to the full install's
versions, so "the same chunk" means bit for bit, and torch is refused outright by a constraint.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgevla.export.frames import dataset_observations
from edgevla.runtime.bundle import load_bundle
from edgevla.serve import RemotePolicy, ServeError, check_health
from edgevla.sources import resolve_policy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

REPO = Path(__file__).resolve().parents[2]
DEVICE_LIBRARIES = ("numpy", "onnxruntime", "grpcio", "grpcio-health-checking", "protobuf")
PIP_TIMEOUT_S = 300
START_TIMEOUT_S = 60

PROBE = """
import importlib.metadata, json, sys
import edgevla.cli, edgevla.runtime.bundle, edgevla.serve
try:
    import torch
    torch_error = None
except ImportError as e:
    torch_error = str(e)
print(json.dumps({
    "edgevla": edgevla.cli.__file__,
    "torch_error": torch_error,
    "versions": {n: importlib.metadata.version(n) for n in sys.argv[1:]},
}))
"""


def _clean_env() -> dict[str, str]:
    """The test process's environment without what would point the venv at the worktree's
    sources or at another environment (PYTHONPATH is how the suite runs a worktree)."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return env | {"PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}


def _copy_sources(out: Path) -> Path:
    """What `pip install .` builds from, copied: setuptools writes build/ and *.egg-info into
    the tree it builds, which must not be the developer's checkout."""
    out.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, out / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", out / "src", ignore=ignore)
    return out


def _base_venv(root: Path) -> Path:
    """A fresh venv with the repo installed, no extras; fails naming pip's complaint."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    constraints = root / "constraints.txt"
    pins = [f"{n}=={importlib.metadata.version(n)}" for n in DEVICE_LIBRARIES]
    constraints.write_text("\n".join([*pins, "torch<0  # the device side must never pull torch"]))
    source = _copy_sources(root / "source")
    argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(constraints)]
    done = subprocess.run(
        [*argv, str(source)], capture_output=True, text=True, env=_clean_env(),
        timeout=PIP_TIMEOUT_S, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(
            f"pip could not install the base install into a fresh venv (exit {done.returncode}). "
            "This test needs a reachable package index (PyPI or pip's configured index) for "
            f"{', '.join(DEVICE_LIBRARIES)} and the build backend, pinned to the full "
            "install's versions; 'torch' in the error means a base dependency now pulls torch."
            f"\npip said:\n{(done.stdout + done.stderr)[-3000:]}",
            pytrace=False,
        )
    return venv


def _probe(venv: Path) -> dict:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PROBE, *DEVICE_LIBRARIES],
        capture_output=True, text=True, env=_clean_env(), cwd=venv, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"the base install cannot import its device side:\n{done.stderr}"
    return json.loads(done.stdout)


def _start_server(venv: Path, bundle: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`edgevla serve` of the venv on a port it picks; (process, address) once it is SERVING."""
    argv = [str(venv / "bin" / "edgevla"), "serve", "--policy", f"act={bundle}", "--port", "0"]
    with log.open("w") as sink:
        proc = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=_clean_env(), cwd=log.parent
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"serving \['act'\] on (127\.0\.0\.1:\d+)", log.read_text())
        if found:
            try:
                if check_health(found.group(1), timeout=1.0) == "SERVING":
                    return proc, found.group(1)
            except ServeError:
                pass
        time.sleep(0.1)
    _stop(proc)
    raise AssertionError(f"the base install's server did not become SERVING:\n{log.read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the server stops gracefully and exits 0); killed if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_a_base_install_serves_a_bundle_and_the_client_gets_the_full_installs_chunk(
    fp32_bundle, tiny_export_inputs, tmp_path
):
    venv = _base_venv(tmp_path)
    probe = _probe(venv)
    assert probe["torch_error"] == "No module named 'torch'", probe
    assert Path(probe["edgevla"]).is_relative_to(venv), probe  # the installed copy, not src/
    assert probe["versions"] == {n: importlib.metadata.version(n) for n in DEVICE_LIBRARIES}

    checkpoint, dataset = tiny_export_inputs
    bundle = load_bundle(fp32_bundle)
    observation = dataset_observations(dataset, bundle.spec, 1)[0]
    log = tmp_path / "serve.log"
    proc, address = _start_server(venv, fp32_bundle, log)
    try:
        with RemotePolicy(address) as client:
            assert client.spec.cameras == bundle.spec.cameras
            remote = client.predict_chunk(observation, timestep=5)
    finally:
        _stop(proc)
    output = log.read_text()
    assert proc.returncode == 0, output
    assert "opened: policy=act" in output and "stopped serving" in output, output

    assert remote.timestep == 5 and remote.actions.shape == (bundle.spec.chunk_size, 6)
    np.testing.assert_array_equal(remote.actions, bundle.predict_chunk(observation).actions)
    torch_actions = resolve_policy(str(checkpoint)).predict_chunk(observation).actions
    gate = json.loads((fp32_bundle / "manifest.json").read_text())["parity"]["end_to_end"]
    error = float(np.abs(remote.actions.astype(np.float64) - torch_actions).max())
    bound = gate["tolerance_abs"] + gate["tolerance_rel"] * float(np.abs(torch_actions).max())
    assert error <= bound, f"served chunk is {error:.3g} from torch's, export allows {bound:.3g}"
