# Copyright 2025 The pain3d authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Pain-assessment metrics for PSPI-level classifiers: macro AUROC, tolerance accuracies,
binary pain AUROC/F1 at PSPI thresholds, and MAE / Pearson of the expected PSPI."""

import math

import datasets
import evaluate
import numpy as np
from scipy.stats import rankdata


_DESCRIPTION = """
Metrics for automated pain assessment with a classifier over PSPI levels (Prkachin and Solomon
Pain Intensity), as reported for ViTPain in "Pain in 3D" (Lin et al.). The model outputs, for each
sample, a probability vector over C ordinal classes where class index c is PSPI level c
(C = 16 for PSPI 0-15 as in the paper's 3DPain experiments, C = 17 for the full range 0-16).

- Macro AUROC: one-vs-rest AUROC of each class's probability, averaged over the classes that have
  both positives and negatives among the references. Classes absent from the references (or, in
  the degenerate case, the only class present) have no defined AUROC and are left out; the classes
  that counted are returned in `auroc_classes`.
- Accuracy of the argmax class, and tolerance accuracies: |argmax - reference| <= 1 and <= 2.
- Binary pain detection at each PSPI threshold t (clinical practice uses t = 2 and t = 3): pain is
  `reference >= t`; the score is the probability mass of the classes >= t; AUROC of that score and
  F1 of the decision "mass >= t is greater than 0.5".
- MAE and Pearson correlation between the expected PSPI, sum_c c * p_c, and the references.

Probabilities only: every row must be non-negative and sum to 1 (within 1e-3). Logits are
rejected with a hint to apply softmax first.
"""


_KWARGS_DESCRIPTION = """
Computes pain-assessment metrics from per-class probabilities over PSPI levels.

Args:
    predictions (`list` of `list` of `float`, shape (N, C)): class probabilities for each of the
        N samples over C >= 2 classes, class index c being PSPI level c. Each row must be
        non-negative and sum to 1 within 1e-3 (apply softmax to logits first).
    references (`list` of `int`, length N): the reference PSPI level of each sample, in 0..C-1.
    thresholds (`int` or iterable of `int`, defaults to `(2, 3)`): PSPI thresholds t for binary
        pain detection (pain = PSPI >= t). Each must lie in 1..C-1. Pass `()` for none.
    groups (`list` of `str`, length N, optional): a group label per sample (e.g. an ethnicity, or
        "ethnicity/gender"); adds every metric per group and the largest between-group gaps.
    identities (`list` of `str`, length N, optional, with `groups`): the person of each sample; adds
        bootstrap 95% intervals (identities resampled with replacement) of each group's macro AUROC
        and of the largest between-group macro AUROC gap.
    n_resamples (`int`, defaults to 1000) and bootstrap_seed (`int`, defaults to 0): the bootstrap.

Returns:
    macro_auroc (`float`): mean one-vs-rest AUROC over `auroc_classes`; NaN when no class has
        both positives and negatives, i.e. when all references are the same class.
    auroc_classes (`list` of `int`): the classes that entered the macro average (those present in
        the references, unless only one class is present, in which case none).
    per_class_auroc (`list` of `float`, length C): one-vs-rest AUROC of each class; NaN for the
        classes left out of the macro average.
    accuracy (`float`): fraction of samples whose argmax class equals the reference (ties in
        the argmax go to the lowest class).
    accuracy_within_1 (`float`): fraction with |argmax - reference| <= 1.
    accuracy_within_2 (`float`): fraction with |argmax - reference| <= 2.
    auroc_at_{t} (`float`), one per threshold t: AUROC of the probability mass of classes >= t
        for the binary label reference >= t; NaN when all references fall on one side of t.
    f1_at_{t} (`float`), one per threshold t: F1 of predicting pain when the mass of classes >= t
        is strictly greater than 0.5; NaN when there are neither reference nor predicted positives.
    mae (`float`): mean absolute error of the expected PSPI sum_c c * p_c.
    pearson (`float`): Pearson correlation of the expected PSPI with the references; NaN when
        either is constant (for example, all references equal).
    per_group (`dict`, with `groups`): group -> {"n": samples, every metric above on that group's
        samples; with `identities` also "identities" and "macro_auroc_ci": [low, high]}.
    group_gap (`dict`, with `groups`): metric -> {"gap": highest minus lowest group value,
        "highest": group, "lowest": group, "groups": how many groups have a value}, over the groups
        where the metric is defined (not NaN); gap NaN and groups None when fewer than two.
    macro_auroc_gap_ci (`list` of two `float`, with `identities`): bootstrap 95% interval of the
        largest between-group macro AUROC gap.

Examples:

    Six samples over four PSPI levels (0-3):

    >>> import evaluate
    >>> pain_metrics = evaluate.load("evaluate_metrics/pain_metrics")
    >>> probabilities = [
    ...     [0.7, 0.2, 0.1, 0.0],
    ...     [0.1, 0.6, 0.2, 0.1],
    ...     [0.0, 0.2, 0.5, 0.3],
    ...     [0.1, 0.1, 0.2, 0.6],
    ...     [0.5, 0.3, 0.1, 0.1],
    ...     [0.2, 0.2, 0.3, 0.3],
    ... ]
    >>> references = [0, 1, 3, 3, 1, 2]
    >>> results = pain_metrics.compute(predictions=probabilities, references=references, thresholds=(2, 3))
    >>> print(round(results["macro_auroc"], 4), results["auroc_classes"])
    0.9344 [0, 1, 2, 3]
    >>> print([round(auroc, 4) for auroc in results["per_class_auroc"]])
    [1.0, 1.0, 0.8, 0.9375]
    >>> print(round(results["accuracy"], 4), results["accuracy_within_1"], results["accuracy_within_2"])
    0.6667 1.0 1.0
    >>> print(results["auroc_at_2"], results["f1_at_2"])
    1.0 1.0
    >>> print(round(results["auroc_at_3"], 4), round(results["f1_at_3"], 4))
    0.9375 0.6667
    >>> print(round(results["mae"], 4), round(results["pearson"], 4))
    0.4667 0.9718

    A class absent from the references (here PSPI 2) is left out of the macro average:

    >>> results = pain_metrics.compute(
    ...     predictions=[[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.5, 0.3]],
    ...     references=[0, 1, 1],
    ...     thresholds=2,
    ... )
    >>> print(results["macro_auroc"], results["auroc_classes"], results["per_class_auroc"])
    1.0 [0, 1] [1.0, 1.0, nan]
    >>> print(results["auroc_at_2"], results["f1_at_2"])
    nan nan

    When every reference is the same class no AUROC is defined, so those values are NaN:

    >>> results = pain_metrics.compute(predictions=[[0.9, 0.1], [0.6, 0.4]], references=[0, 0], thresholds=())
    >>> print(results["macro_auroc"], results["auroc_classes"], results["pearson"], results["accuracy"])
    nan [] nan 1.0

    Per group: one label per sample adds every metric per group and the gap between groups:

    >>> results = pain_metrics.compute(
    ...     predictions=probabilities, references=references, thresholds=(),
    ...     groups=["a", "b", "a", "b", "a", "b"],
    ... )
    >>> print({g: (v["n"], round(v["accuracy"], 4), v["auroc_classes"]) for g, v in results["per_group"].items()})
    {'a': (3, 0.3333, [0, 1, 3]), 'b': (3, 1.0, [1, 2, 3])}
    >>> gap = results["group_gap"]["accuracy"]
    >>> print(round(gap["gap"], 4), gap["highest"], gap["lowest"], gap["groups"])
    0.6667 b a 2

    Logits are rejected:

    >>> pain_metrics.compute(predictions=[[2.0, -1.0], [0.5, 0.5]], references=[0, 1], thresholds=())
    Traceback (most recent call last):
        ...
    ValueError: predictions must hold probabilities (non-negative, each row summing to 1 within 0.001); got a negative value -1 in row 0. If these are logits, apply a softmax over the class axis first.
"""


_CITATION = """\
@misc{lin2025pain3d,
  title  = {Pain in {3D}: Generating Controllable Synthetic Faces for Automated Pain Assessment},
  author = {Lin, Xin Lei and Mehraban, Soroush and Moturu, Abhishek and Taati, Babak},
  year   = {2025}
}
@article{prkachin2008structure,
  title   = {The structure, reliability and validity of pain expression: Evidence from patients with shoulder pain},
  author  = {Prkachin, Kenneth M. and Solomon, Patricia E.},
  journal = {Pain},
  volume  = {139},
  number  = {2},
  pages   = {267--274},
  year    = {2008}
}
"""

# Metrics with one number each: the ones that get a between-group gap.
_SCALAR_METRICS = ("macro_auroc", "accuracy", "accuracy_within_1", "accuracy_within_2", "mae", "pearson")
# Options of `compute` besides the inputs.
_OPTIONS = ("thresholds", "groups", "identities", "n_resamples", "bootstrap_seed")
# Tolerance on the row sums of `predictions`.
_SUM_TOLERANCE = 1e-3
# Binary pain thresholds used by default (pain = PSPI >= t), as in clinical practice.
_DEFAULT_THRESHOLDS = (2, 3)


def _binary_auroc(labels, scores):
    """AUROC of `scores` for boolean `labels` via the Mann-Whitney U statistic (ties count 1/2).

    Returns NaN when `labels` holds a single class (AUROC undefined).
    """
    labels = np.asarray(labels, dtype=bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64), method="average")
    u_statistic = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def _binary_f1(labels, decisions):
    """F1 = 2 TP / (2 TP + FP + FN); NaN when there are no reference and no predicted positives."""
    labels = np.asarray(labels, dtype=bool)
    decisions = np.asarray(decisions, dtype=bool)
    true_pos = int(np.sum(labels & decisions))
    false_pos = int(np.sum(~labels & decisions))
    false_neg = int(np.sum(labels & ~decisions))
    denominator = 2 * true_pos + false_pos + false_neg
    if denominator == 0:
        return math.nan
    return 2.0 * true_pos / denominator


def _pearson(x, y):
    """Pearson correlation coefficient; NaN when either input is constant."""
    x_centered = np.asarray(x, dtype=np.float64) - np.mean(x)
    y_centered = np.asarray(y, dtype=np.float64) - np.mean(y)
    x_norm = math.sqrt(float(np.dot(x_centered, x_centered)))
    y_norm = math.sqrt(float(np.dot(y_centered, y_centered)))
    if x_norm == 0.0 or y_norm == 0.0:
        return math.nan
    r = float(np.dot(x_centered, y_centered)) / (x_norm * y_norm)
    return max(-1.0, min(1.0, r))


def _as_array_like(values):
    """Framework tensors (torch, TensorFlow) as NumPy arrays; anything else unchanged."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch, on any device
        return values.detach().cpu().numpy()
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):  # TensorFlow eager
        return values.numpy()
    return values


