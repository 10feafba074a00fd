"""Closed-loop evaluation: the scripted oracle solves the tasks through the unified action space and the
controller; the outputs (results.json, success.png, videos); and the trained-policy path end to end."""

from __future__ import annotations

import json
from dataclasses import replace

import av
import numpy as np
import pytest
from PIL import Image

from egovla.sim.agents import ExpertOracle, PolicyAgent
from egovla.sim.collect import CollectConfig, episode_seed
from egovla.sim.evaluate import LIFTED_M, EvalConfig, episode_embodiment, evaluate, run_episode, summarize
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv

TASKS = ("reach-v3", "button-press-topdown-v3")


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "oracle"
    cfg = EvalConfig(tasks=TASKS, policy="oracle", episodes=3, env=EnvConfig(size=32), execute=1,
                     max_steps=200, workers=1)
    return out, evaluate(cfg, out, progress=False)


def test_the_oracle_solves_the_tasks(oracle_run):
    out, summary = oracle_run
    assert summary["mean_success_rate"] >= 0.9
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == set(TASKS)
    for task in TASKS:
        r = results["tasks"][task]
        assert r["episodes"] == 3 and r["successes"] == round(3 * r["success_rate"])
        assert r["mean_steps_to_success"] is None or 10 < r["mean_steps_to_success"] < 200
    assert results["mean_success_rate"] == pytest.approx(np.mean([results["tasks"][t]["success_rate"] for t in TASKS]))
    assert results["episodes"] == 6 and results["steps_per_s"] > 0
    assert results["steps"] == sum(e["steps"] for e in results["per_episode"])
    assert results["config"]["policy"] == "oracle" and results["config"]["tasks"] == list(TASKS)


def test_episodes_run_on_layouts_disjoint_from_collection(oracle_run):
    _, summary = oracle_run
    per = summary["per_episode"]
    assert [(e["task"], e["episode"]) for e in per] == [(t, e) for t in TASKS for e in range(3)]
    assert all((e["seed"], e["layout"]) == episode_seed(1000, e["episode"]) for e in per)
    collected = {episode_seed(CollectConfig(tasks=TASKS).seed, e) for e in range(1000)}
    assert not collected & {(e["seed"], e["layout"]) for e in per}
    assert all(e["steps"] <= 200 for e in per)
    assert all(e["steps"] < 200 for e in per if e["success"])  # an episode ends at its first success


def test_each_episode_records_how_far_it_ended_from_its_goal(oracle_run):
    _, summary = oracle_run
    for e in summary["per_episode"]:
        assert 0 <= e["closest_goal_distance_m"] <= e["goal_distance_m"]
        if e["task"] == "reach-v3" and e["success"]:
            assert e["goal_distance_m"] <= 0.05  # Meta-World's reach succeeds within 5 cm, and the episode ends there
    for task in TASKS:  # the median over failed episodes only
        failed = [e["goal_distance_m"] for e in summary["per_episode"] if e["task"] == task and not e["success"]]
        assert summary["tasks"][task]["failed_median_goal_distance_m"] == (float(np.median(failed)) if failed else None)


def test_each_episode_records_how_high_the_object_rose(oracle_run):
    """Where a grasp task fails, whether the object was ever picked up tells a missed grasp from a lost one."""
    _, summary = oracle_run
    assert all(0 <= e["object_rise_m"] < LIFTED_M for e in summary["per_episode"])  # reach and buttons lift nothing
    cfg = EvalConfig(tasks=("pick-place-v3",), policy="oracle", episodes=2, env=EnvConfig(size=32), execute=1,
                     max_steps=200, workers=1)
    with MetaWorldEnv("pick-place-v3", 1000, cfg.env, episode_embodiment(cfg)) as env:
        agent = ExpertOracle()
        picked = run_episode(env, agent, 0, cfg)
        cut = run_episode(env, agent, 0, replace(cfg, max_steps=20))  # stopped before the expert reaches the block
    assert picked["success"] and picked["object_rise_m"] > 0.1  # the expert carries the block up to its goal
    assert not cut["success"] and cut["object_rise_m"] < LIFTED_M
    episodes = [dict(picked, task="pick-place-v3", episode=e, seed=1000, layout=e, object_rise_m=rise, success=ok)
                for e, (ok, rise) in enumerate([(True, 0.15), (False, cut["object_rise_m"]), (False, LIFTED_M)])]
    task = summarize(episodes, cfg, 1.0, {})["tasks"]["pick-place-v3"]
    assert task["failed_with_object_lifted"] == 1  # of two failures, one had picked the block up


