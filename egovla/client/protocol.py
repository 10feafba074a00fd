"""The wire format: msgpack messages, numpy arrays as plain maps, never pickle.

An array travels as `{"__ndarray__": True, "data": <raw bytes>, "dtype": "<f4", "shape": [..]}` and a
numpy scalar as `{"__npgeneric__": True, "data": <python number>, "dtype": "<f4"}`: the encoding of
openpi's client, so its programs and egovla's server understand each other. The keys are written as
msgpack binaries (b"__ndarray__", as openpi writes them) and read as either binaries or strings.

Decoding is strict, because the bytes come from the network: only bool, integer, unsigned, float
and complex dtypes (object, structured, string and time dtypes are refused: an object array is how
pickle would sneak back in), a shape of at most 8 non-negative dims, data whose length is exactly
shape x itemsize, and no msgpack extension types. Anything else raises `ProtocolError` naming it.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

#: dtype kinds that may cross the wire: bool, signed, unsigned, float, complex.
ALLOWED_KINDS = "biufc"
MAX_NDIM = 8
_ARRAY, _GENERIC = "__ndarray__", "__npgeneric__"


class ProtocolError(ValueError):
    """A message that is not valid egovla/openpi msgpack."""


def _dtype(name: Any, where: str) -> np.dtype:
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    if not isinstance(name, str) or len(name) > 16:
        raise ProtocolError(f"{where}: dtype must be a short string like '<f4', got {name!r:.40}")
    try:
        dtype = np.dtype(name)
    except TypeError as e:
        raise ProtocolError(f"{where}: unknown dtype {name!r}") from e
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"{where}: dtype {name!r} is not allowed (only bool, int, uint, float, complex)")
    return dtype


def _encode(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind not in ALLOWED_KINDS:
        raise ProtocolError(f"cannot send an array of dtype {obj.dtype} (only bool, int, uint, float, complex)")
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {b"__ndarray__": True, b"data": arr.tobytes(), b"dtype": arr.dtype.str, b"shape": list(arr.shape)}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot encode {type(obj).__name__} in a message")


def pack(obj: Any) -> bytes:
    """Python/numpy values -> msgpack bytes. Raises ProtocolError for object arrays."""
    return msgpack.packb(obj, default=_encode, use_bin_type=True)


def _field(obj: dict, name: str) -> Any:
    if name in obj:
        return obj[name]
    return obj.get(name.encode())


def _decode(obj: dict) -> Any:
    if _field(obj, _ARRAY) is not None:
        dtype = _dtype(_field(obj, "dtype"), "array")
        shape, data = _field(obj, "shape"), _field(obj, "data")
        if not isinstance(shape, (list, tuple)) or len(shape) > MAX_NDIM or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise ProtocolError(f"array: shape must be a list of at most {MAX_NDIM} non-negative ints, got {shape!r:.60}")
        if not isinstance(data, bytes):
            raise ProtocolError(f"array: data must be bytes, got {type(data).__name__}")
        want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(data) != want:
            raise ProtocolError(f"array: {len(data)} data bytes for shape {list(shape)} of {dtype.str} (needs {want})")
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    if _field(obj, _GENERIC) is not None:
        dtype = _dtype(_field(obj, "dtype"), "scalar")
        value = _field(obj, "data")
        if isinstance(value, (bytes, str, list, dict)) or value is None:
            raise ProtocolError(f"scalar: data must be a number, got {type(value).__name__}")
        try:
            return dtype.type(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise ProtocolError(f"scalar: {value!r:.40} is not a {dtype}") from e
    return obj


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"msgpack extension type {code} is not allowed")


def unpack(data: bytes | bytearray | memoryview) -> Any:
    """msgpack bytes -> Python/numpy values. Raises ProtocolError for anything malformed or unsafe."""
    try:
        return msgpack.unpackb(data, object_hook=_decode, ext_hook=_no_ext, raw=False, strict_map_key=False,
                               timestamp=0)
    except ProtocolError:
        raise
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as e:
        raise ProtocolError(f"not a valid msgpack message ({type(e).__name__}: {e})") from e
