"""`edgevla doctor` on the command line: table, JSON report, HTML with thumbnails, exit status."""

from __future__ import annotations

import json

from edgevla.cli import main
from edgevla.dataset.doctor import defects


def _thresholds(tmp_path):
    path = tmp_path / "thresholds.json"
    path.write_text(
        json.dumps(
            {
                "protocol.cluster_size": {"min_episodes": 2},
                "protocol.recovery": {"min_share": 0.1, "max_share": 0.5},
            }
        )
    )
    return path


def test_clean_dataset_exits_0_even_on_warn(clean_recording, tmp_path, capsys):
    config = _thresholds(tmp_path)
    args = [str(clean_recording), "--config", str(config), "--fail-on", "warn", "--no-progress"]
    assert main(["doctor", *args]) == 0
    assert "0 of 25 checks failed" in capsys.readouterr().out


def test_defects_gate_by_severity_and_land_in_json_and_html(dataset, tmp_path, capsys):
    defects.edit_frames(dataset, 3, "left", lambda f: defects.shift(f, 3, -2))  # warn
    config, report, page = _thresholds(tmp_path), tmp_path / "r.json", tmp_path / "html"
    common = [str(dataset), "--config", str(config), "--no-progress"]
    assert main(["doctor", *common, "--fail-on", "error"]) == 0  # drift is a warning
    out = main(["doctor", *common, "--fail-on", "warn", "--json", str(report), "--html", str(page)])
    assert out == 1
    text = capsys.readouterr().out
    assert (
        "episode 3, observation.images.left" in text
        and "failing at --fail-on warn: camera.drift" in text
    )
    data = json.loads(report.read_text())
    drift = next(r for r in data["results"] if r["name"] == "camera.drift")
    assert drift["status"] == "fail" and drift["findings"][0]["episode"] == 3
    assert data["config"]["thresholds"]["protocol.cluster_size"] == {"min_episodes": 2}
    html = (page / "index.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # reference, drifted, their difference
    assert "reference: episode 0, frame 0" in html and "difference x4" in html


def test_errors_are_one_line_and_exit_2(tmp_path, clean_recording, capsys):
    assert main(["doctor", str(tmp_path / "absent")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"camera.drift": {"max_shift": 3}}))
    assert main(["doctor", str(clean_recording), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not a dataset directory" in err
    assert "thresholds['camera.drift']: unknown parameters ['max_shift']" in err
    assert main(["doctor", str(clean_recording), "--checks", "nope"]) == 2


def test_train_with_doctor_refuses_a_defective_dataset(dataset, tmp_path, capsys):
    defects.edit_episode_meta(dataset, lambda e, m: m.update(split="train") if e == 4 else None)
    out = tmp_path / "run"
    args = [
        "train",
        "--policy",
        "act",
        "--dataset",
        str(dataset),
        "--out",
        str(out),
        "--steps",
        "1",
    ]
    assert main([*args, "--doctor", "--no-progress"]) == 1
    assert "not training" in capsys.readouterr().out and not out.exists()
