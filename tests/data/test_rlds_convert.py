"""`convert_rlds` on generated builder folders: values frame by frame, presets and overrides, bad
records (corrupt CRC, truncated shard), resuming, and the unified space with and without extrinsics."""

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers.rlds_files import record_offsets, shard_path, write_builder
from scipy.spatial.transform import Rotation

from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.rlds.config import RLDSConfig
from egovla.data.rlds.convert import convert_rlds
from egovla.data.rlds.unified import NAMES
from egovla.data.windows import WindowConfig, WindowDataset

QUIET = {"progress": False, "say": lambda *_: None}
T_BC = np.eye(4)
T_BC[:3, :3] = Rotation.from_euler("xyz", [-2.1, 0.05, 1.5]).as_matrix()  # a camera looking down at the table
T_BC[:3, 3] = [0.55, 0.05, 0.55]


def _episodes(truth):
    return [ep for shard in truth for ep in shard]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    return write_builder(tmp_path_factory.mktemp("rlds"), "bridge", shard_lengths=(2, 1), steps=(6, 9))


def test_bridge_native_values_images_and_sidecar(bridge, tmp_path):
    root, truth = bridge
    said = []
    res = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge"), progress=False, say=said.append)
    assert res["episodes"] == 3 and res["frames"] == 6 + 9 + 6 and res["n_failed"] == 0 and res["converted"] == 3
    assert res["space"] == "native" and not res["unified"] and "extrinsics" in res["unified_reason"]
    assert any("note" in s and "native" in s and "T_base_camera" in s for s in said)
    r = LeRobotReader(tmp_path / "out")
    assert r.fps == 5 and r.cameras == ["observation.images.image_0"]
    assert r.features["observation.state"]["names"] == ["x", "y", "z", "roll", "pitch", "yaw", "gripper"]
    state, action = r.column("observation.state"), r.column("action")
    for i, ep in enumerate(_episodes(truth)):
        e = r.episodes[i]
        rows = slice(e.start, e.start + e.length)
        assert e.length == ep["steps"]
        np.testing.assert_array_equal(state[rows], ep["values"]["steps/observation/state"])
        np.testing.assert_array_equal(action[rows], ep["values"]["steps/action"])
        np.testing.assert_array_equal(r.column("action.original")[rows], ep["values"]["steps/action"])
        frames = r.frames("observation.images.image_0", i, np.arange(e.length)).astype(np.int16)
        assert np.abs(frames - ep["images"]["steps/observation/image_0"]).mean() < 6
        assert r.task_at(e.start) == ep["values"]["steps/language_instruction"][0]
    meta = json.loads((tmp_path / "out/meta/rlds.json").read_text())
    assert meta["preset"] == "bridge" and meta["space"] == "native" and not meta["unified"]["written"]
    assert [(e["file"].rsplit("-", 3)[-3], e["record"]) for e in meta["episodes"]] == [("00000", 0), ("00000", 1), ("00001", 0)]
    w = WindowDataset(r, WindowConfig(chunk_len=4))
    assert len(w) == 21 and w[0]["action"].shape == (4, 7)
    out = subprocess.run([sys.executable, "-m", "egovla.cli", "inspect", str(tmp_path / "out")], capture_output=True, text=True)
    assert out.returncode == 0 and "observation.images.image_0" in out.stdout


def test_droid_preset_float64_nested_dicts_and_overrides(tmp_path):
    root, truth = write_builder(tmp_path, "droid", shard_lengths=(2,), steps=(5, 4))
    res = convert_rlds(root, tmp_path / "d", RLDSConfig(preset="droid"), **QUIET)
    r = LeRobotReader(tmp_path / "d")
    assert r.fps == 15 and len(r.cameras) == 3 and res["space"] == "native"
    v = truth[0][1]["values"]
    e = r.episodes[1]
    rows = slice(e.start, e.start + e.length)
    want = np.concatenate([v["steps/action_dict/joint_position"], v["steps/action_dict/gripper_position"]], 1)
    np.testing.assert_array_equal(r.column("action")[rows], want.astype(np.float32))  # float64 leaves, to float32
    np.testing.assert_array_equal(r.column("rlds.action")[rows], v["steps/action"].astype(np.float32))
    np.testing.assert_array_equal(r.column("observation.state")[rows, :7], v["steps/observation/joint_position"].astype(np.float32))
    cfg = RLDSConfig(preset="droid", cameras=("observation/wrist_image_left",), action_keys=("action",), fps=10,
                     extra_keys=(), instruction="wipe the table")
    convert_rlds(root, tmp_path / "d2", cfg, **QUIET)
    r2 = LeRobotReader(tmp_path / "d2")
    assert r2.cameras == ["observation.images.wrist_image_left"] and r2.fps == 10 and r2.tasks == ["wipe the table"]
    assert r2.features["action"]["shape"] == [7] and not any(k.startswith("rlds.") for k in r2.features)
    with pytest.raises(Exception, match="camera key 'observation/nope'.*wrist_image_left"):
        convert_rlds(root, tmp_path / "d3", RLDSConfig(preset="droid", cameras=("observation/nope",)), **QUIET)


