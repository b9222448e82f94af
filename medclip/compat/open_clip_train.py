"""``python -m medclip.compat.open_clip_train [open_clip_train flags]``: stock open_clip_train on medclip shards.

open_clip_train 3.3.0 crashes with the webdataset medclip pins (1.0.2): webdataset's ``tar_file_expander``
yields an empty end-of-shard marker (``{}``) after every tar, and open_clip_train's own
``group_by_keys_nothrow`` reads ``filesample["fname"]`` from it (``KeyError: 'fname'``, a known open_clip
issue). This entry point drops those markers before grouping, the one change, then runs
``open_clip_train.main.main`` with the given flags. Importing medclip also registers its architectures
(``--model medclip-small`` works)::

    python -m medclip.compat.open_clip_train --model medclip-small \\
        --train-data 'data/shards/demo/train/train-{000000..000006}.tar' --train-num-samples 6800 \\
        --dataset-type webdataset --batch-size 64 --epochs 1 --workers 2 --report-to ''

``medclip-shards verify <train folder>`` prints the ``--train-data`` / ``--train-num-samples`` flags.
"""

from __future__ import annotations

import sys


def _without_eof_markers(data):
    return (sample for sample in data if "fname" in sample)


def patch() -> None:
    """Make open_clip_train's shard grouping skip webdataset's end-of-shard markers (idempotent)."""
    import open_clip_train.data as data

    if getattr(data.group_by_keys_nothrow, "_medclip_patched", False):
        return
    original = data.group_by_keys_nothrow

    def group_by_keys_nothrow(samples, *args, **kwargs):
        return original(_without_eof_markers(samples), *args, **kwargs)

    group_by_keys_nothrow._medclip_patched = True
    data.group_by_keys_nothrow = group_by_keys_nothrow


def main(argv: list[str] | None = None):
    """Patch, register medclip's model names with open_clip, and run ``open_clip_train.main.main(argv)``."""
    try:
        import open_clip_train.main as train_main
    except ImportError:
        raise SystemExit("medclip.compat.open_clip_train: pip install open_clip_torch[training]") from None
    import medclip.models  # noqa: F401  (medclip architectures in open_clip's table)

    patch()
    return train_main.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
