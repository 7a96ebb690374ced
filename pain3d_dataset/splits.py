"""Which identities go to which split: 70/20/10 train/validation/test by identity, stratified.

The one place that decides it (the writer, the on-the-fly builder and the 3D-Pain importer ask
here). Each stratum (for generated data: age group x gender x ethnicity) is split 70/20/10 on
its own, every count within one identity of its exact share, and the strata's remainders are
spread so that the split totals are ``split_counts(n)``. So a stratum of 10 or more identities
is in every split, and a per-group evaluation of the test split sees every group.

>>> counts = stratified_counts({"a": 10, "b": 10, "c": 3})
>>> counts["a"], counts["b"]
({'train': 7, 'validation': 2, 'test': 1}, {'train': 7, 'validation': 2, 'test': 1})
>>> sum(c["test"] for c in counts.values()) == split_counts(23)["test"]
True

The assignment depends on the seed and the stratum counts alone (never on how the work is
spread over processes). Without strata (one stratum) it is the seeded permutation cut by
``split_counts`` that pain3d used before stratifying.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np

from .features import SPLITS

SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.2, "test": 0.1}
_TENTHS = {"train": 7, "validation": 2, "test": 1}  # SPLIT_FRACTIONS, exactly, in tenths
# rng key of the split draw, [seed, 2**31 + 2]; identities use [seed, i], the PSPI plan
# [seed, 2**31], appearance backends [seed, i, 2**31 + 1]
_SPLIT_STREAM = 2**31 + 2
# Costs of the rounding (integers, so the solution is exact): a unit up to the floor of a
# stratum's share is all but mandatory, the unit up to its ceiling is cheap in proportion to the
# fractional part (ties broken by a seeded jitter below _JITTER), any other unit is penalised.
_MANDATORY, _OFF_SHARE, _JITTER = -(10**12), 10**8, 10**4


def split_counts(n_identities: int) -> dict[str, int]:
    """Identities per split: 70/20/10 by rounding; with 3 or more identities no split is empty."""
    n = int(n_identities)
    val = int(round(SPLIT_FRACTIONS["validation"] * n))
    test = int(round(SPLIT_FRACTIONS["test"] * n))
    if n >= 3:
        val, test = max(val, 1), max(test, 1)
    val = min(val, max(n - 1, 0))
    test = min(test, max(n - 1 - val, 0))
    return {"train": n - val - test, "validation": val, "test": test}


def _min_cost_flow(n_nodes: int, edges: list[list[int]], source: int, sink: int) -> None:
    """Sends as much flow as fits from ``source`` to ``sink`` at least cost (successive shortest
    paths, Bellman-Ford: the costs are negative). ``edges`` rows are [tail, head, capacity, cost,
    flow] with each edge's reverse right after it; the flows are filled in place."""
    out_edges: list[list[int]] = [[] for _ in range(n_nodes)]
    for k, (tail, *_rest) in enumerate(edges):
        out_edges[tail].append(k)
    while True:
        dist: list[float] = [float("inf")] * n_nodes
        via = [-1] * n_nodes
        dist[source] = 0
        for _ in range(n_nodes):
            changed = False
            for k, (tail, head, cap, cost, flow) in enumerate(edges):
                if flow < cap and dist[tail] + cost < dist[head]:
                    dist[head], via[head], changed = dist[tail] + cost, k, True
            if not changed:
                break
        if via[sink] < 0:
            return
        push, node = None, sink
        while node != source:
            e = edges[via[node]]
            push = e[2] - e[4] if push is None else min(push, e[2] - e[4])
            node = e[0]
        node = sink
        while node != source:
            k = via[node]
            edges[k][4] += push
            edges[k ^ 1][4] -= push
            node = edges[k][0]


def stratified_counts(sizes: Mapping[Hashable, int], jitter: Mapping[Hashable, Sequence[int]] | None = None) -> dict:
    """{stratum: {split: identities}}: each stratum's 70/20/10 share rounded to whole identities
    (floor or ceiling of the exact share, whenever the totals allow it), the totals being
    ``split_counts(sum(sizes))``. Among equally good roundings, ``jitter`` (per stratum, one
    integer in [0, 10**4) per split; default none) decides which strata get the remainders."""
    strata = list(sizes)
    totals = split_counts(sum(int(n) for n in sizes.values()))
    source, sink = 0, 1 + len(strata) + len(SPLITS)
    edges: list[list[int]] = []

    def add(tail: int, head: int, cap: int, cost: int) -> None:
        edges.append([tail, head, cap, cost, 0])
        edges.append([head, tail, 0, -cost, 0])

    share_edges: dict[tuple[int, int], list[int]] = {}
    for i, stratum in enumerate(strata):
        n = int(sizes[stratum])
        add(source, 1 + i, n, 0)
        for j, split in enumerate(SPLITS):
            floor, tenths = divmod(n * _TENTHS[split], 10)
            node = 1 + len(strata) + j
            share_edges[i, j] = [len(edges)]
            add(1 + i, node, floor, _MANDATORY)
            if tenths:
                bonus = tenths * _JITTER + (int(jitter[stratum][j]) if jitter is not None else 0)
                share_edges[i, j].append(len(edges))
                add(1 + i, node, 1, -bonus)
            share_edges[i, j].append(len(edges))
            add(1 + i, node, n, _OFF_SHARE)
    for j, split in enumerate(SPLITS):
        add(1 + len(strata) + j, sink, totals[split], 0)
    _min_cost_flow(sink + 1, edges, source, sink)
    return {
        stratum: {split: sum(edges[k][4] for k in share_edges[i, j]) for j, split in enumerate(SPLITS)}
        for i, stratum in enumerate(strata)
    }


def assign_splits(n_identities: int, seed: int, strata: Sequence[Hashable] | None = None) -> list[str]:
    """Split of each identity index, from ``seed`` and the stratum counts alone.

    ``strata``: one label per identity (e.g. its ``Demographics``); None is one stratum. Counts
    per stratum and split come from ``stratified_counts``; within a stratum, a seeded
    permutation of its identities (in index order) is cut by them.
    """
    labels = [None] * int(n_identities) if strata is None else list(strata)
    if len(labels) != n_identities:
        raise ValueError(f"{len(labels)} stratum labels for {n_identities} identities; give one per identity")
    members: dict[Hashable, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    order = sorted(members, key=repr)  # a fixed order of the strata, whatever the identities' order
    jitter = np.random.default_rng([int(seed), _SPLIT_STREAM, 1]).integers(0, _JITTER, size=(len(order), len(SPLITS)))
    counts = stratified_counts({s: len(members[s]) for s in order}, dict(zip(order, jitter.tolist())))
    rng = np.random.default_rng([int(seed), _SPLIT_STREAM])
    out = [""] * len(labels)
    for stratum in order:
        ids = np.asarray(members[stratum])[rng.permutation(len(members[stratum]))]
        start = 0
        for split in SPLITS:
            for i in ids[start : start + counts[stratum][split]]:
                out[int(i)] = split
            start += counts[stratum][split]
    return out


def demographic_splits(n_identities: int, seed: int, weights: Mapping | None = None) -> list[str]:
    """The generator's splits: stratified by age group x gender x ethnicity, the demographics
    ``pain3d generate`` gives its identities (``balanced_demographics(n, seed, weights)``)."""
    from generation.demographics import balanced_demographics

    return assign_splits(n_identities, seed, balanced_demographics(n_identities, seed, weights))


__all__ = ["SPLITS", "SPLIT_FRACTIONS", "assign_splits", "demographic_splits", "split_counts", "stratified_counts"]
