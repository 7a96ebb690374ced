"""Tests for generation.demographics: groups, balanced/weighted allocation, parsing, counts."""

from __future__ import annotations

import dataclasses
import doctest
from itertools import product

import numpy as np
import pytest

from generation import demographics
from generation.demographics import (
    AGE_GROUPS,
    AGE_RANGES,
    ATTRIBUTES,
    ETHNICITIES,
    GENDERS,
    PAPER_TABLE1,
    STRATA,
    Demographics,
    DemographicsError,
    balanced_demographics,
    parse_weights,
    stratum_counts,
    stratum_counts_for,
    table1_counts,
)

SIZES = [0, 1, 5, 23, 24, 25, 100, 2500]


def test_doctests() -> None:
    result = doctest.testmod(demographics)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- groups


def test_groups_match_paper_table1() -> None:
    assert AGE_GROUPS == ("young", "elderly")
    assert GENDERS == ("man", "woman")
    assert ETHNICITIES == ("Latino", "White", "South Asian", "Black", "Middle Eastern", "East Asian")
    for attribute, groups in ATTRIBUTES.items():
        assert set(PAPER_TABLE1[attribute]) == set(groups)
        assert sum(PAPER_TABLE1[attribute].values()) == 2500


def test_strata() -> None:
    assert len(STRATA) == 24
    assert set(STRATA) == {Demographics(*c) for c in product(AGE_GROUPS, GENDERS, ETHNICITIES)}
    assert STRATA[0] == Demographics("young", "man", "Latino")
    assert STRATA[-1] == Demographics("elderly", "woman", "East Asian")


def test_demographics_canonicalises_and_is_frozen() -> None:
    d = Demographics("Young", "WOMAN", "south  asian")
    assert d == Demographics("young", "woman", "South Asian")
    assert hash(d) == hash(Demographics("young", "woman", "South Asian"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.gender = "man"  # type: ignore[misc]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (("teen", "man", "Black"), r"unknown age_group 'teen'; use one of young, elderly"),
        (("young", "male", "Black"), r"unknown gender 'male'; use one of man, woman"),
        (("young", "man", "Asian"), r"unknown ethnicity 'Asian'; use one of Latino, .*East Asian"),
        (("young", "man", 3), r"unknown ethnicity 3"),
    ],
)
def test_demographics_validation(args: tuple, pattern: str) -> None:
    with pytest.raises(DemographicsError, match=pattern):
        Demographics(*args)


