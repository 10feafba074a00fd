"""The label overlay: marks land where the camera-frame labels project."""

import numpy as np

from egovla import geometry, spaces
from egovla.data.egodex.viz import COLOURS, draw_labels, render

K = np.array([[60.0, 0, 31.5], [0, 60.0, 31.5], [0, 0, 1]])


def hand_vector(side: str, wrist) -> np.ndarray:
    v = np.zeros(48, dtype=np.float32)
    v[spaces.slot(side, "wrist_pos")] = wrist
    v[spaces.slot(side, "wrist_rot")] = geometry.rot6d_from_matrix(np.eye(3))
    v[spaces.slot(side, "fingertips")] = np.tile([0.0, -0.05, 0.0], 5)
    return v


def test_marks_sit_where_the_labels_project():
    state = hand_vector("right", [0.1, 0.0, 0.5])  # projects to (43.5, 31.5) in the 64 px image
    mask = spaces.mask_for(("right",))
    chunk = np.stack([hand_vector("right", [0.1 - 0.02 * k, 0.0, 0.5]) for k in range(1, 6)])
    img = draw_labels(np.zeros((64, 64, 3), np.uint8), K, state, mask, chunk, np.repeat(mask[None], 5, 0))
    scale = img.shape[0] // 64
    assert scale * 64 >= 448
    magenta = np.all(img == COLOURS["right"], axis=-1)
    cyan = np.all(img == COLOURS["left"], axis=-1)
    assert magenta.any() and not cyan.any()
    ys, xs = np.nonzero(magenta)
    # the ring around the wrist is centred on its projection; the trajectory runs left of it (x decreases)
    assert abs(np.median(ys) / scale - 31.5) < 4
    assert xs.min() / scale < 33 and xs.max() / scale > 43.5  # last step at x = 0: u = 31.5
    # the fingertips are 5 cm up (-y) in the wrist frame: marks above the wrist
    assert ys.min() / scale < 31.5 - 60 * 0.05 / 0.5 + 2


def test_masked_hands_and_steps_are_not_drawn():
    state = hand_vector("right", [0.0, 0.0, 0.5])
    img = draw_labels(np.zeros((64, 64, 3), np.uint8), K, state, np.zeros(48, bool), state[None], np.zeros((1, 48), bool))
    assert img.max() == 0


def test_render_writes_video_and_contact_sheet(tmp_path):
    import av
    from PIL import Image

    n = 14
    states = np.stack([hand_vector("left", [-0.05, 0.01 * t, 0.4]) for t in range(n)])
    masks = np.repeat(spaces.mask_for(("left",))[None], n, 0)
    out = render(np.full((n, 64, 64, 3), 90, np.uint8), K, states, masks, states[:, None], masks[:, None],
                 tmp_path / "v.mp4", fps=10, title="t")
    with av.open(out["video"]) as c:
        assert sum(1 for _ in c.decode(video=0)) == n
    sheet = Image.open(out["sheet"])
    assert sheet.size[0] == 4 * 448 and out["frames"] == n
