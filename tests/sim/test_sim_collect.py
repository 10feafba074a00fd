"""Scripted demonstrations written as a LeRobot v3 dataset: features, labels, the metaworld.json
sidecar, training windows over it, parallel determinism and task names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from egovla import geometry, spaces
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.windows import WindowConfig, WindowDataset
from egovla.sim.collect import CollectConfig, collect, episode_seed, load_sidecar
from egovla.sim.metaworld_env import EnvConfig, MetaWorldEnv
from egovla.sim.tasks import DEMO_TASKS, INSTRUCTIONS, MT10, MT50, parse_tasks

GRIPPER_NAMES = ([f"right.wrist_pos.{a}" for a in "xyz"]
                 + [f"right.wrist_rot.r{r}{c}" for c in range(2) for r in range(3)]
                 + [f"right.fingertips.{f}.{a}" for f in ("thumb", "index") for a in "xyz"])
CAMERA = "observation.images.corner"


@pytest.fixture(scope="module")
def reader(reach_dataset):
    root, _ = reach_dataset
    with LeRobotReader(root) as r:
        yield r


def _episode(reader: LeRobotReader, key: str, ep: int) -> np.ndarray:
    e = reader.episodes[ep]
    return reader.column(key)[e.start:e.start + e.length]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_the_dataset_opens_with_its_features(reader):
    assert reader.version == "v3.0" and reader.fps == 80
    assert len(reader.episodes) == 2 and reader.cameras == [CAMERA]
    f = reader.features
    assert f[CAMERA]["dtype"] == "video" and f[CAMERA]["shape"] == [32, 32, 3]
    for key in ("observation.state", "action"):
        assert f[key]["shape"] == [15] and f[key]["names"] == GRIPPER_NAMES
    assert f["action.raw"]["shape"] == [4] and f["action.raw"]["names"] == ["dx", "dy", "dz", "grip"]
    assert f["observation.environment_state"]["shape"] == [39]
    assert reader.tasks == [INSTRUCTIONS["reach-v3"]] == ["reach the goal"]
    assert all(e.tasks == ["reach the goal"] for e in reader.episodes)
    assert reader.task_at(reader.total_frames - 1) == "reach the goal"
    # The expert reaches in well under Meta-World's 500 steps; the episode ends 10 steps after success.
    assert all(20 < e.length < 200 for e in reader.episodes)


def test_action_is_the_next_state(reader):
    for ep in range(2):
        state, action = _episode(reader, "observation.state", ep), _episode(reader, "action", ep)
        np.testing.assert_array_equal(action[:-1], state[1:])
        assert np.abs(action[-1] - state[-1]).max() < 0.02  # the pose after the last step: close by
        assert np.abs(np.diff(state[:, :3], axis=0)).max() < 0.02  # at most ~1 cm per 12.5 ms step


def test_states_are_the_raw_hand_position_in_the_camera_frame(reach_dataset, reader):
    """observation.environment_state[:3] is Meta-World's hand position (world frame); the unified
    wrist position is the same point in the corner camera's frame recorded in the sidecar."""
    _, summary = reach_dataset
    T_world_cam = np.array(summary["camera"]["corner"]["T_world_camera"])
    raw = reader.column("observation.environment_state")
    wrist = reader.column("observation.state")[:, :3]
    np.testing.assert_allclose(wrist, geometry.transform_points(geometry.invert_pose(T_world_cam), raw[:, :3]), atol=1e-5)
    tips = reader.column("observation.state")[:, 9:]
    opening = np.linalg.norm(tips[:, :3] - tips[:, 3:], axis=1)
    assert opening.min() > 0.005 and opening.max() < 0.11
    assert np.abs(reader.column("action.raw")).max() <= 1.0


def test_sidecar_records_success_seeds_and_cameras(reach_dataset, reader):
    root, summary = reach_dataset
    side = json.loads((root / "meta" / "metaworld.json").read_text())
    assert side == load_sidecar(root) and side["success_rate"] == {"reach-v3": 1.0}
    assert side["episodes_kept"] == {"reach-v3": 2} and side["episodes_tried"] == {"reach-v3": 2}
    assert side["env"]["cameras"] == ["corner"] and side["env"]["size"] == 32 and side["env"]["fps"] == 80
    assert side["seed"] == 0 and side["settle_steps"] == 10
    eps = side["episodes"]
    assert [e["index"] for e in eps] == [0, 1]
    assert [(e["seed"], e["layout"]) for e in eps] == [episode_seed(0, 0), episode_seed(0, 1)] == [(0, 0), (0, 1)]
    assert [e["length"] for e in eps] == [e.length for e in reader.episodes]
    assert all(e["success_step"] + 10 == e["length"] for e in eps)
    assert side["steps"] == reader.total_frames and side["steps_per_s"] > 0
    with MetaWorldEnv("reach-v3", 0, EnvConfig(size=32)) as env:
        env.reset(0)
        np.testing.assert_allclose(side["camera"]["corner"]["T_world_camera"], env.camera_pose("corner"), atol=1e-9)
        np.testing.assert_allclose(side["camera"]["corner"]["K"], env.intrinsics("corner"))
        # The recorded first frame of each episode is the view of that episode's layout.
        for ep, (seed, layout) in enumerate((e["seed"], e["layout"]) for e in eps):
            first = env.reset(layout)
            image, frame = first["images"]["corner"], reader.frames(CAMERA, ep, [0])[0]
            assert frame.shape == (32, 32, 3)
            assert _psnr(frame, image) > 20 > _psnr(frame, image[::-1, ::-1])
            np.testing.assert_array_equal(_episode(reader, "observation.environment_state", ep)[0], first["raw"])
            state0 = first["state"][first["state_mask"]]
            np.testing.assert_array_equal(_episode(reader, "observation.state", ep)[0], state0)


