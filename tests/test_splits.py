"""Identity splits (pain3d_dataset/splits.py): 70/20/10, stratified by age group x gender x
ethnicity, each stratum within one identity of its share, every stratum of 10 or more in every
split, depending on the seed and the stratum counts alone."""

from __future__ import annotations

import doctest
from collections import Counter, defaultdict
from fractions import Fraction

import numpy as np
import pytest

from generation.demographics import STRATA, balanced_demographics
from pain3d_dataset import splits as splits_module
from pain3d_dataset.splits import SPLITS, assign_splits, demographic_splits, split_counts, stratified_counts

SHARE = {"train": Fraction(7, 10), "validation": Fraction(2, 10), "test": Fraction(1, 10)}


def per_stratum(labels, assignment) -> dict:
    out: dict = defaultdict(Counter)
    for label, split in zip(labels, assignment):
        out[label][split] += 1
    return out


def test_doctests():
    assert doctest.testmod(splits_module).failed == 0


def test_split_counts():
    assert split_counts(10) == {"train": 7, "validation": 2, "test": 1}
    assert split_counts(100) == {"train": 70, "validation": 20, "test": 10}
    for n in range(3, 60):
        c = split_counts(n)
        assert sum(c.values()) == n and min(c.values()) >= 1, (n, c)
        assert abs(c["train"] - 0.7 * n) <= 2 and abs(c["test"] - 0.1 * n) <= 1
    assert split_counts(1) == {"train": 1, "validation": 0, "test": 0}


def test_assign_splits_deterministic():
    a = assign_splits(50, seed=0)
    assert a == assign_splits(50, seed=0)
    assert a != assign_splits(50, seed=1)
    assert {s: a.count(s) for s in set(a)} == {"train": 35, "validation": 10, "test": 5}


def test_one_stratum_is_the_seeded_permutation_cut_70_20_10():
    """Without strata: the rule pain3d used before stratifying (imported releases keep their splits)."""
    for n, seed in ((7, 0), (50, 3), (101, 12)):
        order = np.random.default_rng([seed, 2**31 + 2]).permutation(n)
        c = split_counts(n)
        want = [""] * n
        for i, pos in enumerate(order):
            want[pos] = "train" if i < c["train"] else "validation" if i < c["train"] + c["validation"] else "test"
        assert assign_splits(n, seed) == want


@pytest.mark.parametrize("n", [24, 30, 48, 100, 241, 600, 2500])
@pytest.mark.parametrize("weights", [None, {"ethnicity": {"Black": 3}, "gender": {"woman": 0.5}}])
def test_stratified_sizes(n, weights):
    demos = balanced_demographics(n, 7, weights)
    got = demographic_splits(n, 7, weights)
    assert len(got) == n and set(got) <= set(SPLITS)  # each identity in exactly one split
    assert {s: got.count(s) for s in SPLITS} == split_counts(n)  # the totals stay 70/20/10
    for stratum, counts in per_stratum(demos, got).items():
        size = sum(counts.values())
        for split in SPLITS:
            # within one identity of the stratum's exact share (exact arithmetic)
            assert abs(counts[split] - size * SHARE[split]) < 1, (n, stratum, dict(counts))
            if size >= 10:
                assert counts[split] >= 1, (n, stratum, dict(counts))


def test_every_stratum_of_ten_in_every_split():
    n = 240  # 10 per stratum
    counts = per_stratum(balanced_demographics(n, 0), demographic_splits(n, 0))
    assert len(counts) == 24
    assert all(c == {"train": 7, "validation": 2, "test": 1} for c in counts.values())


def test_small_dataset_spreads_groups():
    """The issue's case: 30 identities. Validation is not all one age group and test+validation hold every
    ethnicity that has a stratum of two (seed 0..19)."""
    for seed in range(20):
        demos = balanced_demographics(30, seed)
        got = demographic_splits(30, seed)
        val = [d for d, s in zip(demos, got) if s == "validation"]
        assert len(val) == 6 and len({d.age_group for d in val}) == 2, seed
        held = {d.ethnicity for d, s in zip(demos, got) if s != "train"}
        pairs = {d.ethnicity for d, c in Counter(demos).items() if c >= 2}
        assert pairs <= held, seed


def test_depends_on_seed_and_counts_alone():
    """The same stratum counts in another identity order give the same counts per stratum and split;
    the draw within a stratum follows the seed."""
    demos = balanced_demographics(100, 1)
    a = per_stratum(demos, assign_splits(100, 5, demos))
    shuffled = [demos[i] for i in np.random.default_rng(9).permutation(100)]
    b = per_stratum(shuffled, assign_splits(100, 5, shuffled))
    assert a == b
    assert assign_splits(100, 5, demos) == assign_splits(100, 5, list(demos))
    assert assign_splits(100, 5, demos) != assign_splits(100, 6, demos)


def test_stratified_counts_by_hand():
    # 23 identities: totals 16/5/2. a and b (10 each) are exact; c (3: shares 2.1/0.6/0.3) takes the rest.
    counts = stratified_counts({"a": 10, "b": 10, "c": 3})
    assert counts["c"] == {"train": 2, "validation": 1, "test": 0}
    # 24 strata of one: who gets validation and test is the jitter's choice; totals 17/5/2 either way.
    sizes = {s: 1 for s in STRATA}
    jitter = {s: [0, 0, 0] for s in STRATA}
    first = STRATA[3]
    jitter[first] = [0, 0, 9999]  # the highest tie-break for test
    counts = stratified_counts(sizes, jitter)
    assert counts[first] == {"train": 0, "validation": 0, "test": 1}
    assert sum(c["test"] for c in counts.values()) == 2
    assert sum(c["validation"] for c in counts.values()) == 5


def test_labels_must_match_identities():
    with pytest.raises(ValueError, match="3 stratum labels for 4 identities"):
        assign_splits(4, 0, ["a", "b", "c"])
