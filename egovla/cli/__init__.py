"""The `egovla` command line: one module per command group, flags generated from the dataclasses they fill.

    egovla train | demo | collect | eval | serve | bench | convert | synth | inspect | viz

`main(argv)` builds the parser of the command being run in full (`register(sub, full=True)`) and
the others by name only, runs the subparser's `run`, and turns the errors a user can fix (a bad
flag value, a missing file, a malformed dataset or observation) into one line on stderr and exit
code 2 (a flag value that cannot be parsed is argparse's usage error, also exit code 2).
"""

from __future__ import annotations

import argparse
import sys

from egovla.cli import bench, convert, data, demo, serve, sim, train

DESCRIPTION = """\
egovla trains Vision-Language-Action policies the EgoVLA way: a VLM reads camera frames and an
instruction, learned action query tokens appended after them are filled in by the VLM, and an
action head turns them into a chunk of future wrist and hand poses in the camera frame.

commands:
  train   train a policy (tiny built-in VLM or a local Hugging Face VLM) on a dataset
  demo    the end-to-end job: Meta-World demonstrations -> train -> closed-loop evaluation
  human-transfer  does human video help a robot? robot only vs human pretrained vs co-trained
  collect record scripted demonstrations in simulation (collect metaworld)
  eval    evaluate a policy closed-loop in simulation (eval metaworld), locally or through a server
  serve   serve a policy to robots over a websocket (msgpack, batching, token, openpi-compatible)
  bench   predict_chunk latency per inference lever (cache, prune, int8, bf16, compile, onnx)
  convert turn other data into a LeRobot dataset in the unified action space (egodex, rlds, hot3d)
  synth   write synthetic human video in a real format, for trying the tools (synth egodex)
  inspect describe a LeRobot dataset: features, tasks, episodes and stats (--json for programs)
  viz     render one episode as an MP4: camera views with state/action curves, or for human video
          (a converted dataset or an EgoDex .hdf5) the projected future hand trajectories + a PNG sheet
"""

#: Command name -> the module that registers it (in the order of the help).
GROUPS = {"train": train, "demo": demo, "human-transfer": demo, "collect": sim, "eval": sim, "serve": serve, "bench": bench,
          "convert": convert, "synth": convert, "inspect": data, "viz": data}


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the group of `command` is built with all its flags (None: every group)."""
    parser = argparse.ArgumentParser(prog="egovla", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    done = []
    for module in GROUPS.values():
        if module in done:
            continue
        done.append(module)
        module.register(sub, full=command is None or GROUPS.get(command) is module)
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: reported in one line, exit code 2."""
    from egovla.data.lerobot.format import DatasetFormatError
    from egovla.observation import ObservationError

    errors: list[type[BaseException]] = [DatasetFormatError, ObservationError, ValueError, FileNotFoundError,
                                         FileExistsError, OSError]
    if "egovla.train.errors" in sys.modules:
        errors.insert(0, sys.modules["egovla.train.errors"].TrainingError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command(argv)
    parser = build_parser(command if command in GROUPS else "")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error (argparse printed it); --help exits 0 and stays an exit
        if e.code == 2:
            return 2
        raise
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except user_errors() as e:
        print(f"egovla {args.command}: error: {e}", file=sys.stderr)
        return 2