def test_gender_value_and_age() -> None:
    assert Demographics("young", "man", "Black").gender_value == -1.0
    assert Demographics("young", "woman", "Black").gender_value == 1.0
    young = Demographics("young", "man", "White")
    old = Demographics("elderly", "man", "White")
    rng = np.random.default_rng(0)
    ys = [young.sample_age(rng) for _ in range(500)]
    es = [old.sample_age(rng) for _ in range(500)]
    assert AGE_RANGES["young"][0] <= min(ys) and max(ys) <= AGE_RANGES["young"][1] <= 0.35
    assert 0.65 <= AGE_RANGES["elderly"][0] <= min(es) and max(es) <= 1.0
    assert max(ys) - min(ys) > 0.25 and max(es) - min(es) > 0.25  # spread, not a constant
    assert young.sample_age(np.random.default_rng(5)) == young.sample_age(np.random.default_rng(5))
    with pytest.raises(TypeError, match="Generator"):
        young.sample_age(5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- balanced default


def _spread(values) -> int:
    values = list(values)
    return max(values) - min(values)


@pytest.mark.parametrize("n", SIZES)
def test_balanced_strata_and_marginals(n: int) -> None:
    for seed in range(5):
        demos = balanced_demographics(n, seed=seed)
        assert len(demos) == n
        assert all(isinstance(d, Demographics) for d in demos)
        assert _spread(stratum_counts(demos).values()) <= 1
        table = table1_counts(demos)
        for attribute, groups in ATTRIBUTES.items():
            counts = table[attribute]
            assert list(counts) == list(groups)
            assert sum(counts.values()) == n
            assert _spread(counts.values()) <= 1, (n, seed, attribute, counts)
        # age x gender cells too
        cells = {}
        for d in demos:
            cells[(d.age_group, d.gender)] = cells.get((d.age_group, d.gender), 0) + 1
        assert _spread([cells.get(c, 0) for c in product(AGE_GROUPS, GENDERS)]) <= 1


def test_all_remainders_balanced() -> None:
    for r in range(25):
        for seed in range(10):
            counts = stratum_counts_for(48 + r, seed)
            assert _spread(counts.values()) <= 1
            demos = [s for s, c in counts.items() for _ in range(c)]
            for attribute in ATTRIBUTES:
                assert _spread(table1_counts(demos)[attribute].values()) <= 1, (r, seed, attribute)


def test_beats_paper_imbalance() -> None:
    paper = PAPER_TABLE1["ethnicity"]
    paper_ratio = max(paper.values()) / min(paper.values())  # 646 / 82 ~ 7.9
    n = 2500
    k = n // len(ETHNICITIES)
    counts = table1_counts(balanced_demographics(n, seed=0))["ethnicity"]
    ratio = max(counts.values()) / min(counts.values())
    assert ratio <= (k + 1) / k
    assert ratio < paper_ratio
    for attribute in ("age_group", "gender"):
        c = table1_counts(balanced_demographics(n, seed=0))[attribute]
        assert max(c.values()) / min(c.values()) < max(PAPER_TABLE1[attribute].values()) / min(
            PAPER_TABLE1[attribute].values()
        )


def test_deterministic_and_seed_dependent() -> None:
    assert balanced_demographics(100, seed=3) == balanced_demographics(100, seed=3)
    assert balanced_demographics(100, seed=3) != balanced_demographics(100, seed=4)
    # which strata receive the remainder depends on the seed
    extras = {
        tuple(s for s, c in stratum_counts_for(5, seed).items() if c) for seed in range(30)
    }
    assert len(extras) > 5


def test_order_is_shuffled() -> None:
    demos = balanced_demographics(240, seed=0)
    assert demos != sorted(demos, key=STRATA.index)
    runs = sum(demos[i] == demos[i + 1] for i in range(len(demos) - 1))
    assert runs < 40  # sorted would give 216 equal neighbours; random ~ 10


# --------------------------------------------------------------------------- weights


def test_attribute_weights_proportional() -> None:
    n = 2500
    demos = balanced_demographics(n, seed=1, weights={"ethnicity": {"Black": 2}})
    eth = table1_counts(demos)["ethnicity"]
    assert sum(eth.values()) == n
    others = [c for g, c in eth.items() if g != "Black"]
    # expected: Black 2/7 * 2500 = 714.3, others 357.1 each
    assert abs(eth["Black"] - n * 2 / 7) <= 4
    for c in others:
        assert abs(c - n / 7) <= 4
        assert abs(eth["Black"] - 2 * c) <= 8
    # unlisted attributes stay balanced
    assert _spread(table1_counts(demos)["gender"].values()) <= 2
    assert _spread(table1_counts(demos)["age_group"].values()) <= 2


def test_attribute_weights_multiply() -> None:
    weights = {"gender": {"man": 1, "woman": 3}, "age_group": {"young": 1, "elderly": 0}}
    counts = stratum_counts_for(480, seed=0, weights=weights)
    assert sum(counts.values()) == 480
    for s, c in counts.items():
        if s.age_group == "elderly":
            assert c == 0
        elif s.gender == "woman":
            assert c == 60  # 480 * 3 / (6 * 4)
        else:
            assert c == 20


def test_stratum_weights() -> None:
    a = Demographics("young", "man", "Black")
    weights = {a: 1, ("elderly", "woman", "latino"): 3}
    counts = stratum_counts_for(10, seed=0, weights=weights)
    assert counts[a] + counts[Demographics("elderly", "woman", "Latino")] == 10
    # 2.5 / 7.5 -> largest remainder gives the larger fraction first: 3 / 7 (or 2 / 8 by tie)
    assert counts[a] in (2, 3)
    assert sum(counts.values()) == 10
    assert all(c == 0 for s, c in counts.items() if s not in (a, Demographics("elderly", "woman", "Latino")))


def test_largest_remainder_exact() -> None:
    # stratum quotas n * (1, 2, 4) / 28 are integers for n = 28k: exact arithmetic must not drift.
    w = {"ethnicity": {"Latino": 1, "White": 2, "South Asian": 4, "Black": 0,
                       "Middle Eastern": 0, "East Asian": 0}}
    for n in (28, 280, 2800):
        counts = stratum_counts_for(n, seed=0, weights=w)
        expected = {"Latino": n // 28, "White": 2 * n // 28, "South Asian": 4 * n // 28}
        for s, c in counts.items():
            assert c == expected.get(s.ethnicity, 0), (n, s, c)
    # rounding happens per stratum (4 strata per ethnicity): marginals stay within 4 of exact
    for n in range(1, 60):
        eth = table1_counts(balanced_demographics(n, seed=n, weights=w))["ethnicity"]
        for g, k in (("Latino", 1), ("White", 2), ("South Asian", 4)):
            assert abs(eth[g] - n * k / 7) < 4
    # weights 1:1:1 for n = 10 -> counts 4,3,3 in some order, summing to n
    w3 = {"ethnicity": {"Black": 1, "White": 1, "Latino": 1, "South Asian": 0,
                        "Middle Eastern": 0, "East Asian": 0}}
    eth = table1_counts(balanced_demographics(10, seed=2, weights=w3))["ethnicity"]
    assert sorted(eth.values()) == [0, 0, 0, 3, 3, 4]


def test_uniform_weights_equal_default() -> None:
    uniform = {"ethnicity": {e: 5 for e in ETHNICITIES}}
    for n in (7, 25, 101):
        assert stratum_counts_for(n, 9, uniform) == stratum_counts_for(n, 9)


def test_weights_deterministic() -> None:
    w = {"ethnicity": {"Black": 2.5}, "gender": {"woman": 1.5}}
    assert balanced_demographics(333, seed=4, weights=w) == balanced_demographics(333, seed=4, weights=w)


@pytest.mark.parametrize(
    "weights, pattern",
    [
        ({"ethnicity": {"Blak": 2}}, r"unknown ethnicity 'Blak'; use one of"),
        ({"colour": {"x": 1}}, r"unknown demographic attribute 'colour'; use one of"),
        ({"ethnicity": {"Black": -1}}, r"weight for ethnicity Black is -1; use a finite number >= 0"),
        ({"ethnicity": {"Black": float("nan")}}, r"finite number >= 0"),
        ({"ethnicity": {"Black": "2"}}, r"not a number"),
        ({"gender": {"man": 0, "woman": 0}}, r"all gender weights are 0"),
        ({("young", "man", "Black"): 0}, r"all stratum weights are 0"),
        ({("young", "man", "Klingon"): 1}, r"unknown ethnicity 'Klingon'"),
        ({"ethnicity": {"Black": 1}, ("young", "man", "Black"): 1}, r"use one kind of key"),
        ({"ethnicity": 2}, r"must map group -> weight"),
        ({}, r"non-empty mapping"),
    ],
)
def test_weight_errors(weights: dict, pattern: str) -> None:
    with pytest.raises(DemographicsError, match=pattern) as err:
        balanced_demographics(10, seed=0, weights=weights)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "n, seed, pattern",
    [(-1, 0, r"n = -1 is negative"), (2.5, 0, r"not an integer"), (5, -3, r"seed -3 is negative"),
     (5, "a", r"seed 'a' is not an integer")],
)
def test_count_and_seed_errors(n: object, seed: object, pattern: str) -> None:
    with pytest.raises(DemographicsError, match=pattern):
        balanced_demographics(n, seed=seed)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parsing & counting


def test_parse_weights() -> None:
    w = parse_weights("ethnicity:Black=2,White=1;gender:man=1,woman=1")
    assert w == {"ethnicity": {"Black": 2.0, "White": 1.0}, "gender": {"man": 1.0, "woman": 1.0}}
    assert parse_weights(" race : south asian = 0.5 ; age:Elderly=3 ") == {
        "ethnicity": {"South Asian": 0.5}, "age_group": {"elderly": 3.0}
    }
    demos = balanced_demographics(700, seed=0, weights=parse_weights("ethnicity:Black=2"))
    assert table1_counts(demos)["ethnicity"]["Black"] == 200


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", r"no weights"),
        ("Black=2", r"ATTRIBUTE:GROUP=W"),
        ("ethnicity:Black", r"GROUP=WEIGHT"),
        ("ethnicity:Black=two", r"weight 'two' for ethnicity Black is not a number"),
        ("ethnicity:Black=-2", r">= 0"),
        ("ethnicity:Martian=1", r"unknown ethnicity 'Martian'"),
        ("height:tall=1", r"unknown demographic attribute 'height'"),
        ("gender:man=1;gender:woman=1", r"gender appears twice"),
        ("gender:man=1,man=2", r"gender man appears twice"),
        ("gender:man=0,woman=0", r"all gender weights are 0"),
    ],
)
def test_parse_weights_errors(text: str, pattern: str) -> None:
    with pytest.raises(DemographicsError, match=pattern):
        parse_weights(text)


def test_counts() -> None:
    a = Demographics("young", "man", "Black")
    b = Demographics("elderly", "woman", "Latino")
    demos = [a, a, b]
    sc = stratum_counts(demos)
    assert list(sc) == list(STRATA)
    assert sc[a] == 2 and sc[b] == 1 and sum(sc.values()) == 3
    t = table1_counts(demos)
    assert t["age_group"] == {"young": 2, "elderly": 1}
    assert t["gender"] == {"man": 2, "woman": 1}
    assert t["ethnicity"]["Black"] == 2 and t["ethnicity"]["Latino"] == 1 and t["ethnicity"]["White"] == 0
    with pytest.raises(DemographicsError, match="not a Demographics"):
        stratum_counts([("young", "man", "Black")])  # type: ignore[list-item]
