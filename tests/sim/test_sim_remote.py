"""A served policy in closed loop: the same chunks and the same evaluation as the local policy, and in
real time with network latency, asynchronous scheduling keeps more control steps fed than synchronous."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from _serve_toys import tiny_policy, write_run  # noqa: E402

from egovla.serve.link import Link  # noqa: E402
from egovla.serve.served import ServedPolicy  # noqa: E402
from egovla.serve.server import ServerConfig, ServerThread  # noqa: E402
from egovla.sim.agents import PolicyAgent, RemoteAgent  # noqa: E402
from egovla.sim.evaluate import EvalConfig, evaluate  # noqa: E402
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv  # noqa: E402
from egovla.sim.realtime import ControlConfig, run_control  # noqa: E402

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


def test_async_scheduling_keeps_more_steps_fed_than_sync_at_100_ms(server):
    shares = {}
    for mode in ("sync", "async"):
        cfg = ControlConfig(mode=mode, hz=30, threshold=12, max_steps=60)  # tolerates replies up to 12 ticks late
        (r,) = run_control(server.url, ("reach-v3",), 1, cfg, ENV, link=Link(rtt_ms=100))
        assert r["steps"] == 60 and r["requests"] >= 3 and r["mean_wait_ms"] >= 100
        shares[mode] = r["fed"] / r["steps"]
    assert shares["sync"] < 0.7, shares  # it waits >= 3 ticks for every 4 it executes
    assert shares["async"] > 0.8 and shares["async"] > shares["sync"] + 0.15, shares


def test_egovla_eval_metaworld_server_flag(server, tmp_path, capsys):
    from egovla.cli import main

    out = tmp_path / "eval"
    assert main(["eval", "metaworld", "--server", server.url, "--tasks", "reach-v3", "--episodes", "1",
                 "--max-steps", "5", "--size", "32", "--videos", "0", "--workers", "1", "--no-progress",
                 "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["server"] == server.url
    with pytest.raises(SystemExit):  # --policy and --server exclude each other
        main(["eval", "metaworld", "--server", server.url, "--policy", "oracle", "--tasks", "reach-v3",
              "--out", str(out)])
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
