"""Serving policies to robots: the wire protocol, `egovla serve`, robot clients and chunk scheduling.

Robot side, in a few lines::

    from egovla.serve import ActionScheduler, FrameHistory, PolicyClient

    client = PolicyClient("127.0.0.1", 8000)
    frames = FrameHistory.from_metadata(client.metadata)
    frames.push({"corner": rgb})                       # every control step
    chunk = client.infer(frames.observation("open the drawer", state))["actions"]
"""

from egovla.serve.client import AsyncPolicyClient, AuthError, PolicyClient, ServerError
from egovla.serve.history import FrameHistory
from egovla.client.link import Link
from egovla.serve.protocol import ProtocolError, pack, unpack
from egovla.serve.scheduler import ActionScheduler

__all__ = ["ActionScheduler", "AsyncPolicyClient", "AuthError", "FrameHistory", "Link", "PolicyClient",
           "ProtocolError", "ServerError", "pack", "unpack"]
