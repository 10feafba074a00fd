"""The replay check: a recorded demonstration's labels (future poses in the camera frame), executed
through the gripper controller instead of the expert, succeed wherever the expert did. This ties the
unified action space, the camera maths and the controller together without any learning."""

from __future__ import annotations

import numpy as np
import pytest

from egovla.sim.collect import run_expert
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv
from egovla.sim.replay import expert_then_replay, replay_labels
from egovla.sim.tasks import DEMO_TASKS


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_replayed_labels_succeed_where_the_expert_did(task):
    with MetaWorldEnv(task, 0, EnvConfig(size=32)) as env:
        results = [expert_then_replay(env, layout) for layout in (0, 1)]
    assert any(r["expert"] for r in results), results
    for r in results:
        if r["expert"]:
            assert r["replay"], results
            assert 0 < r["replay_steps"] <= r["expert_steps"] + 50


def test_the_replay_check_holds_for_another_fixed_frame_camera():
    """Labels live in the first camera's frame; which fixed camera that is must not matter."""
    with MetaWorldEnv("reach-v3", 0, EnvConfig(cameras=("topview",), size=16)) as env:
        r = expert_then_replay(env, 0)
    assert r["expert"] and r["replay"], r


@pytest.mark.parametrize("camera", ["behindGripper", "gripperPOV"])
def test_a_hand_mounted_camera_cannot_define_the_frame(camera):
    """A camera that moves with the arm would make every label relative to a moving frame."""
    with pytest.raises(ValueError, match=f"{camera}.*moves with the arm"):
        MetaWorldEnv("reach-v3", 0, EnvConfig(cameras=(camera,), size=16))
    with MetaWorldEnv("reach-v3", 0, EnvConfig(cameras=("corner", camera), size=16)) as env:
        assert env.reset(0)["images"][camera].shape == (16, 16, 3)  # fine as an extra view


@pytest.fixture(scope="module")
def reach_episode():
    with MetaWorldEnv("reach-v3", 0, EnvConfig(size=16)) as env:
        ep = run_expert(env, 1, settle_steps=10)
        full = np.zeros((len(ep["action"]), 48))
        full[:, env.embodiment.mask] = ep["action"]
        yield env, ep, full


def test_gripper_dims_and_full_vectors_replay_the_same(reach_episode):
    env, ep, full = reach_episode
    assert ep["success"] and ep["action"].shape[1] == 15
    short = replay_labels(env, 1, ep["action"])
    assert short == replay_labels(env, 1, full)
    assert short["success"] and short["steps"] == env.steps


def test_labels_held_in_place_do_not_reach_the_goal(reach_episode):
    """The check can fail: replaying only the first pose (the start) for the whole episode does not
    succeed on reach."""
    env, ep, _ = reach_episode
    r = replay_labels(env, 1, np.repeat(ep["state"][:1], 40, axis=0), hold_steps=0)
    assert r == {"success": False, "steps": 40}


@pytest.mark.parametrize("shape", [(48,), (5, 16), (5, 47), (2, 5, 15)])
def test_bad_label_shapes_are_rejected(reach_episode, shape):
    env, _, _ = reach_episode
    with pytest.raises(ValueError, match=r"labels: expected \(T, 48\) or \(T, 15\)"):
        replay_labels(env, 0, np.zeros(shape))


def test_empty_labels_are_rejected(reach_episode):
    env, _, _ = reach_episode
    with pytest.raises(ValueError, match="labels"):
        replay_labels(env, 0, np.zeros((0, 15)))
