"""`egovla collect metaworld` and `egovla eval metaworld`, run in-process: tables, outputs, errors, help."""

from __future__ import annotations

import json

import pytest

from egovla.cli import main
from egovla.data.lerobot.reader import LeRobotReader
from egovla.sim.collect import load_sidecar

FAST = ["--size", "32", "--workers", "1", "--no-progress"]


def test_collect_writes_the_dataset_and_prints_the_success_table(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["collect", "metaworld", "--tasks", "reach", "--episodes", "1", *FAST, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "expert success" in text
    row = next(line for line in text.splitlines() if line.startswith("reach-v3"))
    assert row.split() == ["reach-v3", "100%", "1"]
    assert "1 episodes" in text and str(out) in text
    with LeRobotReader(out) as r:
        assert len(r.episodes) == 1 and r.cameras == ["observation.images.corner"]
        assert r.features["observation.images.corner"]["shape"] == [32, 32, 3]
    side = load_sidecar(out)
    assert side["success_rate"] == {"reach-v3": 1.0} and side["env"]["fovy"] == 32.0


def test_eval_oracle_prints_the_table_and_writes_results(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "metaworld", "--policy", "oracle", "--tasks", "reach", "--episodes", "2", "--execute", "1",
                 *FAST, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split() == ["task", "success", "n", "95%", "CI", "failures", "end"]
    assert next(line for line in lines if line.startswith("reach-v3")).split() == ["reach-v3", "100%", "2/2", "[", "34,",
                                                                                   "100]"]  # Wilson 95% at 2/2
    assert next(line for line in lines if line.startswith("mean")).split() == ["mean", "100%"]
    assert f"results: {out / 'results.json'}" in text
    results = json.loads((out / "results.json").read_text())
    assert results["mean_success_rate"] == 1.0 and results["episodes"] == 2
    assert {e["seed"] for e in results["per_episode"]} == {1000}  # the default evaluation seed
    assert results["config"]["execute"] == 1 and results["config"]["env"]["size"] == 32
    assert (out / "success.png").exists() and list((out / "videos").glob("reach-v3_ep*_success.mp4"))


@pytest.mark.parametrize("command", [["collect", "metaworld"], ["eval", "metaworld", "--policy", "oracle"]])
def test_an_unknown_task_exits_2_naming_it(tmp_path, capsys, command):
    out = tmp_path / "out"
    assert main([*command, "--tasks", "reach,teleport", *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error: argument --tasks: unknown Meta-World task 'teleport'" in err
    assert "reach-v3" in err  # the known names are listed
    assert not (out / "meta").exists()


def test_eval_of_a_missing_policy_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["eval", "metaworld", "--policy", str(missing), "--tasks", "reach", "--episodes", "1", *FAST,
                 "--out", str(tmp_path / "out")]) == 2
    assert f"egovla eval: error: --policy {missing}: no such run or policy folder" in capsys.readouterr().err


def test_collect_into_an_existing_folder_exits_2(tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["collect", "metaworld", "--tasks", "reach", "--episodes", "1", *FAST, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("command, words", [
    (["collect", "metaworld"], ["SEED + e // 50", "object layout e", "meta/metaworld.json", "action.raw",
                                "action at t is the pose at t+1", "success rate", "--overwrite", "--cameras"]),
    (["eval", "metaworld"], ["--seed", "default 1000", "disjoint from collection's 0", "results.json",
                             "success.png", "videos/", "--policy oracle", "--ensemble", "--execute"]),
])
def test_help_explains_seeds_and_outputs(capsys, command, words):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for word in words:
        assert word in text, word


def test_collect_help_shows_the_layout_formula_verbatim(capsys):
    with pytest.raises(SystemExit):
        main(["collect", "metaworld", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "layout e % 50" in text and "%%" not in text
