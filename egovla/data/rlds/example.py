"""A small decoder of `tf.train.Example` protobuf messages (wire format), without TensorFlow or protobuf.

The messages (tensorflow/core/example/{example,feature}.proto):

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }   // each entry: { string key = 1; Feature value = 2; }
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

Protobuf wire format: every field is a varint tag `(number << 3) | wire_type`; wire type 0 is a
varint, 1 a fixed 64-bit, 2 a length-delimited payload (a varint length, then bytes), 5 a fixed
32-bit. Packed repeated scalars are one length-delimited payload; a decoder must also accept them
unpacked (one tag per value: wire type 5 for float, 0 for int64), and merge repeated occurrences of a
message (a field seen twice is concatenated, the last key of a map wins). int64 values are two's
complement varints (negative numbers take 10 bytes). Unknown fields are skipped.

`parse_example(buf)` -> {key: Value}; a Value is ('bytes', list[bytes]) -- exact bytes, NUL bytes
kept -- or ('float', float32 array) or ('int64', int64 array) or (None, []) for a feature with no
list set. Malformed input raises `ExampleError` with the byte offset.
"""

from __future__ import annotations

import numpy as np

BYTES, FLOAT, INT64 = "bytes", "float", "int64"
_KINDS = {1: BYTES, 2: FLOAT, 3: INT64}


class ExampleError(ValueError):
    """Bytes that are not a well-formed tf.train.Example."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ExampleError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ExampleError(f"varint longer than 10 bytes at byte {pos}")


def _fields(buf: bytes, start: int, end: int):
    """(field number, wire type, value or (payload start, payload end)) for each field in buf[start:end]."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise ExampleError(f"field {number}: length {n} at byte {pos} runs past the end ({end})")
            yield number, wire, (pos, pos + n)
            pos += n
        elif wire == 5:
            if pos + 4 > end:
                raise ExampleError(f"field {number}: truncated fixed32 at byte {pos}")
            yield number, wire, (pos, pos + 4)
            pos += 4
        elif wire == 1:
            if pos + 8 > end:
                raise ExampleError(f"field {number}: truncated fixed64 at byte {pos}")
            yield number, wire, (pos, pos + 8)
            pos += 8
        else:
            raise ExampleError(f"field {number}: unsupported wire type {wire} at byte {pos}")


def packed_varints(buf: bytes, start: int, end: int) -> np.ndarray:
    """A packed run of int64 varints -> int64 array (vectorised; two's complement for negatives)."""
    if start == end:
        return np.zeros(0, dtype=np.int64)
    b = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
    last = (b & 0x80) == 0
    if not last[-1]:
        raise ExampleError(f"packed int64 values end inside a varint at byte {end}")
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if np.any(ends - starts >= 10):
        raise ExampleError(f"varint longer than 10 bytes in packed int64 values at byte {start}")
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    shift = (np.arange(len(b)) - starts[group]).astype(np.uint64) * np.uint64(7)
    parts = (b & 0x7F).astype(np.uint64) << shift
    return np.add.reduceat(parts, starts).view(np.int64)


def _as_int64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _feature(buf: bytes, start: int, end: int) -> tuple[str | None, list]:
    kind, chunks = None, []
    for number, wire, val in _fields(buf, start, end):
        if number not in _KINDS or wire != 2:
            continue  # unknown field
        if _KINDS[number] != kind:  # oneof: a different kind replaces what came before
            kind, chunks = _KINDS[number], []
        a, b = val
        for n, w, v in _fields(buf, a, b):
            if n != 1:
                continue
            if kind == BYTES and w == 2:
                chunks.append(buf[v[0]:v[1]])
            elif kind == FLOAT and w == 2:
                if (v[1] - v[0]) % 4:
                    raise ExampleError(f"packed floats of {v[1] - v[0]} bytes at byte {v[0]} (not a multiple of 4)")
                chunks.append(np.frombuffer(buf, dtype="<f4", count=(v[1] - v[0]) // 4, offset=v[0]))
            elif kind == FLOAT and w == 5:
                chunks.append(np.frombuffer(buf, dtype="<f4", count=1, offset=v[0]))
            elif kind == INT64 and w == 2:
                chunks.append(packed_varints(buf, v[0], v[1]))
            elif kind == INT64 and w == 0:
                chunks.append(np.array([_as_int64(v)], dtype=np.int64))
            else:
                raise ExampleError(f"{kind}_list value with wire type {w} at byte {a}")
    if kind == BYTES:
        return kind, [bytes(c) for c in chunks]
    if kind == FLOAT:
        return kind, np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if kind == INT64:
        return kind, np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
    return None, []


def parse_example(buf: bytes) -> dict[str, tuple[str | None, object]]:
    """Decode one serialized tf.train.Example into {feature key: (kind, values)}."""
    buf = bytes(buf)
    out: dict[str, tuple[str | None, object]] = {}
    for number, wire, val in _fields(buf, 0, len(buf)):
        if number != 1 or wire != 2:
            continue
        for n, w, entry in _fields(buf, *val):
            if n != 1 or w != 2:
                continue
            key, value = "", (None, [])
            for en, ew, ev in _fields(buf, *entry):
                if en == 1 and ew == 2:
                    try:
                        key = buf[ev[0]:ev[1]].decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise ExampleError(f"feature key at byte {ev[0]} is not UTF-8 ({e})") from None
                elif en == 2 and ew == 2:
                    value = _feature(buf, *ev)
            out[key] = value
    return out