def _validate_inputs(predictions, references):
    """Checks shapes and values; returns float64 probabilities (N, C) and int64 references (N,).

    Raises `ValueError` naming what was expected and what was given.
    """
    if predictions is None or references is None:
        missing = "predictions" if predictions is None else "references"
        raise ValueError(f"predictions and references must both be given; got {missing}=None.")
    rows = list(_as_array_like(predictions))
    if len(rows) == 0:
        raise ValueError("predictions is empty: expected an (N, C) array of class probabilities with N >= 1.")
    try:
        row_lengths = sorted({len(row) for row in rows})
    except TypeError:
        row_lengths = None
    if row_lengths is None or len(row_lengths) > 1:
        got = f"rows of different lengths {row_lengths}" if row_lengths else "a 1-D sequence of scalars"
        raise ValueError(
            "predictions must be a 2-D (N, C) array of class probabilities (one row of C probabilities per "
            f"sample); got {got}."
        )
    try:
        probabilities = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"predictions must be a 2-D (N, C) array of numeric class probabilities; could not convert it: {error}"
        ) from None
    if probabilities.ndim != 2:
        raise ValueError(
            f"predictions must be a 2-D (N, C) array of class probabilities; got shape {probabilities.shape}."
        )
    num_samples, num_classes = probabilities.shape
    if num_classes < 2:
        raise ValueError(f"predictions must have C >= 2 classes per row; got C = {num_classes}.")

    try:
        reference_values = np.asarray(_as_array_like(references))
        if reference_values.dtype.kind not in "biu":
            reference_values = reference_values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"references must be a 1-D sequence of integer class indices in 0..{num_classes - 1}; "
            f"got {type(references).__name__} that is not numeric."
        ) from None
    if reference_values.ndim != 1:
        raise ValueError(
            f"references must be a 1-D sequence of N class indices; got shape {reference_values.shape}."
        )
    if reference_values.shape[0] != num_samples:
        raise ValueError(
            f"predictions has {num_samples} rows but references has {reference_values.shape[0]} entries; "
            "expected one reference per row."
        )
    if reference_values.dtype.kind == "f":
        # The int32 feature would silently truncate 1.5 to 1: reject non-integral values instead.
        not_integral = ~np.isfinite(reference_values) | (reference_values != np.round(reference_values))
        if not_integral.any():
            index = int(np.flatnonzero(not_integral)[0])
            raise ValueError(
                f"references must be integer class indices (PSPI levels) in 0..{num_classes - 1}; "
                f"got {float(reference_values[index])!r} at position {index}."
            )
    reference_values = reference_values.astype(np.int64)
    out_of_range = (reference_values < 0) | (reference_values >= num_classes)
    if out_of_range.any():
        index = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(
            f"references must be class indices in 0..{num_classes - 1} (C = {num_classes} from the length of the "
            f"prediction rows); got {int(reference_values[index])} at position {index}."
        )

    if not np.all(np.isfinite(probabilities)):
        row = int(np.flatnonzero(~np.isfinite(probabilities).all(axis=1))[0])
        raise ValueError(f"predictions must be finite probabilities; got a NaN or infinite value in row {row}.")
    hint = "If these are logits, apply a softmax over the class axis first."
    if (probabilities < 0).any():
        row = int(np.flatnonzero((probabilities < 0).any(axis=1))[0])
        raise ValueError(
            f"predictions must hold probabilities (non-negative, each row summing to 1 within {_SUM_TOLERANCE:g}); "
            f"got a negative value {probabilities[row].min():g} in row {row}. {hint}"
        )
    row_sums = probabilities.sum(axis=1)
    off = np.abs(row_sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"predictions must hold probabilities: each row must sum to 1 within {_SUM_TOLERANCE:g}; "
            f"row {row} sums to {row_sums[row]:.6g}. {hint}"
        )
    return probabilities, reference_values


