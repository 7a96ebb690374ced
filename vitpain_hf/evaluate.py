"""Evaluation report of a ViTPain model on one split of a dataset: numbers and pictures.

    python -m vitpain_hf.evaluate --model runs/student/best --dataset 3dpain [--split test] [--out DIR] [--card]
    python -m vitpain_hf.evaluate --model M --dataset imported-3dpain          # `pain3d import-3dpain` output
    python -m vitpain_hf.evaluate --model M --dataset /data/UNBC --fold 2       # a UNBC-McMaster fold's test

DIR receives metrics.json (every metric of evaluate_metrics/pain_metrics, binary pain at PSPI >= 2,
3 and 4, the expected calibration error, and per ethnicity, gender, age group, facial hair and
view: every metric, the largest between-group gap and bootstrap 95% intervals resampled by
identity) and one picture per aspect: roc.png (pain at PSPI >= 2, 3, 4), confusion.png (17 x 17),
reliability.png (with the ECE) and groups.png (per-group macro AUROC with intervals). ``--card``
appends the results to the model's card. Scores come from ``model.predict``, the call ``pain3d assess`` makes,
and the trainer writes this report for its best model's test split.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ATTRIBUTES = ("ethnicity", "gender", "age_group", "facial_hair", "view")  # the per-group aspects, when the data has them
PAIN_THRESHOLDS = (2, 3, 4)  # binary pain (PSPI >= t): ROC curves and auroc_at_t / f1_at_t
RELIABILITY_BINS = 10
N_RESAMPLES = 1000
PICTURES = ("roc.png", "confusion.png", "reliability.png", "groups.png")


class EvaluationError(ValueError):
    """The model or data cannot be evaluated as asked (a one-line CLI error)."""


@dataclass
class Predictions:
    """A model's PSPI probabilities on a split, with what each sample is."""

    probabilities: np.ndarray  # (N, C) float64
    references: np.ndarray  # (N,) int64 PSPI
    identities: list[str]
    groups: dict[str, list[str]] = field(default_factory=dict)  # attribute -> label per sample


# --- data ---------------------------------------------------------------------------------------
def is_unbc(path: str | Path) -> bool:
    """A UNBC-McMaster archive copy (``Images/`` and ``Frame_Labels/``), not a Hub-layout dataset."""
    p = Path(path)
    return (p / "Images").is_dir() and (p / "Frame_Labels").is_dir()


def load_split(dataset: str, split: str = "test", fold: int | None = None, config: str | None = None):
    """One split ("all": every split) of a Hub-layout folder or Hub id (generated, or an imported
    3D-Pain release), or of a UNBC-McMaster fold (``fold`` 0-4: ``test`` is that fold's subjects,
    ``train`` the rest)."""
    if is_unbc(dataset):
        from pain3d_dataset.importers import load_unbc

        if fold is None:
            raise EvaluationError(f"{dataset} is a UNBC-McMaster archive: pass --fold K (0-4) to pick the test subjects")
        parts = load_unbc(dataset, fold=fold)
    else:
        if fold is not None:
            raise EvaluationError(f"--fold is for UNBC-McMaster archives; {dataset} is not one (no Images/ and Frame_Labels/)")
        from datasets import load_dataset

        try:
            parts = load_dataset(dataset, config)
        except FileNotFoundError as e:
            raise EvaluationError(f"cannot load --dataset {dataset}: {str(e).splitlines()[0]}") from None
    if split == "all":  # e.g. a held-out set of new identities, every split of it
        from datasets import concatenate_datasets

        return concatenate_datasets([parts[s] for s in parts])
    if split not in parts:
        raise EvaluationError(f"{dataset} has no {split!r} split (it has {', '.join(sorted(parts))}); pick one with --split")
    return parts[split]


def group_labels(ds) -> dict[str, list[str]]:
    """attribute -> label per row, for the ATTRIBUTES the data has in two or more groups (ClassLabel
    columns; -1, unknown, is labelled "unknown")."""
    out = {}
    for name in ATTRIBUTES:
        feature = ds.features.get(name)
        if feature is None or not hasattr(feature, "int2str"):
            continue
        values = ds[name]
        if len(set(values)) < 2:
            continue  # no groups to compare: one view, or no demographics (an imported 3D-Pain release)
        out[name] = [feature.int2str(v) if v >= 0 else "unknown" for v in values]
    return out


