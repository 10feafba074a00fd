"""`render_episode`: an MP4 with the camera views side by side and state/action curves beneath."""

from __future__ import annotations

import av
import numpy as np
import pytest
from helpers.lerobot_files import write_dataset

from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.viz import MAX_CURVES, _pick_dims, render_episode


def _decode(path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in c.decode(s)], float(s.average_rate)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("viz")
    write_dataset(root / "one", lengths=(12, 9, 15), cameras=1)
    write_dataset(root / "two", lengths=(12, 9), cameras=2)
    return LeRobotReader(root / "one"), LeRobotReader(root / "two")


def test_writes_one_frame_per_step_with_views_and_plots(datasets, tmp_path):
    reader, _ = datasets
    out = render_episode(reader, 2, tmp_path / "ep2.mp4")
    frames, fps = _decode(tmp_path / "ep2.mp4")
    assert out["frames"] == len(frames) == 15 and fps == 10
    h, w, _ = frames[0].shape
    assert (h, w) == (out["height"], out["width"]) and h % 2 == 0 and w % 2 == 0
    assert h >= 160 + 2 * 150 and w >= 160  # an enlarged view above two plots
    assert out["plots"] == ["observation.state", "action"] and out["cameras"] == reader.cameras
    # episode 2 lights the blue channel of its moving square in the view
    view = frames[5][30:200].astype(int)
    assert (view[..., 2] - view[..., 0]).max() > 120
    # the red cursor moves right through the plots as time goes on
    plots = slice(h - 300, h - 20)

    def cursor_x(f):
        red = f[plots].astype(int)
        column = ((red[..., 0] - red[..., 1]) > 100).sum(0)
        assert column.max() > 150  # a line down both plots, not a red curve
        return int(np.argmax(column))
    assert cursor_x(frames[0]) < cursor_x(frames[7]) < cursor_x(frames[14])


def test_two_cameras_side_by_side_make_it_wider(datasets, tmp_path):
    one, two = datasets
    a = render_episode(one, 0, tmp_path / "a.mp4")
    b = render_episode(two, 0, tmp_path / "b.mp4", fps=5)
    assert b["width"] > a["width"] and b["height"] == a["height"]
    frames, fps = _decode(tmp_path / "b.mp4")
    assert len(frames) == 12 and fps == 5
    view = frames[0][40:200].astype(int)
    half = frames[0].shape[1] // 2
    assert (view[:, :half, 0] - view[:, :half, 2]).max() > 120  # cam0 of episode 0: red square
    assert (view[:, half:, 1] - view[:, half:, 0]).max() > 120  # cam1 of episode 0: green square


def test_width_and_keys_choose_the_layout(datasets, tmp_path):
    reader, _ = datasets
    out = render_episode(reader, 1, tmp_path / "w.mp4", width=300, keys=["action"])
    frames, _ = _decode(tmp_path / "w.mp4")
    assert out["cameras"] == [] and out["plots"] == ["action"] and frames[0].shape[1] == 300
    assert len(frames) == 9


def test_wide_vectors_plot_the_dims_that_vary_most():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 30)) * 0.01
    loud = [2, 5, 7, 11, 13, 17, 19, 29]
    values[:, loud] *= 100
    dims, note = _pick_dims(values)
    assert dims == loud and f"{MAX_CURVES} of 30" in note and "variance" in note
    assert _pick_dims(values[:, :4]) == ([0, 1, 2, 3], "")


def test_clear_errors(datasets, tmp_path):
    reader, _ = datasets
    with pytest.raises(ValueError, match=r"no episode 3; the episodes are 0\.\.2"):
        render_episode(reader, 3, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"no camera or vector feature \['nope'\]"):
        render_episode(reader, 0, tmp_path / "x.mp4", keys=["nope"])
    with pytest.raises(ValueError, match=r"\.mp4"):
        render_episode(reader, 0, tmp_path / "x.gif")
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
