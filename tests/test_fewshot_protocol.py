"""Few-shot protocol: Dassl-order sampling, subset cache, aggregation golden values (G14-G16)."""

import json
import random
from collections import defaultdict

import numpy as np
import pytest

from zeroshot.fewshot.aggregate import base_novel_split, harmonic_mean, hm_of_means, mean_of_hms, seed_stats
from zeroshot.fewshot.sampler import SubsetCache, dassl_fewshot


def _dassl_reference(train, val, k, seed):
    """Independent transcription of Dassl's generate_fewshot_dataset (items are (key, label) tuples)."""
    random.seed(seed)
    np.random.seed(seed)

    def gen(items, n):
        tracker = defaultdict(list)
        for it in items:
            tracker[it[1]].append(it)
        out = []
        for _, group in tracker.items():
            out.extend(random.sample(group, n) if len(group) >= n else group)
        return out

    return gen(train, k), gen(val, min(k, 4))


def test_sampler_reproduces_dassl_order():
    rng = np.random.default_rng(0)
    train_labels = [5, 4, 2, 1, 6, 0, 3] + rng.integers(0, 7, 200).tolist()  # first appearance 5,4,2,1,6,0,3
    val_labels = rng.integers(0, 7, 60).tolist()
    train = [(f"t{i}", y) for i, y in enumerate(train_labels)]
    val = [(f"v{i}", y) for i, y in enumerate(val_labels)]
    for k, seed in [(1, 1), (4, 2), (16, 3)]:
        got = dassl_fewshot(train_labels, val_labels, k, seed)
        ref_t, ref_v = _dassl_reference(train, val, k, seed)
        assert [train[i] for i in got["train"]] == ref_t
        assert [val[i] for i in got["val"]] == ref_v
    got = dassl_fewshot(train_labels, val_labels, 2, 1)
    assert [train_labels[i] for i in got["train"]][::2] == [5, 4, 2, 1, 6, 0, 3]


def test_small_class_takes_all_and_seeds_differ():
    labels = [0] * 10 + [1] * 2
    idx = dassl_fewshot(labels, labels, 4, 1)
    assert sorted(i for i in idx["train"] if labels[i] == 1) == [10, 11]
    assert dassl_fewshot(labels, labels, 4, 1) == idx
    assert dassl_fewshot(labels, labels, 4, 2)["train"] != idx["train"]


def test_subset_cache_roundtrip_and_hash(tmp_path):
    keys = [f"k{i}" for i in range(30)]
    labels = [i % 3 for i in range(30)]
    path = tmp_path / "subsets.json"
    a = SubsetCache(path, keys, labels, keys[:12], labels[:12]).get(4, 1)
    data = json.loads(path.read_text())
    assert set(data["subsets"]) == {"shot_4-seed_1"} and len(data["subsets"]["shot_4-seed_1"]["train"]) == 12
    random.seed(999)  # a reload must not resample (the cached keys are returned)
    assert SubsetCache(path, keys, labels, keys[:12], labels[:12]).get(4, 1) == a
    other = SubsetCache(path, keys, [(i + 1) % 3 for i in range(30)], keys[:12], labels[:12])
    assert other.hash != data["split_hash"] and other.data["subsets"] == {}


def test_g14_g15_harmonic_means():
    assert abs(harmonic_mean(76.26, 73.92) - 75.0718) < 1e-4
    assert abs(harmonic_mean(73.85, 64.75) - 69.0013) < 1e-4
    pairs = [(80, 40), (60, 60)]
    assert abs(hm_of_means(pairs) - 58.3333) < 1e-4
    assert abs(mean_of_hms(pairs) - 56.6667) < 1e-4


def test_g16_seed_statistics():
    s0 = seed_stats([50, 52, 54])
    assert s0["mean"] == 52 and abs(s0["std"] - 1.632993) < 1e-6 and abs(s0["ci95"] - 1.847906) < 1e-6
    assert s0["std_ddof"] == 0 and s0["n"] == 3
    assert abs(seed_stats([50, 52, 54], ddof=1)["ci95"] - 2.263213) < 1e-6


def test_base_novel_split():
    assert base_novel_split(5) == ([0, 1, 2], [3, 4])
    assert base_novel_split(17) == (list(range(9)), list(range(9, 17)))
    with pytest.raises(ValueError):
        base_novel_split(1)


def test_report_marks_methods_evaluated_on_a_test_subset():
    from zeroshot.fewshot.report import markdown, summarize

    base = {"dataset": "d", "setting": "fewshot", "macro_f1": 0.5, "error": 0.5}
    recs = [
        {**base, "method": "zeroshot", "k": 0, "seed": 0, "accuracy": 0.80},
        {**base, "method": "coop", "k": 16, "seed": 1, "accuracy": 0.82},
        *[
            {**base, "method": "cocoop", "k": 16, "seed": s, "accuracy": a, "n_test": 30}
            | {"zeroshot_accuracy_same_test": 0.7}
            for s, a in ((1, 0.75), (2, 0.77))
        ],
    ]
    s = summarize(recs)
    cell = next(c for c in s["fewshot"] if c["method"] == "cocoop")
    assert cell["test_subset"] == {"n_test": 30, "zeroshot": 70.0}
    assert "test_subset" not in next(c for c in s["fewshot"] if c["method"] == "coop")
    md = markdown(s)
    assert "| cocoop† | 76.00 ± 1.00 |" in md and "| coop | 82.00 ± 0.00 |" in md
    assert "† cocoop: evaluated on a test subset of 30 images" in md and "same subset: 70.00" in md
