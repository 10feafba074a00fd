"""Robot clients: connecting with retry, simulated network latency, and openpi's published client
driving an egovla server unchanged."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest
from _serve_toys import CHUNK, make_obs
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from egovla.serve.client import AsyncPolicyClient, PolicyClient, server_url
from egovla.serve.link import Link
from egovla.serve.server import ServerConfig, ServerThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_urls_like_openpis():
    assert server_url("127.0.0.1", 8000) == "ws://127.0.0.1:8000"
    assert server_url("ws://robot-server:9000") == "ws://robot-server:9000"


def test_the_client_waits_for_a_server_that_starts_late(served):
    port, started = free_port(), []

    def start_later():
        time.sleep(1.0)
        started.append(ServerThread(served, ServerConfig(port=port)))

    threading.Thread(target=start_later).start()
    tic = time.perf_counter()
    with PolicyClient("127.0.0.1", port, connect_timeout_s=20) as client:
        assert time.perf_counter() - tic >= 0.9 and client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
    started[0].stop()


def test_no_server_is_a_clear_error_within_the_timeout():
    tic = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"could not connect to ws://127.0.0.1:\d+ within 1 s"):
        PolicyClient("127.0.0.1", free_port(), connect_timeout_s=1)
    assert time.perf_counter() - tic < 5


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
    with ServerThread(served, ServerConfig(port=0)) as srv:
        with PolicyClient(srv.url) as plain, PolicyClient(srv.url, link=Link(rtt_ms=100)) as slow:
            for c in (plain, slow):
                c.infer(make_obs(0))  # warm-up
            t0 = time.perf_counter()
            plain.infer(make_obs(0))
            t1 = time.perf_counter()
            slow.infer(make_obs(0))
            t2 = time.perf_counter()
    assert (t2 - t1) - (t1 - t0) > 0.09


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