def test_fractal_preset_language_per_step_and_generic_dataset(tmp_path):
    root, truth = write_builder(tmp_path, "fractal", shard_lengths=(1, 1), steps=(4, 3))
    convert_rlds(root, tmp_path / "f", RLDSConfig(preset="fractal", image_size=32), **QUIET)
    r = LeRobotReader(tmp_path / "f")
    assert r.fps == 3 and r.features["observation.images.image"]["shape"] == [32, 42, 3]
    v = truth[1][0]["values"]
    e = r.episodes[1]
    want = np.concatenate([v["steps/action/world_vector"], v["steps/action/rotation_delta"],
                           v["steps/action/gripper_closedness_action"]], 1)
    np.testing.assert_array_equal(r.column("action")[e.start:e.start + e.length], want)
    assert [r.task_at(e.start + t) for t in range(3)] == v["steps/observation/natural_language_instruction"]
    with pytest.raises(ValueError, match="give fps"):
        convert_rlds(root, tmp_path / "g", RLDSConfig(state_keys=("observation/gripper_closed",),
                                                      action_keys=("action/world_vector",)), **QUIET)
    convert_rlds(root, tmp_path / "g", RLDSConfig(state_keys=("observation/gripper_closed",),
                                                  action_keys=("action/world_vector",), fps=3), **QUIET)
    assert LeRobotReader(tmp_path / "g").features["observation.state"]["names"] == ["observation.gripper_closed"]


