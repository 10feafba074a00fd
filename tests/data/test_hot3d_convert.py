"""`convert_hot3d` on generated clip tars: labels against hand-computed transforms, labels projected
through the stored pinhole intrinsics landing on the hands drawn in the fisheye images, masks, Quest 3
clips, resuming, bad clips, and `egovla viz`'s label overlay reading the sidecar."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers.hot3d_files import LEFT, RIGHT, fk_tips, write_clip

from egovla import spaces
from egovla.data.egodex.labels import project
from egovla.data.hot3d.convert import Hot3DConfig, convert_hot3d
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import WindowConfig, WindowDataset

CFG = Hot3DConfig(size=128, horizon=4, min_valid=0.5)
QUIET = {"progress": False, "say": lambda *_: None}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    src = tmp_path_factory.mktemp("hot3d") / "train_aria"
    truths = {"aria": write_clip(src / "clip-001849.tar", frames=12, seed=0),
              "xform": write_clip(src / "clip-001850.tar", frames=8, seed=1, wrist_xform=True, left_gap=()),
              "quest": write_clip(src / "clip-000007.tar", device="Quest3", frames=6, seed=2)}
    return src, truths


@pytest.fixture(scope="module")
def converted(clips, tmp_path_factory):
    src, _ = clips
    out = tmp_path_factory.mktemp("out") / "hot3d"
    return out, convert_hot3d(src, out, CFG, **QUIET)


def test_layout_skips_quest3_and_sidecar(converted, clips):
    out, res = converted
    assert res["episodes"] == 2 and res["n_skipped"] == 1 and res["n_failed"] == 0 and res["frames"] == 20
    (why,) = res["skipped"].values()
    assert "clip-000007.tar" in why and "Quest3" in why and "mono_stream" in why
    r = LeRobotReader(out)
    assert r.cameras == ["observation.images.ego"] and r.fps == 30 and r.features["action"]["shape"] == [4, 48]
    assert r.tasks == ["manipulate the objects on the table"]
    meta = json.loads((out / "meta/hot3d.json").read_text())
    assert meta["camera"] == "observation.images.ego" and meta["image_hw"] == [128, 128]
    K = np.array(meta["intrinsic"])
    assert K[0, 2] == K[1, 2] == 63.5 and np.isclose(K[0, 0], 305.0 * 128 / 704)
    assert [e["clip"] for e in meta["episodes"]] == ["001849", "001850"] and meta["rot90"] == 3
    shown = subprocess.run([sys.executable, "-m", "egovla.cli", "inspect", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0 and "observation.images.ego" in shown.stdout and "action_keep" in shown.stdout


def _view_cameras(truth, rot90=3):
    R = np.linalg.matrix_power(np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]), rot90)
    T = np.eye(4)
    T[:3, :3] = R
    return [c @ T for c in truth["camera"]]


def test_labels_match_hand_computed_transforms(converted, clips):
    out, _ = converted
    _, truths = clips
    tr = truths["aria"]
    r = LeRobotReader(out)
    e = r.episodes[0]
    action, state = r.column("action")[e.start:e.start + e.length], r.column("observation.state")[e.start:e.start + e.length]
    amask = r.column("action_mask")[e.start:e.start + e.length].astype(bool)
    cams = _view_cameras(tr)
    pos, rot = spaces.slot("right", "wrist_pos"), spaces.slot("right", "wrist_rot")
    for t, k in [(0, 1), (2, 4), (7, 3)]:
        W = tr["wrist"]["right"][t + k]
        rel = np.linalg.inv(cams[t]) @ W  # the future wrist in the view camera of frame t
        np.testing.assert_allclose(action[t, k - 1, pos], rel[:3, 3], atol=1e-5)
        np.testing.assert_allclose(action[t, k - 1, rot], np.concatenate([rel[:3, 0], rel[:3, 1]]), atol=1e-5)
        tips = fk_tips(tr["profile"], tr["angles"]["right"][t + k], W, "right")
        tips_w = (np.linalg.inv(W) @ np.c_[tips, np.ones(5)].T).T[:, :3]
        np.testing.assert_allclose(action[t, k - 1, spaces.slot("right", "fingertips")], tips_w.reshape(-1), atol=1e-5)
    np.testing.assert_allclose(state[4, pos], (np.linalg.inv(cams[4]) @ tr["wrist"]["right"][4])[:3, 3], atol=1e-5)
    lpos = spaces.slot("left", "wrist_pos")
    for t in range(12):  # the left hand is unannotated on frames 5-7 (absent or null)
        for k in range(1, 5):
            assert amask[t, k - 1, lpos].all() == (t + k < 12 and t + k not in tr["gap"])
    assert not amask[10, 1:, pos].any() and amask[10, 0, pos].all()  # steps past the end
    keep = r.column("action_keep")[e.start:e.start + e.length].reshape(-1)
    assert keep[:8].all() and not keep[-2:].any()
    ex = r.episodes[1]  # the wrist_xform variant reads the same
    tx = truths["xform"]
    np.testing.assert_allclose(r.column("observation.state")[ex.start, pos],
                               (np.linalg.inv(_view_cameras(tx)[0]) @ tx["wrist"]["right"][0])[:3, 3], atol=1e-5)


def test_projected_labels_land_on_the_drawn_hands(converted):
    out, _ = converted
    r = LeRobotReader(out)
    K = np.array(json.loads((out / "meta/hot3d.json").read_text())["intrinsic"])
    st, m = r.column("observation.state"), r.column("observation.state_mask").astype(bool)
    checked = 0
    for ep in range(2):
        e = r.episodes[ep]
        frames = r.frames("observation.images.ego", ep, np.arange(e.length)).astype(int)
        for t in range(e.length):
            for side, colour in (("left", LEFT), ("right", RIGHT)):
                pos = spaces.slot(side, "wrist_pos")
                if not m[e.start + t, pos].all():
                    continue
                (u, v), = project(st[e.start + t, pos][None], K)
                patch = frames[t, int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2]
                assert np.abs(patch.reshape(-1, 3).mean(0) - colour).max() < 45, (ep, t, side, patch.mean((0, 1)))
                checked += 1
    assert checked == 2 * 20 - 3


def test_windows_and_viz_overlay(converted, tmp_path):
    out, _ = converted
    w = WindowDataset(LeRobotReader(out), WindowConfig(chunk_len=4))
    s = w[0]
    assert s["action"].shape == (4, 48) and s["images"].shape == (1, 1, 3, 128, 128)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.copy(copy / "meta/hot3d.json", copy / "meta/egodex.json")  # what `egovla viz` reads today
    from egovla.data.egodex.viz import render_converted

    res = render_converted(copy, 0, tmp_path / "ep0.mp4")
    assert res["frames"] == 12 and (tmp_path / "ep0.png").is_file()


def test_quest3_mono_stream_resume_and_bad_clips(clips, tmp_path):
    src, _ = clips
    cfg = Hot3DConfig(size=64, horizon=4, min_valid=0.0, mono_stream="1201-1", instruction="{device} clip {clip}")
    src2 = tmp_path / "src"
    src2.mkdir()
    for name in ("clip-000007.tar", "clip-001849.tar"):
        shutil.copy(src / name, src2 / name)
    (src2 / "clip-002000.tar").write_bytes((src / "clip-001850.tar").read_bytes()[:30_000])  # a truncated tar
    res = convert_hot3d(src2, tmp_path / "o", cfg, **QUIET)
    assert res["episodes"] == 2 and res["n_failed"] == 1 and res["converted"] == 2
    (err,) = res["failed"].values()
    assert "clip-002000.tar" in err
    r = LeRobotReader(tmp_path / "o")
    assert sorted(r.tasks) == ["Aria clip 001849", "Quest3 clip 000007"]
    meta = json.loads((tmp_path / "o/meta/hot3d.json").read_text())
    quest = next(e for e in meta["episodes"] if e["device"] == "Quest3")
    assert quest["stream"] == "1201-1" and np.isclose(quest["intrinsic"][0][0], 60.0 * 64 / 160)
    again = convert_hot3d(src2, tmp_path / "o", cfg, **QUIET)
    assert again["reused"] == 2 and again["converted"] == 0
    with pytest.raises(ValueError, match="placeholder"):
        Hot3DConfig(instruction="{task}")
