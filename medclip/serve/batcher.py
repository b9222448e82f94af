"""Dynamic micro-batching: concurrent requests' images go through the model together.

The first queued item waits at most ``max_wait_s`` for others; a batch holds at most ``max_batch`` items;
while the model runs a batch, new arrivals queue up and form the next one. The model call itself runs on
the runtime's single worker thread, so the event loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

import torch


class MicroBatcher:
    """Collects tensors ``[3, H, W]`` from concurrent coroutines and runs ``fn`` on their stack."""

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        *,
        max_batch: int,
        max_wait_s: float,
        executor: Executor,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.fn, self.max_batch, self.max_wait_s = fn, max_batch, max_wait_s
        self.executor, self.on_batch = executor, on_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, x: torch.Tensor) -> torch.Tensor:
        """The row of ``fn(batch)`` that belongs to ``x``."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run())
        fut = loop.create_future()
        await self._queue.put((x, fut))
        return await fut

    async def _collect(self) -> list:
        q = self._queue
        items = [await q.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(items) < self.max_batch:
            if not q.empty():
                items.append(q.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(q.get(), remaining))
            except asyncio.TimeoutError:
                break
        return items

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            live = [(x, f) for x, f in items if not f.done()]  # a timed-out request cancelled its future
            if not live:
                continue
            if self.on_batch is not None:
                self.on_batch(len(live))
            try:
                out = await loop.run_in_executor(self.executor, self.fn, torch.stack([x for x, _ in live]))
            except Exception as e:  # surfaced to every waiting request
                for _, f in live:
                    if not f.done():
                        f.set_exception(e)
                continue
            for i, (_, f) in enumerate(live):
                if not f.done():
                    f.set_result(out[i])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
