"""One training run on a mixture of the three converters' outputs: RLDS (Bridge layout, converted
with camera extrinsics into the unified gripper slots), HOT3D-Clips and EgoDex, through the CLI.

All three share the 48-D unified space: the RLDS dataset writes 15 named right-hand slots (the
mixture's first dataset fixes the policy's spaces, so a natively converted RLDS dataset -- 7 unnamed
dims -- could not be mixed with human video; convert it with `T_base_camera` first)."""

import numpy as np
from helpers.hot3d_files import write_clip
from helpers.rlds_files import write_builder
from scipy.spatial.transform import Rotation

from egovla.data.egodex.convert import ConvertConfig, convert_egodex
from egovla.data.egodex.synthetic import SyntheticEgoDexConfig, write_synthetic_egodex
from egovla.data.hot3d.convert import Hot3DConfig, convert_hot3d
from egovla.data.lerobot.reader import LeRobotReader
from egovla.data.rlds.config import RLDSConfig
from egovla.data.rlds.convert import convert_rlds

QUIET = {"progress": False, "say": lambda *_: None}


def test_train_on_rlds_hot3d_and_egodex_mixture(tmp_path):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [-2.1, 0.0, 1.5]).as_matrix()
    T[:3, 3] = [0.5, 0.0, 0.5]
    root, _ = write_builder(tmp_path / "rlds", "bridge", shard_lengths=(2,), steps=(12, 10), hw=(32, 32))
    a = tmp_path / "bridge"
    res = convert_rlds(root, a, RLDSConfig(preset="bridge", T_base_camera=tuple(T.reshape(-1))), **QUIET)
    assert res["space"] == "unified"
    write_clip(tmp_path / "hot3d" / "clip-001849.tar", frames=14, seed=0, rgb_size=352)
    b = tmp_path / "hot3d_out"
    convert_hot3d(tmp_path / "hot3d", b, Hot3DConfig(size=32, horizon=8, min_valid=0.0), **QUIET)
    write_synthetic_egodex(tmp_path / "egodex", SyntheticEgoDexConfig(tasks=("open_drawer",), episodes=2, frames=16))
    c = tmp_path / "egodex_out"
    convert_egodex(tmp_path / "egodex", c, ConvertConfig(size=32, horizon=8, min_valid=0.0), **QUIET)
    for p in (a, b, c):
        assert len(LeRobotReader(p).episodes) >= 1

    from egovla.cli import main

    run = tmp_path / "run"
    rc = main(["train", "--dataset", f"{a}:1", "--dataset", f"{b}:1", "--dataset", f"{c}:1", "--image-size", "32",
               "--chunk-len", "8", "--steps", "3", "--batch-size", "4", "--out", str(run), "--no-progress"])
    assert rc == 0 and (run / "policy").is_dir()