def test_load_sidecar_of_another_dataset_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a Meta-World dataset"):
        load_sidecar(tmp_path)


@pytest.mark.parametrize("base, episode, expected", [(0, 0, (0, 0)), (0, 49, (0, 49)), (0, 50, (1, 0)),
                                                     (7, 123, (9, 23)), (1000, 3, (1000, 3))])
def test_episode_seed_walks_the_fifty_layouts_of_each_seed(base, episode, expected):
    assert episode_seed(base, episode) == expected


def test_windows_over_the_dataset_use_exactly_the_gripper_dims(reader):
    ds = WindowDataset(reader, WindowConfig(chunk_len=4))
    assert len(ds) == reader.total_frames
    s = ds[5]
    slots = [spaces.names().index(n) for n in GRIPPER_NAMES]
    gripper = np.zeros(48, dtype=bool)
    gripper[slots] = True
    assert s["state"].shape == (48,) and s["action"].shape == (4, 48)
    np.testing.assert_array_equal(s["state_mask"], gripper)
    assert (s["action_mask"] == gripper).all()
    state = reader.column("observation.state")
    np.testing.assert_array_equal(s["state"][slots], state[5])
    np.testing.assert_array_equal(s["action"][:, slots], state[6:10])  # the next 4 poses
    assert not s["action"][:, ~gripper].any()
    assert s["images"].shape == (1, 1, 3, 32, 32) and s["instruction"] == "reach the goal"


@pytest.mark.parametrize("kwargs", [{"episodes": 0}, {"workers": 0}])
def test_collect_config_is_checked(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CollectConfig(tasks=("reach-v3",), **kwargs)


@pytest.mark.slow
def test_parallel_collection_gives_the_same_episodes(tmp_path):
    """workers=2 runs the tasks in spawned processes; the dataset is the same as in one process."""
    tasks = ("reach-v3", "drawer-close-v3")
    out = {}
    for workers in (1, 2):
        cfg = CollectConfig(tasks=tasks, episodes=1, env=EnvConfig(size=32), workers=workers)
        summary = collect(cfg, tmp_path / f"w{workers}", progress=False)
        assert summary["success_rate"] == {t: 1.0 for t in tasks}
        out[workers] = (summary, LeRobotReader(tmp_path / f"w{workers}"))
    (s1, r1), (s2, r2) = out[1], out[2]
    assert [(e["task"], e["seed"], e["layout"], e["length"]) for e in s1["episodes"]] == \
           [(e["task"], e["seed"], e["layout"], e["length"]) for e in s2["episodes"]]
    assert [e["task"] for e in s1["episodes"]] == list(tasks)
    assert r1.tasks == r2.tasks == [INSTRUCTIONS[t] for t in tasks]
    for key in ("observation.state", "action", "action.raw", "observation.environment_state", "task_index"):
        np.testing.assert_array_equal(r1.column(key), r2.column(key), err_msg=key)
    for ep in range(2):
        n = r1.episodes[ep].length
        # Software GL under load may differ by a few pixel levels; the coded frames must still agree.
        a, b = r1.frames(CAMERA, ep, [0, n - 1]), r2.frames(CAMERA, ep, [0, n - 1])
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
    r1.close()
    r2.close()


def test_task_sets():
    assert len(parse_tasks("mt10")) == 10 and parse_tasks("MT10") == MT10
    assert parse_tasks("mt50") == MT50 and len(MT50) == 50
    assert parse_tasks("demo") == DEMO_TASKS == parse_tasks("articulated") + ("push-v3", "pick-place-v3")
    assert parse_tasks("demo-hard") == parse_tasks("articulated") + ("push-v3", "reach-v3")
    assert len(parse_tasks("articulated")) == 4
    assert set(MT10) <= set(INSTRUCTIONS) and set(DEMO_TASKS) <= set(INSTRUCTIONS)


def test_task_names_with_or_without_the_version():
    assert parse_tasks("push, reach-v3,push-v3") == ("push-v3", "reach-v3")  # de-duplicated, in order
    assert parse_tasks("button-press-topdown") == ("button-press-topdown-v3",)


@pytest.mark.parametrize("spec, message", [
    ("reach,fly", r"unknown Meta-World task 'fly'.*known: assembly-v3.*reach-v3"),
    (" , ", "empty task list"),
])
def test_bad_task_names_raise(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_tasks(spec)


def test_a_task_can_have_its_own_episode_count(tmp_path):
    cfg = CollectConfig(tasks=("reach-v3", "button-press-topdown-v3"), episodes=1, task_episodes=("reach-v3=2",),
                        env=EnvConfig(size=32), workers=1)
    summary = collect(cfg, tmp_path / "d", progress=False)
    assert summary["episodes_tried"] == {"reach-v3": 2, "button-press-topdown-v3": 1}
    assert [(e["task"], e["layout"]) for e in summary["episodes"]] == [
        ("reach-v3", 0), ("reach-v3", 1), ("button-press-topdown-v3", 0)]


@pytest.mark.parametrize("entry", ["push-v3=3", "reach-v3=0", "reach-v3", "reach-v3=many"])
def test_an_episode_count_for_a_task_not_collected_or_not_a_count_is_named(entry):
    with pytest.raises(ValueError, match="task_episodes"):
        CollectConfig(tasks=("reach-v3",), task_episodes=(entry,))
