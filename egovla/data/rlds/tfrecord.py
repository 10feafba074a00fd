"""TFRecord framing, with both CRC32C checks, and the reader that reports bad records by number.

A TFRecord file is a plain sequence of records (TensorFlow's `python_io` guide, and the tutorial's
"TFRecords format details"); each record is

    uint64 length           little-endian
    uint32 masked_crc32c(the 8 length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

with `masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)` and CRC32C the Castagnoli
CRC (iSCSI polynomial 0x1EDC6F41, reflected 0x82F63B78). TFDS shards are not compressed; a file that
starts with the gzip magic bytes is read through `gzip` (TensorFlow's GZIP TFRecord option).

`iter_records` yields one `Record` per record, in order, numbered from 0. A record whose data CRC
does not match is yielded with `error` set and reading goes on (its length was verified, so the next
record is still found); a length whose own CRC does not match, or a file that ends inside a record,
ends the file with one last error record (nothing after it can be framed). `want(i)` lets a resuming
reader skip records it has already converted without reading or checking their data.

CRC32C backend: the `crc32c` package (hardware CRC32C, ~10 GB/s) when installed, else
`google_crc32c`, else a pure-Python table (about 10 MB/s; `backend()` names the one in use).
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78  # CRC32C (Castagnoli), reflected


def _table() -> list[int]:
    out = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        out.append(c)
    return out


_TABLE = _table()


def _crc32c_python(data: bytes) -> int:
    crc, table = 0xFFFFFFFF, _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # pragma: no branch - whichever is installed
    import crc32c as _crc32c_mod

    crc32c: Callable[[bytes], int] = _crc32c_mod.crc32c
    _BACKEND = "crc32c"
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import google_crc32c as _g

        def crc32c(data: bytes) -> int:
            return _g.value(bytes(data))

        _BACKEND = "google_crc32c"
    except ImportError:
        crc32c = _crc32c_python
        _BACKEND = "python"


def backend() -> str:
    """Which CRC32C implementation is in use: 'crc32c', 'google_crc32c' or 'python' (slow)."""
    return _BACKEND


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record's bytes (header, data, footer), as TensorFlow's writer lays them out."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + bytes(data) + struct.pack("<I", masked_crc(data))


class TFRecordError(ValueError):
    """A TFRecord file that cannot be read as a whole; the message names the file and record."""


@dataclass
class Record:
    index: int             # record number in the file, from 0
    offset: int            # byte offset of its header
    data: bytes | None     # None when skipped (want() said no) or bad
    error: str | None = None  # why the record is unusable (the message names file and record)
    last: bool = False     # True when nothing after this record can be read (framing lost)


def _open(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def iter_records(path: str | Path, *, verify: bool = True,
                 want: Callable[[int], bool] | None = None) -> Iterator[Record]:
    """The records of one TFRecord file in order (see the module docstring for error handling)."""
    path = Path(path)
    try:
        f = _open(path)
    except OSError as e:
        yield Record(0, 0, None, f"{path}: cannot open ({e})", last=True)
        return
    with f:
        index = offset = 0
        while True:
            header = f.read(12)
            if not header:
                return
            where = f"{path}: record {index} (byte offset {offset})"
            if len(header) < 12:
                yield Record(index, offset, None, f"{where}: the file ends inside the record header "
                             f"({len(header)} of 12 bytes); is it truncated?", last=True)
                return
            length_bytes = header[:8]
            (length,) = struct.unpack("<Q", length_bytes)
            (length_crc,) = struct.unpack("<I", header[8:])
            if verify and masked_crc(length_bytes) != length_crc:
                yield Record(index, offset, None, f"{where}: the length field's CRC does not match "
                             f"(stored {length_crc:#010x}, computed {masked_crc(length_bytes):#010x}); the rest "
                             "of the file cannot be framed", last=True)
                return
            if want is not None and not want(index):
                f.seek(length, 1)
                data = None
            else:
                data = f.read(length)
                if len(data) < length:
                    yield Record(index, offset, None, f"{where}: the file ends inside the record's data "
                                 f"({len(data)} of {length} bytes); is it truncated?", last=True)
                    return
            footer = f.read(4)
            if len(footer) < 4:
                yield Record(index, offset, None, f"{where}: the file ends before the end of the record "
                             "(its data or data CRC is cut off); is it truncated?", last=True)
                return
            if data is not None and verify:
                (data_crc,) = struct.unpack("<I", footer)
                got = masked_crc(data)
                if got != data_crc:
                    yield Record(index, offset, None, f"{where}: data CRC mismatch (stored {data_crc:#010x}, "
                                 f"computed {got:#010x}); the record is corrupt")
                    index, offset = index + 1, offset + 16 + length
                    continue
            yield Record(index, offset, data)
            index, offset = index + 1, offset + 16 + length


def count_records(path: str | Path) -> int:
    """Records in a file, by walking the (checked) length fields only; raises TFRecordError when broken."""
    n = 0
    for rec in iter_records(path, want=lambda i: False):
        if rec.error and rec.last:
            raise TFRecordError(rec.error)
        n += 1
    return n