def _validate_thresholds(thresholds, num_classes):
    """Returns the thresholds as a de-duplicated list of ints in 1..C-1."""
    if thresholds is None:
        return []
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        thresholds = [thresholds]
    result = []
    for threshold in thresholds:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
            raise ValueError(f"thresholds must be integers (PSPI levels); got {threshold!r}.")
        threshold = int(threshold)
        if not 1 <= threshold <= num_classes - 1:
            raise ValueError(
                f"each threshold must lie in 1..{num_classes - 1} for C = {num_classes} classes "
                f"(pain = PSPI >= t needs classes on both sides); got {threshold}."
            )
        if threshold not in result:
            result.append(threshold)
    return result


def weighted_macro_auroc(probabilities, labels, weights):
    """Macro one-vs-rest AUROC of `probabilities` (N, C) against `labels` (N,) for each row of `weights`
    (R, N) of non-negative row multiplicities: (R,). Equal to the macro AUROC of the rows repeated that
    many times (ties count one half), over the classes with positive and negative weight; one sort per
    class serves every row of weights, so a bootstrap of thousands of samples takes seconds."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=np.float64)
    total, counted = np.zeros(len(weights)), np.zeros(len(weights))
    for c in range(probabilities.shape[1]):
        order = np.argsort(probabilities[:, c], kind="stable")
        score, positive, w = probabilities[order, c], labels[order] == c, weights[:, order]
        starts = np.flatnonzero(np.r_[True, score[1:] != score[:-1]])  # groups of tied scores
        pos = np.add.reduceat(w * positive, starts, axis=1)
        neg = np.add.reduceat(w * ~positive, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg  # negative weight under each group
        n_pos, n_neg = pos.sum(1), neg.sum(1)
        valid = (n_pos > 0) & (n_neg > 0)
        wins = (pos * (below + 0.5 * neg)).sum(1)
        total += np.where(valid, wins / np.where(valid, n_pos * n_neg, 1.0), 0.0)
        counted += valid
    return np.where(counted > 0, total / np.maximum(counted, 1), np.nan)


def _validate_labels(values, name, num_samples):
    """A per-sample label list (groups, identities) as a list of str of length N, or None."""
    if values is None:
        return None
    values = _as_array_like(values)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a list of N = {num_samples} labels, one per prediction; got {type(values).__name__}.")
    if len(values) != num_samples:
        raise ValueError(f"{name} has {len(values)} entries but there are {num_samples} predictions; give one label per prediction.")
    return [str(v) for v in values]


def _validate_bootstrap(n_resamples, bootstrap_seed):
    for name, value, low in (("n_resamples", n_resamples, 1), ("bootstrap_seed", bootstrap_seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")


def _scores(probabilities, refs, threshold_list):
    """Every metric of one set of samples (probabilities (N, C), references (N,))."""
    num_classes = probabilities.shape[1]
    per_class_auroc = []
    auroc_classes = []
    for class_index in range(num_classes):
        auroc = _binary_auroc(refs == class_index, probabilities[:, class_index])
        per_class_auroc.append(auroc)
        if not math.isnan(auroc):
            auroc_classes.append(class_index)
    macro_auroc = float(np.mean([per_class_auroc[c] for c in auroc_classes])) if auroc_classes else math.nan

    predicted = probabilities.argmax(axis=1)
    distance = np.abs(predicted - refs)
    results = {
        "macro_auroc": macro_auroc,
        "auroc_classes": auroc_classes,
        "per_class_auroc": per_class_auroc,
        "accuracy": float(np.mean(distance == 0)),
        "accuracy_within_1": float(np.mean(distance <= 1)),
        "accuracy_within_2": float(np.mean(distance <= 2)),
    }
    for threshold in threshold_list:
        pain = refs >= threshold
        pain_mass = probabilities[:, threshold:].sum(axis=1)
        results[f"auroc_at_{threshold}"] = _binary_auroc(pain, pain_mass)
        results[f"f1_at_{threshold}"] = _binary_f1(pain, pain_mass > 0.5)

    expected_pspi = probabilities @ np.arange(num_classes, dtype=np.float64)
    results["mae"] = float(np.mean(np.abs(expected_pspi - refs)))
    results["pearson"] = _pearson(expected_pspi, refs)
    return results


def _gap(values):
    """{"gap", "highest", "lowest", "groups"} over the groups whose value is defined (not NaN)."""
    defined = {g: v for g, v in values.items() if not math.isnan(v)}
    if len(defined) < 2:
        return {"gap": math.nan, "highest": None, "lowest": None, "groups": len(defined)}
    highest = max(defined, key=lambda g: (defined[g], g))
    lowest = min(defined, key=lambda g: (defined[g], g))
    return {"gap": defined[highest] - defined[lowest], "highest": highest, "lowest": lowest, "groups": len(defined)}


def _group_scores(probabilities, refs, threshold_list, groups, identities, n_resamples, bootstrap_seed):
    """per_group, group_gap and, with identities, the bootstrap intervals (identities resampled
    with replacement, one draw shared by all groups, so groups that share people stay paired)."""
    groups = np.asarray(groups, dtype=object)
    names = sorted(set(groups.tolist()))
    per_group = {}
    for name in names:
        rows = groups == name
        per_group[name] = {"n": int(rows.sum()), **_scores(probabilities[rows], refs[rows], threshold_list)}
    scalar = list(_SCALAR_METRICS[:4]) + [f"{m}_at_{t}" for t in threshold_list for m in ("auroc", "f1")] + list(_SCALAR_METRICS[4:])
    out = {
        "per_group": per_group,
        "group_gap": {m: _gap({g: per_group[g][m] for g in names}) for m in scalar},
    }
    if identities is None:
        return out
    people, person = np.unique(np.asarray(identities, dtype=object).astype(str), return_inverse=True)
    rng = np.random.default_rng(bootstrap_seed)
    counts = rng.multinomial(len(people), np.full(len(people), 1.0 / len(people)), size=n_resamples)  # (R, people)
    resampled = {}
    for name in names:
        rows = np.flatnonzero(groups == name)
        resampled[name] = np.concatenate([
            weighted_macro_auroc(probabilities[rows], refs[rows], counts[r:r + 100][:, person[rows]])
            for r in range(0, n_resamples, 100)
        ])
        per_group[name]["identities"] = int(len(np.unique(person[rows])))
        per_group[name]["macro_auroc_ci"] = _interval(resampled[name])
    table = np.stack([resampled[name] for name in names])  # (groups, R)
    defined = (~np.isnan(table)).sum(0) >= 2
    spread = np.where(np.isnan(table), -np.inf, table).max(0) - np.where(np.isnan(table), np.inf, table).min(0)
    gaps = np.where(defined, spread, np.nan)
    out["macro_auroc_gap_ci"] = _interval(gaps)
    return out


def _interval(values):
    """Percentile 95% interval of the defined (not NaN) values; [nan, nan] when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return [math.nan, math.nan]
    return [float(v) for v in np.percentile(values, [2.5, 97.5])]


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PainMetrics(evaluate.Metric):
    """Pain-assessment metrics over PSPI-level class probabilities."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Value("int32"),
                }
            ),
            reference_urls=[
                "https://en.wikipedia.org/wiki/Receiver_operating_characteristic",
                "https://doi.org/10.1016/j.pain.2008.04.010",
            ],
        )

    # The inputs are validated as they arrive, before evaluate opens its cache file: an error raised
    # later, inside `_compute`, would leave that file and its lock behind (and the next call would
    # wait a second for the lock). `_compute` validates again, as the single source of truth.
    # evaluate's `EvaluationModule.__init__` appends the inputs description to the docstrings of
    # `compute`, `add_batch` and `add`, so these overrides need docstrings.

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Computes the metrics on the given inputs and/or those added with `add_batch` / `add`."""
        unexpected = sorted(set(kwargs) - set(_OPTIONS))
        if unexpected:
            raise TypeError(
                f"compute() got unexpected keyword arguments {unexpected}; the options are {', '.join(_OPTIONS)}."
            )
        num_classes = getattr(self, "_num_classes_seen", None)
        rows = getattr(self, "_rows_seen", 0)
        if predictions is not None or references is not None:
            probabilities, _ = _validate_inputs(predictions, references)
            if num_classes is not None and probabilities.shape[1] != num_classes:
                raise ValueError(
                    f"predictions have C = {probabilities.shape[1]} classes but earlier batches had C = {num_classes}."
                )
            num_classes = probabilities.shape[1]
            rows += probabilities.shape[0]
        if num_classes is not None:
            _validate_thresholds(kwargs.get("thresholds", _DEFAULT_THRESHOLDS), num_classes)
            if kwargs.get("identities") is not None and kwargs.get("groups") is None:
                raise ValueError("identities are for the per-group bootstrap: pass groups too.")
            for name in ("groups", "identities"):
                _validate_labels(kwargs.get(name), name, rows)
            _validate_bootstrap(kwargs.get("n_resamples", 1000), kwargs.get("bootstrap_seed", 0))
        try:
            return super().compute(predictions=predictions, references=references, **kwargs)
        finally:
            self._num_classes_seen = None
            self._rows_seen = 0

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Adds a batch of predictions (N x C probabilities) and references (N PSPI levels)."""
        probabilities, _ = _validate_inputs(predictions, references)
        num_classes = getattr(self, "_num_classes_seen", None)
        if num_classes is not None and probabilities.shape[1] != num_classes:
            raise ValueError(
                f"this batch has C = {probabilities.shape[1]} classes per row but earlier batches had "
                f"C = {num_classes}."
            )
        super().add_batch(predictions=predictions, references=references, **kwargs)
        self._num_classes_seen = probabilities.shape[1]
        self._rows_seen = getattr(self, "_rows_seen", 0) + probabilities.shape[0]

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Adds one prediction (C probabilities) and its reference PSPI level."""
        probabilities, _ = _validate_inputs([_as_array_like(prediction)], [_as_array_like(reference)])
        num_classes = getattr(self, "_num_classes_seen", None)
        if num_classes is not None and probabilities.shape[1] != num_classes:
            raise ValueError(
                f"this prediction has C = {probabilities.shape[1]} classes but earlier ones had C = {num_classes}."
            )
        super().add(prediction=prediction, reference=reference, **kwargs)
        self._num_classes_seen = probabilities.shape[1]
        self._rows_seen = getattr(self, "_rows_seen", 0) + 1

    def _compute(self, predictions, references, thresholds=_DEFAULT_THRESHOLDS, groups=None, identities=None,
                 n_resamples=1000, bootstrap_seed=0):
        probabilities, refs = _validate_inputs(predictions, references)
        threshold_list = _validate_thresholds(thresholds, probabilities.shape[1])
        groups = _validate_labels(groups, "groups", len(refs))
        identities = _validate_labels(identities, "identities", len(refs))
        if identities is not None and groups is None:
            raise ValueError("identities are for the per-group bootstrap: pass groups too.")
        _validate_bootstrap(n_resamples, bootstrap_seed)
        results = _scores(probabilities, refs, threshold_list)
        if groups is not None:
            results.update(_group_scores(probabilities, refs, threshold_list, groups, identities, n_resamples, bootstrap_seed))
        return results
