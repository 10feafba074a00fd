"""RLDS reading without TensorFlow: CRC32C and TFRecord framing, the Example wire decoder (against
protobuf's own encoder), the features.json schema, and one episode's decoding."""

import json
import struct

import numpy as np
import pytest
from helpers.rlds_files import flat_leaves, masked_crc, record_offsets, schema, serialize_example, write_builder

from egovla.data.rlds import tfrecord
from egovla.data.rlds.example import ExampleError, packed_varints, parse_example
from egovla.data.rlds.features import RLDSFormatError, decode_episode, open_builder, parse_features


def test_crc32c_known_value_and_backends_agree():
    assert tfrecord.crc32c(b"123456789") == 0xE3069283  # the CRC32C check value (RFC 3720)
    data = bytes(range(256)) * 7
    assert tfrecord._crc32c_python(data) == tfrecord.crc32c(data)
    assert tfrecord.masked_crc(data) == masked_crc(data)
    assert tfrecord.backend() in ("crc32c", "google_crc32c", "python")


def test_framing_round_trip(tmp_path):
    recs = [b"", b"\x00abc\x00", bytes(1000)]
    p = tmp_path / "x.tfrecord"
    p.write_bytes(b"".join(tfrecord.frame(r) for r in recs))
    got = list(tfrecord.iter_records(p))
    assert [r.data for r in got] == recs and [r.index for r in got] == [0, 1, 2] and not any(r.error for r in got)
    assert tfrecord.count_records(p) == 3
    skipped = list(tfrecord.iter_records(p, want=lambda i: i != 1))
    assert skipped[1].data is None and skipped[2].data == recs[2]


def test_bad_records_are_reported_by_file_and_number(tmp_path):
    recs = [b"one" * 10, b"two" * 10, b"three" * 10]
    blob = bytearray(b"".join(tfrecord.frame(r) for r in recs))
    bad = tmp_path / "bad.tfrecord"
    corrupt = bytearray(blob)
    corrupt[len(tfrecord.frame(recs[0])) + 12 + 3] ^= 0xFF  # a data byte of record 1
    bad.write_bytes(bytes(corrupt))
    got = list(tfrecord.iter_records(bad))
    assert [r.data for r in got] == [recs[0], None, recs[2]]
    assert str(bad) in got[1].error and "record 1" in got[1].error and "CRC" in got[1].error and not got[1].last
    short = tmp_path / "short.tfrecord"
    short.write_bytes(bytes(blob[:-10]))
    got = list(tfrecord.iter_records(short))
    assert got[-1].index == 2 and got[-1].last and "truncated" in got[-1].error and got[1].data == recs[1]
    lencrc = tmp_path / "len.tfrecord"
    broken = bytearray(blob)
    broken[8] ^= 1  # the length CRC of record 0
    lencrc.write_bytes(bytes(broken))
    got = list(tfrecord.iter_records(lencrc))
    assert len(got) == 1 and got[0].last and "length field" in got[0].error
    with pytest.raises(tfrecord.TFRecordError, match="record 2"):
        tfrecord.count_records(short)


def test_example_decoder_matches_protobuf_encoding():
    feats = {"img": ("bytes", [b"\xff\xd8jpeg\x00\x00", b"", b"\x00"]), "f": ("float", [1.5, -2.25, 3e-8]),
             "i": ("int64", [0, 1, -1, 2**63 - 1, -(2**63), 300]), "empty": ("float", []),
             "text": ("bytes", ["héllo".encode()])}
    ex = parse_example(serialize_example(feats))
    assert ex["img"] == ("bytes", [b"\xff\xd8jpeg\x00\x00", b"", b"\x00"])  # NUL bytes kept
    np.testing.assert_array_equal(ex["f"][1], np.float32([1.5, -2.25, 3e-8]))
    np.testing.assert_array_equal(ex["i"][1], np.array([0, 1, -1, 2**63 - 1, -(2**63), 300], dtype=np.int64))
    assert ex["empty"][0] == "float" and len(ex["empty"][1]) == 0
    assert ex["text"][1][0].decode() == "héllo"


