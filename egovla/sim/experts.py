"""The scripted experts that demonstrate Meta-World tasks: Meta-World's own policies, one corrected.

Meta-World's reach policies steer the hand body (its observation's first three numbers) onto the
goal, but the reach tasks measure success at the TCP, the point between the fingertips, which hangs
4.5 cm below the hand. Their demonstrations therefore stall 3.9-4.6 cm from the goal, inside the
5 cm success radius by 4-11 mm, and a policy that imitates them to within a centimetre
still misses. The `tcp` expert (the default) gives the same policy the goal moved by the hand's
offset from the TCP, so the TCP, the point that is scored, lands on the goal.
"""

from __future__ import annotations

import numpy as np

#: Tasks whose Meta-World policy steers the hand body where the task scores the TCP.
TCP_GOAL_TASKS = frozenset({"reach-v3", "reach-wall-v3"})
#: "tcp": Meta-World's policies with reach aimed by the TCP; "metaworld": the policies as shipped.
EXPERTS = ("tcp", "metaworld")


class TcpGoalExpert:
    """A Meta-World policy whose goal (the observation's last three numbers) is moved by hand - TCP."""

    def __init__(self, policy, env):
        self.policy, self.env = policy, env

    def get_action(self, raw_obs: np.ndarray) -> np.ndarray:
        raw = np.array(raw_obs, dtype=np.float64, copy=True)
        raw[-3:] += raw[:3] - self.env.tcp_position()
        return self.policy.get_action(raw)


def scripted_expert(env, expert: str = "tcp"):
    """The expert for `env.task`: an object with `get_action(raw_obs) -> (4,)` Meta-World action."""
    from metaworld.policies import ENV_POLICY_MAP

    if expert not in EXPERTS:
        raise ValueError(f"expert: expected one of {EXPERTS}, got {expert!r}")
    if env.task not in ENV_POLICY_MAP:
        raise ValueError(f"{env.task}: Meta-World has no scripted policy for this task")
    policy = ENV_POLICY_MAP[env.task]()
    if expert == "tcp" and env.task in TCP_GOAL_TASKS:
        return TcpGoalExpert(policy, env)
    return policy