def predict_split(model, ds, processor=None, batch_size: int = 64, progress: bool = True) -> Predictions:
    """PSPI probabilities of ``model`` on every row of ``ds``, through ``model.predict`` (the image
    column of its modality, the neutral frame as reference when the model uses one)."""
    from tqdm.auto import tqdm

    column = "heatmap" if model.config.modality == "heatmap" else "image"
    if column not in ds.column_names:
        raise EvaluationError(f"the model reads the {column!r} column, which this dataset lacks (it has {', '.join(ds.column_names)})")
    reference = "neutral_image" if getattr(model.config, "use_reference", False) else None
    if reference is not None and reference not in ds.column_names:
        raise EvaluationError("the model needs a neutral reference frame per image; this dataset has no neutral_image column")
    images = ds.select_columns([column] + ([reference] if reference else []))
    probabilities = []
    for start in tqdm(range(0, len(ds), batch_size), desc="predicting", unit="batch", disable=not progress):
        rows = images[start : start + batch_size]
        refs = rows[reference] if reference else None
        out = model.predict(list(rows[column]), processor=processor, reference_images=refs, batch_size=batch_size)
        probabilities += [r["pspi_probs"] for r in out]
    return Predictions(
        probabilities=np.asarray(probabilities, dtype=np.float64).reshape(len(ds), -1),
        references=np.asarray(ds["pspi"], dtype=np.int64),
        identities=[str(i) for i in ds["identity"]],
        groups=group_labels(ds),
    )


# --- numbers ------------------------------------------------------------------------------------
def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) of ``scores`` for boolean ``labels``, one point
    per distinct score from the highest down, starting at (0, 0)."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    score, positive = np.asarray(scores, dtype=np.float64)[order], labels[order]
    last = np.r_[np.flatnonzero(score[1:] != score[:-1]), len(score) - 1]  # end of each tie group
    tp, fp = np.cumsum(positive)[last], np.cumsum(~positive)[last]
    return np.r_[0.0, fp / max(1, (~labels).sum())], np.r_[0.0, tp / max(1, labels.sum())]


