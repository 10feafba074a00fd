"""Robot side: clients of `egovla serve` (blocking and asyncio), with connection retry.

    client = PolicyClient("127.0.0.1", 8000)          # or PolicyClient("ws://host:8000", token="...")
    client.metadata                                    # cameras, image_shape, chunk_len, fps, ...
    reply = client.infer({"images": ..., "state": ..., "instruction": "open the drawer"})
    reply["actions"]                                   # (H, D) float32 chunk

`infer` adds an `id` to each request (unless the observation has one) and checks that the reply
carries it back. A text reply is the server's error: it raises `ServerError` with the server's
message, and the connection stays usable. Connecting retries with backoff until
`connect_timeout_s`; a refused token raises `AuthError` at once. A connection that drops is
reopened once per request. An optional `Link` adds simulated network latency.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from egovla.client.link import Link
from egovla.client.protocol import ProtocolError, pack, unpack


class ServerError(RuntimeError):
    """The server could not answer a request (bad observation, failed inference, shutting down)."""


class AuthError(ConnectionError):
    """The server refused the token."""


def server_url(host: str, port: int | None = None) -> str:
    url = host if host.startswith(("ws://", "wss://")) else f"ws://{host}"
    return f"{url}:{port}" if port is not None else url


class _Base:
    def __init__(self, host: str, port: int | None, token: str | None, connect_timeout_s: float,
                 reply_timeout_s: float, link: Link | None):
        self.url = server_url(host, port)
        self.headers = {"Authorization": f"Api-Key {token}"} if token else None
        self.connect_timeout_s, self.reply_timeout_s = connect_timeout_s, reply_timeout_s
        self.link = link
        self.metadata: dict = {}
        self.connect_attempts = 0  # handshakes tried, the successful one included
        self._ids = itertools.count()

    def _retryable(self, error: Exception, deadline: float) -> bool:
        if isinstance(error, InvalidStatus) and error.response.status_code == 401:
            raise AuthError(f"{self.url}: the server refused the token (HTTP 401)") from None
        if time.monotonic() >= deadline:
            raise ConnectionError(f"could not connect to {self.url} within {self.connect_timeout_s:g} s: "
                                  f"{type(error).__name__}: {error}") from error
        return True

    def _request(self, observation: dict) -> tuple[bytes, Any]:
        if not isinstance(observation, dict):
            raise TypeError(f"observation: expected a dict, got {type(observation).__name__}")
        rid = observation.get("id")
        if rid is None:
            rid = next(self._ids)
            observation = {**observation, "id": rid}
        return pack(observation), rid

    def _reply(self, raw: str | bytes, rid: Any) -> dict:
        if isinstance(raw, str):
            raise ServerError(raw)
        reply = unpack(raw)
        if not isinstance(reply, dict) or "actions" not in reply:
            raise ProtocolError(f"reply without 'actions' from {self.url}")
        if reply.get("id") != rid:
            raise ProtocolError(f"reply for request {reply.get('id')!r} while waiting for {rid!r}")
        return reply

    def get_server_metadata(self) -> dict:
        """openpi's name for `metadata`."""
        return self.metadata


class PolicyClient(_Base):
    """Blocking client: one request at a time on one connection."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, token: str | None = None,
                 connect_timeout_s: float = 30.0, reply_timeout_s: float = 60.0, link: Link | None = None):
        super().__init__(host, port, token, connect_timeout_s, reply_timeout_s, link)
        self._ws = None
        self._connect()

    def _connect(self) -> None:
        from websockets.sync.client import connect

        deadline, delay = time.monotonic() + self.connect_timeout_s, 0.05
        while True:
            self.connect_attempts += 1
            try:
                ws = connect(self.url, additional_headers=self.headers, compression=None, max_size=None,
                             open_timeout=max(1.0, self.connect_timeout_s), legacy=True)  # closed by close()
                self.metadata = unpack(ws.recv(timeout=self.reply_timeout_s))
                self._ws = ws
                return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as e:
                self._retryable(e, deadline)
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(2 * delay, 1.0)

    def infer(self, observation: dict) -> dict:
        """One observation -> the reply {"actions": (H, D), "id", "timing"}. Raises ServerError."""
        message, rid = self._request(observation)
        if self.link is not None:
            self.link.sleep(self.link.uplink())
        for attempt in (0, 1):
            try:
                self._ws.send(message)
                raw = self._ws.recv(timeout=self.reply_timeout_s)
                break
            except ConnectionClosed:
                if attempt:
                    raise
                self._connect()
        if self.link is not None:
            self.link.sleep(self.link.downlink())
        return self._reply(raw, rid)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()

    def __enter__(self) -> "PolicyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncPolicyClient(_Base):
    """asyncio client: `client = await AsyncPolicyClient.connect(url)`, then `await client.infer(obs)`.
    Requests on one client are answered in order; use one client per robot (or per concurrent stream)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, token: str | None = None,
                 connect_timeout_s: float = 30.0, reply_timeout_s: float = 60.0, link: Link | None = None):
        super().__init__(host, port, token, connect_timeout_s, reply_timeout_s, link)
        self._ws = None
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str = "127.0.0.1", port: int | None = None, **kwargs) -> "AsyncPolicyClient":
        client = cls(host, port, **kwargs)
        await client._connect()
        return client

    async def _connect(self) -> None:
        from websockets.asyncio.client import connect

        deadline, delay = time.monotonic() + self.connect_timeout_s, 0.05
        while True:
            self.connect_attempts += 1
            try:
                ws = await connect(self.url, additional_headers=self.headers, compression=None, max_size=None,
                                   open_timeout=max(1.0, self.connect_timeout_s))
                self.metadata = unpack(await asyncio.wait_for(ws.recv(), self.reply_timeout_s))
                self._ws = ws
                return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as e:
                self._retryable(e, deadline)
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(2 * delay, 1.0)

    async def infer(self, observation: dict) -> dict:
        message, rid = self._request(observation)
        if self.link is not None:
            await asyncio.sleep(self.link.uplink())
        async with self._lock:
            for attempt in (0, 1):
                try:
                    await self._ws.send(message)
                    raw = await asyncio.wait_for(self._ws.recv(), self.reply_timeout_s)
                    break
                except ConnectionClosed:
                    if attempt:
                        raise
                    await self._connect()
        if self.link is not None:
            await asyncio.sleep(self.link.downlink())
        return self._reply(raw, rid)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
