"""Tests of the `evaluate` metric in evaluate_metrics/pain_metrics.

Every number is checked against an independent computation: scikit-learn (roc_auc_score, f1_score,
accuracy_score, confusion_matrix, mean_absolute_error) and scipy.stats.pearsonr, while the module
computes AUROC from ranks (Mann-Whitney U), F1 from counts and Pearson from its formula.
"""

import os

# No network here: evaluate must resolve the local folder without trying the Hub.
for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")

import doctest  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import pearsonr  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.metrics import mean_absolute_error  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from evaluate_metrics import PAIN_METRICS_PATH  # noqa: E402
from evaluate_metrics import load_pain_metrics  # noqa: E402


REPO_ROOT = Path(__file__).resolve().parents[1]
METRIC_DIR = REPO_ROOT / "evaluate_metrics" / "pain_metrics"
NUM_PSPI_CLASSES = 17  # PSPI 0..16


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(METRIC_DIR))


@pytest.fixture(scope="module")
def module_source():
    """The metric's Python file imported directly (for its docstrings and helpers)."""
    spec = importlib.util.spec_from_file_location("pain_metrics_under_test", METRIC_DIR / "pain_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------
# Independent reference computation
# ----------------------------------------------------------------------------------------------


def reference_metrics(probabilities, references, thresholds):
    """The expected outputs, computed with scikit-learn and scipy."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    references = np.asarray(references)
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)

    per_class = [math.nan] * num_classes
    counted = []
    for class_index in range(num_classes):
        positives = references == class_index
        if 0 < positives.sum() < len(references):
            per_class[class_index] = roc_auc_score(positives, probabilities[:, class_index])
            counted.append(class_index)

    # Tolerance accuracies from the confusion matrix's diagonal band.
    confusion = confusion_matrix(references, predicted, labels=list(range(num_classes)))
    band = np.abs(np.subtract.outer(np.arange(num_classes), np.arange(num_classes)))
    expected = {
        "macro_auroc": float(np.mean([per_class[c] for c in counted])) if counted else math.nan,
        "auroc_classes": counted,
        "per_class_auroc": per_class,
        "accuracy": accuracy_score(references, predicted),
        "accuracy_within_1": confusion[band <= 1].sum() / confusion.sum(),
        "accuracy_within_2": confusion[band <= 2].sum() / confusion.sum(),
    }
    for threshold in thresholds:
        pain = references >= threshold
        mass = probabilities[:, threshold:].sum(axis=1)
        expected[f"auroc_at_{threshold}"] = roc_auc_score(pain, mass) if 0 < pain.sum() < len(pain) else math.nan
        expected[f"f1_at_{threshold}"] = f1_score(pain, mass > 0.5, zero_division=np.nan)
    expected_pspi = probabilities @ np.arange(num_classes)
    expected["mae"] = mean_absolute_error(references, expected_pspi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns (ConstantInputWarning) and returns NaN
        expected["pearson"] = float(pearsonr(expected_pspi, references).statistic)
    return expected


def assert_results_match(results, expected):
    assert set(results) == set(expected)
    for key, value in expected.items():
        if key == "auroc_classes":
            assert results[key] == value, key
        elif key == "per_class_auroc":
            assert len(results[key]) == len(value)
            for got, want in zip(results[key], value):
                assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9, abs=1e-12), key
        elif math.isnan(value):
            assert math.isnan(results[key]), f"{key}: expected NaN, got {results[key]}"
        else:
            assert results[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def random_case(seed, num_samples, num_classes=NUM_PSPI_CLASSES, present_classes=None, informative=True):
    """Dirichlet probabilities (float32, as the metric's feature stores them) and references.

    References are skewed towards low PSPI as in real data. With `informative`, each row's
    Dirichlet concentration peaks around its reference, so AUROCs are far from 0.5 and an error in
    ranking or class indexing changes the numbers.
    """
    rng = np.random.default_rng(seed)
    classes = np.arange(num_classes) if present_classes is None else np.asarray(present_classes)
    weights = 1.0 / (1.0 + classes)
    references = rng.choice(classes, size=num_samples, p=weights / weights.sum())
    references[: len(classes)] = classes[: num_samples]  # every listed class occurs
    concentration = np.full((num_samples, num_classes), 0.5)
    if informative:
        distance = np.abs(np.arange(num_classes)[None, :] - references[:, None])
        concentration += 4.0 * np.exp(-distance)
    probabilities = np.stack([rng.dirichlet(alpha) for alpha in concentration]).astype(np.float32)
    return probabilities.astype(np.float64), references


# ----------------------------------------------------------------------------------------------
# Agreement with scikit-learn / scipy
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "num_samples", "informative"),
    [(0, 40, True), (1, 200, True), (2, 1000, True), (3, 300, False)],
)
def test_matches_sklearn_on_random_dirichlet(metric, seed, num_samples, informative):
    probabilities, references = random_case(seed, num_samples, informative=informative)
    results = metric.compute(predictions=probabilities, references=references, thresholds=(2, 3))
    expected = reference_metrics(probabilities, references, (2, 3))
    assert_results_match(results, expected)
    assert results["auroc_classes"] == list(range(NUM_PSPI_CLASSES))
    if informative:  # the case is not degenerate: the numbers carry information
        assert results["macro_auroc"] > 0.7 and results["pearson"] > 0.5


def test_macro_auroc_equals_sklearn_ovr_when_all_classes_present(metric):
    probabilities, references = random_case(4, 500)
    results = metric.compute(predictions=probabilities, references=references)
    sklearn_macro = roc_auc_score(
        references, probabilities, multi_class="ovr", average="macro", labels=list(range(NUM_PSPI_CLASSES))
    )
    assert results["macro_auroc"] == pytest.approx(sklearn_macro, rel=1e-9)


def test_absent_classes_are_excluded_and_listed(metric):
    present = [0, 1, 2, 3, 5, 8, 12]
    probabilities, references = random_case(5, 300, present_classes=present)
    results = metric.compute(predictions=probabilities, references=references, thresholds=(2, 3))
    assert results["auroc_classes"] == present
    absent = sorted(set(range(NUM_PSPI_CLASSES)) - set(present))
    assert all(math.isnan(results["per_class_auroc"][c]) for c in absent)
    assert_results_match(results, reference_metrics(probabilities, references, (2, 3)))
    # The average really is over the present classes only.
    assert results["macro_auroc"] == pytest.approx(
        np.mean([roc_auc_score(references == c, probabilities[:, c]) for c in present]), rel=1e-9
    )


def test_sixteen_classes_and_other_thresholds(metric):
    probabilities, references = random_case(6, 250, num_classes=16)
    thresholds = (1, 2, 3, 6)
    results = metric.compute(predictions=probabilities, references=references, thresholds=thresholds)
    assert_results_match(results, reference_metrics(probabilities, references, thresholds))


def test_hand_computed_small_case(metric):
    probabilities = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]]
    references = [0, 1, 2, 2]
    results = metric.compute(predictions=probabilities, references=references, thresholds=(1, 2))
    # Class 2: positives score 0.7 and 0.3, negatives 0.1 and 0.3 -> (1 + 1 + 1 + 0.5) / 4.
    assert results["per_class_auroc"] == pytest.approx([1.0, 1.0, 0.875])
    assert results["macro_auroc"] == pytest.approx((1.0 + 1.0 + 0.875) / 3)
    assert results["accuracy"] == 0.75  # argmax = [0, 1, 2, 1]
    assert results["accuracy_within_1"] == 1.0
    assert results["auroc_at_1"] == 1.0 and results["f1_at_1"] == 1.0
    # t = 2: mass = [0.1, 0.3, 0.7, 0.3] -> decisions [F, F, T, F] vs pain [F, F, T, T].
    assert results["auroc_at_2"] == pytest.approx(0.875)
    assert results["f1_at_2"] == pytest.approx(2 / 3)
    # Expected PSPI = [0.5, 1.1, 1.6, 1.0].
    assert results["mae"] == pytest.approx(0.5, abs=1e-6)
    assert results["pearson"] == pytest.approx(1.05 / math.sqrt(0.61 * 2.75), abs=1e-6)


def test_f1_uses_probability_mass_not_argmax(metric):
    # Row 0: argmax is class 0 but 0.6 of the mass is on classes >= 2 -> predicted pain.
    # Row 1: argmax is class 3 but only 0.45 of the mass is on classes >= 2 -> predicted no pain.
    probabilities = [[0.4, 0.0, 0.3, 0.3], [0.3, 0.25, 0.0, 0.45], [0.9, 0.1, 0.0, 0.0]]
    references = [2, 0, 3]
    results = metric.compute(predictions=probabilities, references=references, thresholds=2)
    # mass rule: decisions [T, F, F] vs pain [T, F, T] -> TP 1, FN 1 -> F1 = 2/3
    # (argmax >= 2 would give decisions [F, T, F] -> F1 = 0).
    assert results["f1_at_2"] == pytest.approx(2 / 3)


def test_streaming_batches_equal_one_call(metric):
    probabilities, references = random_case(7, 120)
    whole = metric.compute(predictions=probabilities, references=references)
    for start in range(0, 120, 50):
        metric.add_batch(predictions=probabilities[start : start + 50], references=references[start : start + 50])
    assert_results_match(metric.compute(), whole)


def test_torch_tensors_accepted(metric):
    torch = pytest.importorskip("torch")
    generator = torch.Generator().manual_seed(0)
    probabilities = torch.randn(64, NUM_PSPI_CLASSES, generator=generator).softmax(dim=-1)
    references = torch.randint(0, NUM_PSPI_CLASSES, (64,), generator=generator)
    results = metric.compute(predictions=probabilities, references=references)
    expected = reference_metrics(probabilities.numpy().astype(np.float32), references.numpy(), (2, 3))
    assert_results_match(results, expected)


# ----------------------------------------------------------------------------------------------
# Degenerate inputs: NaN, never a crash
# ----------------------------------------------------------------------------------------------


def test_all_references_one_class(metric):
    probabilities, _ = random_case(8, 30)
    references = np.full(30, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        results = metric.compute(predictions=probabilities, references=references, thresholds=(2, 3))
    assert math.isnan(results["macro_auroc"])
    assert results["auroc_classes"] == []
    assert all(math.isnan(value) for value in results["per_class_auroc"])
    assert math.isnan(results["auroc_at_2"]) and math.isnan(results["auroc_at_3"])
    assert math.isnan(results["pearson"])
    assert_results_match(results, reference_metrics(probabilities, references, (2, 3)))
    assert 0.0 <= results["f1_at_2"] <= 1.0  # all references are pain, so F1 is defined


def test_threshold_nobody_reaches(metric):
    references = np.array([0, 1, 0, 1])
    # No predicted pain either: F1 undefined (NaN), as with sklearn's zero_division=nan.
    quiet = [[0.9, 0.1, 0.0, 0.0], [0.2, 0.7, 0.1, 0.0], [0.8, 0.2, 0.0, 0.0], [0.3, 0.6, 0.1, 0.0]]
    results = metric.compute(predictions=quiet, references=references, thresholds=3)
    assert math.isnan(results["auroc_at_3"]) and math.isnan(results["f1_at_3"])
    # One false alarm: F1 is 0, not NaN.
    alarm = quiet[:3] + [[0.1, 0.1, 0.1, 0.7]]
    results = metric.compute(predictions=alarm, references=references, thresholds=3)
    assert math.isnan(results["auroc_at_3"]) and results["f1_at_3"] == 0.0


def test_constant_expected_pspi_gives_nan_pearson(metric):
    probabilities = np.tile([0.5, 0.25, 0.25], (5, 1))
    references = [0, 1, 2, 1, 0]
    results = metric.compute(predictions=probabilities, references=references, thresholds=())
    assert math.isnan(results["pearson"])
    assert results["mae"] == pytest.approx(np.mean(np.abs(0.75 - np.array(references))))
    assert results["per_class_auroc"] == [0.5, 0.5, 0.5]  # all scores tie
    assert not any(key.startswith(("auroc_at_", "f1_at_")) for key in results)


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------

UNIFORM = [[0.25] * 4] * 3


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ([0.2, 0.8], [1, 0], r"2-D \(N, C\).*got a 1-D sequence of scalars"),
        ([[[0.5, 0.5]]], [0], r"2-D \(N, C\).*got shape \(1, 1, 2\)"),
        (UNIFORM, [0, 1], r"predictions has 3 rows but references has 2 entries"),
        (UNIFORM, [[0], [1], [2]], r"1-D sequence of N class indices; got shape \(3, 1\)"),
        ([[0.5, 0.5], [1.0], [0.2, 0.8]], [0, 0, 1], r"2-D \(N, C\).*rows of different lengths \[1, 2\]"),
        ([[1.0]], [0], r"C >= 2 classes.*got C = 1"),
        ([[1.2, -0.2, 0.0, 0.0]], [0], r"probabilities.*negative value -0\.2 in row 0.*softmax"),
        ([[2.0, 1.0, 0.5, 0.1]], [0], r"sum to 1 within 0\.001; row 0 sums to 3\.6.*softmax"),
        ([[0.25, 0.25, 0.25, 0.2485]], [0], r"row 0 sums to 0\.9985"),
        ([[0.5, float("nan"), 0.5, 0.0]], [0], r"finite.*row 0"),
        (UNIFORM, [0, 4, 1], r"class indices in 0\.\.3 \(C = 4.*got 4 at position 1"),
        (UNIFORM, [0, -1, 1], r"class indices in 0\.\.3.*got -1 at position 1"),
        (UNIFORM, [0, 1.5, 1], r"integer class indices.*got 1\.5 at position 1"),
        ([], [], r"predictions is empty"),
        (UNIFORM, None, r"must both be given; got references=None"),
        (None, [0, 1, 2], r"must both be given; got predictions=None"),
    ],
)
def test_invalid_inputs_raise_clear_errors(metric, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=predictions, references=references, thresholds=())


def test_row_sum_tolerance_accepts_rounding(metric):
    results = metric.compute(predictions=[[0.5, 0.4995], [0.1, 0.9004]], references=[0, 1], thresholds=1)
    assert results["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [(0, r"1\.\.3.*got 0"), ((2, 4), r"1\.\.3.*got 4"), ((2.5,), r"integers.*2\.5"), ((True,), r"integers")],
)
def test_invalid_thresholds(metric, thresholds, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=UNIFORM, references=[0, 1, 2], thresholds=thresholds)


def test_threshold_forms(metric):
    results = metric.compute(predictions=UNIFORM, references=[0, 1, 3], thresholds=[np.int64(3), 1, 3])
    assert [key for key in results if key.startswith("auroc_at_")] == ["auroc_at_3", "auroc_at_1"]
    default = metric.compute(predictions=UNIFORM, references=[0, 1, 3])
    assert {"auroc_at_2", "f1_at_2", "auroc_at_3", "f1_at_3"} <= set(default)


def test_errors_leave_no_cache_files_and_metric_usable(tmp_path):
    # Errors are raised before evaluate opens its cache file, so nothing stays locked on disk.
    fresh = evaluate.load(str(METRIC_DIR), cache_dir=str(tmp_path))
    bad_calls = [
        dict(predictions=[[2.0, -1.0, 0.0, 0.0]], references=[0]),
        dict(predictions=UNIFORM, references=[0, 1, 7]),
        dict(predictions=UNIFORM, references=[0, 1, 2], thresholds=5),
        dict(predictions=UNIFORM, references=[0, 1, 2], threshold=2),
    ]
    for call in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            fresh.compute(**call)
    assert not [path for path in tmp_path.rglob("*") if path.suffix in (".arrow", ".lock")]
    probabilities, references = random_case(10, 50)
    assert_results_match(
        fresh.compute(predictions=probabilities, references=references),
        reference_metrics(probabilities, references, (2, 3)),
    )


def test_bad_batch_is_rejected_and_earlier_batches_kept(metric):
    probabilities, references = random_case(11, 80)
    metric.add_batch(predictions=probabilities[:40], references=references[:40])
    with pytest.raises(ValueError, match=r"this batch has C = 4 classes per row but earlier batches had C = 17"):
        metric.add_batch(predictions=UNIFORM, references=[0, 1, 2])
    with pytest.raises(ValueError, match=r"sums to"):
        metric.add_batch(predictions=probabilities[40:] * 2, references=references[40:])
    with pytest.raises(ValueError, match=r"1\.\.16.*got 17"):
        metric.compute(thresholds=17)
    for row, reference in zip(probabilities[40:], references[40:]):
        metric.add(prediction=row, reference=reference)
    assert_results_match(metric.compute(), reference_metrics(probabilities, references, (2, 3)))


def test_unknown_keyword_is_rejected(metric):
    with pytest.raises(TypeError, match=r"\['threshold'\].*thresholds"):
        metric.compute(predictions=UNIFORM, references=[0, 1, 2], threshold=2)


def test_validation_of_arrays_passed_directly(module_source):
    with pytest.raises(ValueError, match=r"2-D.*got shape \(2, 3, 4\)"):
        module_source._validate_inputs(np.full((2, 3, 4), 0.25), [0, 1])
    with pytest.raises(ValueError, match=r"1-D sequence of scalars"):
        module_source._validate_inputs([0.5, 0.5], [0, 1])


# ----------------------------------------------------------------------------------------------
# Per-group metrics, gaps and the bootstrap by identity
# ----------------------------------------------------------------------------------------------

GROUP_METRICS = ("macro_auroc", "accuracy", "accuracy_within_1", "accuracy_within_2", "auroc_at_2", "f1_at_2",
                 "auroc_at_3", "f1_at_3", "mae", "pearson")


def grouped_case(seed=12, people=30, frames=6):
    """Identities with `frames` samples each, in three groups of unequal size and skill."""
    rng = np.random.default_rng(seed)
    probabilities, references = random_case(seed, people * frames)
    identities = np.repeat([f"p{i:02d}" for i in range(people)], frames)
    groups = np.array(["Black", "Latino", "White"])[np.repeat(rng.integers(0, 3, people), frames)]
    noisy = groups == "White"  # one group gets blurred probabilities: a real gap to find
    probabilities[noisy] = 0.3 * probabilities[noisy] + 0.7 / NUM_PSPI_CLASSES
    # as the metric's float32 feature stores them
    return probabilities.astype(np.float32).astype(np.float64), references, groups, identities


def test_per_group_metrics_match_sklearn_by_hand(metric):
    probabilities, references, groups, _ = grouped_case()
    results = metric.compute(predictions=probabilities, references=references, groups=groups.tolist())
    assert_results_match({k: v for k, v in results.items() if k not in ("per_group", "group_gap")},
                         reference_metrics(probabilities, references, (2, 3)))
    assert sorted(results["per_group"]) == ["Black", "Latino", "White"]
    for name, values in results["per_group"].items():
        rows = groups == name
        assert values["n"] == rows.sum()
        assert_results_match({k: v for k, v in values.items() if k != "n"},
                             reference_metrics(probabilities[rows], references[rows], (2, 3)))
    for key in GROUP_METRICS:
        by_group = {g: results["per_group"][g][key] for g in results["per_group"]}
        gap = results["group_gap"][key]
        assert gap["gap"] == pytest.approx(max(by_group.values()) - min(by_group.values()), rel=1e-12)
        assert by_group[gap["highest"]] == max(by_group.values()) and by_group[gap["lowest"]] == min(by_group.values())
        assert gap["groups"] == 3
    assert results["group_gap"]["macro_auroc"]["lowest"] == "White"  # the blurred group


def test_group_gap_skips_undefined_groups(metric):
    """A group with one class has no AUROC; a group of one sample has accuracy 0 or 1 and no Pearson."""
    probabilities, references = random_case(13, 40)
    references[:5] = 4  # group "one class": five samples, all PSPI 4
    groups = ["one class"] * 5 + ["single"] + ["many"] * 34
    results = metric.compute(predictions=probabilities, references=references, groups=groups)
    one, single = results["per_group"]["one class"], results["per_group"]["single"]
    assert math.isnan(one["macro_auroc"]) and one["auroc_classes"] == []
    assert math.isnan(single["macro_auroc"]) and math.isnan(single["pearson"]) and single["n"] == 1
    assert single["accuracy"] == float(probabilities[5].argmax() == references[5])
    many = results["per_group"]["many"]
    gap = results["group_gap"]["macro_auroc"]
    assert math.isnan(gap["gap"]) and gap["highest"] is None and gap["groups"] == 1
    accuracy = [one["accuracy"], single["accuracy"], many["accuracy"]]
    assert results["group_gap"]["accuracy"]["gap"] == pytest.approx(max(accuracy) - min(accuracy))
    assert results["group_gap"]["accuracy"]["groups"] == 3
    assert results["group_gap"]["pearson"]["groups"] == 1  # constant references (one class, one sample): no r


def test_bootstrap_interval_by_identity_matches_a_naive_resample(metric):
    """The same identity draws, done naively: repeat each drawn identity's rows and score every group
    with scikit-learn."""
    probabilities, references, groups, identities = grouped_case(people=24, frames=5)
    n = 40
    results = metric.compute(predictions=probabilities, references=references, groups=groups.tolist(),
                             identities=identities.tolist(), n_resamples=n, bootstrap_seed=3, thresholds=())
    people, person = np.unique(identities, return_inverse=True)
    counts = np.random.default_rng(3).multinomial(len(people), np.full(len(people), 1 / len(people)), size=n)
    gaps, per_group = [], {g: [] for g in sorted(set(groups))}
    for r in range(n):
        rows = np.repeat(np.arange(len(references)), counts[r][person])
        values = {g: reference_metrics(probabilities[rows][groups[rows] == g], references[rows][groups[rows] == g], ())
                  ["macro_auroc"] for g in per_group}
        for g, v in values.items():
            per_group[g].append(v)
        defined = [v for v in values.values() if not math.isnan(v)]
        gaps.append(max(defined) - min(defined) if len(defined) > 1 else math.nan)
    assert results["macro_auroc_gap_ci"] == pytest.approx(list(np.nanpercentile(gaps, [2.5, 97.5])), rel=1e-9)
    for g, values in per_group.items():
        assert results["per_group"][g]["macro_auroc_ci"] == pytest.approx(list(np.nanpercentile(values, [2.5, 97.5])), rel=1e-9)
        assert results["per_group"][g]["identities"] == len(set(identities[groups == g]))
    low, high = results["macro_auroc_gap_ci"]
    assert 0 < low < high < 1


def test_groups_with_streamed_batches(metric):
    probabilities, references, groups, identities = grouped_case()
    whole = metric.compute(predictions=probabilities, references=references, groups=groups.tolist())
    for start in range(0, len(references), 70):
        metric.add_batch(predictions=probabilities[start:start + 70], references=references[start:start + 70])
    streamed = metric.compute(groups=groups.tolist())
    for g in whole["per_group"]:
        assert_results_match(streamed["per_group"][g], whole["per_group"][g])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(groups=["a", "b"]), r"groups has 2 entries but there are 3 predictions"),
        (dict(groups="abc"), r"groups must be a list of N = 3 labels"),
        (dict(identities=["p", "q", "r"]), r"pass groups too"),
        (dict(groups=["a", "a", "b"], identities=["p", "q"]), r"identities has 2 entries"),
        (dict(groups=["a", "a", "b"], identities=["p", "q", "r"], n_resamples=0), r"n_resamples must be an integer >= 1"),
    ],
)
def test_group_inputs_are_checked(metric, options, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(predictions=UNIFORM, references=[0, 1, 2], thresholds=(), **options)


def test_weighted_macro_auroc_equals_repeated_rows(module_source):
    probabilities, references = random_case(14, 60)
    weights = np.random.default_rng(0).integers(0, 3, size=(5, 60))
    got = module_source.weighted_macro_auroc(probabilities, references, weights)
    for r in range(5):
        rows = np.repeat(np.arange(60), weights[r])
        assert got[r] == pytest.approx(reference_metrics(probabilities[rows], references[rows], ())["macro_auroc"], rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Loading and documentation
# ----------------------------------------------------------------------------------------------


def test_loads_by_relative_path_absolute_path_and_helper(monkeypatch, tmp_path):
    probabilities, references = random_case(9, 60)
    monkeypatch.chdir(REPO_ROOT)
    relative = evaluate.load("evaluate_metrics/pain_metrics")
    monkeypatch.chdir(tmp_path)
    absolute = evaluate.load(str(METRIC_DIR))
    helper = load_pain_metrics()
    assert PAIN_METRICS_PATH == METRIC_DIR
    assert relative.name == absolute.name == helper.name == "pain_metrics"
    assert set(helper.features) == {"predictions", "references"}
    outputs = [m.compute(predictions=probabilities, references=references) for m in (relative, absolute, helper)]
    assert outputs[0].keys() == outputs[1].keys() == outputs[2].keys()
    assert_results_match(outputs[1], outputs[0])
    assert_results_match(outputs[2], outputs[0])


def run_doctests(text, name, globs):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, globs, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    runner.run(test, out=report.append)
    return runner.summarize(verbose=False), "".join(report)


def test_docstring_examples_run(module_source, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    (failed, attempted), report = run_doctests(module_source._KWARGS_DESCRIPTION, "_KWARGS_DESCRIPTION", {})
    assert attempted >= 10
    assert failed == 0, report


def test_metric_card_examples_run(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    card = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    (failed, attempted), report = run_doctests(card, "README.md", {})
    assert attempted >= 6
    assert failed == 0, report


def test_metric_card_header_and_sections():
    card = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    header = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert header
    for field in ("title:", "emoji:", "sdk: gradio", "app_file: app.py", "pinned: false", "tags:"):
        assert field in header.group(1)
    for section in ("Metric Description", "How to Use", "Inputs", "Output Values", "Examples",
                    "Limitations and Bias", "Citation"):
        assert re.search(rf"^#+ {section}$", card, re.M), section
    requirements = (METRIC_DIR / "requirements.txt").read_text().split()
    assert any(line.startswith("evaluate") for line in requirements) and "scipy" in requirements


def test_doctest_runner_catches_a_wrong_example():
    # Guards the doctest tests above: a wrong expected output must be reported as a failure.
    (failed, attempted), _ = run_doctests(">>> print(1 + 1)\n3\n", "wrong", {})
    assert (failed, attempted) == (1, 1)
