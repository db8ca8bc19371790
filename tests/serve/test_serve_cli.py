"""The `edgevla serve` command end to end (policy sources themselves: tests/sources)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from serve_fakes import make_observation

from edgevla.features import STATE_KEY
from edgevla.serve import RemoteError, RemotePolicy

pytestmark = pytest.mark.timeout(60)


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgevla.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 120  # a checkpoint loads torch first
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
        "--policy", "hold:chunk_size=4,cameras=top,image=24x32", "--token-file", str(token_file),
        "--workers", "2", "--max-in-flight", "1", "--session-idle-s", "5",
    )  # fmt: skip
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
        (["--policy", "nope"], "--policy 'nope': not a known kind"),
        (["--policy", "hold", "--tls-cert", str(tmp_path / "c.pem")], "go together"),
        (["--policy", "hold", "--token-file", str(tmp_path / "none")], "does not exist"),
        (["--policy", "hold", "--workers", "0"], "must be > 0, got {'workers': 0}"),
        (["--policy", "hold", "--session-idle-s", "-1"], "session_idle_s must be >= 0"),
    ]:
        done = subprocess.run(run + extra, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["act", "smolvla"])
def test_run_against_a_server_of_a_checkpoint_completes_a_sim_episode(kind, tmp_path):
    from edgevla.cli import main
    from edgevla.policies import testing

    make = {"act": testing.tiny_act_checkpoint, "smolvla": testing.tiny_smolvla_checkpoint}
    checkpoint = make[kind](tmp_path / "ckpt" / "pretrained_model")
    proc, address = _start_cli("--policy", str(checkpoint))
    try:
        out = tmp_path / "remote"
        # 3 s on the wall clock: long enough for a tiny SmolVLA's first chunk on a busy machine
        argv = ["run", "--server", address, "--trigger", "sync", "--max-seconds", "3"]
        assert main([*argv, "--out", str(out)]) == 0
        episode = json.loads((out / "results.json").read_text())["episodes"][0]
        assert episode["ticks"] == 90 and episode["chunks_received"] >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "opened: policy=ckpt" in output and "closed: 1 ok" in output


def _maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_process_workers_serve_a_checkpoint_as_loaded_here_and_only_they_import_torch(tmp_path):
    from edgevla.policies import testing
    from edgevla.sources import resolve_policy

    checkpoint = testing.tiny_act_checkpoint(tmp_path / "ckpt" / "pretrained_model")
    local = resolve_policy(str(checkpoint))
    proc, address = _start_cli(
        "--policy", str(checkpoint), "--workers", "2", "--isolation", "process"
    )
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 2 and all(_maps_torch(int(c)) for c in children)
        assert not _maps_torch(proc.pid)  # the server process itself stays torch-free
        with RemotePolicy(address) as client:
            for seed in range(3):
                obs = make_observation(client.spec, seed=seed)
                served = client.predict_chunk(obs, seed).actions
                # a worker runs 1 torch thread, this process 2: float sums may differ slightly
                np.testing.assert_allclose(served, local.predict_chunk(obs).actions, atol=1e-4)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "closed: 3 ok" in out
