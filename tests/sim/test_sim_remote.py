"""A served policy in closed loop: the same chunks and the same evaluation as the local policy, and in
real time with network latency, asynchronous scheduling keeps more control steps fed than synchronous."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers.policies import tiny_policy, write_run

from egovla.client.clock import VirtualClock
from egovla.client.link import Link
from egovla.serve.served import ServedPolicy
from egovla.serve.server import ServerConfig, ServerThread
from egovla.sim.agents import PolicyAgent, RemoteAgent
from egovla.sim.evaluate import EvalConfig, evaluate
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv
from egovla.sim.realtime import ControlConfig, run_control

ENV = EnvConfig(size=32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    return write_run(tmp_path_factory.mktemp("remote") / "run", tiny_policy(head="flow", chunk_len=16))


@pytest.fixture(scope="module")
def server(run_dir):
    with ServerThread(ServedPolicy.from_run(run_dir), ServerConfig(port=0)) as srv:
        yield srv


def test_the_remote_agent_predicts_the_local_agents_chunks(run_dir, server):
    local, remote = PolicyAgent(run_dir, fps=80.0), RemoteAgent(server.url, fps=80.0)
    with MetaWorldEnv("reach-v3", 1000, ENV) as env:
        obs = env.reset(0)
        for agent in (local, remote):
            agent.reset(env)
        for _ in range(3):
            for agent in (local, remote):
                agent.observe(obs)
            a, b = local.act(obs, env.instruction), remote.act(obs, env.instruction)
            np.testing.assert_allclose(b, a, atol=1e-5)
            obs, _ = env.step(np.array([0.5, 0.0, 0.2, -1.0], np.float32))
    remote.close()


def test_eval_through_the_server_gives_the_local_numbers(run_dir, server, tmp_path):
    common = dict(tasks=("reach-v3",), episodes=2, env=ENV, max_steps=12, execute=2, videos=0, workers=1)
    here = evaluate(EvalConfig(policy=str(run_dir), **common), tmp_path / "local", progress=False)
    there = evaluate(EvalConfig(policy=server.url, server=server.url, **common), tmp_path / "remote", progress=False)
    assert there["per_episode"] == here["per_episode"]
    saved = json.loads((tmp_path / "remote" / "results.json").read_text())
    assert saved["config"]["server"] == server.url and saved["config"]["token"] is None


def test_eval_refuses_levers_for_a_served_policy():
    with pytest.raises(ValueError, match="levers apply to a local policy"):
        EvalConfig(tasks=("reach-v3",), server="ws://127.0.0.1:1", levers=("int8",))


def _control(server, mode: str, rtt_ms: float = 100.0, infer_ms: float = 10.0) -> dict:
    """One 60-tick reach episode at 30 Hz on a virtual clock: the link and the modelled inference time
    are simulated seconds, so the counts do not depend on how fast this machine answers."""
    cfg = ControlConfig(mode=mode, hz=30, threshold=12, max_steps=60)  # tolerates replies up to 12 ticks late
    (r,) = run_control(server.url, ("reach-v3",), 1, cfg, ENV, clock=VirtualClock(Link(rtt_ms=rtt_ms), infer_ms))
    return r


def test_async_scheduling_keeps_more_steps_fed_than_sync_at_100_ms(server):
    runs = {mode: _control(server, mode) for mode in ("sync", "async")}
    for r in runs.values():
        assert r["steps"] == 60 and r["requests"] >= 3
    # round trip + inference in simulated time; the asynchronous robot notices a reply at its next tick
    assert runs["sync"]["mean_wait_ms"] == pytest.approx(110.0)
    assert runs["async"]["mean_wait_ms"] == pytest.approx(4000 / 30)
    # sync: each request blocks int(110 ms / 33.3 ms) = 3 ticks; a 16-step chunk then runs 4 steps before
    # 12 are left and it asks again: cycles of 4 fed + 3 unfed ticks, 8 of them and 1 + 3 in 60 ticks
    assert runs["sync"]["fed"] == 33
    # async: only the 4 ticks before the first reply go unfed; later replies come while 12 steps are left
    assert runs["async"]["fed"] == 56


def test_control_on_a_virtual_clock_is_exactly_repeatable(server):
    first, second = _control(server, "async", rtt_ms=150), _control(server, "async", rtt_ms=150)
    assert {k: first[k] for k in ("steps", "fed", "requests", "mean_wait_ms", "success")} == \
           {k: second[k] for k in ("steps", "fed", "requests", "mean_wait_ms", "success")}


def test_a_link_goes_to_the_clock_or_to_run_control_not_both(server):
    with pytest.raises(ValueError, match="give the link to the clock"):
        run_control(server.url, ("reach-v3",), 1, ControlConfig(), ENV, link=Link(rtt_ms=10),
                    clock=VirtualClock(Link(rtt_ms=10)))


def test_egovla_eval_metaworld_server_flag(server, tmp_path, capsys):
    from egovla.cli import main

    out = tmp_path / "eval"
    assert main(["eval", "metaworld", "--server", server.url, "--tasks", "reach-v3", "--episodes", "1",
                 "--max-steps", "5", "--size", "32", "--videos", "0", "--workers", "1", "--no-progress",
                 "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["server"] == server.url
    assert main(["eval", "metaworld", "--server", server.url, "--policy", "oracle", "--tasks", "reach-v3",
                 "--out", str(out)]) == 2  # --policy and --server exclude each other
    assert "not allowed with argument" in capsys.readouterr().err


def test_levers_reach_the_local_agent_and_the_server(run_dir):
    plain, cached = PolicyAgent(run_dir, fps=80.0), PolicyAgent(run_dir, fps=80.0, levers=("cache",))
    assert type(cached.policy).__name__ == "LeveredPolicy" and cached.policy.levers.cache
    served = ServedPolicy.from_run(run_dir, ["cache"])
    with MetaWorldEnv("reach-v3", 1000, ENV) as env:
        obs = env.reset(0)
        for agent in (plain, cached):
            agent.reset(env)
            agent.observe(obs)
        wire = plain.observation(obs, env.instruction)
        expected = plain.act(obs, env.instruction)
        assert np.array_equal(cached.act(obs, env.instruction), expected)  # the cache lever is exact
    np.testing.assert_allclose(served.predict([served.check(wire)[0]])[0], expected, atol=1e-6)