def test_success_plot_is_a_png(oracle_run):
    out, _ = oracle_run
    path = out / "success.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size[0] > 300 and im.size[1] > 300


def test_rollout_videos_decode(oracle_run):
    out, summary = oracle_run
    videos = sorted((out / "videos").glob("*.mp4"))
    assert videos and [str(v.relative_to(out)) for v in videos] == summary["videos"]
    steps = {(e["task"], e["episode"]): e["steps"] for e in summary["per_episode"]}
    for video in videos:
        task, rest = video.stem.split("_ep")
        episode = int(rest.split("_")[0])
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            assert (stream.width, stream.height) == (256, 256)  # 32 px enlarged 8x
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == steps[(task, episode)] + 1  # every observation, the last one included
        assert frames[0].std() > 10


def test_ensembled_chunks_without_videos(tmp_path):
    cfg = EvalConfig(tasks=("reach-v3",), episodes=1, env=EnvConfig(size=16), execute=2, ensemble_w=0.0,
                     max_steps=150, videos=0)
    s = evaluate(cfg, tmp_path / "ens", progress=False)
    assert s["mean_success_rate"] == 1.0 and s["videos"] == []
    assert not (tmp_path / "ens" / "videos").exists() and (tmp_path / "ens" / "results.json").exists()


@pytest.mark.parametrize("kwargs", [{"episodes": 0}, {"execute": 0}, {"workers": 0}, {"max_steps": 0},
                                    {"max_steps": 501}, {"horizon": 0}])
def test_eval_config_is_checked(kwargs):
    with pytest.raises(ValueError):
        EvalConfig(tasks=("reach-v3",), **kwargs)


def test_a_missing_policy_folder_raises(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(FileNotFoundError, match="no-such-run: no such run or policy folder"):
        evaluate(EvalConfig(tasks=("reach-v3",), policy=str(missing), episodes=1), tmp_path / "out", progress=False)


@pytest.mark.slow
def test_a_trained_policy_runs_closed_loop(reach_dataset, tmp_path):
    """collect -> `egovla train` (3 steps) -> evaluate the run folder: the PolicyAgent path."""
    from egovla.cli import main

    ds, _ = reach_dataset
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(ds), "--history", "0", "--chunk-len", "8", "--steps", "3",
                 "--batch-size", "4", "--holdout", "0", "--eval-samples", "0", "--out", str(run),
                 "--no-progress", "--threads", "1"]) == 0
    assert (run / "policy").is_dir() and (run / "run.json").exists()

    agent = PolicyAgent(run, fps=80.0)
    assert agent.cameras == ["corner"] and agent.offsets.tolist() == [0] and agent.hw == (32, 32)
    with MetaWorldEnv("reach-v3", 1000, EnvConfig(size=32)) as env:
        obs = env.reset(0)
        agent.reset(env)
        with pytest.raises(RuntimeError, match="before any frame was pushed"):
            agent.act(obs, env.instruction)
        agent.observe(obs)
        chunk = agent.act(obs, env.instruction)
    assert chunk.shape == (8, 48) and np.all(np.isfinite(chunk))

    out = tmp_path / "eval"
    s = evaluate(EvalConfig(tasks=("reach-v3",), policy=str(run), episodes=1, env=EnvConfig(size=32),
                            max_steps=10, workers=1), out, progress=False)
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads(json.dumps(s))
    assert results["episodes"] == 1 and results["tasks"]["reach-v3"]["episodes"] == 1
    assert results["per_episode"][0]["steps"] == 10 or results["per_episode"][0]["success"]
    assert results["config"]["policy"] == str(run) and results["agent_seconds_per_step"] > 0


def test_the_damped_controller_and_lookahead_are_evaluation_settings(tmp_path):
    cfg = EvalConfig(tasks=("reach-v3",), policy="oracle", episodes=1, env=EnvConfig(size=32), execute=1,
                     max_steps=60, workers=1, videos=0, damping=2.0, lookahead=2)
    r = evaluate(cfg, tmp_path, progress=False)
    assert r["config"]["damping"] == 2.0 and r["config"]["lookahead"] == 2 and r["per_episode"][0]["steps"] > 0
    with pytest.raises(ValueError, match="damping and lookahead must be >= 0"):
        EvalConfig(tasks=("reach-v3",), lookahead=-1)
    with pytest.raises(ValueError, match="the raw one has none"):
        EvalConfig(tasks=("reach-v3",), policy="x", embodiment="raw", damping=1.0)


