"""The served policy: metadata a robot needs, the check of every observation key, batched inference."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.policies import CHUNK, make_obs, tiny_policy, write_run

from egovla import spaces
from egovla.observation import ObservationError
from egovla.serve.served import ServedPolicy


def test_metadata_names_what_the_robot_must_send(served):
    m = served.metadata
    assert m["image_shape"] == [1, 1, 3, 32, 32] and m["state_dim"] == 48 and m["chunk_len"] == CHUNK
    assert m["cameras"] == ["corner"] and m["fps"] == 80.0 and m["history_s"] == [0.0]
    assert m["action_dim"] == 48 and m["action_names"] == spaces.names() and m["max_instruction_tokens"] == 24
    assert m["observation"]["images"] == {"dtype": "uint8", "shape": [1, 1, 3, 32, 32], "required": True}
    assert m["observation"]["instruction"]["alias"] == "prompt"


def test_a_valid_observation_passes_with_default_masks_and_its_id(served):
    obs, rid = served.check({**make_obs(1), "id": "robot-7/12"})
    assert rid == "robot-7/12" and obs["image_mask"].all() and obs["state_mask"].shape == (48,)
    assert obs["state"].dtype == np.float32
    obs, rid = served.check({k: v for k, v in make_obs(1).items() if k != "instruction"} | {"prompt": "reach"})
    assert obs["instruction"] == "reach" and rid is None
    obs, _ = served.check({**make_obs(1), "state": make_obs(1)["state"].astype(np.float64),
                           "state_mask": np.zeros(48, bool)})
    assert obs["state"].dtype == np.float32 and not obs["state_mask"].any()


@pytest.mark.parametrize("change, error", [
    (lambda o: o.pop("images"), r"missing key\(s\) \['images'\]"),
    (lambda o: o.update(camera=np.zeros(3)), r"unknown key\(s\) \['camera'\]"),
    (lambda o: o.update(images=o["images"][..., :16]), r"'images': shape \[1, 1, 3, 32, 16\] per observation, the policy expects \[1, 1, 3, 32, 32\]"),
    (lambda o: o.update(images=o["images"].astype(np.float32)), r"'images': expected dtype uint8, got float32"),
    (lambda o: o.update(images=o["images"].astype(np.uint16)), r"'images': expected dtype uint8, got uint16"),
    (lambda o: o.update(images=[[1, 2]]), r"'images': expected an array of shape \(1, 1, 3, 32, 32\), got list"),
    (lambda o: o.update(state=np.full(48, np.nan, np.float32)), r"'state': 48 non-finite value"),
    (lambda o: o.update(state=np.zeros(47, np.float32)), r"'state': expected shape \(48\), got \[47\]"),
    (lambda o: o.update(state=np.zeros(48, np.int32)), r"'state': expected dtype float, got int32"),
    (lambda o: o.update(state_mask=np.ones(48, np.float32)), r"'state_mask': expected dtype bool, got float32"),
    (lambda o: o.update(image_mask=np.ones((2, 1), bool)), r"'image_mask': expected shape \(1, 1\), got \[2, 1\]"),
    (lambda o: o.update(instruction=3), r"'instruction': expected a string, got int"),
    (lambda o: o.update(instruction="x" * 200), r"'instruction': .*(text tokens|context)"),
    (lambda o: o.update(prompt="both"), r"give 'instruction' or 'prompt', not both"),
    (lambda o: o.update(id=[1]), r"'id': expected an int or a string"),
    (lambda o: o.update(id="x" * 200), r"'id': expected an int or a string"),
    (lambda o: o.update({1: 2}), r"keys must be strings"),
])
def test_each_bad_observation_names_its_problem(served, change, error):
    obs = make_obs(2)
    change(obs)
    with pytest.raises(ObservationError, match=error):
        served.check(obs)


def test_not_a_map_is_refused(served):
    with pytest.raises(ObservationError, match="expected a map of observation keys, got list"):
        served.check([1, 2])


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_a_batch_predicts_what_each_request_alone_would(tmp_path, head):
    served = ServedPolicy.from_run(write_run(tmp_path / "run", tiny_policy(head)))
    obs = [served.check(make_obs(i))[0] for i in range(4)]
    together = served.predict(obs)
    for o, chunk in zip(obs, together):
        assert chunk.shape == (CHUNK, 48) and chunk.dtype == np.float32
        np.testing.assert_allclose(chunk, served.predict([o])[0], atol=1e-5)
    assert not np.allclose(together[0], together[1])  # the requests really differ
