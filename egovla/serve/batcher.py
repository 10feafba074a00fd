"""Dynamic batching: requests from many robots that arrive within a short window share one forward pass.

The batcher takes the first waiting request, then collects more for up to `wait_s` (or until
`max_batch`, or until every connected robot has a request in it: a lone robot never waits), and runs `predict(list_of_observations)` in a worker thread, so the event loop keeps
reading, validating and answering other connections while the model runs. With `max_batch=1`
every request runs alone (batching off). If a batch fails, its requests are retried one by one so
that one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass
class Timing:
    queue_ms: float      # waiting for the batch to form and for the model to be free
    infer_ms: float      # the forward pass of the batch this request was in
    batch_size: int


class Batcher:
    def __init__(self, predict: Callable[[Sequence[dict]], list[np.ndarray]], max_batch: int = 8,
                 wait_s: float = 0.005, peers: Callable[[], int] | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {max_batch}")
        if not 0 <= wait_s <= 1:
            raise ValueError(f"wait: expected 0..1000 ms, got {wait_s * 1000:g} ms")
        self.predict, self.max_batch, self.wait_s = predict, max_batch, wait_s
        self.peers = peers or (lambda: max_batch)  # how many requests could possibly join a batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="egovla-infer")
        self.batches = 0
        self.requests = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="egovla-batcher")

    async def submit(self, observation: dict) -> tuple[np.ndarray, Timing]:
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((observation, future, time.perf_counter()))
        return await future

    async def _collect(self) -> list:
        items = [await self._queue.get()]
        deadline = time.perf_counter() + self.wait_s
        want = min(self.max_batch, max(1, self.peers()))
        while len(items) < want:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            items = [it for it in items if not it[1].cancelled()]
            if not items:
                continue
            start = time.perf_counter()
            try:
                chunks = await loop.run_in_executor(self._executor, self.predict, [it[0] for it in items])
                results = [(c, None) for c in chunks]
            except Exception as e:
                alone = len(items) == 1
                results = [(None, e)] if alone else [await self._alone(loop, it[0]) for it in items]
            infer_ms = 1000 * (time.perf_counter() - start)
            self.batches += 1
            self.requests += len(items)
            for (obs, future, queued), (chunk, error) in zip(items, results):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result((chunk, Timing(1000 * (start - queued), infer_ms, len(items))))

    async def _alone(self, loop, observation: dict) -> tuple:
        try:
            return (await loop.run_in_executor(self._executor, self.predict, [observation]))[0], None
        except Exception as e:  # reported to that request's robot only
            return None, e

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)
