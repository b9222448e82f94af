"""Executors of the parallel phase of shard building (load, encode, write the chunks): ``--executor ray``.

The local executor is ``build._execute`` (this process or a process pool). :func:`execute_ray` runs the same
``write_chunk`` calls as Ray actors, one per worker, each initialised once with the build config, the
captions and the exclusion list (shared through Ray's object store), so a chunk's bytes do not depend on the
executor: the shards are byte-identical to the local executor's for the same config and seed. ``record``
(the chunk's done-record, progress, skip counts) still runs in the driver as each chunk finishes, so a
killed build resumes from its finished chunks and every skip is counted exactly as locally.

Past one machine, start a Ray cluster (``ray start --head`` on one node, ``ray start --address=<head>:6379``
on the others), put the output folder and the sources' files on a file system every node mounts at the same
path, and run ``medclip-shards build ... --executor ray`` on the head (``RAY_ADDRESS`` picks the cluster).
Without a running cluster it starts a local Ray instance.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def _writer_class(ray):
    @ray.remote(num_cpus=1)
    class ChunkWriter:
        """One build worker: the process-pool initializer, then ``write_chunk`` per task."""

        def __init__(self, payload: bytes):
            # the sources package first (its import order breaks a cycle with imageio: see the CLI), then the
            # pickled build state; arguments Ray deserializes itself would import imageio first in a new worker
            import pickle

            import data_pipelines.sources  # noqa: F401

            init_worker, self.run_task, state = pickle.loads(payload)
            init_worker(*state)

        def run(self, task):
            return self.run_task(task)

    return ChunkWriter


def execute_ray(
    tasks: list,
    cfg,
    captions: dict,
    exclude: frozenset,
    workers: int | None,
    record: Callable,
    *,
    init_worker: Callable,
    run_task: Callable,
    address: str | None = None,
) -> None:
    """Write ``tasks`` on Ray actors; ``record(task, rec)`` runs in this process for each finished chunk.

    Args:
        tasks: the pending :class:`~data_pipelines.chunks.ChunkTask` list (longest first).
        cfg: the build config.
        captions: the plan's captions (sent once to the object store).
        exclude: the exclusion set.
        workers: number of actors (None or < 1: the cluster's CPU count).
        record: the build's per-chunk bookkeeping (raises to stop the build, e.g. ``stop_after``).
        init_worker: the process-pool initializer ``(cfg, captions, exclude)`` (``build._init_worker``).
        run_task: writes one chunk and returns its record (``build._run_task``); both are pickled by name.
        address: Ray cluster address (default ``RAY_ADDRESS``; none: reuse an initialised Ray or start one).
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'medclip[ray]'") from None
    if not tasks:
        return
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    n = workers if workers and workers > 0 else int(ray.cluster_resources().get("CPU", 1))
    n = max(1, min(n, len(tasks)))
    import pickle

    state = (init_worker, run_task, (cfg, captions, exclude))
    shared = ray.put(pickle.dumps(state))  # once in the object store, read by every actor
    writer = _writer_class(ray)
    actors = [writer.remote(shared) for _ in range(n)]
    queue = list(tasks)
    running: dict = {}

    def submit(actor) -> None:
        if queue:
            task = queue.pop(0)
            running[actor.run.remote(task)] = (task, actor)

    try:
        for a in actors:
            submit(a)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                task, actor = running.pop(ref)
                rec = ray.get(ref)
                submit(actor)
                record(task, rec)
    finally:  # killing the actors also drops their unfinished chunks (stop_after, errors, Ctrl-C)
        for a in actors:
            ray.kill(a)


__all__ = ["execute_ray"]
