"""The scripted experts: Meta-World's policies, with reach aimed by the point its success is scored at."""

from __future__ import annotations

import numpy as np
import pytest

from egovla.sim.experts import TCP_GOAL_TASKS, TcpGoalExpert, scripted_expert
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv


def _tcp_to_goal(env: MetaWorldEnv, expert: str, layout: int, steps: int) -> np.ndarray:
    """The TCP's distance to the goal (m) after each of `steps` expert actions."""
    obs = env.reset(layout)
    policy = scripted_expert(env, expert)
    out = []
    for _ in range(steps):
        obs, _ = env.step(np.clip(policy.get_action(obs["raw"]), -1, 1), render=False)
        out.append(np.linalg.norm(env.tcp_position() - env.goal_position()))
    return np.array(out)


@pytest.fixture(scope="module")
def reach_env():
    with MetaWorldEnv("reach-v3", 0, EnvConfig(size=32)) as env:
        yield env


@pytest.mark.parametrize("layout", [0, 3])
def test_the_tcp_expert_puts_the_scored_point_on_the_goal(reach_env, layout):
    d = _tcp_to_goal(reach_env, "tcp", layout, 120)
    assert d.min() < 0.01 and d[-1] < 0.01  # settles on the goal, not on the success radius's edge


@pytest.mark.parametrize("layout", [0, 3])
def test_meta_worlds_reach_policy_stalls_at_the_edge_of_the_success_radius(reach_env, layout):
    """The reason for the correction: as shipped it steers the hand body, 4.5 cm above the TCP, onto the goal."""
    d = _tcp_to_goal(reach_env, "metaworld", layout, 120)
    assert 0.035 < d.min() <= 0.05


def test_only_the_reach_tasks_are_corrected(reach_env):
    assert isinstance(scripted_expert(reach_env), TcpGoalExpert)
    assert not isinstance(scripted_expert(reach_env, "metaworld"), TcpGoalExpert)
    assert TCP_GOAL_TASKS == {"reach-v3", "reach-wall-v3"}
    with MetaWorldEnv("push-v3", 0, EnvConfig(size=32)) as env:
        assert type(scripted_expert(env)).__name__ == "SawyerPushV3Policy"


def test_the_observation_given_to_the_expert_is_left_as_it_was(reach_env):
    obs = reach_env.reset(1)
    raw = obs["raw"].copy()
    scripted_expert(reach_env).get_action(obs["raw"])
    np.testing.assert_array_equal(obs["raw"], raw)


def test_an_unknown_expert_is_named(reach_env):
    with pytest.raises(ValueError, match="expert: expected one of"):
        scripted_expert(reach_env, "oracle")
