"""The synthetic EgoDex generator: the real file layout, rigid poses, and frames drawn from those poses."""

from __future__ import annotations

import av
import h5py
import numpy as np
import pytest

from egovla.data.egodex.synthetic import (
    ALL_JOINTS, ARM_JOINTS, BODY_JOINTS, CONFIDENCE_JOINTS, FINGERTIP_JOINTS, HAND_COLOURS, HAND_JOINTS, SIDES,
    WRIST_JOINT, SyntheticEgoDexConfig, intrinsic_matrix, write_synthetic_egodex,
)

ATTRS = ("llm_description", "llm_description2", "which_llm_description", "llm_type", "task", "environment",
         "object", "session_name")
ARKIT_FLIP = np.diag([1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("egodex")
    return root, write_synthetic_egodex(root, frames=30)


def load(path):
    with h5py.File(path, "r") as f:
        transforms = {k: f["transforms"][k][:] for k in f["transforms"]}
        conf = {k: f["confidences"][k][:] for k in f["confidences"]} if "confidences" in f else None
        return transforms, conf, f["camera/intrinsic"][:], dict(f.attrs)


def decode(path):
    with av.open(str(path)) as c:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in c.decode(video=0)])


def project(transforms, name, K, camera_axes="opencv"):
    """Pixels (T, 2) and depths (T,) of joint `name` in the episode's frames."""
    cam = transforms["camera"].astype(np.float64)
    if camera_axes == "arkit":
        cam[:, :3, :3] = cam[:, :3, :3] @ ARKIT_FLIP
    p = np.einsum("tij,tj->ti", np.linalg.inv(cam), transforms[name][:, :, 3].astype(np.float64))[:, :3]
    uvw = p @ K.T.astype(np.float64)
    return uvw[:, :2] / uvw[:, 2:], p[:, 2]


def test_layout_keys_shapes_and_attributes(default_run):
    root, paths = default_run
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "open_drawer/0.hdf5", "open_drawer/1.hdf5", "stack_cups/0.hdf5", "stack_cups/1.hdf5"]
    assert all(p.with_suffix(".mp4").is_file() for p in paths)
    assert len(ALL_JOINTS) == 1 + 2 * (25 + 3) + 12 and set(BODY_JOINTS) >= {"hip", "spine7", "neck4"}
    assert FINGERTIP_JOINTS["left"][0] == "leftThumbTip" and FINGERTIP_JOINTS["right"][-1] == "rightLittleFingerTip"
    for i, path in enumerate(paths):
        transforms, conf, K, attrs = load(path)
        assert set(transforms) == set(ALL_JOINTS) and set(conf) == set(ALL_JOINTS) - {"camera"}
        assert all(m.shape == (30, 4, 4) and m.dtype == np.float32 for m in transforms.values())
        assert all(c.shape == (30,) and c.dtype == np.float32 for c in conf.values())
        assert K.dtype == np.float32 and np.allclose(K, intrinsic_matrix(320, 180))
        assert np.allclose(K, [[736.6339 / 6, 0, 160], [0, 736.6339 / 6, 90], [0, 0, 1]], atol=1e-3)
        assert set(ATTRS) <= set(attrs) and all(isinstance(attrs[a], str) for a in ATTRS)
        assert attrs["task"] == path.parent.name and attrs["which_llm_description"] in ("1", "2")
        if attrs["llm_type"] == "reversible":
            assert attrs["llm_description2"] and attrs["llm_description2"] != attrs["llm_description"]
            assert attrs["which_llm_description"] == ("1", "2")[i % 2]  # both directions appear
        else:
            assert attrs["llm_type"] == "static" and attrs["which_llm_description"] == "1"
    assert load(paths[0])[3]["llm_type"] == "reversible" and load(paths[2])[3]["llm_type"] == "static"


def test_poses_are_rigid_and_confidences_bounded(default_run, tmp_path):
    for path in default_run[1]:
        transforms, conf, _, _ = load(path)
        for name, m in transforms.items():
            R = m[:, :3, :3].astype(np.float64)
            assert np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=1e-5), name
            assert np.allclose(np.linalg.det(R), 1.0, atol=1e-5), name
            assert np.array_equal(m[:, 3], np.broadcast_to([0, 0, 0, 1], (30, 4))), name
        values = np.stack(list(conf.values()))
        assert values.min() >= 0.9 and values.max() <= 1.0  # no low_confidence span by default
    (path,) = write_synthetic_egodex(tmp_path, tasks=("x",), episodes=1, frames=4, confidences=False)
    with h5py.File(path) as f:
        assert "confidences" not in f and "transforms/camera" in f


