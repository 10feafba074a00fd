"""`egovla serve` on loopback: replies match requests under load, errors keep connections usable,
auth, health, message limits, batching, and a graceful shutdown. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request

import numpy as np
import pytest
from helpers.policies import CHUNK, make_obs
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from egovla.client.client import AsyncPolicyClient, AuthError, PolicyClient, ServerError
from egovla.client.protocol import pack, unpack
from egovla.serve.served import ServedPolicy
from egovla.serve.server import ServerConfig, ServerThread


class GatedPolicy(ServedPolicy):
    """The tiny policy, whose forward pass waits until the test opens the gate (`release`); `started` is
    set once a forward pass is running. An instruction 'boom' makes the forward pass fail."""

    def __init__(self, served: ServedPolicy, open_gate: bool = False):
        self.__dict__.update(served.__dict__)
        self.started, self.release = threading.Event(), threading.Event()
        if open_gate:
            self.release.set()
        self.batches: list[int] = []

    def predict(self, observations):
        self.batches.append(len(observations))
        self.started.set()
        assert self.release.wait(30), "the test never opened the gate"
        if any(o["instruction"] == "boom" for o in observations):
            raise RuntimeError("the model exploded")
        return super().predict(observations)


def test_metadata_on_connect_then_a_chunk_with_id_and_timings(served):
    with ServerThread(served, ServerConfig(port=0)) as srv, PolicyClient(srv.url, connect_timeout_s=10) as client:
        assert client.metadata["image_shape"] == [1, 1, 3, 32, 32] and client.metadata["auth"] is False
        assert client.get_server_metadata() is client.metadata
        reply = client.infer({**make_obs(0), "id": 41})
        assert reply["id"] == 41 and reply["actions"].shape == (CHUNK, 48) and reply["actions"].dtype == np.float32
        assert set(reply["timing"]) == {"queue_ms", "infer_ms", "server_ms", "batch_size"}
        np.testing.assert_allclose(reply["actions"], served.predict([served.check(make_obs(0))[0]])[0], atol=1e-5)


def test_sixteen_robots_each_get_their_own_replies_batched(served):
    pool = [make_obs(i) for i in range(24)]
    expected = [served.predict([served.check(o)[0]])[0] for o in pool]
    n_clients, n_requests = 16, 200

    async def robot(url, r):
        client = await AsyncPolicyClient.connect(url, connect_timeout_s=10)
        sizes = []
        try:
            for k in range(n_requests):
                i = (r * 7 + k) % len(pool)
                reply = await client.infer({**pool[i], "id": f"{r}-{k}"})
                assert reply["id"] == f"{r}-{k}"
                np.testing.assert_allclose(reply["actions"], expected[i], atol=1e-5)
                sizes.append(reply["timing"]["batch_size"])
        finally:
            await client.close()
        return sizes

    async def main(url):
        return await asyncio.wait_for(asyncio.gather(*(robot(url, r) for r in range(n_clients))), 240)

    with ServerThread(served, ServerConfig(port=0, max_batch=8, batch_wait_ms=5)) as srv:
        sizes = np.concatenate(asyncio.run(main(srv.url)))
        assert srv.server.batcher.requests == n_clients * n_requests
    assert len(sizes) == n_clients * n_requests and sizes.max() <= 8
    assert sizes.mean() > 2, f"requests were not batched (mean batch {sizes.mean():.2f})"


def test_an_error_reply_names_the_problem_and_the_connection_stays_usable(served):
    with ServerThread(served, ServerConfig(port=0)) as srv, PolicyClient(srv.url) as client:
        with pytest.raises(ServerError, match=r"request 5: bad observation: 'state': expected shape \(48\), got \[3\]"):
            client.infer({**make_obs(0), "state": np.zeros(3, np.float32), "id": 5})
        with pytest.raises(ServerError, match="bad observation: missing key"):
            client.infer({"images": make_obs(0)["images"]})
        assert client.infer(make_obs(1))["actions"].shape == (CHUNK, 48)
        with connect(srv.url, open_timeout=10) as ws:  # a raw client: text and garbage
            unpack(ws.recv(timeout=10))
            ws.send("hello")
            assert "expected a binary msgpack message" in ws.recv(timeout=10)
            ws.send(b"\x93\x01")
            assert "bad message: not a valid msgpack message" in ws.recv(timeout=10)


def test_a_failing_forward_pass_fails_only_its_own_request(served):
    slow = GatedPolicy(served, open_gate=True)
    # a batch stops waiting once every connected robot is in it, so a long window costs nothing here
    with ServerThread(slow, ServerConfig(port=0, max_batch=4, batch_wait_ms=1000)) as srv:
        async def main():
            clients = [await AsyncPolicyClient.connect(srv.url) for _ in range(3)]
            obs = [make_obs(0), {**make_obs(1), "instruction": "boom"}, make_obs(2)]
            out = await asyncio.wait_for(asyncio.gather(*(c.infer(o) for c, o in zip(clients, obs)),
                                                        return_exceptions=True), 30)
            after = await clients[1].infer(make_obs(3))
            for c in clients:
                await c.close()
            return out, after

        (good0, bad, good2), after = asyncio.run(main())
    assert slow.batches[0] == 3  # they shared one forward pass, which failed
    assert isinstance(bad, ServerError) and "inference failed: RuntimeError: the model exploded" in str(bad)
    assert good0["actions"].shape == good2["actions"].shape == after["actions"].shape == (CHUNK, 48)


def test_a_token_is_required_when_set(served):
    with ServerThread(served, ServerConfig(port=0, token="s3cret")) as srv:
        with pytest.raises(AuthError, match="refused the token"):
            PolicyClient(srv.url, connect_timeout_s=5)
        with pytest.raises(AuthError):
            PolicyClient(srv.url, token="wrong", connect_timeout_s=5)
        with PolicyClient(srv.url, token="s3cret") as client:
            assert client.metadata["auth"] is True and client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
        with connect(srv.url, additional_headers={"Authorization": "Bearer s3cret"}, open_timeout=10) as ws:
            assert unpack(ws.recv(timeout=10))["auth"] is True
        with urllib.request.urlopen(srv.url.replace("ws://", "http://") + "/healthz", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"  # health needs no token


def test_healthz_reports_counts(served):
    with ServerThread(served, ServerConfig(port=0)) as srv, PolicyClient(srv.url) as client:
        client.infer(make_obs(0))
        with urllib.request.urlopen(srv.url.replace("ws://", "http://") + "/healthz", timeout=10) as r:
            status = json.loads(r.read())
    assert status["status"] == "ok" and status["requests"] == 1 and status["connections"] == 1


def test_oversized_messages(served):
    config = ServerConfig(port=0, max_message_bytes=20_000)
    with ServerThread(served, config) as srv, PolicyClient(srv.url) as good:
        big = {**make_obs(0), "pad": np.zeros(30_000, np.uint8)}
        with PolicyClient(srv.url) as client:
            with pytest.raises(ServerError, match=r"message of \d+ bytes is over the limit of 20000 bytes"):
                client.infer(big)
            assert client.infer(make_obs(1))["actions"].shape == (CHUNK, 48)
        with connect(srv.url, open_timeout=10, max_size=None) as ws:  # past 4x the limit: not even read
            ws.recv(timeout=10)
            ws.send(pack({**make_obs(0), "pad": np.zeros(100_000, np.uint8)}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd.code == 1009
        assert good.infer(make_obs(2))["actions"].shape == (CHUNK, 48)


def test_the_forward_pass_does_not_block_the_event_loop(served):
    slow = GatedPolicy(served)
    with ServerThread(slow, ServerConfig(port=0)) as srv, PolicyClient(srv.url) as client:
        worker = threading.Thread(target=client.infer, args=(make_obs(0),))
        worker.start()
        assert slow.started.wait(10)  # the forward pass is now running, and stays so until released
        with PolicyClient(srv.url, connect_timeout_s=5) as other:
            assert other.metadata["chunk_len"] == CHUNK
        with urllib.request.urlopen(srv.url.replace("ws://", "http://") + "/healthz", timeout=5) as r:
            assert json.loads(r.read())["in_flight"] == 1
        assert not slow.release.is_set() and worker.is_alive()  # all of that happened during the pass
        slow.release.set()
        worker.join(10)
        assert not worker.is_alive()


def test_shutdown_answers_requests_already_taken_then_closes(served):
    slow = GatedPolicy(served)
    srv = ServerThread(slow, ServerConfig(port=0))
    client = PolicyClient(srv.url)
    replies = []
    worker = threading.Thread(target=lambda: replies.append(client.infer(make_obs(0))))
    worker.start()
    assert slow.started.wait(10)
    stopper = threading.Thread(target=srv.stop, kwargs={"timeout_s": 20})
    stopper.start()
    for _ in range(1000):  # the server refuses new work before the request in flight is done
        if srv.server._closing:
            break
        time.sleep(0.01)
    assert srv.server._closing and not replies
    slow.release.set()
    stopper.join(30)
    worker.join(10)
    assert replies and replies[0]["actions"].shape == (CHUNK, 48)  # the request in flight was answered
    with pytest.raises(ConnectionClosed) as closed:
        client._ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1001  # going away
    with pytest.raises(ConnectionError):
        PolicyClient(srv.url, connect_timeout_s=1)


def test_a_served_request_is_checked_once(served, monkeypatch):
    import egovla.observation as observation

    calls, check = [], observation.check_observation
    monkeypatch.setattr(observation, "check_observation", lambda obs, spec=None: calls.append(1) or check(obs, spec))
    with ServerThread(served, ServerConfig(port=0)) as srv, PolicyClient(srv.url) as client:
        assert client.infer(make_obs(0))["actions"].shape == (CHUNK, 48)
    assert len(calls) == 1  # by the server on arrival; the forward pass does not check it again