def confusion(references, predicted, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = reference PSPI, column = predicted (argmax) PSPI."""
    return np.bincount(np.asarray(references) * num_classes + np.asarray(predicted), minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def reliability(probabilities, references, bins: int = RELIABILITY_BINS) -> dict:
    """Confidence (the argmax probability) against accuracy in ``bins`` equal-width bins of
    confidence, and the expected calibration error: sum over bins of (share of samples) x
    |accuracy - mean confidence|."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == np.asarray(references)
    index = np.minimum((confidence * bins).astype(int), bins - 1)  # bin k holds [k/bins, (k+1)/bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(index, confidence, bins) / count
        accuracy = np.bincount(index, correct, bins) / count
    gaps = np.where(count > 0, np.abs(accuracy - mean_confidence), 0.0)
    return {"ece": float((count * gaps).sum() / len(confidence)), "edges": np.linspace(0, 1, bins + 1).tolist(),
            "count": count.tolist(), "confidence": mean_confidence.tolist(), "accuracy": accuracy.tolist()}


def score(pred: Predictions, metric=None, n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """Every number of the report: overall metrics, calibration, and per attribute the metric's
    per-group values, gaps and bootstrap intervals (identities resampled)."""
    if metric is None:
        from evaluate_metrics import load_pain_metrics

        metric = load_pain_metrics(keep_in_memory=True)
    num_classes = pred.probabilities.shape[1]
    thresholds = tuple(t for t in PAIN_THRESHOLDS if t < num_classes)
    probabilities, references = pred.probabilities.tolist(), pred.references.tolist()
    report = {
        "samples": len(references),
        "identities": len(set(pred.identities)),
        "metrics": metric.compute(predictions=probabilities, references=references, thresholds=thresholds),
        "calibration": reliability(pred.probabilities, pred.references),
        "groups": {},
    }
    for name, labels in pred.groups.items():
        res = metric.compute(predictions=probabilities, references=references, thresholds=thresholds, groups=labels,
                             identities=pred.identities, n_resamples=n_resamples, bootstrap_seed=seed)
        report["groups"][name] = {k: res[k] for k in ("per_group", "group_gap", "macro_auroc_gap_ci")}
    return report


def json_safe(value):
    """NaN and infinities as null, numpy scalars as Python numbers: strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- pictures -----------------------------------------------------------------------------------
def roc_png(pred: Predictions, report: dict) -> bytes:
    from generation.figure import new_figure, png_bytes

    fig = new_figure(4.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for t in PAIN_THRESHOLDS:
        if t >= pred.probabilities.shape[1]:
            continue
        labels = pred.references >= t
        auc = report["metrics"].get(f"auroc_at_{t}", math.nan)
        if labels.all() or not labels.any():
            ax.plot([], [], label=f"PSPI ≥ {t}: one class only, no curve")
            continue
        fpr, tpr = roc_points(labels, pred.probabilities[:, t:].sum(1))
        ax.plot(fpr, tpr, label=f"PSPI ≥ {t}: AUROC {auc:.3f} ({labels.sum()} pain / {(~labels).sum()} not)")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("Pain detection: score = probability of PSPI ≥ t", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return png_bytes(fig)


def confusion_png(pred: Predictions) -> bytes:
    from generation.figure import new_figure, png_bytes

    c = pred.probabilities.shape[1]
    counts = confusion(pred.references, pred.probabilities.argmax(1), c)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig = new_figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, j in zip(*np.nonzero(counts)):
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6, color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.tick_params(labelsize=7)
    ax.set(xlabel="predicted PSPI (argmax)", ylabel="reference PSPI")
    ax.set_title(f"Confusion matrix ({len(pred.references)} frames; colour: share of the row, text: count)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return png_bytes(fig)


def reliability_png(report: dict) -> bytes:
    from generation.figure import new_figure, png_bytes

    cal = report["calibration"]
    edges, count = np.asarray(cal["edges"]), np.asarray(cal["count"])
    width = edges[1] - edges[0]
    fig = new_figure(4.6, 4.6)
    ax = fig.add_subplot(4, 1, (1, 3))
    acc = np.nan_to_num(np.asarray(cal["accuracy"], dtype=np.float64))
    ax.bar(edges[:-1], acc, width=width, align="edge", edgecolor="white", label="accuracy in the bin")
    conf = np.asarray(cal["confidence"], dtype=np.float64)
    ax.plot(conf, conf, "o", color="C1", markersize=3, label="mean confidence in the bin")
    ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1)
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"Reliability of the argmax PSPI: ECE {cal['ece']:.3f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.tick_params(labelbottom=False)
    hist = fig.add_subplot(4, 1, 4, sharex=ax)
    hist.bar(edges[:-1], count, width=width, align="edge", color="0.6", edgecolor="white")
    hist.set(xlabel="confidence (largest class probability)", ylabel="frames")
    fig.tight_layout()
    return png_bytes(fig)


def groups_png(report: dict) -> bytes | None:
    """Per-group macro AUROC with bootstrap 95% intervals, one panel per attribute; None without groups."""
    from generation.figure import new_figure, png_bytes

    attributes = list(report["groups"])
    if not attributes:
        return None
    sizes = [len(report["groups"][a]["per_group"]) for a in attributes]
    fig = new_figure(max(6.0, 0.55 * sum(sizes) + 1.2 * len(attributes)), 3.6)
    grid = fig.add_gridspec(1, sum(sizes) + len(attributes))
    overall = report["metrics"]["macro_auroc"]
    col, axes = 0, []
    for attribute, size in zip(attributes, sizes):
        data = report["groups"][attribute]
        ax = fig.add_subplot(grid[0, col : col + size + 1], sharey=axes[0] if axes else None)
        axes.append(ax)
        col += size + 1
        names = list(data["per_group"])
        values = np.array([data["per_group"][g]["macro_auroc"] for g in names], dtype=np.float64)
        ci = np.array([data["per_group"][g].get("macro_auroc_ci", [math.nan, math.nan]) for g in names], dtype=np.float64)
        low, high = np.clip(values - ci[:, 0], 0, None), np.clip(ci[:, 1] - values, 0, None)
        ax.bar(range(len(names)), np.nan_to_num(values), yerr=np.nan_to_num(np.stack([low, high])), capsize=3,
               color=[f"C{k % 10}" for k in range(len(names))])
        ax.axhline(overall, color="0.3", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([f"{n.replace(' ', chr(10))}\n({data['per_group'][n].get('identities', data['per_group'][n]['n'])})"
                            for n in names], fontsize=7)
        gap, gap_ci = data["group_gap"]["macro_auroc"]["gap"], data.get("macro_auroc_gap_ci") or [math.nan, math.nan]
        ax.set_title(f"{attribute.replace('_', ' ')}: gap {gap:.3f}\n(95% CI {gap_ci[0]:.3f}-{gap_ci[1]:.3f})", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    defined = [v for a in attributes for g in report["groups"][a]["per_group"].values()
               for v in [g["macro_auroc"], *g.get("macro_auroc_ci", [])] if v is not None and not math.isnan(v)]
    bottom = min(defined + [overall]) if defined else 0.5
    axes[0].set_ylim(max(0.0, bottom - 0.05), 1.0)
    axes[0].set_ylabel("macro AUROC (bars: 95% CI by identity)")
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    fig.suptitle("Macro AUROC per group (identities in brackets; dashed: all frames)", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)


def claim_report_folder(out: Path, overwrite: bool = False) -> None:
    """Make ``out`` the report's folder through generation.outdir (the one place that decides what
    pain3d may write over): a folder that is not pain3d's is refused, an earlier report needs
    ``overwrite``. Call it before the expensive work."""
    from generation.outdir import OutputDirError, prepare

    try:
        prepare(out, "evaluation", overwrite=overwrite)
    except OutputDirError as e:
        raise EvaluationError(str(e).replace("--resume to finish an interrupted run, ", "")) from None


def write_report(report: dict, pred: Predictions, out: Path) -> list[str]:
    """metrics.json and the pictures into ``out`` (claimed by ``claim_report_folder``); returns
    the file names written."""
    from generation.layout import write_atomic

    pictures = {"roc.png": roc_png(pred, report), "confusion.png": confusion_png(pred),
                "reliability.png": reliability_png(report), "groups.png": groups_png(report)}
    written = []
    for name, data in pictures.items():
        if data is not None:
            write_atomic(out / name, data)
            written.append(name)
    report["pictures"] = written
    write_atomic(out / "metrics.json", (json.dumps(json_safe(report), indent=2) + "\n").encode())
    return ["metrics.json", *written]


# --- the model card -----------------------------------------------------------------------------
_CARD_METRICS = {"macro_auroc": "Macro AUROC", "accuracy": "Accuracy", "accuracy_within_1": "±1", "accuracy_within_2": "±2",
                 "auroc_at_2": "AUROC PSPI≥2", "auroc_at_3": "AUROC PSPI≥3", "mae": "MAE"}


def _num(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def card_section(report: dict) -> str:
    """Markdown of the report for a model card, between markers naming dataset and split (so a
    later report of the same pair replaces it)."""
    key = f"{report['dataset']} {report['split']}"
    m = report["metrics"]
    lines = [f"<!-- pain3d-evaluation: {key} -->", f"## Evaluation: `{report['dataset']}`, {report['split']} split", "",
             f"{report['samples']} frames of {report['identities']} identities, scored by `python -m vitpain_hf.evaluate`.", "",
             "| " + " | ".join(_CARD_METRICS.values()) + " | ECE |", "|" + "---:|" * (len(_CARD_METRICS) + 1),
             "| " + " | ".join(_num(m.get(k)) for k in _CARD_METRICS) + f" | {_num(report['calibration']['ece'])} |"]
    for attribute, data in report["groups"].items():
        names = list(data["per_group"])
        gap = data["group_gap"]["macro_auroc"]
        ci = data.get("macro_auroc_gap_ci") or [math.nan, math.nan]
        lines += ["", f"Macro AUROC by {attribute.replace('_', ' ')} (largest gap {_num(gap['gap'])}, 95% CI "
                  f"{_num(ci[0])}-{_num(ci[1])}, resampled by identity):", "",
                  "| " + " | ".join(names) + " |", "|" + "---:|" * len(names),
                  "| " + " | ".join(_num(data["per_group"][n]["macro_auroc"]) for n in names) + " |"]
    lines.append("<!-- /pain3d-evaluation -->")
    return "\n".join(lines) + "\n"


def append_to_card(model_dir: Path, report: dict) -> Path:
    """Adds (or replaces) the report's section in ``model_dir/README.md``, atomically; nothing
    else in the card changes."""
    from generation.layout import write_atomic

    path = Path(model_dir) / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else f"# {Path(model_dir).name}\n"
    section = card_section(report)
    marker = section.splitlines()[0]
    block = re.compile(re.escape(marker) + r"\n.*?<!-- /pain3d-evaluation -->\n", re.S)
    text = block.sub(lambda _: section, text) if block.search(text) else text.rstrip("\n") + "\n\n" + section
    write_atomic(path, text.encode("utf-8"))
    return path


# --- the whole report ---------------------------------------------------------------------------
def evaluate_model(model: str | Path, dataset: str, split: str = "test", out: Path | None = None, *, fold: int | None = None,
                   config: str | None = None, card: bool = False, overwrite: bool = False, batch_size: int = 64,
                   n_resamples: int = N_RESAMPLES, seed: int = 0, progress: bool = True) -> dict:
    """Loads ``model`` (a saved ViTPain folder or Hub id) and the split, scores it, and writes the
    report to ``out`` (if given) and the card (if ``card``); returns the report."""
    import vitpain_hf  # noqa: F401 - registers the model with the Auto classes
    from transformers import AutoModel

    ds = load_split(dataset, split, fold, config)
    if card and not Path(model).is_dir():
        raise EvaluationError(f"--card writes into the model's folder; {model} is not a local folder")
    if out is not None:
        claim_report_folder(Path(out), overwrite)
    try:
        net = AutoModel.from_pretrained(str(model)).eval()
    except OSError as e:
        raise EvaluationError(f"cannot load --model {model}: {str(e).splitlines()[0]}") from None
    pred = predict_split(net, ds, batch_size=batch_size, progress=progress)
    report = {"model": str(model), "dataset": str(dataset), "split": split if fold is None else f"{split} (fold {fold})",
              **score(pred, n_resamples=n_resamples, seed=seed)}
    if out is not None:
        write_report(report, pred, Path(out))
    if card:
        append_to_card(Path(model), report)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vitpain_hf.evaluate", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="saved ViTPain folder (e.g. runs/student/best) or Hub id")
    p.add_argument("--dataset", required=True, help="Hub-layout folder or Hub id (generated or imported), or a UNBC-McMaster archive")
    p.add_argument("--split", default="test", help="split to score; all: every split (a held-out set of new identities)")
    p.add_argument("--fold", type=int, default=None, help="UNBC-McMaster only: the fold (0-4) whose subjects are the test split")
    p.add_argument("--config", default=None, help="dataset config (default: the dataset's default, frames)")
    p.add_argument("--out", default=None, help="report folder (default: evaluation-<dataset name>-<split>)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier report in --out")
    p.add_argument("--card", action="store_true", help="append the results to the model's card (README.md)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--resamples", type=int, default=N_RESAMPLES, help="bootstrap resamples of identities")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = p.parse_args(argv)
    if args.batch_size < 1 or args.resamples < 1:
        p.error("--batch-size and --resamples must be at least 1")
    if args.fold is not None and not 0 <= args.fold <= 4:
        p.error(f"--fold must be 0-4, got {args.fold}")
    if args.out is None:
        args.out = f"evaluation-{Path(str(args.dataset).rstrip('/')).name}-{args.split}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate_model(args.model, args.dataset, args.split, Path(args.out), fold=args.fold, config=args.config,
                                card=args.card, overwrite=args.overwrite, batch_size=args.batch_size,
                                n_resamples=args.resamples, seed=args.seed)
    except EvaluationError as e:
        print(f"vitpain_hf.evaluate: error: {e}", file=sys.stderr)
        return 2
    m = report["metrics"]
    print(f"{report['samples']} frames, {report['identities']} identities: macro AUROC {_num(m['macro_auroc'])}, "
          f"accuracy {_num(m['accuracy'])}, ECE {_num(report['calibration']['ece'])}")
    for attribute, data in report["groups"].items():
        gap, ci = data["group_gap"]["macro_auroc"], data["macro_auroc_gap_ci"]
        print(f"  {attribute}: macro AUROC gap {_num(gap['gap'])} ({gap['lowest']} to {gap['highest']}; 95% CI "
              f"{_num(ci[0])}-{_num(ci[1])})")
    print(f"wrote {args.out}/: metrics.json, {', '.join(report['pictures'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
