"""Eval-prompt hygiene (spec R7): how much of the evaluation prompts the training captions contain."""

from __future__ import annotations

from collections.abc import Iterable

from .text import normalize


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def prompt_overlap(
    eval_prompts: Iterable[str], train_captions: Iterable[str], *, ngram: int = 4, near_dup: float = 0.9
) -> dict:
    """String overlap between evaluation prompts and training captions.

    Args:
        eval_prompts: Filled evaluation prompts (e.g. "a chest X-ray showing pneumonia"); templates with
            ``{}`` are compared with the placeholder removed.
        train_captions: Training captions (e.g. all bank captions).
        ngram: Word n-gram size of the n-gram overlap.
        near_dup: Jaccard threshold for "near duplicate".

    Returns:
        ``n_eval``, ``n_train``, ``exact`` (eval prompts equal to a training caption after normalisation),
        ``near_duplicates`` (max word-set Jaccard >= ``near_dup``), ``max_jaccard`` and ``mean_max_jaccard``
        over eval prompts, ``ngram_overlap`` (share of eval word n-grams found in any training caption) and
        ``worst`` (the most similar eval prompt with its closest training caption).
    """
    ev = [normalize(p.replace("{}", " ")) for p in eval_prompts]
    tr_raw = list(dict.fromkeys(train_captions))
    tr = [normalize(c) for c in tr_raw]
    tr_set = set(tr)
    tr_words = [set(t.split()) for t in tr]
    tr_ngrams: set = set()
    for t in tr:
        tr_ngrams |= _ngrams(t.split(), ngram)
    exact = near = 0
    best_list = []
    worst = {"eval": "", "train": "", "jaccard": 0.0}
    ev_ngrams_total = ev_ngrams_hit = 0
    for raw, e in zip(eval_prompts if isinstance(eval_prompts, list) else list(eval_prompts), ev):
        words = set(e.split())
        best, best_i = 0.0, -1
        for i, tw in enumerate(tr_words):
            union = words | tw
            j = len(words & tw) / len(union) if union else 1.0
            if j > best:
                best, best_i = j, i
        best_list.append(best)
        exact += e in tr_set
        near += best >= near_dup
        if best > worst["jaccard"]:
            worst = {"eval": raw, "train": tr_raw[best_i], "jaccard": round(best, 4)}
        g = _ngrams(e.split(), ngram)
        ev_ngrams_total += len(g)
        ev_ngrams_hit += len(g & tr_ngrams)
    return {
        "n_eval": len(ev),
        "n_train": len(tr),
        "exact": exact,
        "near_duplicates": near,
        "max_jaccard": round(max(best_list, default=0.0), 4),
        "mean_max_jaccard": round(sum(best_list) / len(best_list), 4) if best_list else 0.0,
        "ngram": ngram,
        "ngram_overlap": round(ev_ngrams_hit / ev_ngrams_total, 4) if ev_ngrams_total else 0.0,
        "worst": worst,
    }
