"""Does the saliency map point at the finding? Pointing game and energy inside the finding box on the demo.

    python bench/saliency.py --model runs/demo/checkpoints/latest.pt [--per-class 20] [--method rollout-contrast]

For every demo class with a located finding (``data_pipelines.sources.demo_findings.FINDING_RULES``) the
bench renders ``--per-class`` test images exactly as the demo build does (same seed, 96 px) together with
the mask of the finding the generator drew, computes the saliency map for the image's *true* class (its
zero-shot class embedding: the demo suite's prompt ensemble), upsamples it to 96 px and scores it against
the mask's bounding box:

- pointing game (Zhang et al., 2016): the map's maximum inside the box grown by ``--tolerance`` pixels
  (default 15 px at 224 px, scaled: 6 px at 96 px), and the same with no tolerance;
- energy inside the box (Score-CAM's energy-based pointing game): the share of the map's mass in the box.

Baselines on the same boxes: a centre map (Gaussian at the image centre, sigma = side / 4) and a random map
(uniform noise on the model's patch grid, seeded). A model that has not learned the findings cannot beat
them; the targets are fixed before measuring: Grad-CAM's pointing accuracy >= 0.5, above the better
baseline, and its energy inside the box above the random map's. Also printed: zero-shot top-1 accuracy on
these images (a saliency map of a model that misclassifies is not expected to point right).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

# bench/zeroshot.py would shadow the zeroshot package when this file is run as a script
_HERE = Path(__file__).resolve().parent
sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import medclip  # noqa: E402
from data_pipelines.sources.demo import DEMO_CLASSES  # noqa: E402
from data_pipelines.sources.demo_boxes import render_with_finding  # noqa: E402
from data_pipelines.sources.demo_findings import FINDING_RULES, mask_box  # noqa: E402
from medclip.saliency import saliency_map  # noqa: E402
from medclip.saliency.pointing import centre_map, energy_in_box, pointing_hit, random_map  # noqa: E402
from medclip.zeroshot_head import build_text_classifier  # noqa: E402
from zeroshot.classifier import to_pil  # noqa: E402
from zeroshot.suites import class_prompts, load_suite  # noqa: E402

MAPS = ("gradcam", "centre", "random")


def _demo_class_rows(ds) -> dict[int, int]:
    """Demo generator class index -> row of the demo suite's 17-way classifier (matched on modality + label)."""
    rows = {}
    for ci, c in enumerate(DEMO_CLASSES):
        for j, spec in enumerate(ds.classes):
            if spec.modality == c.modality and c.label in (spec.match or [spec.name]):
                rows[ci] = j
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="runs/demo/checkpoints/latest.pt", help="checkpoint (.pt) or model name")
    ap.add_argument("--per-class", type=int, default=20, help="test images per finding class")
    ap.add_argument("--method", default="rollout-contrast", help="saliency method (medclip.saliency.SALIENCY)")
    ap.add_argument("--blocks", default=None, help="Grad-CAM blocks whose input tokens are used, e.g. -2 or -3,-2,-1")
    ap.add_argument("--weighting", default=None, help="Grad-CAM channel weighting: mean (default) or token")
    ap.add_argument("--image-size", type=int, default=96, help="demo image side (the demo build's 96)")
    ap.add_argument("--seed", type=int, default=0, help="demo build seed; also seeds the random baseline")
    ap.add_argument("--tolerance", type=int, default=None, help="pointing tolerance in px (default 15/224 side)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if Path(args.model).suffix == ".pt":
        if not Path(args.model).is_file():  # `make bench` before `make demo`: say so, do not fail the other benches
            print(f"saliency bench skipped: no checkpoint at {args.model}; run `make demo` first or pass --model")
            return 0
        model, preprocess, tok = medclip.models.create_model_from_checkpoint(args.model)
    else:
        model, preprocess, tok = medclip.create_model(args.model)
    model.eval()
    options = {"blocks": tuple(int(b) for b in args.blocks.split(","))} if args.blocks else {}
    if args.weighting:
        options["weighting"] = args.weighting
    size = args.image_size
    tol = args.tolerance if args.tolerance is not None else round(15 / 224 * size)
    ds = load_suite("demo").datasets[0]
    rows = _demo_class_rows(ds)
    text = build_text_classifier(model, tok, class_prompts(ds))  # (C, D) unit-norm class embeddings
    grid = model.visual.grid_size[0]
    rng = np.random.default_rng(args.seed)
    centre = centre_map(size)
    stats: dict = defaultdict(lambda: defaultdict(list))
    t0 = time.perf_counter()
    for ci, c in enumerate(DEMO_CLASSES):
        if c.label not in FINDING_RULES:
            continue
        for i in range(args.per_class):
            img, mask = render_with_finding(ci, split="test", index=i, seed=args.seed, size=size)
            if mask is None:
                continue
            box = mask_box(mask)
            x = preprocess(to_pil(img))[None]
            with torch.no_grad():
                logits = F.normalize(model.encode_image(x), dim=-1) @ text.T
            heat = saliency_map(model, x, text[rows[ci]], method=args.method, classes=text, **options)
            heat = F.interpolate(torch.from_numpy(heat)[None, None], size=(size, size), mode="bilinear")[0, 0].numpy()
            maps = {"gradcam": heat, "centre": centre, "random": random_map(size, grid, rng)}
            s = stats[c.label]
            s["correct"].append(int(logits.argmax()) == rows[ci])
            s["area"].append((box[2] - box[0]) * (box[3] - box[1]) / size**2)
            for name, m in maps.items():
                s[f"{name}_hit"].append(pointing_hit(m, box, tolerance=tol))
                s[f"{name}_hit0"].append(pointing_hit(m, box))
                s[f"{name}_energy"].append(energy_in_box(m, box))
    seconds = time.perf_counter() - t0
    total = defaultdict(list)
    print(
        f"model {args.model}; method {args.method} {options}; tolerance {tol} px at {size} px; "
        f"{args.per_class} per class"
    )
    print("| finding | n | zero-shot acc | box area | " + " | ".join(f"{m} point" for m in MAPS) + " | "
          + " | ".join(f"{m} energy" for m in MAPS) + " |")  # fmt: skip
    print("|---|" + "---|" * (3 + 2 * len(MAPS)))
    for label, s in stats.items():
        for k, v in s.items():
            total[k] += v
        cells = [f"{np.mean(s[f'{m}_hit']):.2f}" for m in MAPS] + [f"{np.mean(s[f'{m}_energy']):.3f}" for m in MAPS]
        print(
            f"| {label} | {len(s['correct'])} | {np.mean(s['correct']):.2f} | {np.mean(s['area']):.3f} | "
            + " | ".join(cells)
            + " |"
        )
    n = len(total["correct"])
    point = {m: float(np.mean(total[f"{m}_hit"])) for m in MAPS}
    energy = {m: float(np.mean(total[f"{m}_energy"])) for m in MAPS}
    print(f"images: {n} in {seconds:.1f}s; zero-shot top-1 on them: {np.mean(total['correct']):.3f}")
    for m in MAPS:
        print(f"pointing_game_{m}: {point[m]:.3f} (no tolerance: {np.mean(total[f'{m}_hit0']):.3f})")
        print(f"energy_in_box_{m}: {energy[m]:.3f}")
    best = max(point["centre"], point["random"])
    print(f"saliency_pointing_game: {point['gradcam']:.3f} (target >= 0.5)")
    print(f"saliency_pointing_margin_vs_best_baseline: {point['gradcam'] - best:+.3f} (target > 0)")
    print(f"saliency_energy_ratio_vs_random: {energy['gradcam'] / max(energy['random'], 1e-9):.2f} (target > 1.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
