"""The evaluation report (vitpain_hf/evaluate.py): its numbers against scikit-learn and hand
computations, and the report on a generated dataset, an imported 3D-Pain release and a UNBC fold.

The model is an untrained tiny ViTPain at 32 px (its scores are near chance; the report's job is
to compute them right, not to be good).
"""

import os

for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")

import json  # noqa: E402
import math  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve  # noqa: E402

from evaluate_metrics import load_pain_metrics  # noqa: E402
from pain3d.cli import main as pain3d  # noqa: E402
from helpers import tree  # noqa: E402
from test_importers import build_release, build_unbc  # noqa: E402
from vitpain_hf import ViTPainConfig, ViTPainModel, make_image_processor  # noqa: E402
from vitpain_hf import evaluate as report_module  # noqa: E402
from vitpain_hf.evaluate import (  # noqa: E402
    EvaluationError,
    confusion,
    evaluate_model,
    json_safe,
    main,
    reliability,
    roc_points,
)

PNG = b"\x89PNG\r\n\x1a\n"


def assert_one_error_line(err: str) -> None:
    """One line naming the problem (progress bars of loading, if any, come before it)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]
    assert len(lines) == 1 and lines[0].startswith("vitpain_hf.evaluate: error: "), err


# --- the numbers --------------------------------------------------------------------------------
def test_roc_points_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.4
    scores = np.round(rng.random(300) + 0.3 * labels, 2)  # ties included
    fpr, tpr = roc_points(labels, scores)
    want_fpr, want_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, want_fpr)
    np.testing.assert_allclose(tpr, want_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(labels, scores))


def test_confusion_matches_sklearn():
    rng = np.random.default_rng(1)
    refs, predicted = rng.integers(0, 17, 500), rng.integers(0, 17, 500)
    np.testing.assert_array_equal(confusion(refs, predicted, 17), confusion_matrix(refs, predicted, labels=range(17)))


def test_reliability_by_hand():
    # confidences 0.95, 0.9, 0.55, 0.52, 0.35 in bins 9, 9, 5, 5, 3; correct: yes, no, yes, yes, no
    probabilities = [[0.95, 0.05, 0], [0.9, 0.1, 0], [0.45, 0.55, 0], [0.52, 0.48, 0], [0.35, 0.33, 0.32]]
    references = [0, 1, 1, 0, 2]
    cal = reliability(probabilities, references, bins=10)
    assert cal["count"] == [0, 0, 0, 1, 0, 2, 0, 0, 0, 2]
    # bin 9: |1/2 - 0.925| = 0.425; bin 5: |1 - 0.535| = 0.465; bin 3: |0 - 0.35| = 0.35
    assert cal["ece"] == pytest.approx((2 * 0.425 + 2 * 0.465 + 1 * 0.35) / 5)
    assert cal["accuracy"][9] == 0.5 and cal["confidence"][5] == pytest.approx(0.535)
    assert math.isnan(cal["accuracy"][0])


def test_json_safe():
    assert json.loads(json.dumps(json_safe({"a": [math.nan, np.float32(0.5), np.int64(3)], 1: math.inf}))) == {
        "a": [None, 0.5, 3], "1": None}


# --- the report ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def model_dir(workdir) -> Path:
    torch.manual_seed(0)
    model = ViTPainModel(ViTPainConfig.from_preset("tiny", image_size=32))
    model.save_pretrained(workdir / "model")
    make_image_processor(model.config).save_pretrained(workdir / "model")
    (workdir / "model" / "README.md").write_text("# my model\n\nWritten by hand.\n")
    return workdir / "model"


@pytest.fixture(scope="module")
def generated(workdir) -> Path:
    out = workdir / "3dpain"
    assert pain3d(["generate", "--out", str(out), "--identities", "12", "--expressions", "2", "--views", "2",
                   "--size", "48", "--seed", "1", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def generated_report(workdir, model_dir, generated):
    out = workdir / "report"
    code = main(["--model", str(model_dir), "--dataset", str(generated), "--split", "train", "--out", str(out),
                 "--card", "--resamples", "50"])
    assert code == 0
    return out


def direct_probabilities(model_dir: Path, dataset: Path, split: str) -> tuple[np.ndarray, list[int]]:
    """The model's probabilities computed without the report: processor + forward + softmax."""
    from datasets import load_dataset
    from transformers import AutoImageProcessor

    ds = load_dataset(str(dataset))[split]
    model = ViTPainModel.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        pixels = processor(images=list(ds["image"]), return_tensors="pt")["pixel_values"]
        return model(pixel_values=pixels).pspi_logits.softmax(-1).double().numpy(), ds


