"""`egovla serve`: a websocket policy server that is safe, batches robots together and never stalls.

Per connection: the server first sends its metadata (msgpack map: action space, cameras, image
shape, chunk length, fps, observation keys, limits), then answers every binary message (one
observation, see `egovla.serve.served`) with a msgpack map

    {"actions": float32 (H, D), "id": <the request's id or None>,
     "timing": {"queue_ms", "infer_ms", "server_ms", "batch_size"}}

in the order the requests came. A request that cannot be answered (not msgpack, too big, a bad
observation, a failed forward pass) gets a *text* message naming the problem, which is how openpi's
client reports server errors (it raises RuntimeError with it), and the connection stays open.

- `GET /healthz` answers 200 with a small JSON status (no token needed).
- `--token T`: the websocket handshake must carry `Authorization: Api-Key T` (openpi's client
  header) or `Bearer T`; otherwise it is refused with HTTP 401.
- Messages over `max_message_bytes` get an error reply; over 4x that the websocket layer does not
  read them at all and closes that connection (code 1009, message too big).
- The forward pass runs in a worker thread (`egovla.serve.batcher`): the event loop keeps taking
  and checking requests while the model runs.
- Shutdown (SIGINT/SIGTERM, or `stop()`): new connections get 503, new requests an error, requests
  already taken are answered, then connections close with code 1001 (going away).
"""

from __future__ import annotations

import asyncio
import hmac
import http
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from egovla.serve.batcher import Batcher
from egovla.client.protocol import ProtocolError, pack, unpack
from egovla.observation import ObservationError
from egovla.serve.served import ServedPolicy

log = logging.getLogger("egovla.serve")
HARD_CAP_FACTOR = 4


def _f(default, help: str, **meta):
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class ServerConfig:
    host: str = _f("127.0.0.1", "address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)")
    port: int = _f(8000, "port (0: any free port, see PolicyServer.port)")
    token: str | None = _f(None, "require `Authorization: Api-Key T` (or Bearer T) from clients (default: "
                           "$EGOVLA_TOKEN, else no token)", env="EGOVLA_TOKEN", metavar="T")
    max_batch: int = _f(8, "most requests in one forward pass (1 turns batching off)", metavar="N")
    batch_wait_ms: float = _f(5.0, "how long the first request of a batch waits for others", metavar="MS")
    max_message_bytes: int | None = _f(None, "larger requests get an error reply (default: twice an observation's "
                                       "size + 64 KiB)", metavar="N")
    drain_timeout_s: float = _f(30.0, "at shutdown, how long requests already taken may still run", metavar="S")

    def __post_init__(self) -> None:
        if self.max_message_bytes is not None and self.max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes: expected >= 1024, got {self.max_message_bytes}")
        if self.token is not None and not self.token:
            raise ValueError("token: an empty token would let anyone in; leave it out instead")


def default_message_limit(served: ServedPolicy) -> int:
    obs = int(np.prod(served.image_shape)) + 9 * served.state_dim + 64 * served.max_text_tokens
    return 2 * obs + 64 * 1024


