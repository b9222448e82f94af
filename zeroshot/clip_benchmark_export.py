"""``python -m zeroshot.clip_benchmark_export``: one suite dataset in CLIP_benchmark's webdataset layout.

    python -m zeroshot.clip_benchmark_export --suite demo --dataset demo --out cb/demo [--data-root ROOT]

writes, for ``clip_benchmark eval --dataset wds/<name> --dataset_root <out>``::

    <out>/classnames.txt                          one class name a line (suite order = class index)
    <out>/zeroshot_classification_templates.txt   the dataset's templates with {c} for the class name
    <out>/dataset_type.txt                        classification
    <out>/prompts.json                            {"wds/<name>": {class name: [every prompt of the class]}}
    <out>/<split>/nshards.txt, 0.tar, 1.tar ...   <key>.png (the decoded image, lossless) + <key>.cls (index)

``prompts.json`` is medclip's prompt ensemble (class name and synonyms x templates, or a class's own
prompts); pass it as ``--custom_template_file`` to get medclip-eval's number (templates.txt alone covers
the class names only). Images are the ones medclip-eval scores (same class matching, same
``--max-samples`` subset), re-encoded as PNG so both tools decode identical pixels.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

from medclip.cli_common import HelpFormatter
from medclip.config import ConfigError

from .suites import class_prompts, load_suite, select


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def export_dataset(
    suite_name: str,
    dataset: str,
    out: str | Path,
    *,
    data_root: str | None = None,
    split: str = "test",
    max_samples: int | None = None,
    seed: int = 0,
    per_shard: int = 1000,
) -> dict:
    """Write the CLIP_benchmark folder of one single-label dataset; returns a summary.

    Args:
        suite_name: suite name or YAML path.
        dataset: dataset name in the suite.
        out: output folder (created).
        data_root: overrides the suite's data root.
        split: CLIP_benchmark split folder name to write (``--split``).
        max_samples: the seeded subset medclip-eval's ``--max-samples`` takes (same seed).
        seed: subset seed (medclip-eval's ``--seed``).
        per_shard: samples per tar.

    Raises:
        ConfigError / MissingDatasetError: unknown names, multi-label datasets, missing data.
    """
    from .data import read_image, resolve_items
    from .evaluate import limit

    suite = load_suite(suite_name, data_root)
    (ds,) = select(suite, [dataset])
    if ds.multilabel:
        raise ConfigError(f"{ds.name} is multi-label; the CLIP_benchmark export covers single-label datasets")
    names = [c.name for c in ds.classes]
    if len(set(names)) != len(names):
        raise ConfigError(f"{ds.name}: class names repeat; CLIP_benchmark keys prompts by class name")
    items = limit(resolve_items(suite, ds), max_samples, seed)
    root = Path(out)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / "classnames.txt").write_text("\n".join(names) + "\n")
    templates = [t.replace("{}", "{c}") for t in ds.templates]
    (root / "zeroshot_classification_templates.txt").write_text("\n".join(templates) + "\n")
    (root / "dataset_type.txt").write_text("classification\n")
    prompts = dict(zip(names, class_prompts(ds)))
    (root / "prompts.json").write_text(json.dumps({f"wds/{ds.name}": prompts}, indent=1) + "\n")
    for old in (root / split).glob("*.tar"):
        old.unlink()
    n_shards = 0
    for start in range(0, len(items), per_shard):
        with tarfile.open(root / split / f"{n_shards}.tar", "w") as tf:
            for i in range(start, min(start + per_shard, len(items))):
                buf = io.BytesIO()
                read_image(items.sources[i]).save(buf, format="PNG")
                key = f"{i:08d}"
                _add(tf, f"{key}.png", buf.getvalue())
                _add(tf, f"{key}.cls", str(int(items.labels[i])).encode())
        n_shards += 1
    (root / split / "nshards.txt").write_text(f"{n_shards}\n")
    return {"dataset": ds.name, "classes": len(names), "samples": len(items), "shards": n_shards, "out": str(root)}


def command_line(summary: dict, model: str, pretrained: str, out_json: str = "cb_result.json") -> str:
    """The CLIP_benchmark command that scores the exported folder like medclip-eval does."""
    root = summary["out"]
    return (
        f"python -m medclip.compat.clip_benchmark eval --dataset wds/{summary['dataset']} --dataset_root {root} "
        f"--custom_template_file {root}/prompts.json --model {model} --pretrained {pretrained} "
        f"--task zeroshot_classification --no_amp --batch_size 64 --num_workers {min(2, summary['shards'])} "
        f"--output {out_json}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status (2 with a one-line error on bad input)."""
    p = argparse.ArgumentParser(
        prog="python -m zeroshot.clip_benchmark_export",
        description=__doc__.split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    p.add_argument("--suite", default="demo", help="suite name or YAML path")
    p.add_argument("--dataset", required=True, help="dataset of the suite (single-label)")
    p.add_argument("--out", required=True, help="output folder (CLIP_benchmark's --dataset_root)")
    p.add_argument("--data-root", default=None, help="override the suite's data root")
    p.add_argument("--split", default="test", help="split folder name written (CLIP_benchmark's --split)")
    p.add_argument("--max-samples", type=int, default=None, help="the seeded subset of medclip-eval --max-samples")
    p.add_argument("--seed", type=int, default=0, help="subset seed (medclip-eval --seed)")
    p.add_argument("--per-shard", type=int, default=1000, help="samples per tar")
    args = p.parse_args(argv)
    try:
        summary = export_dataset(
            args.suite, args.dataset, args.out, data_root=args.data_root, split=args.split,
            max_samples=args.max_samples, seed=args.seed, per_shard=args.per_shard,
        )  # fmt: skip
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"clip_benchmark_export: error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {summary['out']}: {summary['samples']} images, {summary['classes']} classes, {summary['shards']} shards"
    )
    print("score it with CLIP_benchmark (same model and prompts as medclip-eval):")
    print("  " + command_line(summary, "MODEL", "CHECKPOINT_OR_TAG"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
