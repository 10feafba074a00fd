"""Fuzzing the server: every malformed, truncated, oversized or wrongly typed message gets an error
reply on its own connection, while a well-formed robot on another connection keeps being served.

Every strategy builds bytes that can actually be sent: msgpack integers are bounded to
[-2**63, 2**64), the only range msgpack can encode, so no example fails while it is being built."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from helpers.policies import CHUNK, make_obs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from egovla.client.client import PolicyClient
from egovla.client.protocol import pack, unpack
from egovla.serve.server import ServerConfig, ServerThread

LIMIT = 40_000
VALID = pack(make_obs(0))

MSGPACK_INTS = st.integers(-2**63, 2**64 - 1)  # what msgpack can encode
leaves = st.one_of(st.none(), st.booleans(), MSGPACK_INTS, st.floats(allow_nan=True),
                   st.text(max_size=20), st.binary(max_size=40))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4), max_leaves=12)
arrays = st.fixed_dictionaries({
    "__ndarray__": st.just(True),
    "data": st.binary(max_size=64),
    "dtype": st.sampled_from(["<f4", "|u1", "O", "V4", "<U3", "bogus", "<f8", "?"]) | MSGPACK_INTS,
    "shape": st.lists(st.integers(-2, 5), max_size=10) | st.text(max_size=3),
})


def _obs_with(key, value):
    return {**make_obs(0), key: value}


messages = st.one_of(
    st.binary(max_size=300),                                                   # random bytes
    st.integers(1, len(VALID) - 1).map(lambda n: VALID[:n]),                   # truncated observation
    values.map(lambda v: msgpack.packb(v)),                                    # well-formed, wrong content
    st.tuples(st.sampled_from(["images", "state", "instruction", "image_mask", "state_mask", "id", "prompt"]),
              values | arrays).map(lambda kv: pack(_obs_with(*kv))),
    st.integers(LIMIT + 1, 3 * LIMIT).map(lambda n: pack({**make_obs(0), "pad": np.zeros(n, np.uint8)})),  # too big
    st.text(max_size=50),                                                      # a text frame
)


@pytest.fixture(scope="module")
def server(served):
    with ServerThread(served, ServerConfig(port=0, max_message_bytes=LIMIT)) as srv:
        yield srv


def _is_valid(message, served) -> bool:
    try:
        return isinstance(message, bytes) and len(message) <= LIMIT and served.check(unpack(message)) is not None
    except Exception:
        return False


@settings(max_examples=1000)
@given(message=messages)
def test_every_strategy_builds_a_sendable_message(message):
    """Drawing a message never raises: what a fuzz test sends, it can always build."""
    assert isinstance(message, (bytes, str))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(messages, min_size=1, max_size=4))
def test_every_bad_message_gets_an_error_reply_and_a_good_robot_is_unaffected(server, served, batch):
    with connect(server.url, open_timeout=10, max_size=None) as ws, PolicyClient(server.url) as good:
        unpack(ws.recv(timeout=10))
        for message in batch:
            ws.send(message)
            reply = ws.recv(timeout=20)
            if _is_valid(message, served):  # hypothesis may build a valid observation: it gets a chunk
                assert unpack(reply)["actions"].shape == (CHUNK, 48)
            else:
                assert isinstance(reply, str), reply
                assert "bad message: " in reply or "bad observation: " in reply, reply
            assert good.infer(make_obs(1))["actions"].shape == (CHUNK, 48)
