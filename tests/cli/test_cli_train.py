"""The `egovla` command line: help, a short training run, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from egovla.cli import main

TINY = ["--samples", "64", "--image-size", "32", "--chunk-len", "4", "--batch-size", "4", "--eval-samples", "8",
        "--set", "backbone.image_size=32", "--set", "backbone.text_layers=1", "--set", "backbone.vision_layers=1",
        "--set", "head.layers=1", "--no-progress"]


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "egovla.cli", "--help"], capture_output=True, text=True, check=True)
    assert "train" in out.stdout and "demo" in out.stdout and "action query tokens" in out.stdout


def test_train_help_explains_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in ("--dataset", "--model", "--head", "--steps", "--batch-size", "--out", "--resume", "--set"):
        assert flag in text


@pytest.mark.parametrize("head", ["regression", "flow"])
def test_train_writes_a_run_folder(tmp_path, head, capsys):
    assert main(["train", "--head", head, "--steps", "3", "--out", str(tmp_path / "run"), *TINY]) == 0
    run = tmp_path / "run"
    for name in ("policy/config.json", "policy/model.safetensors", "summary.json", "eval.json", "loss.png"):
        assert (run / name).is_file(), name
    assert json.loads((run / "policy/config.json").read_text())["head"]["kind"] == head
    assert "policy saved to" in capsys.readouterr().out


def test_unsupported_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--dataset", "/no/such/dataset:0.5", "--steps", "1", "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "/no/such/dataset" in capsys.readouterr().err


def test_bad_override_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--set", "head.nope=3", "--steps", "1", "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "no field 'nope'" in capsys.readouterr().err
