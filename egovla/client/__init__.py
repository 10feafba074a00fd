"""What runs on the robot, importable without torch (as openpi ships `openpi_client`).

    from egovla.client import ActionScheduler, FrameHistory, PolicyClient

    client = PolicyClient("127.0.0.1", 8000)
    frames = FrameHistory.from_metadata(client.metadata)
    frames.push({"corner": rgb})                       # every control step
    chunk = client.infer(frames.observation("open the drawer", state))["actions"]

Modules: `protocol` (msgpack wire format, never pickle), `client` (blocking and asyncio clients of
`egovla serve`), `link` (simulated network latency), `clock` (wall clock or virtual time for a
control loop), `history` (camera frames -> the policy's image input), `scheduler` (late and
overlapping chunks -> one action per step), `ensemble` (temporal ensembling of chunks).
"""

from egovla.client.client import AsyncPolicyClient, AuthError, PolicyClient, ServerError
from egovla.client.clock import VirtualClock, WallClock
from egovla.client.ensemble import TemporalEnsemble
from egovla.client.history import FrameHistory
from egovla.client.link import Link
from egovla.client.protocol import ProtocolError, pack, unpack
from egovla.client.scheduler import ActionScheduler

__all__ = ["ActionScheduler", "AsyncPolicyClient", "AuthError", "FrameHistory", "Link", "PolicyClient",
           "ProtocolError", "ServerError", "TemporalEnsemble", "VirtualClock", "WallClock", "pack", "unpack"]
