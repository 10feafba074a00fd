"""The robot side imports and works without torch, as openpi ships `openpi_client`: a robot computer
needs numpy, msgpack and websockets, not a deep-learning framework."""

from __future__ import annotations

import subprocess
import sys

ROBOT = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
import egovla.client as c
from egovla import geometry, observation, spaces
frames = c.FrameHistory(["corner"], [-0.1, 0.0], fps=10, size=(8, 8))
for i in range(3):
    frames.push({"corner": np.full((16, 16, 3), i, np.uint8)})
obs = frames.observation("open the drawer", np.zeros(48, np.float32))
spec = observation.ObservationSpec((2, 1, 3, 8, 8), 48)
spec.check(c.unpack(c.pack(obs)))
s = c.ActionScheduler(threshold=2)
s.add(0, np.zeros((4, 48)))
assert s.action(1)[1]
assert geometry.invert_pose(np.eye(4)).shape == (4, 4) and len(spaces.names()) == 48
print("ok", sorted(m for m in sys.modules if m.startswith("egovla")))
"""


def test_the_robot_side_imports_and_runs_with_torch_blocked():
    out = subprocess.run([sys.executable, "-c", ROBOT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok"), out.stdout
    loaded = out.stdout
    assert "egovla.model" not in loaded and "egovla.serve" not in loaded and "egovla.sim" not in loaded
