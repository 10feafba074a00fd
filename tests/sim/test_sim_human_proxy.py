"""Meta-World recorded as a person would be (egovla.sim.human_proxy): EgoDex-format pairs from a moving head
camera, the arm hidden and the hand skin-coloured; the stored wrist, projected through the stored camera,
lands on the drawn hand in the MP4; and `egovla convert egodex` turns them into the unified space unchanged."""

from __future__ import annotations

from dataclasses import replace

import av
import h5py
import numpy as np
import pytest

from egovla import geometry, spaces
from egovla.cli import main
from egovla.data.egodex.format import read_episode
from egovla.data.lerobot.reader import LeRobotReader
from egovla.sim.human_proxy import HumanProxyConfig, record_human_proxy

CFG = HumanProxyConfig(tasks=("button-press-topdown-v3",), episodes=2, height=54, width=96, workers=1)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    out = tmp_path_factory.mktemp("human") / "proxy"
    return out, record_human_proxy(CFG, out, progress=False)


def _frames(mp4) -> list[np.ndarray]:
    with av.open(str(mp4)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _skin(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (r > b + 40) & (r > g + 15)


def test_pairs_are_in_egodexs_format_with_no_robot_action(proxy):
    out, summary = proxy
    assert summary["episodes_kept"] == {"button-press-topdown-v3": 2}
    ep = read_episode(out / "button_press_topdown" / "0.hdf5")
    assert ep.instruction == "press the button from the top" and ep.frames == len(_frames(ep.video))
    assert ep.confidences["rightHand"].min() == 1 and ep.confidences["leftHand"].max() == 0
    assert ep.confidences["rightMiddleFingerTip"].max() == 0 and ep.confidences["rightThumbTip"].min() == 1
    with h5py.File(out / "button_press_topdown" / "0.hdf5") as f:
        assert set(f) == {"camera", "transforms", "confidences"}  # no action of any kind is stored
    cam = ep.camera[:, :3, 3]
    assert 0.005 < np.linalg.norm(cam - cam[0], axis=1).max() < 0.08  # the head moves, by centimetres


def test_the_stored_wrist_projects_onto_the_drawn_hand(proxy):
    out, _ = proxy
    ep = read_episode(out / "button_press_topdown" / "1.hdf5")
    frames = _frames(ep.video)
    hits, elsewhere = [], []
    for t in np.linspace(0, ep.frames - 1, 8).round().astype(int):
        p = geometry.transform_points(geometry.invert_pose(ep.camera[t]), ep.joints["rightHand"][t, :3, 3])
        u, v = (ep.intrinsic @ p)[:2] / p[2]
        x, y = int(u), int(v)
        assert 0 <= x < 96 and 0 <= y < 54, (t, u, v)
        skin = _skin(frames[t])
        hits.append(skin[max(0, y - 2):y + 3, max(0, x - 2):x + 3].mean())
        elsewhere.append(skin.mean())
    # the hand covers a few percent of the image, but most of the 5x5 pixels around the projected wrist
    assert max(elsewhere) < 0.1 and min(hits) >= 0.2 and np.mean(hits) > 0.4, (hits, elsewhere)


def test_the_ablations_hold_the_head_still_or_label_in_a_fixed_frame(tmp_path):
    still = record_human_proxy(replace(CFG, episodes=1, moving_camera=False), tmp_path / "still", progress=False)
    world = record_human_proxy(replace(CFG, episodes=1, label_frame="world"), tmp_path / "world", progress=False)
    for summary, folder in ((still, "still"), (world, "world")):
        ep = read_episode(tmp_path / folder / "button_press_topdown" / "0.hdf5")
        assert summary["episodes_kept"]["button-press-topdown-v3"] == 1
        assert np.allclose(ep.camera, ep.camera[:1])  # one pose for the whole episode


def test_it_converts_like_real_egodex(proxy, tmp_path, capsys):
    out, _ = proxy
    ds = tmp_path / "ds"
    assert main(["convert", "egodex", str(out), str(ds), "--source-fps", "80", "--size", "32", "--horizon", "8",
                 "--workers", "1", "--no-progress"]) == 0
    reader = LeRobotReader(ds)
    mask = reader.column("action_mask")[0]  # (H, 48)
    right = spaces.mask_for(("right",), spaces.PARTS, ("thumb", "index"))
    assert mask.shape == (8, 48) and mask[:, right].all() and not mask[:, ~right].any()
    assert reader.fps == 80 and reader.camera_hw(reader.cameras[0]) == (32, 32)
    capsys.readouterr()
    assert main(["convert", "egodex", str(out), str(tmp_path / "bad"), "--workers", "1", "--no-progress"]) == 2
    assert "the video plays at 80 fps, the conversion assumes 30 (--source-fps)" in capsys.readouterr().err
