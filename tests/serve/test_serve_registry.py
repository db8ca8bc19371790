"""`--policy SPEC` resolution and the `edgevla serve` command end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from serve_fakes import make_observation

from edgevla.features import CAMERAS, STATE_KEY
from edgevla.serve import (
    FixedChunkPolicy,
    HoldPolicy,
    PolicyLoadError,
    RemoteError,
    RemotePolicy,
    load_policies,
    load_policy,
)
from edgevla.serve.registry import parse_policy_arg

pytestmark = pytest.mark.timeout(60)


def test_parse_policy_arg():
    assert parse_policy_arg("zeros") == ("zeros", "zeros", {})
    assert parse_policy_arg("arm=hold:chunk_size=50,fps=15") == (
        "arm",
        "hold",
        {"chunk_size": "50", "fps": "15"},
    )
    with pytest.raises(PolicyLoadError, match="not key=value"):
        parse_policy_arg("zeros:chunk_size")
    with pytest.raises(PolicyLoadError, match="has no kind"):
        parse_policy_arg("name=")


def test_trivial_kinds_and_their_options():
    name, zeros = load_policy("zeros:chunk_size=5,cameras=top+left,image=48x64")
    assert name == "zeros" and isinstance(zeros, FixedChunkPolicy)
    assert zeros.spec.chunk_size == 5 and zeros.spec.cameras == ("top", "left")
    assert zeros.spec.image_shape == (48, 64)
    chunk = zeros.predict_chunk(make_observation(zeros.spec), 9)
    assert chunk.timestep == 9 and not chunk.actions.any()
    _, hold = load_policy("hold")
    assert isinstance(hold, HoldPolicy) and hold.spec.cameras == CAMERAS
    obs = {STATE_KEY: np.arange(6, dtype=np.float32)}
    np.testing.assert_array_equal(hold.predict_chunk(obs).actions[-1], obs[STATE_KEY])
    with pytest.raises(PolicyLoadError, match=r"unknown options \['chunk'\]"):
        load_policy("zeros:chunk=5")
    with pytest.raises(PolicyLoadError, match="bad option value"):
        load_policy("zeros:image=48by64")


def test_unknown_kinds_bundles_and_duplicate_names_are_clear_errors(tmp_path):
    with pytest.raises(PolicyLoadError, match=r"unknown policy 'act'.*\['hold', 'scripted'"):
        load_policy("act")
    (tmp_path / "manifest.json").write_text(json.dumps({}))
    with pytest.raises(PolicyLoadError, match="ONNX bundle; serving bundles is not yet supported"):
        load_policy(str(tmp_path))
    with pytest.raises(PolicyLoadError, match="two policies named 'zeros'"):
        load_policies(["zeros", "zeros"])
    assert sorted(load_policies(["zeros", "b=zeros"])) == ["b", "zeros"]


def test_scripted_is_the_sims_policy_or_a_clear_error():
    try:
        name, policy = load_policy("scripted")
    except PolicyLoadError as e:
        assert "edgevla.sim.scripted_policy.ScriptedChunkPolicy is not available" in str(e)
    else:
        assert name == "scripted" and hasattr(policy, "predict_chunk")


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgevla.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        found = re.search(r"serving .* on (127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


def test_cli_serves_logs_sessions_and_stops_cleanly_on_ctrl_c(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("tok-123\n")
    proc, address = _start_cli(
        "--policy", "hold:chunk_size=4,cameras=top,image=24x32", "--token-file", str(token_file)
    )
    try:
        with pytest.raises(RemoteError, match="UNAUTHENTICATED"):
            RemotePolicy(address).connect(timeout=5)
        with RemotePolicy(address, token="tok-123") as client:
            obs = make_observation(client.spec)
            chunk = client.predict_chunk(obs, 11)
        assert chunk.timestep == 11
        np.testing.assert_array_equal(chunk.actions, np.tile(obs[STATE_KEY], (4, 1)))
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "opened: policy=hold" in out and "closed: 1 ok" in out
    assert "rejected /edgevla.v1.PolicyService/OpenSession: no bearer token" in out
    assert "stopped serving" in out


def test_cli_rejects_bad_arguments_with_one_line(tmp_path):
    run = [sys.executable, "-m", "edgevla.cli", "serve", "--port", "0"]
    for extra, message in [
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--policy", "hold", "--tls-cert", str(tmp_path / "c.pem")], "go together"),
        (["--policy", "hold", "--token-file", str(tmp_path / "none")], "does not exist"),
    ]:
        done = subprocess.run(run + extra, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and message in done.stderr, done.stderr