def test_corrupt_and_truncated_records_fail_alone(tmp_path):
    root, truth = write_builder(tmp_path, "bridge", shard_lengths=(3, 2), steps=(4, 5, 6))
    s0, s1 = shard_path(root, 0), shard_path(root, 1)
    off, n = record_offsets(s0)[1]
    b = bytearray(s0.read_bytes())
    b[off + 12 + n // 2] ^= 0x55  # flip a data byte of shard 0, record 1
    s0.write_bytes(bytes(b))
    off, n = record_offsets(s1)[1]
    s1.write_bytes(s1.read_bytes()[:off + 12 + n // 3])  # shard 1 ends inside record 1
    said = []
    res = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge"), progress=False, say=said.append)
    assert res["episodes"] == 3 and res["n_failed"] == 2
    bad = {(f["file"], f["record"]): f["error"] for f in res["failed"]}
    assert "CRC" in bad[(str(s0), 1)] and str(s0) in bad[(str(s0), 1)]
    assert "truncated" in bad[(str(s1), 1)] and "record 1" in bad[(str(s1), 1)]
    assert sum("failed" in s for s in said) == 2
    r = LeRobotReader(tmp_path / "out")
    kept = [truth[0][0], truth[0][2], truth[1][0]]
    assert [e.length for e in r.episodes] == [k["steps"] for k in kept]
    e = r.episodes[1]
    np.testing.assert_array_equal(r.column("observation.state")[e.start:e.start + e.length],
                                  kept[1]["values"]["steps/observation/state"])
    meta = json.loads((tmp_path / "out/meta/rlds.json").read_text())
    assert len(meta["failed"]) == 2 and [e["record"] for e in meta["episodes"]] == [0, 2, 0]


def test_resume_reuses_staged_work(bridge, tmp_path):
    root, _ = bridge
    first = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge"), **QUIET)
    again = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge", workers=2), **QUIET)
    assert first["converted"] == 3 and again["reused"] == 3 and again["converted"] == 0
    parts = tmp_path / "out.parts" / "train"
    shard = next(p for p in parts.iterdir() if p.name.endswith("00000-of-00002"))
    (shard / "shard.json").unlink()  # as if interrupted after staging record 0 and 1 ...
    (shard / "000001.npz").unlink()  # ... but before record 1 was renamed into place
    third = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge"), **QUIET)
    assert third["reused"] == 2 and third["converted"] == 1
    changed = convert_rlds(root, tmp_path / "out", RLDSConfig(preset="bridge", image_size=32), **QUIET)
    assert changed["reused"] == 0 and LeRobotReader(tmp_path / "out").features["observation.images.image_0"]["shape"] == [32, 42, 3]


def _truth_unified(state: np.ndarray, T_bc: np.ndarray, width: float = 0.08) -> np.ndarray:
    T_cb = np.linalg.inv(T_bc)
    R = T_cb[:3, :3] @ Rotation.from_euler("xyz", state[:, 3:6].astype(np.float64)).as_matrix()
    p = state[:, :3] @ T_cb[:3, :3].T + T_cb[:3, 3]
    w = width * np.clip(state[:, 6], 0, 1)
    z = np.zeros_like(w)
    thumb, index = np.stack([z, w / 2, z], 1), np.stack([z, -w / 2, z], 1)
    return np.concatenate([p, R[:, :, 0], R[:, :, 1], thumb, index], 1)


def test_unified_space_with_given_extrinsics(bridge, tmp_path):
    root, truth = bridge
    res = convert_rlds(root, tmp_path / "u", RLDSConfig(preset="bridge", T_base_camera=tuple(T_BC.reshape(-1))), **QUIET)
    assert res["space"] == "unified" and res["unified"]
    r = LeRobotReader(tmp_path / "u")
    assert r.features["observation.state"]["names"] == NAMES == r.features["action"]["names"]
    st, act, mask = r.column("observation.state"), r.column("action"), r.column("action_mask")
    for i, ep in enumerate(_episodes(truth)):
        e = r.episodes[i]
        rows = slice(e.start, e.start + e.length)
        want = _truth_unified(ep["values"]["steps/observation/state"], T_BC)
        np.testing.assert_allclose(st[rows], want, atol=1e-5)
        np.testing.assert_allclose(act[rows][:-1], want[1:], atol=1e-5)  # next_state: the pose at t+1
        assert mask[rows][-1].sum() == 0 and mask[rows][:-1].all()
        np.testing.assert_array_equal(r.column("observation.state.original")[rows], ep["values"]["steps/observation/state"])
    meta = json.loads((tmp_path / "u/meta/rlds.json").read_text())
    assert meta["unified"]["written"] and meta["unified"]["camera"] == "observation.images.image_0"
    # delta actions integrate to the same poses (Bridge's rpy deltas, extrinsic xyz, applied in the base frame)
    ext = tmp_path / "ext.json"
    ext.write_text(json.dumps({"image_0": {"T_base_camera": T_BC.tolist()}}))
    convert_rlds(root, tmp_path / "d", RLDSConfig(preset="bridge", extrinsics_file=str(ext), unified_action="delta"), **QUIET)
    rd = LeRobotReader(tmp_path / "d")
    np.testing.assert_allclose(rd.column("action")[:5], act[:5], atol=1e-4)
    w = WindowDataset(r, WindowConfig(chunk_len=4))
    s = w[0]
    assert s["state"].shape == (48,) and s["state_mask"].sum() == 15 and s["action_mask"][:3].sum() == 45
    with pytest.raises(ValueError, match="space='unified' is not possible: no camera extrinsics"):
        convert_rlds(root, tmp_path / "x", RLDSConfig(preset="bridge", space="unified"), **QUIET)
    with pytest.raises(ValueError, match="16 numbers"):
        convert_rlds(root, tmp_path / "x", RLDSConfig(preset="bridge", T_base_camera=(1.0, 2.0)), **QUIET)


def test_droid_unified_from_episode_extrinsics(tmp_path):
    root, truth = write_builder(tmp_path, "droid", shard_lengths=(1,), steps=(5,))
    res = convert_rlds(root, tmp_path / "u", RLDSConfig(preset="droid", extrinsics_key="episode_metadata/extrinsics_exterior_cam_1"), **QUIET)
    assert res["unified"]
    v = truth[0][0]["values"]
    ext = v["episode_metadata/extrinsics_exterior_cam_1"]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = Rotation.from_euler("xyz", ext[3:]).as_matrix(), ext[:3]
    ee = np.concatenate([v["steps/observation/cartesian_position"], 1 - v["steps/observation/gripper_position"]], 1)
    np.testing.assert_allclose(LeRobotReader(tmp_path / "u").column("observation.state"), _truth_unified(ee, T), atol=1e-5)
