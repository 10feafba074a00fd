"""Robot clients: connecting with retry, simulated network latency, and openpi's published client
driving an egovla server unchanged."""

from __future__ import annotations

import asyncio
import socket
import threading

import numpy as np
import pytest
from helpers.policies import CHUNK, make_obs
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from egovla.client.client import AsyncPolicyClient, PolicyClient, server_url
from egovla.client.link import Link
from egovla.serve.server import ServerConfig, ServerThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_urls_like_openpis():
    assert server_url("127.0.0.1", 8000) == "ws://127.0.0.1:8000"
    assert server_url("ws://robot-server:9000") == "ws://robot-server:9000"


def test_the_client_waits_for_a_server_that_starts_late(served, monkeypatch):
    port, started, refused = free_port(), [], threading.Event()
    retryable = PolicyClient._retryable

    def note_refusal(self, error, deadline):
        refused.set()
        return retryable(self, error, deadline)

    monkeypatch.setattr(PolicyClient, "_retryable", note_refusal)

    def start_once_refused():  # the server comes up only after the client was turned away
        if refused.wait(20):
            started.append(ServerThread(served, ServerConfig(port=port)))

    threading.Thread(target=start_once_refused).start()
    with PolicyClient("127.0.0.1", port, connect_timeout_s=30) as client:
        assert client.connect_attempts > 1  # refused until the server came up, then connected
        assert client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
    started[0].stop()


def test_no_server_is_a_clear_error_within_the_timeout():
    with pytest.raises(ConnectionError, match=r"could not connect to ws://127.0.0.1:\d+ within 1 s"):
        PolicyClient("127.0.0.1", free_port(), connect_timeout_s=1)


def test_a_dropped_connection_is_reopened(served):
    with ServerThread(served, ServerConfig(port=0)) as srv, PolicyClient(srv.url) as client:
        client._ws.close()
        assert client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)


def test_link_delays_each_round_trip(served):
    link = Link(rtt_ms=120, jitter_ms=40, seed=1)
    waits = [link.uplink() + link.downlink() for _ in range(200)]
    assert 0.08 <= min(waits) and max(waits) <= 0.16 and abs(np.mean(waits) - 0.12) < 0.01
    with pytest.raises(ValueError, match="rtt_ms and jitter_ms must be finite"):
        Link(rtt_ms=-1)
    slept = []
    drawn = Link(rtt_ms=100, jitter_ms=30, seed=3)
    expected = [drawn.uplink(), drawn.downlink(), drawn.uplink(), drawn.downlink()]
    with ServerThread(served, ServerConfig(port=0)) as srv:
        with PolicyClient(srv.url, link=Link(rtt_ms=100, jitter_ms=30, seed=3, sleep=slept.append)) as client:
            for _ in range(2):
                assert client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
    assert slept == expected  # before each request and after each reply, the link's seeded delays


def test_the_asyncio_client_keeps_requests_in_order(served):
    async def main(url):
        client = await AsyncPolicyClient.connect(url)
        replies = await asyncio.wait_for(asyncio.gather(*(client.infer(make_obs(i)) for i in range(6))), 30)
        await client.close()
        return replies

    with ServerThread(served, ServerConfig(port=0)) as srv:
        replies = asyncio.run(main(srv.url))
    assert [r["id"] for r in replies] == list(range(6))


@pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager")  # openpi-client's own call
def test_openpis_client_drives_an_egovla_server_unchanged(served):
    """A robot program written for openpi-client: WebsocketClientPolicy(host, port), metadata, infer."""
    with ServerThread(served, ServerConfig(port=0, token="k")) as srv:
        policy = WebsocketClientPolicy("127.0.0.1", srv.server.port, api_key="k")
        meta = policy.get_server_metadata()
        obs = make_obs(4)
        obs = {"images": obs["images"], "state": obs["state"], "prompt": obs["instruction"]}
        result = policy.infer(obs)
        assert result["actions"].shape == (meta["chunk_len"], meta["action_dim"])
        expected = served.predict([served.check(make_obs(4))[0]])[0]
        np.testing.assert_allclose(result["actions"], expected, atol=1e-5)
        with pytest.raises(RuntimeError, match="Error in inference server:\nbad observation: 'state'"):
            policy.infer({**obs, "state": np.zeros(2, np.float32)})
        assert policy.infer(obs)["actions"].shape == (CHUNK, 48)  # still usable after the error
        with pytest.raises(Exception, match="401"):
            WebsocketClientPolicy("127.0.0.1", srv.server.port, api_key="wrong")
