"""The run folder (egovla.runs): one record written by training and read by every consumer; load_run is
the one way to a ready policy, with levers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.policies import make_obs, tiny_policy, write_run

from egovla.runs import RunRecord, load_run, policy_dir, read_record, write_record


def test_a_record_round_trips_through_run_json(tmp_path):
    record = RunRecord(history_s=(-0.2, 0.0), cameras=("corner", "gripperPOV"), fps=80.0, image_size=(64, 64),
                       n_views=2, chunk_len=16, datasets=({"name": "d", "weight": 1.0},), share=None, init="runs/h")
    write_record(tmp_path, record)
    assert json.loads((tmp_path / "run.json").read_text())["format"] == "egovla-run/1"
    assert read_record(tmp_path) == record


def test_an_older_runs_data_json_reads_the_same(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps({
        "datasets": [{"name": "d", "weight": 1.0, "fps": 30, "cameras": ["observation.images.front"]}],
        "window": {"history_s": [-1.0, 0.0], "chunk_len": 30, "image_size": [64, 64], "n_views": 1}}))
    r = read_record(tmp_path, n_history=2)
    assert (r.history_s, r.cameras, r.fps, r.image_size, r.chunk_len) == ((-1.0, 0.0), ("front",), 30.0, (64, 64), 30)
    with pytest.raises(ValueError, match="2 history offsets for a policy with n_history=1"):
        read_record(tmp_path, n_history=1)


def test_a_bare_policy_folder_loads_with_default_settings(tmp_path):
    tiny_policy().save_pretrained(tmp_path / "p")
    loaded = load_run(tmp_path / "p")
    assert loaded.record == RunRecord(history_s=(0.0,)) and policy_dir(tmp_path / "p") == tmp_path / "p"


def test_load_run_applies_levers_and_keeps_the_record(tmp_path):
    run = write_run(tmp_path / "run", tiny_policy("flow"), cameras=("corner",), fps=80)
    plain, cached = load_run(run), load_run(run, ["cache"])
    assert type(cached.policy).__name__ == "LeveredPolicy" and cached.record == plain.record
    assert plain.record.cameras == ("corner",) and plain.record.fps == 80.0 and not plain.policy.training
    np.testing.assert_array_equal(cached.policy.predict_chunk(make_obs(0)), plain.policy.predict_chunk(make_obs(0)))


def test_errors_name_the_folder_and_the_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run or policy folder"):
        load_run(tmp_path / "missing")
    (tmp_path / "run.json").write_text(json.dumps({"format": "egovla-run/1", "colour": "red"}))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['colour'\]"):
        read_record(tmp_path)
