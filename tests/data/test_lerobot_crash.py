"""A writer killed mid-dataset leaves the previous dataset (or nothing), never a half dataset."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.lerobot_files import write_dataset

from egovla.data.lerobot.format import DatasetFormatError
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.lerobot.writer import recover_interrupted

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from helpers.lerobot_files import episode_data
    from egovla.data.lerobot.format import vector_feature, video_feature
    from egovla.data.lerobot.writer import LeRobotWriter
    feats = {{"observation.images.cam0": video_feature(32, 32), "observation.state": vector_feature(6),
             "action": vector_feature(6)}}
    with LeRobotWriter(Path({root!r}), fps=10, features=feats, overwrite=True) as w:
        for e in range(1000):
            w.add_episode(episode_data(e, 10, native=True), task="t")
            print("episode", e, flush=True)
            time.sleep(0.05)
""")


def kill_mid_write(root: Path, episodes_before_kill: int = 3) -> None:
    code = WRITER.format(tests=str(Path(__file__).parents[1]), root=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        seen = 0
        while seen < episodes_before_kill and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the writer process ended before it was killed"
            seen += line.startswith("episode")
        assert seen == episodes_before_kill
        assert any(root.parent.glob(f".{root.name}.writing-*")), "the writer should be writing into a hidden folder"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


def test_killed_first_write_leaves_nothing_that_reads_as_a_dataset(tmp_path):
    root = tmp_path / "ds"
    kill_mid_write(root)
    with pytest.raises(DatasetFormatError, match="no such dataset folder"):
        LeRobotReader(root)
    for leftover in tmp_path.glob(".ds.writing-*"):
        with pytest.raises(DatasetFormatError, match="info.json: the dataset description is missing"):
            LeRobotReader(leftover)
    recover_interrupted(root)  # what the next writer does first: drop the dead writer's folder
    assert not list(tmp_path.glob(".ds.*"))


def test_killed_overwrite_keeps_the_previous_dataset(tmp_path):
    root = tmp_path / "ds"
    before = write_dataset(root, lengths=(7, 5))
    kill_mid_write(root)
    r = LeRobotReader(root)
    assert [e.length for e in r.episodes] == [7, 5]
    np.testing.assert_array_equal(r.column("action"), np.concatenate([d["action"] for d in before]))
    assert r.frames("observation.images.cam0", 1, [4]).shape == (1, 32, 32, 3)


def test_a_backup_left_between_the_two_renames_is_put_back(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, lengths=(4,))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    os.rename(root, tmp_path / f".ds.old-{int(dead.stdout)}")
    recover_interrupted(root)
    assert LeRobotReader(root).total_frames == 4
