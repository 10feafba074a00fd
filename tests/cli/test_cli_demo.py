"""`egovla demo --quick`: the whole loop (collect -> train -> closed-loop eval) runs and reports."""

from __future__ import annotations

import json

import pytest

from egovla.cli import main


@pytest.mark.slow
def test_quick_demo_collects_trains_evaluates_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "demo.json").read_text())
    tasks = ["reach-v3", "button-press-topdown-v3"]
    assert report["tasks"] == tasks and report["quick"] is True
    assert report["expert_success"] == {t: 1.0 for t in tasks}
    assert set(report["success_rate"]) == set(tasks)
    assert 0.0 <= report["mean_success_rate"] <= 1.0
    assert set(report["wall_seconds"]) == {"collect", "train", "eval", "total"}
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["episodes"] == 2 * len(tasks) and results["config"]["policy"] == str(out / "run")
    assert (out / "run" / "policy" / "model.safetensors").exists() and (out / "eval" / "success.png").exists()
    assert list((out / "eval" / "videos").glob("*.mp4"))
    for word in ["reach-v3", "mean", "wall time: collect", "videos:", str(out / "eval" / "success.png")]:
        assert word in printed, word