def _ld(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2]) + _varint(len(payload)) + payload


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def test_unpacked_repeated_fields_merging_and_unknown_fields():
    floats = b"".join(b"\x0d" + struct.pack("<f", x) for x in (1.0, 2.0))  # unpacked FloatList
    ints = b"".join(b"\x08" + _varint(x) for x in (7, -3))                  # unpacked Int64List
    f1 = _ld(1, _ld(1, b"k1") + _ld(2, _ld(2, floats) + _ld(2, floats[:5])))  # two float_list messages merge
    f2 = _ld(1, _ld(1, b"k2") + _ld(2, _ld(3, ints) + b"\x78\x05"))  # + an unknown varint field 15
    buf = _ld(1, f1) + b"\x10\x01" + _ld(1, f2)  # features twice (merged), unknown field 2 in between
    ex = parse_example(buf)
    np.testing.assert_array_equal(ex["k1"][1], [1.0, 2.0, 1.0])
    np.testing.assert_array_equal(ex["k2"][1], [7, -3])
    with pytest.raises(ExampleError):
        parse_example(_ld(1, _ld(1, _ld(1, b"k") + _ld(2, _ld(2, b"\x0a\x03ab"))))[:-1])


def test_packed_varints_vectorised():
    vals = [0, 1, 127, 128, 300, 2**35 + 5, -1, -(2**40), 2**63 - 1]
    buf = b"".join(_varint(v) for v in vals)
    np.testing.assert_array_equal(packed_varints(buf, 0, len(buf)), np.array(vals, dtype=np.int64))
    with pytest.raises(ExampleError):
        packed_varints(b"\x80\x80", 0, 2)


def test_features_schema_of_real_layout():
    leaves = parse_features(schema("droid"))
    img = leaves["steps/observation/exterior_image_1_left"]
    assert (img.kind, img.shape, img.encoding, img.step) == ("image", (48, 64, 3), "jpeg", True)
    assert leaves["steps/action_dict/joint_position"].dtype == "float64"
    assert leaves["steps/is_first"].shape == () and leaves["steps/is_first"].dtype == "bool"
    assert leaves["steps/language_instruction"].kind == "text"
    assert not leaves["episode_metadata/file_path"].step
    with pytest.raises(RLDSFormatError, match="no sequence"):
        parse_features({"featuresDict": {"features": {"x": {"tensor": {"shape": {}, "dtype": "int64"}}}}})


def test_builder_and_episode_decoding(tmp_path):
    root, truth = write_builder(tmp_path, "fractal", shard_lengths=(2,), steps=(5, 3))
    b = open_builder(root.parent)  # the dataset folder: picks the version folder
    assert b.root == root and b.splits["train"]["shard_lengths"] == [2]
    shard = b.shards("train")[0]
    assert shard.name == "fractal20220817_data-train.tfrecord-00000-of-00001"
    recs = list(tfrecord.iter_records(shard))
    ex = parse_example(recs[1].data)
    ep = decode_episode(ex, b.leaves, list(b.leaves), "rec1")
    tv = truth[0][1]["values"]
    assert ep.length == 3
    np.testing.assert_array_equal(ep.values["steps/observation/workspace_bounds"], tv["steps/observation/workspace_bounds"])
    assert ep.values["steps/observation/workspace_bounds"].shape == (3, 3, 3)
    np.testing.assert_array_equal(ep.values["steps/observation/blob"], tv["steps/observation/blob"])  # bytes, NULs kept
    np.testing.assert_array_equal(ep.values["steps/observation/packed"], tv["steps/observation/packed"])  # zlib
    assert ep.values["steps/is_last"].dtype == bool and ep.values["steps/is_last"].tolist() == [False, False, True]
    assert ep.values["steps/action/terminate_episode"].dtype == np.int32
    assert ep.values["steps/observation/natural_language_instruction"] == tv["steps/observation/natural_language_instruction"]
    assert bool(ep.values["episode_metadata/aspects/success"]) == bool(tv["episode_metadata/aspects/success"])
    del ex["steps/action/world_vector"]
    with pytest.raises(RLDSFormatError, match="steps/action/world_vector"):
        decode_episode(ex, b.leaves, ["steps/action/world_vector"], "rec1")
    ex["steps/observation/base_pose_tool_reached"] = ("float", np.zeros(4, np.float32))
    with pytest.raises(RLDSFormatError, match="base_pose_tool_reached.*4 values"):
        decode_episode(ex, b.leaves, ["steps/observation/base_pose_tool_reached"], "rec1")
    info = json.loads((root / "dataset_info.json").read_text())
    assert info["splits"][0]["shardLengths"] == ["2"]
    assert len(record_offsets(shard)) == 2


def test_flat_leaves_helper_matches_parser():
    doc = schema("bridge")
    assert set(flat_leaves(doc)) == set(parse_features(doc))
