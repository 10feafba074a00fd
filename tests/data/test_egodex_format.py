"""Reading EgoDex files: the description rule, the episode listing, and clear errors for bad files."""

import h5py
import numpy as np
import pytest

from egovla.data.egodex.format import (
    EgoDexError, find_episodes, instruction_from_attrs, needed_joints, read_episode, tip_joints, wrist_joint,
)


def test_description_rule():
    two = {"llm_description": "open the drawer", "llm_description2": "close the drawer", "llm_type": "reversible"}
    assert instruction_from_attrs({**two, "which_llm_description": "1"}) == "open the drawer"
    assert instruction_from_attrs({**two, "which_llm_description": "2"}) == "close the drawer"
    assert instruction_from_attrs({**two, "llm_type": "static", "which_llm_description": "2"}) == "open the drawer"
    with pytest.raises(EgoDexError, match="which_llm_description"):
        instruction_from_attrs({**two, "which_llm_description": "3"})
    with pytest.raises(EgoDexError, match="llm_description2"):
        instruction_from_attrs({**two, "llm_description2": "", "which_llm_description": "2"})


def test_joint_names_follow_egodex():
    assert wrist_joint("right") == "rightHand"
    assert tip_joints("left") == ("leftThumbTip", "leftIndexFingerTip", "leftMiddleFingerTip", "leftRingFingerTip",
                                  "leftLittleFingerTip")
    assert len(needed_joints()) == 12


def write(path, T=5, drop=None, rows=None, attrs=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["camera/intrinsic"] = np.array([[100, 0, 64], [0, 100, 64], [0, 0, 1]], dtype=np.float32)
        for j in ("camera", *needed_joints()):
            if j != drop:
                f[f"transforms/{j}"] = np.repeat(np.eye(4, dtype=np.float32)[None], rows if j == "rightThumbTip" and rows else T, 0)
        for j in needed_joints():
            f[f"confidences/{j}"] = np.ones(T, dtype=np.float32)
        f.attrs.update(attrs or {"llm_description": "pick up the cup", "llm_type": "static", "task": "pick"})
    path.with_suffix(".mp4").write_bytes(b"")
    return path


def test_read_episode(tmp_path):
    ep = read_episode(write(tmp_path / "pick" / "0.hdf5"))
    assert ep.frames == 5 and ep.instruction == "pick up the cup" and ep.task == "pick"
    assert set(ep.joints) == set(needed_joints()) and set(ep.confidences) == set(needed_joints())


@pytest.mark.parametrize("kind,match", [
    ("missing_joint", "transforms/leftIndexFingerTip"),
    ("rows", "rightThumbTip.*7 rows"),
    ("truncated", "not a readable HDF5"),
    ("no_video", "video 0.mp4 is missing"),
    ("no_description", "llm_description"),
])
def test_bad_files_name_the_problem(tmp_path, kind, match):
    p = tmp_path / "pick" / "0.hdf5"
    if kind == "missing_joint":
        write(p, drop="leftIndexFingerTip")
    elif kind == "rows":
        write(p, rows=7)
    elif kind == "truncated":
        write(p, T=200)
        p.write_bytes(p.read_bytes()[:2000])
    elif kind == "no_video":
        write(p).with_suffix(".mp4").unlink()
    else:
        write(p, attrs={"llm_type": "static"})
    with pytest.raises(EgoDexError, match=match):
        read_episode(p)


def test_find_episodes_orders_numerically_and_filters(tmp_path):
    for task in ("b_task", "a_task"):
        for i in (10, 2, 1):
            write(tmp_path / task / f"{i}.hdf5")
    files = find_episodes(tmp_path)
    assert [f"{p.parent.name}/{p.stem}" for p in files] == [
        "a_task/1", "a_task/2", "a_task/10", "b_task/1", "b_task/2", "b_task/10"]
    assert [p.stem for p in find_episodes(tmp_path, ["b_task"], max_episodes=2)] == ["1", "2"]
    with pytest.raises(ValueError, match="no task folder"):
        find_episodes(tmp_path, ["c_task"])
    with pytest.raises(FileNotFoundError):
        find_episodes(tmp_path / "nope")
