"""De-identification quality on the generated corpus (``data_pipelines.deid.corpus``), and scrub speed.

    .venv/bin/python bench/deid.py [--n 2000] [--control 1000] [--seed 0]

Recall: planted identifiers whose every character was replaced (any class); typed recall: replaced by a
placeholder of the right class; precision: replaced spans that touch a planted identifier. The control set is
clean clinical text (eponyms, anatomy, drugs, measurements, ages under 90) plus every caption the
``knowledge`` backend writes for the built-in findings: any replacement there is a false positive. Bare names
(no title or cue, half of them not in the name lists) and the hand-written hard cases
(``corpus.HARD_CASES``: lower-case names, spelled-out numbers, holidays, abbreviations...) are reported for
information: no target, see docs/captions.md. Ends with the target lines.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

from data_pipelines.deid import scrub
from data_pipelines.deid.corpus import Doc, bare_name_corpus, control_corpus, hard_corpus, planted_corpus, score


def knowledge_captions() -> list[Doc]:
    """Every caption of the knowledge backend for the built-in findings on three studies (clean text)."""
    from data_pipelines.captions import CaptionConfig, CaptionConverter

    conv = CaptionConverter(CaptionConfig(n_captions=10))
    docs = []
    for f in conv.vocab.raw["findings"]:
        for mod, an in (("xray", "chest"), ("ct", "abdomen"), ("mri", "brain")):
            docs += [Doc(c) for c in conv.bank(mod, an, [f]).captions]
    return docs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="planted reports")
    ap.add_argument("--control", type=int, default=1000, help="control sentences")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    docs = planted_corpus(args.n, seed=args.seed)
    t0 = time.perf_counter()
    planted = score(docs, scrub)
    dt = time.perf_counter() - t0
    chars = sum(len(d.text) for d in docs)
    control_docs = control_corpus(args.control, seed=args.seed) + knowledge_captions()
    control = score(control_docs, scrub)
    bare = score(bare_name_corpus(500, seed=args.seed), scrub)
    hard = score(hard_corpus(), scrub)
    per_class = Counter(p.cls for d in docs for p in d.planted)
    missed = Counter(m.split(":")[0] for m in planted["missed"])

    print(f"load average (1/5/15 min): {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"planted identifiers: {planted['planted']} in {len(docs)} reports; "
        f"per class: {dict(sorted(per_class.items()))}"
    )
    print(f"missed per class: {dict(sorted(missed.items()))}; first missed: {planted['missed'][:5]}")
    print(f"control: {len(control_docs)} clean texts ({args.control} clinical sentences + knowledge captions)")
    print(f"scrub speed: {chars / dt / 1e3:.0f} k chars/s ({len(docs) / dt:.0f} reports/s, 1 thread, incl. scoring)")
    print(f"typed_recall: {planted['typed_recall']:.4f} (placeholder of the right class)")
    print(
        f"bare_name_recall: {bare['recall']:.3f} (names with no title or cue, half outside the name lists; no target)"
    )
    print(f"hard_case_recall: {hard['recall']:.3f} ({hard['planted']} identifiers in formats written to probe limits; "
          f"no target); missed: {hard['missed']}")  # fmt: skip
    print(f"deid_recall: {planted['recall']:.4f} (target >= 0.99)")
    print(f"deid_precision: {planted['precision']:.4f} (target >= 0.95)")
    print(f"control_clinical_terms_removed: {control['clinical_terms_removed']} (target == 0)")
    print(f"control_spans_removed: {control['control_spans_removed']} (target == 0)")


if __name__ == "__main__":
    main()
