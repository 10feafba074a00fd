"""The benchmark protocol: results say what produced them (commit, versions, machine, seeds, layouts,
settings), every success rate carries its Wilson 95% interval, MT50 results group by difficulty, and the
same evaluation run twice gives the same episodes."""

from __future__ import annotations

import json

import pytest
from helpers.policies import tiny_policy, write_run

from egovla.sim import report
from egovla.sim.evaluate import EvalConfig, evaluate
from egovla.sim.metaworld_env import EnvConfig
from egovla.sim.tasks import DIFFICULTY, MT50, parse_tasks


def test_wilson_intervals():
    assert report.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert report.wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert report.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert report.wilson(0, 0) == (0.0, 1.0)


def test_mt50_splits_into_leroBots_four_difficulty_groups():
    groups = [t for names in DIFFICULTY.values() for t in names]
    assert sorted(groups) == sorted(MT50) and len(set(groups)) == 50
    assert {g: len(v) for g, v in DIFFICULTY.items()} == {"easy": 28, "medium": 11, "hard": 6, "very_hard": 5}
    assert parse_tasks("hard") == DIFFICULTY["hard"] and "push-v3" in parse_tasks("hard")
    pooled = report.by_difficulty({"push-v3": report.rate_with_interval(3, 4), "reach-v3": report.rate_with_interval(1, 4),
                                   "pick-place-v3": report.rate_with_interval(1, 4)})
    assert pooled["hard"]["successes"] == 4 and pooled["hard"]["episodes"] == 8 and pooled["hard"]["tasks"] == 2
    assert pooled["easy"]["success_rate"] == 0.25 and pooled["easy"]["of"] == 28


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    run = write_run(root / "run", tiny_policy(chunk_len=8, max_text_len=48), cameras=("corner",), fps=80)
    cfg = EvalConfig(tasks=("reach-v3", "push-v3"), policy=str(run), episodes=3, env=EnvConfig(size=32), workers=1,
                     max_steps=40, execute=2, videos=0)
    return [evaluate(cfg, root / f"eval{i}", progress=False) for i in (1, 2)], root


def test_the_same_evaluation_twice_gives_the_same_episodes(twice):
    (a, b), _ = twice
    assert a["per_episode"] == b["per_episode"] and len(a["per_episode"]) == 6
    assert [e["seed"] for e in a["per_episode"]] == [1000] * 6 and [e["layout"] for e in a["per_episode"]][:3] == [0, 1, 2]


def test_results_record_provenance_intervals_and_groups(twice):
    _, root = twice
    r = json.loads((root / "eval1" / "results.json").read_text())
    p = r["provenance"]
    assert {"metaworld", "mujoco", "torch", "numpy"} <= set(p["versions"]) and p["versions"]["metaworld"] == "3.1.1"
    assert "commit" in p and p["machine"]["cpu_count"] >= 1
    for t in r["tasks"].values():
        low, high = t["wilson95"]
        assert 0 <= low <= t["success_rate"] <= high <= 1
    assert set(r["difficulty"]) == {"easy", "hard"} and r["difficulty"]["hard"]["tasks"] == 1
    assert r["config"]["seed"] == 1000 and r["config"]["env"]["size"] == 32 and r["config"]["max_steps"] == 40
    table = report.format_table(r)
    assert "95% CI" in table and "hard (1/6 tasks)" in table
    for task, t in r["tasks"].items():  # failures: the median distance from the goal where they ended, in cm
        line = next(x for x in table.splitlines() if x.startswith(task))
        missed = t["failed_median_goal_distance_m"]
        assert line.endswith(f"{100 * missed:.1f} cm") if missed is not None else line.endswith("]")
