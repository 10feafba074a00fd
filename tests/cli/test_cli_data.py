"""`egovla inspect` and `egovla viz`, run in-process: output, help, and errors that exit 2."""

from __future__ import annotations

import json

import av
import pytest

from helpers.lerobot_files import write_dataset

from egovla.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "ds"
    write_dataset(root, lengths=(6, 8), cameras=1)
    return root


def test_inspect_prints_the_description(dataset, capsys):
    assert main(["inspect", str(dataset)]) == 0
    out = capsys.readouterr().out
    for text in ("episodes  2", "frames    14", "fps       10", "features (", "tasks (2)", "stats", "h264"):
        assert text in out, text


def test_inspect_json(dataset, capsys):
    assert main(["inspect", str(dataset), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["total_episodes"], d["total_frames"], d["fps"]) == (2, 14, 10)
    assert [e["length"] for e in d["episodes"]] == [6, 8]


def test_viz_writes_the_video(dataset, tmp_path, capsys):
    out = tmp_path / "sub" / "ep1.mp4"
    assert main(["viz", str(dataset), "--episode", "1", "--out", str(out), "--fps", "5"]) == 0
    assert "wrote 8 frames" in capsys.readouterr().out
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8


@pytest.mark.parametrize("argv, message", [
    (["viz", "{ds}", "--episode", "5", "--out", "{tmp}/x.mp4"],
     "egovla viz: error: {ds}: no episode 5; the episodes are 0..1"),
    (["inspect", "{tmp}/missing"], "egovla inspect: error: {tmp}/missing: no such dataset folder"),
    (["viz", "{tmp}/missing", "--episode", "0", "--out", "{tmp}/x.mp4"], "egovla viz: error: {tmp}/missing"),
])
def test_errors_exit_2_and_say_why(dataset, tmp_path, capsys, argv, message):
    fill = {"ds": str(dataset), "tmp": str(tmp_path)}
    assert main([a.format(**fill) for a in argv]) == 2
    assert message.format(**fill) in capsys.readouterr().err


@pytest.mark.parametrize("command, words", [("inspect", ["--json", "DATASET", "stats"]),
                                            ("viz", ["--episode", "--out", "--fps", "cursor"])])
def test_help_explains_itself(command, words, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for w in words:
        assert w in text, w


def test_top_level_help_lists_the_data_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "viz" in out
