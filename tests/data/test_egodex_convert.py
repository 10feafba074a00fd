"""`convert_egodex` on generated EgoDex folders: labels against hand-computed transforms, images that
agree with the labels, masks, the keep rule, resuming, bad episodes, and parallel conversion."""

import json

import h5py
import numpy as np
import pytest

from egovla import spaces
from egovla.data.egodex.convert import ConvertConfig, convert_egodex, parts_dir
from egovla.data.egodex.frames import View
from egovla.data.egodex.synthetic import RIGHT_COLOUR, SyntheticEgoDexConfig, write_synthetic_egodex
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import WindowConfig, WindowDataset

CFG = ConvertConfig(size=64, horizon=8)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    root = tmp_path_factory.mktemp("egodex") / "src"
    write_synthetic_egodex(root, SyntheticEgoDexConfig(episodes=2, frames=36, leave_view=True, low_confidence=0.2))
    return root


@pytest.fixture(scope="module")
def converted(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "human"
    res = convert_egodex(src, out, CFG, progress=False, say=lambda *_: None)
    return out, res


def test_dataset_layout_and_instructions(converted):
    out, res = converted
    r = LeRobotReader(out)
    assert r.cameras == ["observation.images.ego"] and r.fps == 30 and len(r.episodes) == 4
    assert r.features["action"]["shape"] == [8, 48] and r.features["observation.state"]["names"] == spaces.names()
    assert r.frames("observation.images.ego", 0, [0]).shape == (1, 64, 64, 3)
    meta = json.loads((out / "meta/egodex.json").read_text())
    with h5py.File(meta["episodes"][0]["source"]) as f:
        assert f.attrs["llm_type"] == "reversible"
        key = "llm_description" if f.attrs["which_llm_description"] == "1" else "llm_description2"
        assert r.task_at(0) == f.attrs[key]
    assert res["converted"] == 4 and res["reused"] == 0 and res["n_failed"] == 0


def test_labels_match_transforms_computed_by_hand(converted):
    out, _ = converted
    r = LeRobotReader(out)
    meta = json.loads((out / "meta/egodex.json").read_text())
    with h5py.File(meta["episodes"][1]["source"]) as f:
        cam = f["transforms/camera"][()].astype(np.float64)
        wrist = f["transforms/rightHand"][()].astype(np.float64)
        tip = f["transforms/rightIndexFingerTip"][()].astype(np.float64)
    ep = r.episodes[1]
    action, state = r.column("action")[ep.start:ep.start + ep.length], r.column("observation.state")[ep.start:]
    pos = spaces.slot("right", "wrist_pos")
    for t, k in [(0, 1), (5, 8), (20, 3)]:
        T_cam_wrist = np.linalg.inv(cam[t]) @ wrist[t + k]  # future wrist in the camera of frame t
        np.testing.assert_allclose(action[t, k - 1, pos], T_cam_wrist[:3, 3], atol=1e-5)
        np.testing.assert_allclose(action[t, k - 1, spaces.slot("right", "wrist_rot")],
                                   np.concatenate([T_cam_wrist[:3, 0], T_cam_wrist[:3, 1]]), atol=1e-5)
        tip_in_wrist = (np.linalg.inv(wrist[t + k]) @ tip[t + k])[:3, 3]
        np.testing.assert_allclose(action[t, k - 1, spaces.fingertip_slot("right", "index")], tip_in_wrist, atol=1e-5)
    np.testing.assert_allclose(state[3, pos], (np.linalg.inv(cam[3]) @ wrist[3])[:3, 3], atol=1e-5)
    # the head moves: the same world pose lands elsewhere in another frame's camera
    assert np.linalg.norm(action[0, 7, pos] - (np.linalg.inv(cam[8]) @ wrist[8])[:3, 3]) > 0.005


def test_images_agree_with_the_labels(converted, src):
    out, _ = converted
    r = LeRobotReader(out)
    meta = json.loads((out / "meta/egodex.json").read_text())
    K = np.array(meta["intrinsic"])
    with h5py.File(next(src.rglob("0.hdf5"))) as f:
        K_src = f["camera/intrinsic"][()]
        h, w = 180, 320
    np.testing.assert_allclose(K, View((h, w), 64, "center").intrinsic(K_src))
    state, mask = r.column("observation.state"), r.column("observation.state_mask").astype(bool)
    pos = spaces.slot("right", "wrist_pos")
    hits = 0
    for t in range(0, r.episodes[0].length, 5):
        if not mask[t, pos].all():
            continue
        p = state[t, pos]
        u, v = K[0, 0] * p[0] / p[2] + K[0, 2], K[1, 1] * p[1] / p[2] + K[1, 2]
        img = r.frames("observation.images.ego", 0, [t])[0].astype(int)
        patch = img[max(int(v) - 1, 0):int(v) + 2, max(int(u) - 1, 0):int(u) + 2].reshape(-1, 3)
        hits += np.abs(patch - RIGHT_COLOUR).sum(-1).min() < 90
    assert hits >= 4


def test_masks_and_keep_rule(converted):
    out, res = converted
    r = LeRobotReader(out)
    left = spaces.slot("left", "wrist_pos")
    ep1 = r.episodes[1]  # leave_view: the left hand leaves the image in the last third of episode 1
    m = r.column("observation.state_mask")[ep1.start:ep1.start + ep1.length].astype(bool)
    assert m[:10, left].all() and not m[-8:, left].any()
    keep = r.column("action_keep").reshape(-1).astype(bool)
    assert 0 < res["kept"] == keep.sum() < res["frames"]
    action, amask = r.column("action"), r.column("action_mask").astype(bool)
    assert np.isfinite(action).all() and (action[~amask] == 0).all()
    w = WindowDataset(r, WindowConfig(chunk_len=8))
    assert len(w) == keep.sum() and keep[w.frames].all()


def test_rerun_skips_staged_episodes_and_redoes_changed_settings(src, tmp_path):
    out = tmp_path / "human"
    quiet = dict(progress=False, say=lambda *_: None, max_episodes=1)
    assert convert_egodex(src, out, CFG, **quiet)["converted"] == 2
    first = LeRobotReader(out).column("action")
    again = convert_egodex(src, out, CFG, **quiet)
    assert (again["converted"], again["reused"]) == (0, 2)
    np.testing.assert_array_equal(LeRobotReader(out).column("action"), first)
    next(parts_dir(out).rglob("*.npz")).unlink()  # an interrupted episode: staged video, no labels
    assert convert_egodex(src, out, CFG, **quiet)["converted"] == 1
    assert convert_egodex(src, out, ConvertConfig(size=32, horizon=8), **quiet)["converted"] == 2


def test_a_bad_episode_is_reported_and_the_others_convert(src, tmp_path):
    import shutil

    bad = tmp_path / "src"
    shutil.copytree(src, bad)
    video = bad / "stack_cups" / "1.mp4"
    video.write_bytes(video.read_bytes()[:3000])
    said = []
    res = convert_egodex(bad, tmp_path / "human", CFG, progress=False, say=said.append)
    assert res["n_failed"] == 1 and len(res["episodes"]) == 3
    failed = json.loads((tmp_path / "human/meta/egodex.json").read_text())["failed"]
    assert list(failed) == [str(video.with_suffix(".hdf5"))] and "1.mp4" in next(iter(failed.values()))
    assert any("skipped" in s for s in said)


def test_refuses_to_replace_a_dataset_it_did_not_write(src, tmp_path):
    (tmp_path / "precious").mkdir()
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert_egodex(src, tmp_path / "precious", CFG, progress=False)


def test_parallel_conversion_gives_the_same_dataset(src, converted, tmp_path):
    out = tmp_path / "par"
    convert_egodex(src, out, CFG, workers=2, progress=False, say=lambda *_: None)
    a, b = LeRobotReader(converted[0]), LeRobotReader(out)
    for key in ("action", "action_mask", "observation.state", "action_keep"):
        np.testing.assert_array_equal(a.column(key), b.column(key))
    assert [a.task_at(e.start) for e in a.episodes] == [b.task_at(e.start) for e in b.episodes]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="divide"):
        ConvertConfig(fps=7)
    with pytest.raises(ValueError, match="crop"):
        ConvertConfig(crop="left")
