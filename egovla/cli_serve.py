"""`egovla serve`: put a trained policy behind a websocket for robots (see egovla.serve.server)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def add_parsers(sub) -> None:
    s = sub.add_parser(
        "serve", help="serve a policy to robots over a websocket",
        description="Serve a trained policy (a run folder from `egovla train`, or its policy/ folder) over a "
                    "websocket with msgpack messages (numpy arrays as openpi encodes them; never pickle). A robot "
                    "connects, receives the policy's metadata, then sends observations {images uint8 (T,V,3,H,W), "
                    "state float32 (D,), instruction str[, image_mask, state_mask, id]} and gets back "
                    "{actions (H,D), id, timing}; a bad request gets a text error and the connection stays open. "
                    "Requests from several robots that arrive within --batch-wait-ms share one forward pass. "
                    "GET /healthz answers a JSON status. openpi's WebsocketClientPolicy works unchanged. "
                    "Ctrl-C or SIGTERM stops after answering the requests already taken.")
    s.add_argument("--policy", required=True, type=Path, metavar="RUN_DIR", help="run or policy folder")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    s.add_argument("--token", default=os.environ.get("EGOVLA_TOKEN") or None, metavar="T",
                   help="require `Authorization: Api-Key T` (or Bearer T) from clients (default: $EGOVLA_TOKEN, "
                        "else no token)")
    s.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="most requests in one forward pass (default 8; 1 turns batching off)")
    s.add_argument("--batch-wait-ms", type=float, default=5.0, metavar="MS",
                   help="how long a request waits for others to join its batch (default 5)")
    s.add_argument("--max-message-bytes", type=int, default=None, metavar="N",
                   help="larger requests get an error reply (default: twice an observation's size + 64 KiB)")
    s.add_argument("--levers", default="", metavar="L1,L2",
                   help="inference levers applied to the policy, e.g. cache,int8 (see `egovla bench --help`)")
    s.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's)")
    s.add_argument("--quiet", action="store_true", help="log warnings only")


def cmd_serve(args: argparse.Namespace) -> int:
    import torch

    from egovla.serve.server import ServerConfig, run
    from egovla.serve.served import ServedPolicy

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    levers = []
    if args.levers:
        from egovla.model.levers import parse_levers

        levers = parse_levers(args.levers)
    config = ServerConfig(host=args.host, port=args.port, token=args.token, max_batch=args.max_batch,
                          batch_wait_ms=args.batch_wait_ms, max_message_bytes=args.max_message_bytes)
    served = ServedPolicy.from_run(args.policy, levers)

    def ready(server) -> None:
        m = server.metadata
        print(f"egovla serve: {m['policy']} on ws://{args.host}:{server.port}  (health: "
              f"http://{args.host}:{server.port}/healthz)\n  observation: images uint8 {m['image_shape']}, "
              f"state float32 [{m['state_dim']}], instruction; cameras {m['cameras']}, fps {m['fps']}\n"
              f"  reply: actions [{m['chunk_len']}, {m['action_dim']}]; batch <= {config.max_batch} within "
              f"{config.batch_wait_ms:g} ms{'; token required' if config.token else ''}", flush=True)

    run(served, config, ready)
    return 0
