"""The human-video experiment end to end at toy size: human-proxy video recorded and converted, robot demos
collected, the four conditions trained with the same step budget and evaluated, and results.json in the
layout the benchmark documents."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from egovla.jobs.demo import FULL
from egovla.jobs.human_transfer import TransferConfig, finetune_data, format_table, run_transfer

TOY = TransferConfig(tasks=("button-press-topdown-v3",), robot_demos=(1,), seeds=(0,), human_episodes=2, pretrain=3,
                     finetune=2, eval_episodes=1, workers=1, finetune_human=0.25,
                     loop=replace(FULL, image_size=32, chunk_len=8, max_steps=15, batch_size=4))


@pytest.mark.slow
def test_the_experiment_runs_every_condition_and_reports_them(tmp_path, monkeypatch):
    from egovla.sim import report

    head = {"commit": "at-start", "dirty": False}
    monkeypatch.setattr(report, "commit", lambda: dict(head))
    said = []

    def say(message):  # a commit lands while the experiment runs
        said.append(message)
        head["commit"] = "landed-meanwhile"

    results = run_transfer(TOY, tmp_path, progress=False, say=say)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert said and saved["provenance"]["commit"] == "at-start"
    assert saved["tasks"] == ["button-press-topdown-v3"] and len(saved["rows"]) == 1
    row = saved["rows"][0]
    assert row["robot_demos"] == 1
    for c in ("robot_only", "human_pretrained", "cotrained", "zero_shot"):
        assert 0.0 <= row[c] <= 1.0 and len(row[f"{c}_wilson95"]) == 2
    steps = {c["condition"]: json.loads((tmp_path / c["run"].split(str(tmp_path) + "/")[1] / "summary.json").read_text())
             ["steps"] for c in saved["cells"]}
    assert steps == {"zero_shot": 3, "robot_only": 5, "human_pretrained": 2, "cotrained": 5}  # 3 + 2 for every one
    fine = [c for c in saved["cells"] if c["condition"] == "human_pretrained"][0]
    fine_run = json.loads((tmp_path / "seed0/n1/human_pretrained/run.json").read_text())
    assert fine_run["init"].endswith("human-pretrained")
    assert [(Path(d["name"]).name, d["weight"]) for d in fine_run["datasets"]] == [("robot-1", 0.75),
                                                                                     ("human-moving-camera-2", 0.25)]
    assert fine["episodes"] == 1 and (tmp_path / "transfer.png").stat().st_size > 0
    assert "| 1 |" in format_table(results) and list((tmp_path / "data").glob("human-*-episode0.png"))


def test_fine_tuning_takes_the_robot_demos_alone_or_mixed_with_the_human_video():
    assert finetune_data(TransferConfig(), "robot", Path("human")) == ("robot",)
    assert finetune_data(TransferConfig(finetune_human=0.3), "robot", Path("human")) == ("robot:0.7", "human:0.3")
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="finetune_human"):
            finetune_data(TransferConfig(finetune_human=bad), "robot", Path("human"))