def test_frames_are_needed_where_a_request_reads_them():
    from egovla.sim.evaluate import frame_needed

    # requests at 4, 6, 8, ... reading the frame of their own step: only even steps from 4 on
    assert [s for s in range(1, 10) if frame_needed(s, 4, 2, (0,))] == [4, 6, 8]
    # ... and the frame 3 steps before each request too
    assert [s for s in range(1, 10) if frame_needed(s, 4, 2, (0, 3))] == [1, 3, 4, 5, 6, 7, 8, 9]
    assert frame_needed(1, 4, 2, ()) is False and frame_needed(1, 4, 2, None) is True


class _StillAgent:
    """Holds the hand where it is; notes which steps came with images and checks that each request's frames did."""

    def __init__(self, frame_steps):
        self.frame_steps, self.rendered = frame_steps, []

    def reset(self, env):
        self.rendered, self.t = [], -1

    def observe(self, obs):
        self.t += 1
        self.rendered.append(obs["images"] is not None)

    def act(self, obs, instruction):
        assert all(self.rendered[self.t - o] for o in self.frame_steps if self.t - o >= 0), (self.t, self.rendered)
        return np.repeat(obs["state"][None], 4, axis=0)


def test_views_are_rendered_only_for_the_frames_requests_read():
    cfg = EvalConfig(tasks=("reach-v3",), policy="oracle", episodes=1, env=EnvConfig(size=32), execute=2,
                     max_steps=12, workers=1)
    with MetaWorldEnv("reach-v3", 1000, EnvConfig(size=32)) as env:
        plain = _StillAgent((0,))
        r = run_episode(env, plain, 0, cfg)
        assert plain.rendered == [t % 2 == 0 for t in range(12)]  # a request every 2 steps reads its own frame
        history = _StillAgent((0, 1))  # and the step before it, with a request every 4 steps
        run_episode(env, history, 0, replace(cfg, execute=4))
        assert history.rendered == [t % 4 in (0, 3) for t in range(12)]
        recorded = _StillAgent((0,))
        again = run_episode(env, recorded, 0, cfg, record=True)  # videos need every frame
    assert all(recorded.rendered) and len(again["frames"]) == 13
    assert (again["success"], again["steps"]) == (r["success"], r["steps"])
    # a hand held still on reach ends where it started, far from the goal (reach's goal is never at the start)
    assert r["success"] is False and r["goal_distance_m"] > 0.05
    assert r["closest_goal_distance_m"] <= r["goal_distance_m"] + 1e-4
    assert r["object_rise_m"] < 0.005  # nothing was touched, so nothing rose


def test_results_record_the_code_as_the_run_started(tmp_path, monkeypatch):
    """A commit landing while an evaluation runs does not relabel its results: provenance is taken at the start."""
    import egovla.sim.evaluate as evaluate_module
    from egovla.sim import report

    head = {"commit": "at-start", "dirty": False}
    monkeypatch.setattr(report, "commit", lambda: dict(head))
    work = evaluate_module._work

    def work_then_commit(unit):
        out = work(unit)
        head["commit"] = "landed-meanwhile"
        return out

    monkeypatch.setattr(evaluate_module, "_work", work_then_commit)
    cfg = EvalConfig(tasks=("reach-v3",), policy="oracle", episodes=1, env=EnvConfig(size=32), max_steps=5, workers=1)
    evaluate(cfg, tmp_path, progress=False)
    assert head["commit"] == "landed-meanwhile"
    assert json.loads((tmp_path / "results.json").read_text())["provenance"]["commit"] == "at-start"


class _CountingAgent(_StillAgent):
    """Holds the hand still with 8-step chunks and notes the steps it was asked at."""

    def __init__(self):
        super().__init__(())
        self.asked = []

    def act(self, obs, instruction):
        self.asked.append(self.t)
        return np.repeat(obs["state"][None], 8, axis=0)


@pytest.mark.parametrize("ensemble_w", [None, 0.6])
def test_a_horizon_keeps_the_first_steps_of_each_chunk(ensemble_w):
    cfg = EvalConfig(tasks=("reach-v3",), policy="oracle", episodes=1, env=EnvConfig(size=16), execute=4,
                     max_steps=12, workers=1, ensemble_w=ensemble_w)
    with MetaWorldEnv("reach-v3", 1000, EnvConfig(size=16)) as env:
        whole, cut = _CountingAgent(), _CountingAgent()
        run_episode(env, whole, 0, cfg)
        run_episode(env, cut, 0, replace(cfg, horizon=2))
    assert whole.asked == [0, 4, 8]  # 4 of each 8-step chunk executed
    assert cut.asked == [0, 2, 4, 6, 8, 10]  # only 2 of each chunk exist to execute
