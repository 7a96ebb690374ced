"""Demographic groups (the paper's Table 1) and seeded, balanced allocation of identities.

>>> demos = balanced_demographics(48, seed=0)
>>> sorted(set(stratum_counts(demos).values()))
[2]
>>> table1_counts(demos)["gender"]
{'man': 24, 'woman': 24}
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from types import MappingProxyType
from typing import Iterable, Mapping, Union

import numpy as np

__all__ = [
    "AGE_GROUPS",
    "GENDERS",
    "ETHNICITIES",
    "ATTRIBUTES",
    "AGE_RANGES",
    "PAPER_TABLE1",
    "DemographicsError",
    "Demographics",
    "STRATA",
    "balanced_demographics",
    "stratum_counts_for",
    "parse_weights",
    "stratum_counts",
    "table1_counts",
]

AGE_GROUPS: tuple[str, ...] = ("young", "elderly")
GENDERS: tuple[str, ...] = ("man", "woman")
ETHNICITIES: tuple[str, ...] = (
    "Latino",
    "White",
    "South Asian",
    "Black",
    "Middle Eastern",
    "East Asian",
)
# Attribute name -> its groups, in Demographics field order.
ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"age_group": AGE_GROUPS, "gender": GENDERS, "ethnicity": ETHNICITIES}
)
_ATTRIBUTE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"age_group": "age_group", "age": "age_group", "gender": "gender", "sex": "gender",
     "ethnicity": "ethnicity", "race": "ethnicity"}
)
# Normalised age control in [0, 1] per age group (see Demographics.sample_age).
AGE_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"young": (0.0, 0.35), "elderly": (0.65, 1.0)}
)
# Table 1 of the paper (2,500 identities): the imbalance the default allocation avoids.
PAPER_TABLE1: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "age_group": MappingProxyType({"young": 1563, "elderly": 937}),
    "ethnicity": MappingProxyType({"Latino": 646, "White": 460, "South Asian": 469, "Black": 82,
                                   "Middle Eastern": 585, "East Asian": 258}),
    "gender": MappingProxyType({"man": 1723, "woman": 777}),
})


class DemographicsError(ValueError):
    """A demographic group, count or weight that cannot be used; the message says the fix."""


def _canonical_attribute(name: object) -> str:
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _ATTRIBUTE_ALIASES:
        raise DemographicsError(
            f"unknown demographic attribute {name!r}; use one of {', '.join(ATTRIBUTES)}"
        )
    return _ATTRIBUTE_ALIASES[key]


def _canonical_group(attribute: str, group: object) -> str:
    """Case- and space-insensitive lookup of a group name within ``attribute``."""
    groups = ATTRIBUTES[attribute]
    if isinstance(group, str):
        key = " ".join(group.split()).lower()
        for g in groups:
            if g.lower() == key:
                return g
    raise DemographicsError(
        f"unknown {attribute} {group!r}; use one of {', '.join(groups)}"
    )


@dataclass(frozen=True)
class Demographics:
    """One identity's demographic stratum; names are canonicalised (case-insensitive input).

    age_group: "young" | "elderly"; gender: "man" | "woman"; ethnicity: one of ETHNICITIES.
    """

    age_group: str
    gender: str
    ethnicity: str

    def __post_init__(self) -> None:
        for attribute in ATTRIBUTES:
            object.__setattr__(
                self, attribute, _canonical_group(attribute, getattr(self, attribute))
            )

    @property
    def gender_value(self) -> float:
        """-1.0 for man, +1.0 for woman (the face model's gender control)."""
        return -1.0 if self.gender == "man" else 1.0

    def sample_age(self, rng: np.random.Generator) -> float:
        """Normalised age in [0, 1]: uniform in AGE_RANGES[age_group] (young low, elderly high)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                f"got {type(rng).__name__}"
            )
        lo, hi = AGE_RANGES[self.age_group]
        return float(rng.uniform(lo, hi))


# All 24 strata: age group (outer), gender, ethnicity (inner).
STRATA: tuple[Demographics, ...] = tuple(
    Demographics(a, g, e) for a, g, e in product(AGE_GROUPS, GENDERS, ETHNICITIES)
)
_STRATUM_INDEX: Mapping[Demographics, int] = MappingProxyType({s: i for i, s in enumerate(STRATA)})

StratumKey = Union[Demographics, tuple[str, str, str]]
Weights = Union[Mapping[str, Mapping[str, float]], Mapping[StratumKey, float]]


# --------------------------------------------------------------------------- allocation


def _balanced_order(rng: np.random.Generator) -> list[int]:
    """A seeded ordering of the 24 strata whose every prefix is balanced.

    In every prefix each age group, gender, ethnicity and age x gender cell appears within
    +-1 of the others of its attribute, so taking the first r strata for a remainder keeps all
    marginals within +-1. Ethnicities cycle through a random permutation; age x gender cells
    cycle through pairs that differ in both age and gender, in a second-half order chosen so
    that all 24 strata appear exactly once.
    """
    eth = rng.permutation(len(ETHNICITIES))
    ages = rng.permutation(len(AGE_GROUPS))
    genders = rng.permutation(len(GENDERS))
    # cells as (age, gender) indices; consecutive pairs are complementary
    cells = [(0, 0), (1, 1), (0, 1), (1, 0)]
    if rng.random() < 0.5:
        cells = cells[2:] + cells[:2]
    second = [cells[1], cells[0], cells[3], cells[2]]
    order = []
    for i in range(len(STRATA)):
        a, g = (cells if i < 12 else second)[i % 4]
        key = Demographics(AGE_GROUPS[ages[a]], GENDERS[genders[g]], ETHNICITIES[eth[i % 6]])
        order.append(_STRATUM_INDEX[key])
    return order


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise DemographicsError(f"n = {n!r} is not an integer; give a count >= 0")
    if n < 0:
        raise DemographicsError(f"n = {n} is negative; give a count >= 0")
    return int(n)


def _check_weight(value: object, where: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DemographicsError(f"weight for {where} is {value!r}, not a number; use a number >= 0")
    x = float(value)
    if not math.isfinite(x) or x < 0:
        raise DemographicsError(f"weight for {where} is {value!r}; use a finite number >= 0")
    return Fraction(x)


def _stratum_weights(weights: Weights) -> list[Fraction]:
    """Per-stratum weights (STRATA order) from per-attribute or per-stratum weights."""
    if not isinstance(weights, Mapping) or not weights:
        raise DemographicsError(
            "weights must be a non-empty mapping: per attribute "
            "({'ethnicity': {'Black': 2}}) or per stratum ({('young', 'man', 'Black'): 2})"
        )
    keys = list(weights)
    if all(isinstance(k, str) for k in keys):
        per_attr: dict[str, dict[str, Fraction]] = {}
        for name, groups in weights.items():
            attribute = _canonical_attribute(name)
            if attribute in per_attr:
                raise DemographicsError(f"weights for {attribute} are given twice; give them once")
            if not isinstance(groups, Mapping):
                raise DemographicsError(
                    f"weights for {attribute} must map group -> weight, e.g. "
                    f"{{'{ATTRIBUTES[attribute][0]}': 1}}; got {groups!r}"
                )
            w = {g: Fraction(1) for g in ATTRIBUTES[attribute]}  # unlisted groups weigh 1
            for group, value in groups.items():
                g = _canonical_group(attribute, group)
                w[g] = _check_weight(value, f"{attribute} {g}")
            if not any(w.values()):
                raise DemographicsError(
                    f"all {attribute} weights are 0; give at least one group a positive weight"
                )
            per_attr[attribute] = w
        out = []
        for s in STRATA:
            w = Fraction(1)
            for attribute, groups in per_attr.items():
                w *= groups[getattr(s, attribute)]
            out.append(w)
        return out
    out = [Fraction(0)] * len(STRATA)  # per stratum: unlisted strata weigh 0
    seen = set()
    for key, value in weights.items():
        if isinstance(key, Demographics):
            s = key
        elif isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, str) for k in key):
            s = Demographics(*key)
        else:
            raise DemographicsError(
                f"weights key {key!r} is neither an attribute name ({', '.join(ATTRIBUTES)}) nor "
                f"a stratum (Demographics or (age_group, gender, ethnicity)); use one kind of key"
            )
        if s in seen:
            raise DemographicsError(f"stratum {s} is weighted twice; give each stratum once")
        seen.add(s)
        out[_STRATUM_INDEX[s]] = _check_weight(value, str(s))
    if not any(out):
        raise DemographicsError(
            "all stratum weights are 0; give at least one stratum a positive weight"
        )
    return out


def _largest_remainder(n: int, weights: list[Fraction], tie_order: list[int]) -> list[int]:
    """Integer counts summing to n, proportional to weights (exact arithmetic).

    Leftover units go to the largest fractional parts; equal parts are broken by ``tie_order``.
    """
    total = sum(weights)
    quotas = [n * w / total for w in weights]
    counts = [math.floor(q) for q in quotas]
    rank = {s: i for i, s in enumerate(tie_order)}
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), rank[i]))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def stratum_counts_for(
    n: int, seed: int, weights: Weights | None = None
) -> dict[Demographics, int]:
    """The per-stratum counts balanced_demographics(n, seed, weights) allocates (STRATA order)."""
    n = _check_n(n)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DemographicsError(f"seed {seed!r} is not an integer; pass an int seed >= 0")
    if seed < 0:
        raise DemographicsError(f"seed {seed} is negative; pass an int seed >= 0")
    rng = np.random.default_rng(int(seed))
    order = _balanced_order(rng)
    w = [Fraction(1)] * len(STRATA) if weights is None else _stratum_weights(weights)
    counts = _largest_remainder(n, w, order)
    return dict(zip(STRATA, counts))


def balanced_demographics(n: int, seed: int, weights: Weights | None = None) -> list[Demographics]:
    """``n`` identities' demographics in a seeded random order.

    Default: every stratum's count is within +-1 of every other, and so is every age group,
    gender and ethnicity marginal. ``weights`` either per attribute
    ({"ethnicity": {"Black": 2}, "gender": {...}}; unlisted groups weigh 1, attributes multiply)
    or per stratum ({Demographics | (age, gender, ethnicity): w}; unlisted strata weigh 0);
    counts are proportional to the weights by largest-remainder rounding and sum to n.
    """
    counts = stratum_counts_for(n, seed, weights)
    demos = [s for s, c in counts.items() for _ in range(c)]
    rng = np.random.default_rng([int(seed), 1])  # independent stream for the order
    perm = rng.permutation(len(demos))
    return [demos[i] for i in perm]


def parse_weights(text: str) -> dict[str, dict[str, float]]:
    """Parse "ethnicity:Black=2,White=1;gender:man=1,woman=1" into per-attribute weights."""
    if not isinstance(text, str):
        raise DemographicsError(
            f"weights must be a str like 'ethnicity:Black=2', got {type(text).__name__}"
        )
    out: dict[str, dict[str, float]] = {}
    example = "e.g. 'ethnicity:Black=2,White=1;gender:man=1,woman=1'"
    for block in text.split(";"):
        block = block.strip()
        if not block:
            continue
        if block.count(":") != 1:
            raise DemographicsError(
                f"cannot parse {block!r}; write ATTRIBUTE:GROUP=W,..., {example}"
            )
        name, items = block.split(":")
        attribute = _canonical_attribute(name)
        if attribute in out:
            raise DemographicsError(
                f"{attribute} appears twice in {text!r}; give each attribute once"
            )
        groups: dict[str, float] = {}
        for item in items.split(","):
            item = item.strip()
            if item.count("=") != 1:
                raise DemographicsError(
                    f"cannot parse {item!r} in {block!r}; write GROUP=WEIGHT, {example}"
                )
            group, value = (p.strip() for p in item.split("="))
            g = _canonical_group(attribute, group)
            if g in groups:
                raise DemographicsError(f"{attribute} {g} appears twice; give each group once")
            try:
                w = float(value)
            except ValueError:
                raise DemographicsError(
                    f"weight {value!r} for {attribute} {g} is not a number; use a number >= 0"
                ) from None
            groups[g] = float(_check_weight(w, f"{attribute} {g}"))
        out[attribute] = groups
    if not out:
        raise DemographicsError(f"no weights in {text!r}; {example}")
    _stratum_weights(out)  # all-zero checks
    return out


# --------------------------------------------------------------------------- counting


def stratum_counts(demos: Iterable[Demographics]) -> dict[Demographics, int]:
    """Count per stratum, all 24 strata in STRATA order (zeros included)."""
    c = Counter(demos)
    unknown = [d for d in c if d not in _STRATUM_INDEX]
    if unknown:
        raise DemographicsError(
            f"{unknown[0]!r} is not a Demographics stratum; pass Demographics objects"
        )
    return {s: c.get(s, 0) for s in STRATA}


def table1_counts(demos: Iterable[Demographics]) -> dict[str, dict[str, int]]:
    """Per-attribute counts like the paper's Table 1: {"age_group": {"young": n, ...}, ...}."""
    counts = stratum_counts(demos)
    out = {attribute: {g: 0 for g in groups} for attribute, groups in ATTRIBUTES.items()}
    for s, c in counts.items():
        for attribute in ATTRIBUTES:
            out[attribute][getattr(s, attribute)] += c
    return out
