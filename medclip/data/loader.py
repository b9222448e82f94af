"""The training loader: a deterministic, resumable stream of micro-batches per rank.

Micro-batch ``i`` of an epoch on a rank comes from worker role ``i % workers``; each role reads its own
unit of the data (shards split by rank and role). The DataLoader's round-robin over workers is rotated so
that a resumed epoch starts exactly at micro-batch ``start`` and each role fast-forwards its raw stream by
the number of raw samples it had consumed (recorded in the checkpoint) without decoding them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Iterator
from itertools import islice

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .config import DataConfig
from .damage import MARKER, skip_reason
from .gpu_decode import collate_images
from .stream import mix, seeded_rng, source_stream
from .urls import shard_sizes

log = logging.getLogger(__name__)


class ShardStream(IterableDataset):
    """Yields ready micro-batches ``{images, texts, tokens, label_ids, keys, index, role, pos, skipped, ...}``.

    Besides the tensors each micro-batch carries its data accounting (:mod:`medclip.data.damage`):
    ``skipped`` (samples that did not decode), ``skip_reasons`` (reason -> count), ``first_skip``
    (``shard/key: reason`` of the first) and ``damage`` (the :class:`~medclip.data.damage.ShardDamage` records
    of the shards that ended damaged or short while this micro-batch was read).
    """

    def __init__(
        self,
        sources: list[list[str]],
        weights: list[float],
        cfg: DataConfig,
        *,
        seed: int,
        rank: int,
        world_size: int,
        image_size: int,
        batches_per_epoch: int,
        split_by: str,
        tokenizer: Callable | None = None,
    ):
        self.sources, self.weights, self.cfg = sources, weights, cfg
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.image_size, self.batches_per_epoch, self.split_by = image_size, batches_per_epoch, split_by
        self.tokenizer = tokenizer
        self.n_roles = max(1, cfg.workers)
        self.state = mp.Array("q", [0, 0], lock=False)  # epoch, start micro-batch
        self.positions = mp.Array("q", [0] * self.n_roles, lock=False)  # raw samples consumed per role
        self.sizes = shard_sizes([u for urls in sources for u in urls])  # per-shard counts of sizes.json

    def raw_stream(self, epoch: int, role: int) -> Iterator[dict]:
        """The unit's shuffled raw sample stream (before decoding)."""
        from .samples import MODALITY_ALIASES  # noqa: F401  (keeps worker imports warm)

        unit, n_units = self.rank * self.n_roles + role, self.world_size * self.n_roles
        # a buffer larger than what a reader sees per epoch would only delay the first batch
        cap = max(1, self.batches_per_epoch * self.cfg.batch_size // self.n_roles)
        streams = [
            source_stream(
                urls,
                seed=self.seed,
                epoch=epoch,
                source=i,
                unit=unit,
                n_units=n_units,
                split_by=self.split_by,
                shard_shuffle=self.cfg.shard_shuffle,
                resampled=self.cfg.resampled,
                bufsize=min(self.cfg.shuffle_buffer, cap),
                initial=min(self.cfg.shuffle_initial, cap),
                sizes=self.sizes,
                report=True,
            )
            for i, urls in enumerate(self.sources)
        ]
        return mix(streams, self.weights, seeded_rng(self.seed, epoch, "mix", unit))

    def __iter__(self):
        from .samples import make_example

        info = get_worker_info()
        wid = info.id if info is not None else 0
        epoch, start = int(self.state[0]), int(self.state[1])
        role = (wid + start) % self.n_roles
        pos = int(self.positions[role])
        raw = self.raw_stream(epoch, role)
        if pos:
            next(islice(raw, pos - 1, None))  # fast-forward without decoding
        index = start + (role - start) % self.n_roles
        cfg, bs = self.cfg, self.cfg.batch_size
        while index < self.batches_per_epoch:
            examples, damage, reasons, first_skip = [], [], {}, ""
            while len(examples) < bs:
                sample = next(raw)
                pos += 1
                if MARKER in sample:
                    damage.append(sample[MARKER])
                    continue
                try:
                    examples.append(
                        make_example(
                            sample,
                            seed=self.seed,
                            epoch=epoch,
                            image_size=self.image_size,
                            aug=cfg.aug,
                            policy=cfg.caption_policy,
                            kinds=cfg.caption_kinds,
                            draft=cfg.draft,
                            high_bit_depth=cfg.high_bit_depth,
                            gpu_decode=cfg.gpu_decode,
                        )
                    )
                except Exception as e:  # corrupt sample: skip, count, log
                    why = skip_reason(e)
                    reasons[why] = reasons.get(why, 0) + 1
                    url = str(sample.get("__url__", ""))
                    first_skip = first_skip or f"{url.rsplit('/', 1)[-1]}/{sample.get('__key__')}: {why}"
                    log.warning(
                        "skipping sample %s from %s: %s",
                        sample.get("__key__"),
                        sample.get("__url__"),
                        str(e).splitlines()[0] if str(e) else type(e).__name__,
                    )
            texts = [e["text"] for e in examples]
            yield {
                **collate_images(examples, self.image_size),  # images (uint8) or gpu_views (data.gpu_decode)
                "texts": texts,
                "tokens": self.tokenizer(texts) if self.tokenizer is not None else None,
                "label_ids": torch.tensor([e["label_id"] for e in examples], dtype=torch.int64),
                "keys": [e["key"] for e in examples],
                "index": index,
                "role": role,
                "pos": pos,
                "skipped": sum(reasons.values()),
                "skip_reasons": reasons,
                "first_skip": first_skip,
                "damage": damage,
            }
            index += self.n_roles


def _worker_init(_):
    torch.set_num_threads(1)


class TrainLoader:
    """Per-rank loader with epoch-level (re)start control; ``batches(epoch, start, positions)``."""

    def __init__(self, dataset: ShardStream, *, device_type: str = "cpu"):
        cfg = dataset.cfg
        self.dataset = dataset
        kw = {}
        if cfg.workers > 0:
            kw = {
                "persistent_workers": cfg.persistent_workers,
                "prefetch_factor": cfg.prefetch_factor,
                "worker_init_fn": _worker_init,
            }
        self.loader = DataLoader(
            dataset, batch_size=None, num_workers=cfg.workers, pin_memory=cfg.pin_memory and device_type == "cuda", **kw
        )

    @property
    def batches_per_epoch(self) -> int:
        return self.dataset.batches_per_epoch

    def batches(self, epoch: int, start: int = 0, positions: list[int] | None = None) -> Iterator[dict]:
        """Micro-batches ``start .. batches_per_epoch-1`` of ``epoch`` (positions: raw samples per role)."""
        ds = self.dataset
        ds.state[0], ds.state[1] = epoch, start
        if start and (positions is None or len(positions) != ds.n_roles):
            if positions is not None:
                log.warning("resuming with a different worker count: mid-epoch data position is approximate")
            positions = [len(range(r, start, ds.n_roles)) * ds.cfg.batch_size for r in range(ds.n_roles)]
        for r in range(ds.n_roles):
            ds.positions[r] = positions[r] if start else 0
        return iter(self.loader)
