"""The collect -> train -> evaluate loop that `egovla demo` and the Meta-World benchmarks share."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from egovla.jobs.demo import QUICK, collect_train_eval
from egovla.sim.tasks import ARTICULATED, DEMO_TASKS


def test_the_loops_model_training_settings_and_policy_overrides_reach_the_trained_model(tmp_path):
    loop = replace(QUICK, episodes=1, steps=2, batch_size=4, eval_episodes=1, max_steps=4, image_size=32,
                   tasks=("reach-v3",), policy=("backbone.text_layers=1", "head.layers=3"), ema_decay=0.5,
                   precision="bf16")
    r = collect_train_eval(tmp_path, ("reach-v3",), loop, workers=1, progress=False, say=lambda m: None,
                           policy_overrides=("shift_px=2", "head.layers=1"))
    config = json.loads((r["run"] / "policy" / "config.json").read_text())
    assert config["backbone"]["text_layers"] == 1  # the loop's
    assert config["shift_px"] == 2 and config["head"]["layers"] == 1  # the caller's, applied after the loop's
    assert r["train"]["ema_decay"] == 0.5 and r["train"]["precision"] == "bf16"
    assert r["eval"]["episodes"] == 1 and set(r["wall"]) == {"collect", "train", "eval", "total"}


def test_the_loops_cameras_and_history_are_collected_trained_on_and_evaluated(tmp_path):
    loop = replace(QUICK, episodes=1, steps=2, batch_size=4, eval_episodes=1, max_steps=4, image_size=32,
                   tasks=("reach-v3",), cameras=("corner", "topview"), history=(-0.05, 0.0))
    r = collect_train_eval(tmp_path, ("reach-v3",), loop, workers=1, progress=False, say=lambda m: None)
    info = json.loads((r["data"] / "meta" / "info.json").read_text())
    assert sorted(k for k in info["features"] if k.startswith("observation.images.")) == [
        "observation.images.corner", "observation.images.topview"]
    config = json.loads((r["run"] / "policy" / "config.json").read_text())
    assert config["n_views"] == 2 and config["n_history"] == 2  # and the loop's history frames
    assert r["eval"]["config"]["env"]["cameras"] == ["corner", "topview"] and r["eval"]["episodes"] == 1


def test_a_bad_evaluation_setting_fails_before_collection_and_training(tmp_path):
    loop = replace(QUICK, tasks=("reach-v3",), horizon=0)
    with pytest.raises(ValueError, match="horizon: expected >= 1"):
        collect_train_eval(tmp_path, ("reach-v3",), loop, workers=1, progress=False, say=lambda m: None)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    assert replace(QUICK, horizon=32).eval_config(("reach-v3",), "run", None, 1).horizon == 32


def test_the_loops_precision_is_checked_by_the_trainer():
    with pytest.raises(ValueError, match="precision must be one of"):
        replace(QUICK, precision="fp8").train_config()


def test_the_demo_trains_in_process_in_native_precision_and_the_other_loops_as_before():
    from egovla.jobs.demo import FULL, PRESETS

    easy = PRESETS["demo-easy"]  # the four articulated tasks at 64 px
    assert easy.train_config().precision == "native" and easy.train_config().num_workers == 0
    assert (easy.tasks, easy.image_size, easy.steps, easy.chunk_len, easy.aux_weight) == (ARTICULATED, 64, 2200, 16, 0)
    demo = PRESETS["demo"]  # trains as demo-easy, with what the MT10 preset's precise tasks learned from
    assert demo.tasks == DEMO_TASKS and demo.task_episodes == ("push-v3=100", "pick-place-v3=100")
    assert demo.episodes == 25 and DEMO_TASKS[:4] == ARTICULATED
    assert (demo.steps, demo.aux_weight, demo.chunk_len, demo.horizon, demo.ensemble_w) == (7000, 1.0, 48, 32, 0.6)
    assert demo.image_size == 128 and demo.policy[-2:] == ("backbone.image_size=128", "backbone.patch_size=16")
    assert demo.train_config() == easy.train_config(steps=7000)
    full = FULL.train_config()
    assert full.precision == "no" and full.num_workers == 1  # the two-layer model's measured figures
    reduced = PRESETS["mt10-reduced"]  # as the demo trains, 2x the demos (4x the precise tasks'), more steps, aux
    assert reduced.train_config().precision == "native"
    assert (reduced.episodes, reduced.steps, reduced.aux_weight, reduced.ensemble_w) == (50, 35000, 1.0, 0.6)
    assert reduced.task_episodes == ("reach-v3=100", "push-v3=100", "pick-place-v3=100", "peg-insert-side-v3=100")
    assert (reduced.chunk_len, reduced.horizon) == (48, 32)  # long chunks, their first 32 steps used
    assert reduced.image_size == 128 and reduced.policy[-2:] == ("backbone.image_size=128", "backbone.patch_size=16")
    gpu = PRESETS["mt10"]  # aux targets, the two-layer model, 10000 steps of batch 64, 4 loaders, 50 layouts
    assert gpu.train_config().precision == "native" and gpu.aux_weight == 1.0 and gpu.loader_workers == 4
    assert (gpu.policy, gpu.task_episodes, gpu.steps, gpu.batch_size, gpu.eval_episodes) == ((), (), 10000, 64, 50)
    assert (gpu.chunk_len, gpu.horizon, gpu.image_size) == (16, None, 64)  # as it was measured on the H200


def test_the_loops_seed_reaches_the_trainer_unless_a_stage_gives_its_own():
    assert QUICK.train_config().seed == 0
    assert replace(QUICK, seed=3).train_config().seed == 3
    assert replace(QUICK, seed=3).train_config(seed=5).seed == 5


def test_the_loops_task_weights_name_its_tasks_by_instruction():
    from egovla.sim.tasks import INSTRUCTIONS

    loop = replace(QUICK, task_weights=("reach-v3=2.5",))
    assert loop.instruction_weights(("reach-v3", "push-v3")) == (f"{INSTRUCTIONS['reach-v3']}=2.5",)
    with pytest.raises(ValueError, match="not one of the loop's tasks"):
        loop.instruction_weights(("push-v3",))


def test_the_loops_settle_steps_and_task_weights_reach_collection_and_training(tmp_path):
    tasks = ("reach-v3", "button-press-topdown-v3")
    loop = replace(QUICK, episodes=1, steps=2, batch_size=4, eval_episodes=1, max_steps=4, image_size=32,
                   tasks=tasks, settle_steps=3, task_weights=("reach-v3=2",))
    r = collect_train_eval(tmp_path, tasks, loop, workers=1, progress=False, say=lambda m: None)
    eps = {e["task"]: e for e in r["collect"]["episodes"]}
    assert r["collect"]["settle_steps"] == 3 and r["collect"]["expert"] == "tcp"
    assert all(e["length"] == e["success_step"] + 3 for e in eps.values())
    spec = json.loads((r["run"] / "run.json").read_text())["datasets"][0]
    assert spec["frames"] == 2 * eps["reach-v3"]["length"] + eps["button-press-topdown-v3"]["length"]
    assert spec["task_weights"] == ["reach the goal=2"]


def test_the_loops_label_true_shift_and_auxiliary_targets_reach_the_trained_model(tmp_path):
    loop = replace(QUICK, episodes=1, steps=2, batch_size=4, eval_episodes=1, max_steps=4, image_size=32,
                   tasks=("reach-v3",), shift_px=3, aux_weight=0.25)
    assert replace(loop, shift_px=0).augmentation() == ()
    r = collect_train_eval(tmp_path, ("reach-v3",), loop, workers=1, progress=False, say=lambda m: None)
    config = json.loads((r["run"] / "policy" / "config.json").read_text())
    # the zoomed corner view: 32 px over 32 degrees, f = 16 / tan(16 degrees) pixels
    assert config["shift_px"] == 3 and config["shift_focal_px"] == pytest.approx(55.8, abs=0.01)
    assert config["aux_dim"] == 6 and config["aux_weight"] == 0.25  # the puck's and the goal's positions
    stats = json.loads((r["run"] / "policy" / "stats.json").read_text())
    assert len(stats["aux"]["mean"]) == 6


def test_the_loop_caches_every_collected_frame_unless_given_a_budget(tmp_path, monkeypatch):
    import egovla.jobs.train

    class Stop(Exception):
        pass

    jobs = []

    def stop(job, *a, **k):
        jobs.append(job)
        raise Stop

    small = replace(QUICK, episodes=1, eval_episodes=1, max_steps=4, image_size=32, tasks=("reach-v3",))
    with monkeypatch.context() as m, pytest.raises(Stop):
        m.setattr(egovla.jobs.train, "run_training", stop)
        collect_train_eval(tmp_path / "all", ("reach-v3",), small, workers=1, progress=False, say=lambda m: None)
    assert jobs[0].frame_cache_mb is None  # the trainer's "room for every frame of the datasets"
    tight = replace(QUICK, episodes=1, steps=2, batch_size=4, eval_episodes=1, max_steps=4, image_size=32,
                    tasks=("reach-v3",), holdout_samples=0, frame_cache_mb=0.01)
    with pytest.warns(UserWarning, match="more than frame_cache_mb=0.01"):  # the budget reaches the trainer
        collect_train_eval(tmp_path, ("reach-v3",), tight, workers=1, progress=False, say=lambda m: None)
