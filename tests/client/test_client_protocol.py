"""The wire format: numpy arrays as openpi encodes them, and strict refusal of anything unsafe."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy

from egovla.client.protocol import ProtocolError, pack, unpack


@pytest.mark.parametrize("dtype", ["uint8", "int64", "float32", "float64", "bool", "complex64", ">i4"])
def test_arrays_round_trip_with_dtype_and_shape(dtype):
    a = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    b = unpack(pack({"a": a, "nested": [a[0], {"b": a[1, 1]}]}))
    assert b["a"].dtype == a.dtype and b["a"].shape == a.shape and np.array_equal(b["a"], a)
    assert np.array_equal(b["nested"][0], a[0]) and np.array_equal(b["nested"][1]["b"], a[1, 1])


def test_scalars_strings_and_empty_arrays():
    msg = unpack(pack({"x": np.float32(1.5), "n": np.int16(-3), "s": "hé", "e": np.zeros((0, 3)), "i": 7}))
    assert msg["x"] == np.float32(1.5) and msg["x"].dtype == np.float32 and msg["n"].dtype == np.int16
    assert msg["s"] == "hé" and msg["e"].shape == (0, 3) and msg["i"] == 7


def test_non_contiguous_arrays_are_sent_as_their_values():
    a = np.arange(12).reshape(3, 4).T
    assert np.array_equal(unpack(pack(a)), a)


def test_the_encoding_is_openpis_both_ways():
    a = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    theirs = msgpack_numpy.packb({"actions": a, "t": np.float64(2.0)})
    assert np.array_equal(unpack(theirs)["actions"], a) and unpack(theirs)["t"] == 2.0
    ours = msgpack_numpy.unpackb(pack({"actions": a, "t": np.float64(2.0)}))
    assert np.array_equal(ours["actions"], a) and ours["t"] == 2.0
    # and with plain string keys, as the issue writes the encoding
    plain = msgpack.packb({"__ndarray__": True, "data": a.tobytes(), "dtype": "<f4", "shape": [2, 5]})
    assert np.array_equal(unpack(plain), a)


def test_object_and_string_arrays_are_never_sent():
    with pytest.raises(ProtocolError, match="dtype object"):
        pack({"a": np.array([{"x": 1}], dtype=object)})
    with pytest.raises(ProtocolError, match="dtype <U"):
        pack(np.array(["a", "b"]))


def _array(dtype="<f4", shape=(2,), data=b"\0" * 8):
    return msgpack.packb({b"__ndarray__": True, b"data": data, b"dtype": dtype, b"shape": shape})


@pytest.mark.parametrize("message, error", [
    (_array(dtype="O"), "dtype 'O' is not allowed"),
    (_array(dtype="|O8"), "is not allowed"),
    (_array(dtype="V8"), "is not allowed"),
    (_array(dtype="<U2"), "is not allowed"),
    (_array(dtype="M8[s]"), "is not allowed"),
    (_array(dtype="[('a', '<f4')]"), "dtype"),
    (_array(dtype="nonsense"), "unknown dtype"),
    (_array(dtype=5), "dtype must be a short string"),
    (_array(data=b"\0" * 7), "7 data bytes for shape \\[2\\]"),
    (_array(shape=[-1]), "shape must be a list"),
    (_array(shape=[1] * 9, data=b"\0" * 4), "shape must be a list"),
    (_array(shape="2"), "shape must be a list"),
    (_array(data="text"), "data must be bytes"),
    (msgpack.packb({b"__npgeneric__": True, b"data": b"x", b"dtype": "<f4"}), "scalar: data must be a number"),
    (msgpack.packb(msgpack.ExtType(3, b"payload")), "extension type 3"),
    (pack({"a": np.zeros(4)})[:-5], "not a valid msgpack message"),
    (pack({"a": 1}) + b"\x01", "not a valid msgpack message"),
    (b"\xc1", "not a valid msgpack message"),
    (b"", "not a valid msgpack message"),
    (b"\xa2\xff\xfe", "not a valid msgpack message"),
])
def test_malformed_or_unsafe_messages_raise_protocol_error(message, error):
    with pytest.raises(ProtocolError, match=error):
        unpack(message)
