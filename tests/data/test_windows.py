"""Training windows: history frames, action chunks, padding masks at episode ends, space mapping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers.lerobot_files import GRIPPER_NAMES, psnr, write_dataset

from egovla import spaces
from egovla.data.sample import validate_sample
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import EGOVLA_HISTORY, SpaceMap, WindowConfig, WindowDataset


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    root = tmp_path_factory.mktemp("win") / "ds"
    episodes = write_dataset(root, lengths=(12, 9, 15), cameras=2)
    return LeRobotReader(root), episodes


def test_chunk_pads_past_the_episode_end(reader):
    r, episodes = reader
    ds = WindowDataset(r, WindowConfig(chunk_len=5))
    ep = r.episodes[1]  # 9 frames
    s = ds[ep.start + 6]  # frames 6, 7, 8 are real; 2 steps pad
    validate_sample(s)
    slots = [spaces.names().index(n) for n in GRIPPER_NAMES]
    np.testing.assert_array_equal(s["action"][:3, slots], episodes[1]["action"][6:9])
    np.testing.assert_array_equal(s["action"][3:, slots], episodes[1]["action"][[8, 8]])  # edge repeated
    assert s["action_mask"][:3, slots].all() and not s["action_mask"][3:].any()
    assert s["instruction"] == "push the button"


def test_history_before_the_episode_start_is_masked(reader):
    r, episodes = reader
    ds = WindowDataset(r, WindowConfig(history=(-0.3, -0.1, 0.0), chunk_len=2))  # fps 10: -3, -1, 0 frames
    s = ds[r.episodes[2].start + 2]
    assert s["images"].shape == (3, 2, 3, 32, 32) and s["image_mask"].tolist() == [[False] * 2, [True] * 2, [True] * 2]
    frames = s["images"][:, 0].transpose(0, 2, 3, 1)
    cam = episodes[2]["observation.images.cam0"]
    assert psnr(frames[1:], cam[[1, 2]]) > 28 and psnr(frames[:1], cam[[0]]) > 28  # padding repeats frame 0


def test_unified_names_go_to_their_slots_others_masked(reader):
    r, episodes = reader
    s = WindowDataset(r, WindowConfig(chunk_len=3))[0]
    assert s["state"].shape == (48,) and s["action"].shape == (3, 48)
    named = np.zeros(48, dtype=bool)
    named[[spaces.names().index(n) for n in GRIPPER_NAMES]] = True
    np.testing.assert_array_equal(s["state_mask"], named)
    assert not s["state"][~named].any() and not s["action_mask"][:, ~named].any()


def test_native_vectors_fill_the_first_dims(tmp_path):
    write_dataset(tmp_path / "ds", lengths=(6,), native=True)
    r = LeRobotReader(tmp_path / "ds")
    s = WindowDataset(r, WindowConfig(chunk_len=2, action_dim=8, state_dim=8))[0]
    assert s["action"].shape == (2, 8) and s["action_mask"][0].tolist() == [True] * 6 + [False] * 2
    with pytest.raises(ValueError, match="more than the policy's 4"):
        WindowDataset(r, WindowConfig(action_dim=4))


def test_space_map_applies_a_per_dim_mask():
    m = SpaceMap(["right.wrist_pos.x", "left.wrist_pos.z"], 2, None, "test")
    values, mask = m(np.array([[1.0, 2.0]]), np.array([[True, False]]))
    assert values[0, spaces.names().index("left.wrist_pos.z")] == 2.0 and mask.sum() == 1


def test_episode_subsets_and_view_padding(reader):
    r, _ = reader
    ds = WindowDataset(r, WindowConfig(chunk_len=2, n_views=3, cameras=("observation.images.cam1",)), episodes=[2])
    assert len(ds) == 15 and ds.locate(int(ds.frames[0])) == (2, 0)
    s = ds[0]
    assert s["images"].shape[1] == 3 and s["image_mask"][0].tolist() == [True, False, False]


def test_egovla_history_is_six_frames_point_two_seconds_apart(reader):
    r, _ = reader
    ds = WindowDataset(r, WindowConfig(history=EGOVLA_HISTORY, chunk_len=2, image_size=(16, 16)))
    s = ds[r.episodes[2].start + 14]
    assert ds.offsets.tolist() == [-10, -8, -6, -4, -2, 0] and s["images"].shape == (6, 2, 3, 16, 16)
    assert s["image_mask"].all()


def test_bad_configs_name_the_problem(reader):
    r, _ = reader
    with pytest.raises(KeyError, match="no feature 'observation.effort'"):
        WindowDataset(r, WindowConfig(state_key="observation.effort"))
    with pytest.raises(KeyError, match="not in the dataset's cameras"):
        WindowDataset(r, WindowConfig(cameras=("observation.images.top",)))
    with pytest.raises(ValueError, match="history offsets"):
        WindowConfig(history=(0.0, -0.2))


def test_chunk_features_are_used_as_stored_with_their_mask(tmp_path):
    """Human video stores a (H', 48) chunk per frame (future poses in that frame's camera) and a mask."""
    from egovla.data.lerobot.format import vector_feature, video_feature
    from egovla.data.lerobot.writer import LeRobotWriter

    names = spaces.names()
    feats = {"observation.images.cam0": video_feature(16, 16), "observation.state": vector_feature(48, names),
             "action": {"dtype": "float32", "shape": [6, 48], "names": names},
             "action_mask": {"dtype": "float32", "shape": [6, 48], "names": names}}
    rng = np.random.default_rng(0)
    chunks = rng.normal(size=(5, 6, 48)).astype(np.float32)
    mask = (rng.random((5, 6, 48)) > 0.3).astype(np.float32)
    with LeRobotWriter(tmp_path / "ds", fps=30, features=feats) as w:
        w.add_episode({"observation.images.cam0": np.zeros((5, 16, 16, 3), np.uint8),
                       "observation.state": chunks[:, 0], "action": chunks, "action_mask": mask}, task="t")
    ds = WindowDataset(LeRobotReader(tmp_path / "ds"), WindowConfig(chunk_len=4))
    s = ds[4]
    np.testing.assert_array_equal(s["action"], chunks[4, :4])
    np.testing.assert_array_equal(s["action_mask"], mask[4, :4].astype(bool))


def test_the_frame_cache_gives_the_same_windows_and_decodes_each_episode_once(reader):
    r, _ = reader
    cfg = dict(history=(-0.3, -0.1, 0.0), chunk_len=4, image_size=(24, 24))
    cached = WindowDataset(r, WindowConfig(**cfg))
    plain = WindowDataset(r, WindowConfig(**cfg, frame_cache_mb=0))
    order = np.random.default_rng(0).permutation(len(plain))
    for j in order:
        np.testing.assert_array_equal(cached[int(j)]["images"], plain[int(j)]["images"])
    assert cached.cache.misses == 3 * 2 and cached.cache.hits == 2 * len(order) - 6  # 3 episodes x 2 cameras
    with pytest.warns(UserWarning, match="more than frame_cache_mb"):  # a budget of one episode's worth
        tight = WindowDataset(r, WindowConfig(**cfg, frame_cache_mb=15 * 24 * 24 * 3 / 2**20))
    for j in order[:20]:
        np.testing.assert_array_equal(tight[int(j)]["images"], plain[int(j)]["images"])
    assert tight.cache.bytes <= tight.cache.budget


def test_a_frame_cache_of_none_holds_every_frame_of_the_dataset(reader):
    r, _ = reader
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "more than frame_cache_mb" warning
        ds = WindowDataset(r, WindowConfig(chunk_len=4, image_size=(24, 24), frame_cache_mb=None))
    assert ds.cache.budget == ds.decoded_bytes() == sum(ds.lengths) * 2 * 24 * 24 * 3  # 2 cameras
    for j in range(len(ds)):
        ds[j]
    assert ds.cache.misses == 3 * 2 and ds.cache.bytes == ds.cache.budget  # each episode's camera decoded once


def test_aux_targets_are_the_frames_chosen_dims(tmp_path):
    from helpers.lerobot_files import ENV_STATE, env_state

    write_dataset(tmp_path / "ds", lengths=(5, 7), env_dim=10)
    r = LeRobotReader(tmp_path / "ds")
    ds = WindowDataset(r, WindowConfig(chunk_len=2, aux_key=ENV_STATE, aux_dims=(1, 8, 9)))
    s = ds[r.episodes[1].start + 3]  # episode 1, frame 3
    validate_sample(s)
    np.testing.assert_allclose(s["aux"], env_state(1, 7, 10)[3, [1, 8, 9]])
    assert s["aux"].dtype == np.float32 and s["aux_mask"].tolist() == [True] * 3
    assert ds.vectors(0)["aux"].tolist() == pytest.approx([0.01, 0.08, 0.09])
    assert "aux" not in WindowDataset(r, WindowConfig(chunk_len=2))[0]  # only when asked


def test_aux_targets_of_a_dataset_without_the_feature_are_masked(reader):
    r, _ = reader
    s = WindowDataset(r, WindowConfig(chunk_len=2, aux_key="observation.environment_state", aux_dims=(0, 1)))[0]
    assert s["aux"].tolist() == [0.0, 0.0] and s["aux_mask"].tolist() == [False, False]


def test_aux_dims_past_the_feature_or_negative_are_named(tmp_path):
    from helpers.lerobot_files import ENV_STATE

    write_dataset(tmp_path / "ds", lengths=(4,), env_dim=6)
    r = LeRobotReader(tmp_path / "ds")
    with pytest.raises(ValueError, match=r"has 6 dims; aux_dims \(4, 5, 6\) reach past them"):
        WindowDataset(r, WindowConfig(chunk_len=2, aux_key=ENV_STATE, aux_dims=(4, 5, 6)))
    with pytest.raises(ValueError, match="aux_dims must be non-negative"):
        WindowConfig(aux_key=ENV_STATE, aux_dims=(-1,))