def test_low_confidence_is_one_contiguous_span_of_one_side(tmp_path):
    for path in write_synthetic_egodex(tmp_path, tasks=("x",), episodes=3, frames=40, low_confidence=0.25):
        conf = load(path)[1]
        low = {s: conf[WRIST_JOINT[s]] < 0.5 for s in SIDES}
        side = "left" if low["left"].any() else "right"
        other = "right" if side == "left" else "left"
        frames = np.flatnonzero(low[side])
        assert len(frames) == 10 and np.all(np.diff(frames) == 1) and not low[other].any()
        for name in HAND_JOINTS[side] + ARM_JOINTS[side]:
            assert np.all((conf[name][frames] >= 0.05) & (conf[name][frames] <= 0.15)), name
        rest = [n for n in CONFIDENCE_JOINTS if not n.startswith(side)]
        assert min(conf[n].min() for n in rest) >= 0.9


def test_video_has_one_frame_per_row(default_run):
    for path in default_run[1][:2]:
        frames = decode(path.with_suffix(".mp4"))
        assert frames.shape == (30, 180, 320, 3)
        with av.open(str(path.with_suffix(".mp4"))) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.average_rate == 30


@pytest.mark.parametrize("camera_axes", ["opencv", "arkit"])
def test_wrists_project_onto_their_hand_colour(tmp_path, camera_axes):
    (path,) = write_synthetic_egodex(tmp_path, tasks=("x",), episodes=1, frames=20, camera_axes=camera_axes)
    transforms, _, K, _ = load(path)
    frames = decode(path.with_suffix(".mp4"))
    for side in SIDES:
        uv, depth = project(transforms, WRIST_JOINT[side], K, camera_axes)
        assert np.all((depth > 0.25) & (depth < 0.6))
        u, v = np.round(uv).astype(int).T
        assert np.all((u >= 0) & (u < 320) & (v >= 0) & (v < 180))
        assert np.all(u < 160) if side == "left" else np.all(u >= 160)
        pixels = frames[np.arange(len(frames)), v, u].astype(int)
        assert np.abs(pixels - HAND_COLOURS[side]).max() < 40, side


def test_camera_moves_and_arkit_axes_flip_y_and_z(tmp_path):
    (a,) = write_synthetic_egodex(tmp_path / "a", tasks=("x",), episodes=1, frames=30)
    (b,) = write_synthetic_egodex(tmp_path / "b", tasks=("x",), episodes=1, frames=30, camera_axes="arkit")
    cam_a, cam_b = load(a)[0]["camera"], load(b)[0]["camera"]
    assert np.allclose(cam_b[:, :3, :3], cam_a[:, :3, :3] @ ARKIT_FLIP, atol=1e-6)
    assert np.array_equal(cam_a[:, :3, 3], cam_b[:, :3, 3])
    first, last = cam_a[0].astype(np.float64), cam_a[-1].astype(np.float64)
    angle = np.degrees(np.arccos(np.clip((np.trace(first[:3, :3].T @ last[:3, :3]) - 1) / 2, -1, 1)))
    assert angle > 3.0 and np.linalg.norm(first[:3, 3] - last[:3, 3]) > 0.01
    # gravity is -y: the camera (OpenCV z = forward) looks down; its x axis stays roughly level
    assert np.all(cam_a[:, 1, 2] < -0.4) and np.all(np.abs(cam_a[:, 1, 0]) < 0.2)


def test_leave_view_moves_the_left_hand_out_in_episode_1(tmp_path):
    paths = write_synthetic_egodex(tmp_path, tasks=("x",), episodes=2, frames=30, leave_view=True)
    for ep, path in enumerate(paths):
        transforms, _, K, _ = load(path)
        inside = {}
        for side in SIDES:
            uv, depth = project(transforms, WRIST_JOINT[side], K)
            inside[side] = (depth > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < 320) & (uv[:, 1] >= 0) & (uv[:, 1] < 180)
        assert inside["right"].all()
        if ep == 0:
            assert inside["left"].all()
        else:
            assert inside["left"][:15].all() and not inside["left"][20:].any()


def test_deterministic_given_the_seed(tmp_path):
    kwargs = dict(tasks=("x",), episodes=1, frames=6)
    runs = [load(write_synthetic_egodex(tmp_path / str(i), seed=s, **kwargs)[0])[0]
            for i, s in enumerate((3, 3, 4))]
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in ALL_JOINTS)
    assert not np.array_equal(runs[0]["rightHand"], runs[2]["rightHand"])
    cfg = SyntheticEgoDexConfig(seed=3, confidences=False, **kwargs)
    again = load(write_synthetic_egodex(tmp_path / "cfg", cfg)[0])[0]
    assert all(np.array_equal(runs[0][k], again[k]) for k in ALL_JOINTS)  # confidences don't shift the poses


@pytest.mark.parametrize("field, value", [
    ("camera_axes", "opengl"), ("width", 0), ("height", -2), ("width", 321), ("frames", 0), ("episodes", 0),
    ("fps", 0), ("low_confidence", 1.5), ("tasks", ()), ("seed", -1),
])
def test_bad_config_names_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        write_synthetic_egodex(tmp_path, **{field: value})
    assert not any(tmp_path.iterdir())