def test_report_files_and_metrics(generated_report, model_dir, generated):
    assert sorted(p.name for p in generated_report.iterdir()) == [
        ".pain3d", "confusion.png", "groups.png", "metrics.json", "reliability.png", "roc.png"]
    for name in ("confusion.png", "groups.png", "reliability.png", "roc.png"):
        assert (generated_report / name).read_bytes()[:8] == PNG
    report = json.loads((generated_report / "metrics.json").read_text())
    probabilities, ds = direct_probabilities(model_dir, generated, "train")
    metric = load_pain_metrics(keep_in_memory=True)
    want = metric.compute(predictions=probabilities.tolist(), references=ds["pspi"], thresholds=(2, 3, 4))
    assert report["samples"] == len(ds) and report["identities"] == len(set(ds["identity"]))
    for key in ("macro_auroc", "accuracy", "auroc_at_2", "auroc_at_4", "f1_at_3", "mae"):
        assert report["metrics"][key] == pytest.approx(want[key], abs=1e-6), key
    assert report["calibration"]["ece"] == pytest.approx(reliability(probabilities, ds["pspi"])["ece"], abs=1e-6)
    hair = {"facial_hair"} if len(set(ds["facial_hair"])) > 1 else set()  # men with and without facial hair
    assert hair and set(report["groups"]) == {"ethnicity", "gender", "age_group", "view"} | hair
    hair_labels = [ds.features["facial_hair"].int2str(v) for v in ds["facial_hair"]]
    assert {k: v["n"] for k, v in report["groups"]["facial_hair"]["per_group"].items()} == {k: hair_labels.count(k) for k in set(hair_labels)}
    eth = ds.features["ethnicity"]
    labels = np.array([eth.int2str(v) for v in ds["ethnicity"]])
    for name, values in report["groups"]["ethnicity"]["per_group"].items():
        rows = labels == name
        assert values["n"] == rows.sum()
        refs = np.asarray(ds["pspi"])[rows]
        present = [c for c in range(17) if 0 < (refs == c).sum() < len(refs)]
        if present:  # macro AUROC over the classes present in the group, by scikit-learn
            manual = np.mean([roc_auc_score(refs == c, probabilities[rows, c]) for c in present])
            assert values["macro_auroc"] == pytest.approx(manual, abs=1e-6)
        low, high = values["macro_auroc_ci"]
        assert low is None or low <= high
    gap = report["groups"]["view"]["group_gap"]["macro_auroc"]
    views = report["groups"]["view"]["per_group"]
    assert gap["gap"] == pytest.approx(abs(views["yaw+45"]["macro_auroc"] - views["yaw-45"]["macro_auroc"]))
    assert report["pictures"] == ["roc.png", "confusion.png", "reliability.png", "groups.png"]


def test_card_section_added_once_and_replaced(generated_report, model_dir, generated, workdir):
    card = (model_dir / "README.md").read_text()
    assert card.startswith("# my model\n\nWritten by hand.\n")  # the user's text is kept
    assert card.count("<!-- pain3d-evaluation:") == 1 and "Macro AUROC by ethnicity" in card
    evaluate_model(model_dir, str(generated), "train", card=True, n_resamples=20, progress=False)
    evaluate_model(model_dir, str(generated), "validation", card=True, n_resamples=20, progress=False)
    card = (model_dir / "README.md").read_text()
    assert card.count("<!-- pain3d-evaluation:") == 2 and card.count("<!-- /pain3d-evaluation -->") == 2
    assert card.startswith("# my model\n\nWritten by hand.\n")


def test_out_folder_rules(generated_report, model_dir, generated, workdir, capsys):
    before = tree(generated_report)
    args = ["--model", str(model_dir), "--dataset", str(generated), "--split", "test", "--resamples", "10"]
    assert main([*args, "--out", str(generated_report)]) == 2  # ours, but no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert tree(generated_report) == before
    foreign = workdir / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main([*args, "--out", str(foreign), "--overwrite"]) == 2
    assert_one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert main([*args, "--out", str(generated_report), "--overwrite"]) == 0
    assert json.loads((generated_report / "metrics.json").read_text())["split"] == "test"


def test_imported_release(workdir, model_dir):
    from pain3d_dataset.importers import import_3dpain

    out = workdir / "imported"
    import_3dpain(build_release(workdir / "release"), out, progress=False, verbose=False)
    report = evaluate_model(model_dir, str(out), "train", workdir / "imported-report", n_resamples=20, progress=False)
    assert list(report["groups"]) == ["view"]  # the release has no demographics, only views
    assert set(report["groups"]["view"]["per_group"]) == {"view_000", "view_001", "view_002"}
    assert (workdir / "imported-report" / "groups.png").read_bytes()[:8] == PNG


def test_unbc_fold(workdir, model_dir, capsys):
    from pain3d_dataset.importers.unbc import UNBCWarning

    root = build_unbc(workdir / "UNBC")
    with pytest.warns(UNBCWarning, match="3 problem"):  # the fixture's deliberate problems, reported
        report = evaluate_model(model_dir, str(root), "test", workdir / "unbc-report", fold=0, n_resamples=20, progress=False)
    assert report["groups"] == {} and report["split"] == "test (fold 0)"
    assert report["identities"] == 2  # fold 0 of 10 subjects: 2 subjects
    assert sorted(p.name for p in (workdir / "unbc-report").iterdir()) == [
        ".pain3d", "confusion.png", "metrics.json", "reliability.png", "roc.png"]
    with pytest.raises(EvaluationError, match="--fold"):
        report_module.load_split(str(root), "test")
    with pytest.warns(UNBCWarning):
        everything = report_module.load_split(str(root), "all", fold=0)
    with pytest.warns(UNBCWarning):
        assert len(everything) == report["samples"] + len(report_module.load_split(str(root), "train", fold=0))


def test_bad_input_is_one_line(model_dir, generated, workdir, capsys):
    for args in (["--dataset", str(generated), "--split", "nope"], ["--dataset", str(workdir / "missing")],
                 ["--dataset", str(generated), "--fold", "1"]):
        assert main(["--model", str(model_dir), *args, "--out", str(workdir / "never")]) == 2
        assert_one_error_line(capsys.readouterr().err)
    assert not (workdir / "never").exists()
