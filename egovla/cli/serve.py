"""`egovla serve`: put a trained policy behind a websocket for robots (flags from ServeOptions, ServerConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egovla.cli.common import add_set, apply_sets, command_parser

DESCRIPTION = ("Serve a trained policy (a run folder from `egovla train`, or its policy/ folder) over a websocket with "
               "msgpack messages (numpy arrays as openpi encodes them; never pickle). A robot connects, receives the "
               "policy's metadata, then sends observations {images uint8 (T,V,3,H,W), state float32 (D,), "
               "instruction str[, image_mask, state_mask, id]} and gets back {actions (H,D), id, timing}; a bad "
               "request gets a text error and the connection stays open. Requests from several robots that arrive "
               "within --batch-wait-ms share one forward pass. GET /healthz answers a JSON status. openpi's "
               "WebsocketClientPolicy works unchanged. Ctrl-C or SIGTERM stops after answering the requests already "
               "taken.")


def _levers(text: str) -> tuple[str, ...]:
    from egovla.model.levers import parse_levers

    return tuple(parse_levers(text))


@dataclass(frozen=True)
class ServeOptions:
    policy: Path = field(metadata={"help": "run or policy folder", "required": True, "metavar": "RUN_DIR"})
    levers: tuple[str, ...] = field(default=(), metadata={
        "help": "inference levers applied to the policy, e.g. cache,int8 (see `egovla bench --help`)",
        "parse": _levers, "metavar": "L1,L2"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's)", "metavar": "N"})
    quiet: bool = field(default=False, metadata={"help": "log warnings only"})


def register(sub, full: bool) -> None:
    p = command_parser(sub, "serve", "serve a policy to robots over a websocket", DESCRIPTION)
    if not full:
        return
    from egovla.config.flags import add_flags
    from egovla.serve.server import ServerConfig

    add_flags(p, ServeOptions, prefix="opts.")
    add_flags(p, ServerConfig, prefix="server.")
    add_set(p, {"server": "ServerConfig"}, "--set server.drain_timeout_s=10")
    p.set_defaults(run=run)


def run(args) -> int:
    import logging
    import sys

    import torch

    from egovla.config.flags import build
    from egovla.serve.served import ServedPolicy
    from egovla.serve.server import ServerConfig
    from egovla.serve.server import run as serve

    opts = build(ServeOptions, args, prefix="opts.")
    config = apply_sets(args.overrides, {"server": build(ServerConfig, args, prefix="server.")})["server"]
    logging.basicConfig(level=logging.WARNING if opts.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    served = ServedPolicy.from_run(opts.policy, opts.levers)

    def ready(server) -> None:
        m = server.metadata
        print(f"egovla serve: {m['policy']} on ws://{config.host}:{server.port}  (health: "
              f"http://{config.host}:{server.port}/healthz)\n  observation: images uint8 {m['image_shape']}, "
              f"state float32 [{m['state_dim']}], instruction; cameras {m['cameras']}, fps {m['fps']}\n"
              f"  reply: actions [{m['chunk_len']}, {m['action_dim']}]; batch <= {config.max_batch} within "
              f"{config.batch_wait_ms:g} ms{'; token required' if config.token else ''}", flush=True)

    serve(served, config, ready)
    return 0