class PolicyServer:
    def __init__(self, served: ServedPolicy, config: ServerConfig = ServerConfig()):
        self.served, self.config = served, config
        self.max_message_bytes = config.max_message_bytes or default_message_limit(served)
        self.batcher = Batcher(served.predict, config.max_batch, config.batch_wait_ms / 1000,
                               peers=lambda: self.connections)
        self.metadata = {**served.metadata, "max_message_bytes": self.max_message_bytes,
                         "max_batch": config.max_batch, "auth": config.token is not None}
        self._metadata_msg = pack(self.metadata)
        self._server = None
        self._closing = False
        self._in_flight = 0
        self._idle: asyncio.Event | None = None
        self.connections = 0
        self.errors = 0
        self.port = config.port

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._idle = asyncio.Event()
        self._idle.set()
        self.batcher.start()
        self._server = await serve(
            self._handle, self.config.host, self.config.port, process_request=self._process_request,
            max_size=HARD_CAP_FACTOR * self.max_message_bytes, compression=None, max_queue=4,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("serving %s on ws://%s:%d (batch <= %d, wait %.1f ms%s)", self.metadata["policy"],
                 self.config.host, self.port, self.config.max_batch, self.config.batch_wait_ms,
                 ", token required" if self.config.token else "")

    async def shutdown(self) -> None:
        """Refuse new work, answer what was taken, then close every connection (1001)."""
        if self._closing:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), self.config.drain_timeout_s)
        except TimeoutError:
            log.warning("shutdown: %d request(s) still running after %.0f s", self._in_flight,
                        self.config.drain_timeout_s)
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        await self.batcher.close()
        log.info("server stopped after %d request(s) in %d batch(es)", self.batcher.requests, self.batcher.batches)

    # ---- HTTP side: health and auth -----------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request):
        if request.path.split("?")[0] == "/healthz":
            status = {"status": "closing" if self._closing else "ok", "policy": self.metadata["policy"],
                      "connections": self.connections, "requests": self.batcher.requests,
                      "batches": self.batcher.batches, "in_flight": self._in_flight}
            return connection.respond(http.HTTPStatus.OK, json.dumps(status) + "\n")
        if self._closing:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "the server is shutting down\n")
        if self.config.token is not None:
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            ok = scheme in ("Api-Key", "Bearer") and hmac.compare_digest(value.encode(), self.config.token.encode())
            if not ok:
                log.warning("refused a connection from %s: %s token", connection.remote_address,
                            "wrong" if given else "no")
                return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    # ---- websocket side -----------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        log.info("robot connected from %s", ws.remote_address)
        try:
            await ws.send(self._metadata_msg)
            async for message in ws:
                if self._closing:
                    await ws.send("the server is shutting down")
                    continue
                self._in_flight += 1
                self._idle.clear()
                try:
                    await ws.send(await self._answer(message))
                finally:
                    self._in_flight -= 1
                    if self._in_flight == 0:
                        self._idle.set()
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code == 1009 or e.sent is not None and e.sent.code == 1009:
                log.warning("closed %s: a message over %d bytes", ws.remote_address,
                            HARD_CAP_FACTOR * self.max_message_bytes)
        finally:
            self.connections -= 1
            log.info("robot %s disconnected", ws.remote_address)

    async def _answer(self, message: str | bytes) -> str | bytes:
        start = time.perf_counter()
        prefix = ""
        try:
            if isinstance(message, str):
                raise ProtocolError("expected a binary msgpack message, got a text message")
            if len(message) > self.max_message_bytes:
                raise ProtocolError(f"message of {len(message)} bytes is over the limit of "
                                    f"{self.max_message_bytes} bytes")
            decoded = unpack(message)
            if isinstance(decoded, dict) and isinstance(decoded.get("id"), (int, str)):
                prefix = f"request {str(decoded['id'])[:128]}: "
            observation, rid = self.served.check(decoded)
        except ProtocolError as e:
            self.errors += 1
            return f"{prefix}bad message: {e}"
        except ObservationError as e:
            self.errors += 1
            return f"{prefix}bad observation: {e}"
        try:
            chunk, timing = await self.batcher.submit(observation)
        except Exception as e:  # the model failed on this observation; the server goes on
            self.errors += 1
            log.exception("inference failed")
            return f"{prefix}inference failed: {type(e).__name__}: {e}"
        return pack({"actions": chunk, "id": rid, "timing": {
            "queue_ms": timing.queue_ms, "infer_ms": timing.infer_ms, "batch_size": timing.batch_size,
            "server_ms": 1000 * (time.perf_counter() - start)}})


async def _serve_until(server: PolicyServer, stop: asyncio.Event, ready=None) -> None:
    await server.start()
    if ready is not None:
        ready()
    await stop.wait()
    await server.shutdown()


def run(served: ServedPolicy, config: ServerConfig, ready=None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully. `ready(server)` is called once listening."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = PolicyServer(served, config)
        await _serve_until(server, stop, None if ready is None else (lambda: ready(server)))

    asyncio.run(main())


class ServerThread:
    """A server on its own event loop in a background thread: for tests, notebooks and benchmarks.

        with ServerThread(ServedPolicy.from_run("runs/demo/run"), ServerConfig(port=0)) as srv:
            client = PolicyClient(srv.url)
    """

    def __init__(self, served: ServedPolicy, config: ServerConfig = ServerConfig(port=0), start_timeout_s=30.0):
        self.server = PolicyServer(served, config)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="egovla-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout_s):
            raise TimeoutError(f"the server did not start within {start_timeout_s} s")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                await _serve_until(self.server, self._stop, self._ready.set)
            except BaseException as e:  # reported to the starting thread
                self._error = e
                self._ready.set()

        self._loop.run_until_complete(main())
        self._loop.close()

    @property
    def url(self) -> str:
        return f"ws://{self.server.config.host}:{self.server.port}"

    def stop(self, timeout_s: float = 60.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout_s)

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
