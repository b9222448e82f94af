"""The micro-batcher alone: batch sizes follow max_batch / max_wait, each caller gets its own row."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from medclip.serve.batcher import MicroBatcher


def _run(n, *, max_batch, max_wait_s, delay_s=0.0, fail=False):
    sizes = []

    def fn(batch):
        time.sleep(delay_s)
        if fail:
            raise ValueError("model failed")
        return batch * 10

    async def main():
        b = MicroBatcher(fn, max_batch=max_batch, max_wait_s=max_wait_s, executor=ThreadPoolExecutor(1),
                         on_batch=sizes.append)  # fmt: skip
        xs = [torch.full((3,), float(i)) for i in range(n)]
        out = await asyncio.gather(*(b.submit(x) for x in xs), return_exceptions=True)
        await b.close()
        return xs, out

    xs, out = asyncio.run(main())
    return xs, out, sizes


def test_concurrent_submissions_fill_batches_in_order():
    xs, out, sizes = _run(10, max_batch=4, max_wait_s=0.5)
    assert sizes == [4, 4, 2]
    for x, y in zip(xs, out):
        assert torch.equal(y, x * 10)


def test_zero_wait_still_batches_what_is_queued():
    _, out, sizes = _run(6, max_batch=16, max_wait_s=0.0)
    assert sum(sizes) == 6 and len(out) == 6


def test_lone_request_waits_at_most_max_wait():
    t0 = time.perf_counter()
    _, _, sizes = _run(1, max_batch=8, max_wait_s=0.2)
    assert sizes == [1] and 0.15 < time.perf_counter() - t0 < 2.0


def test_model_error_reaches_every_caller():
    _, out, _ = _run(3, max_batch=8, max_wait_s=0.05, fail=True)
    assert all(isinstance(o, ValueError) for o in out)


@pytest.mark.parametrize("max_batch", [1, 3])
def test_max_batch_is_respected(max_batch):
    _, _, sizes = _run(7, max_batch=max_batch, max_wait_s=0.05)
    assert max(sizes) <= max_batch and sum(sizes) == 7
