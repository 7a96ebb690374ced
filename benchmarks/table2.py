"""The paper's Table 2 (ablations) reproduced on generated 3DPain data, on the CPU.

    python benchmarks/table2.py                      # CPU configuration: ~55 min on 2 cores
    python benchmarks/table2.py --seeds 0 1 2 3      # four seeds, mean and spread (~55 min each)
    python benchmarks/table2.py --quick              # smoke run of every step, under a minute
    python benchmarks/table2.py --dataset DIR        # an existing dataset instead of generating one
    python benchmarks/table2.py --seeds 0 1 2 3 --holdout-identities 1000   # plus one shared held-out set

Generates a dataset with identity-disjoint train/validation/test splits (`pain3d generate`, unless
--dataset), then trains with `vitpain_hf.train`, in this order:
  1. the heatmap teacher (heatmap input, AU queries),
  2. the RGB baseline (no AU queries), 3. RGB + AU queries, 4. RGB + AU queries + heatmap distillation
     (eq. 15 with the paper's weights; teacher = run 1's best model).
Each run keeps its best epoch by validation macro AUROC; the table reports the test split (identities
unseen in training and in model selection), PSPI 0-16 (17 classes; the paper uses 0-15), next to the
paper's numbers. A fairness table follows: each method's macro AUROC per ethnicity, gender, age group and facial hair (when the data has it) on the held-out set (or
each seed's test split without one), the largest between-group gap and its bootstrap 95% interval resampled by
identity (`evaluate_metrics/pain_metrics` with `groups` and `identities`), against the goal of a between-ethnicity
gap of at most 0.02 for the distilled student; `OUT-fairness.png` plots it. Each seed draws new identities, splits
and initial weights and lives in
`WORKDIR/seed-K`; with several seeds the table reports each method's mean and spread over seeds and the
distilled-minus-baseline difference seed by seed and pooled. Each seed's test split is small (60
identities), so --holdout-identities N also generates one set of N new identities (generation seed
--holdout-seed, no training seed's) and scores every seed's best models on all of it: the same faces for
every seed, ten times the test identities, tighter paired intervals. Finished runs with the same settings
are reused (`--workdir` keeps them); interrupted ones resume from their last checkpoint.

The CPU configuration departs from the paper's recipe (ViT-L/16 at 224 px from a pretrained checkpoint,
backbone frozen 5 epochs, lr 5e-6 / 5e-5, 100 epochs): no checkpoint is available offline, so the tiny
backbone starts from random weights, which needs larger learning rates, no frozen phase and a one-epoch
linear warm-up (without it, some seeds collapse in the first epoch to a CLS token that ignores the image
and never recover). Pass --pretrained-backbone, --lr-backbone, --lr-head, --freeze-epochs, --warmup-epochs
to change that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from evaluate_metrics import load_pain_metrics  # noqa: E402
from evaluate_metrics.pain_metrics.pain_metrics import weighted_macro_auroc  # noqa: E402
from vitpain_hf import train  # noqa: E402

# (key, dataset column label, method, modality, extra train arguments); trained in this order.
RUNS = [
    ("teacher", "3DPain Heatmaps", "ViTPain Teacher", "heatmap", []),
    ("baseline", "3DPain RGB", "ViTPain Baseline", "rgb", ["--no-au-query"]),
    ("au_query", "3DPain RGB", "ViTPain + AU-Query", "rgb", []),
    ("distilled", "3DPain RGB", "ViTPain + AU-Query + Heatmap", "rgb", ["--teacher", "{runs}/teacher/best"]),
]
TABLE_ORDER = ["baseline", "au_query", "distilled", "teacher"]
STEPS = [("distilled", "baseline"), ("au_query", "baseline"), ("distilled", "au_query")]  # paired differences
LABELS = {key: (data, method) for key, data, method, _, _ in RUNS}  # key -> (dataset column label, method)
PAPER = {  # Table 2: macro AUROC, accuracy, +-1, +-2 (PSPI 0-15)
    "baseline": (0.81, 0.24, 0.60, 0.79),
    "au_query": (0.82, 0.24, 0.61, 0.81),
    "distilled": (0.85, 0.25, 0.63, 0.83),
    "teacher": (0.96, 0.67, 0.96, 0.99),
}
METRICS = ("macro_auroc", "accuracy", "accuracy_within_1", "accuracy_within_2")
# Dataset and training sizes. CPU: 600 identities x 11 frames x 3 views = 19,800 frames (13,860 to train on); measured
# on 2 cores: generation 1.5 min, 28-45 s per epoch (most with the teacher): 53 min for the four runs. Identities
# matter more than epochs: 240 identities x 35 epochs left the RGB baseline at 0.79 test macro AUROC, overfitted.
CPU = dict(identities=600, expressions=10, views=3, size=96, image_size=64, epochs=20, batch_size=32)
# --quick: a smoke run of every step (generation, four trainings, scoring, tables, plot), not a result.
QUICK = dict(identities=20, expressions=3, views=1, size=48, image_size=32, epochs=1, batch_size=8)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=None, help="existing dataset folder or Hub id (default: generate one)")
    p.add_argument("--workdir", default="outputs/table2", help="dataset, runs and logs (default %(default)s)")
    p.add_argument("--out", default="table2.md", help="markdown table to write (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="smoke run of every step: 20 identities, 32 px, 1 epoch (under a minute)")
    for name, value in CPU.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {value} ({QUICK[name]} with --quick)")
    p.add_argument("--lr-backbone", type=float, default=3e-4)
    p.add_argument("--lr-head", type=float, default=1e-3)
    p.add_argument("--freeze-epochs", type=int, default=0)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--pretrained-backbone", default=None, help="ViT checkpoint for the tiny backbone (shape must match)")
    p.add_argument("--num-processes", type=int, default=1, help="2: real CPU DDP via accelerate launch (default %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="K",
                   help="one or more seeds; each generates its own dataset and trains its own four runs (default 0)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of test identities (default %(default)s)")
    p.add_argument("--holdout-identities", type=int, default=0, metavar="N",
                   help="also score every seed's best models on one more generated set of N new identities, the same "
                        "for all seeds (a larger, shared test set: tighter intervals; default 0, none)")
    p.add_argument("--holdout-seed", type=int, default=1000, help="generation seed of that set (default %(default)s)")
    args = p.parse_args(argv)
    for name, value in (QUICK if args.quick else CPU).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds {' '.join(map(str, args.seeds))}: each seed once")
    if args.holdout_identities and args.holdout_seed in args.seeds:
        p.error(f"--holdout-seed {args.holdout_seed} is also in --seeds: the held-out identities would be a training "
                "seed's own; pick another --holdout-seed")
    if args.holdout_identities < 0:
        p.error(f"--holdout-identities {args.holdout_identities}: use 0 (none) or a positive number")
    return args


def log(message: str) -> None:
    print(f"[table2 {time.strftime('%H:%M:%S')}] {message}", flush=True)


def make_dataset(args, seed: int, workdir: Path) -> str:
    """The seed's dataset: --dataset if given, else a generated one (reused when already there)."""
    return args.dataset or generate(workdir / f"3dpain-{args.identities}id-{args.expressions}ex-{args.views}v-"
                                              f"{args.size}px-seed{seed}", args.identities, seed, args)


def generate(out: Path, identities: int, seed: int, args) -> str:
    """`pain3d generate` with the run's expressions, views and size into `out`, unless a finished one is there."""
    from pain3d_dataset.integrity import is_finished

    if is_finished(out):  # an unfinished run's README.md is a placeholder
        log(f"reusing {out}")
        return str(out)
    log(f"generating {out}")
    subprocess.run([sys.executable, "-m", "pain3d", "generate", "--out", str(out),
                    "--identities", str(identities), "--expressions", str(args.expressions),
                    "--views", str(args.views), "--size", str(args.size), "--seed", str(seed),
                    # --quick's few tiny identities: a worker pool would cost more than it saves
                    "--workers", str(1 if args.quick else min(2, os.cpu_count() or 1)), "--quiet", "--overwrite"],
                   cwd=REPO_ROOT, check=True)
    return str(out)


def describe_splits(dataset: str) -> dict[str, tuple[int, int]]:
    """{split: (identities, frames)}; raises if an identity appears in two splits."""
    from datasets import load_dataset

    ds = load_dataset(dataset)
    ids = {split: set(ds[split]["identity"]) for split in ds}
    for a in ids:
        for b in ids:
            if a < b and ids[a] & ids[b]:
                raise ValueError(f"splits {a} and {b} share identities {sorted(ids[a] & ids[b])[:5]}")
    return {split: (len(ids[split]), len(ds[split])) for split in ds}


def finished(out: Path, epochs: int) -> bool:
    """All epochs logged (all_results.json alone is written at every new best, also by a run cut short)."""
    metrics = out / "metrics.csv"
    return (out / "all_results.json").exists() and metrics.exists() and len(metrics.read_text().splitlines()) == epochs + 1


def train_run(key: str, modality: str, extra: list[str], args, seed: int, dataset: str, runs: Path) -> tuple[dict, float]:
    """Trains one row (or reuses a finished run with the same settings); returns (all_results, seconds)."""
    out = runs / key
    extra = [a.format(runs=runs) for a in extra]
    cli = ["--dataset", dataset, "--modality", modality, "--preset", "tiny", "--image-size", str(args.image_size),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--freeze-epochs", str(args.freeze_epochs),
           "--lr-backbone", str(args.lr_backbone), "--lr-head", str(args.lr_head), "--seed", str(seed),
           "--warmup-epochs", str(min(args.warmup_epochs, args.epochs - 1)),
           "--keep-checkpoints", "1", "--output-dir", str(out), "--resume",
           *(["--pretrained-backbone", args.pretrained_backbone] if args.pretrained_backbone else []),
           *extra]
    wanted = asdict(train.parse_args(cli))
    saved = out / "train_config.json"
    if saved.exists() and json.loads(saved.read_text()) != wanted:
        log(f"{key}: settings changed, retraining from scratch")
        shutil.rmtree(out)
    elif finished(out, args.epochs):
        log(f"{key}: reusing {out}")
        timing = out / "table2_seconds.json"  # written when the run finished; a torn run has none
        seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else float("nan")
        return json.loads((out / "all_results.json").read_text()), seconds
    if args.num_processes > 1:
        launcher = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes",
                    str(args.num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        env = dict(os.environ, ACCELERATE_USE_CPU="1")
    else:
        launcher, env = [sys.executable], dict(os.environ)
    log(f"{key}: training ({modality}{', ' + ' '.join(extra) if extra else ''}), log in {runs / f'{key}.log'}")
    t0 = time.perf_counter()
    with open(runs / f"{key}.log", "w") as fh:
        if args.quick and args.num_processes == 1:
            # the smoke run trains in this process: four interpreter start-ups (torch,
            # transformers, datasets) would be most of its time
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                train.main(cli)
            returncode = 0
        else:
            returncode = subprocess.run([*launcher, "-m", "vitpain_hf.train", *cli], cwd=REPO_ROOT, env=env,
                                        stdout=fh, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t0
    if returncode != 0:
        raise SystemExit(f"{key} failed (exit {returncode}); see {runs / f'{key}.log'}")
    results = json.loads((out / "all_results.json").read_text())
    (out / "table2_seconds.json").write_text(json.dumps({"seconds": seconds}) + "\n")
    log(f"{key}: test macro AUROC {results['test_macro_auroc']:.3f} in {seconds / 60:.1f} min")
    return results, seconds


def test_predictions(run: Path, dataset: str, splits: tuple[str, ...] = ("test",), batch_size: int = 256):
    """(PSPI probabilities (N, C), PSPI (N,), identity (N,)) of a run's best model on `splits` of `dataset`
    (concatenated), through the saved model and image processor, as a user would load them."""
    import numpy as np
    import torch
    from datasets import concatenate_datasets, load_dataset
    from transformers import AutoImageProcessor

    from vitpain_hf import ViTPainModel

    model = ViTPainModel.from_pretrained(run / "best").eval()
    processor = AutoImageProcessor.from_pretrained(run / "best")
    column = "heatmap" if model.config.modality == "heatmap" else "image"
    ds = load_dataset(dataset)
    ds = concatenate_datasets([ds[s] for s in splits]).select_columns([column, "pspi", "identity"])
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(ds), batch_size):
            images = ds[start:start + batch_size][column]
            pixels = processor(images=list(images), return_tensors="pt")["pixel_values"]
            probabilities.append(model(pixel_values=pixels).pspi_logits.softmax(-1).numpy())
    return np.concatenate(probabilities), np.asarray(ds["pspi"]), np.asarray(ds["identity"])


FAIRNESS = ("ethnicity", "gender", "age_group")  # the demographic attributes of the fairness rows
OPTIONAL_FAIRNESS = ("facial_hair",)  # rows too, when the data has two or more kinds
FAIRNESS_GOAL = 0.02  # largest between-ethnicity macro AUROC gap the distilled student should stay within


def group_columns(dataset: str, splits: tuple[str, ...] = ("test",)) -> dict[str, list[str]]:
    """{attribute: group name per row} for FAIRNESS, and for the OPTIONAL_FAIRNESS attributes the data has
    in two or more groups (the evaluation report's `group_labels`), rows in `test_predictions`' order."""
    from datasets import concatenate_datasets, load_dataset

    from vitpain_hf.evaluate import group_labels

    ds = load_dataset(dataset)
    ds = concatenate_datasets([ds[s] for s in splits])
    ds = ds.select_columns([a for a in FAIRNESS + OPTIONAL_FAIRNESS if a in ds.column_names])
    out = {a: [ds.features[a].int2str(v) for v in ds[a]] for a in FAIRNESS}
    out.update({a: labels for a, labels in group_labels(ds).items() if a in OPTIONAL_FAIRNESS})
    return out


def fairness(metric, probabilities: dict, labels, identities, groups: dict, resamples: int, seed: int) -> dict:
    """{model key: {attribute: the pain metric's per_group, group_gap and macro_auroc_gap_ci}}: per-group
    macro AUROC of each model, the largest gap and its bootstrap 95% interval (identities resampled)."""
    out = {}
    for key, probs in probabilities.items():
        out[key] = {}
        for attribute, names in groups.items():
            res = metric.compute(predictions=probs.tolist(), references=list(labels), thresholds=(), groups=names,
                                 identities=list(identities), n_resamples=resamples, bootstrap_seed=seed)
            out[key][attribute] = {k: res[k] for k in ("per_group", "group_gap", "macro_auroc_gap_ci")}
    return out


@dataclass
class SeedRun:
    """One seed's four runs: where they live, what training logged, and their test scores on resampled
    test identities (the bootstrap)."""

    seed: int
    dataset: str
    runs: Path
    splits: dict[str, tuple[int, int]]
    results: dict[str, dict]
    seconds: dict[str, float]
    resampled: dict[str, Any]  # key -> (resamples,) macro AUROC on each resample of the test identities
    holdout: dict[str, dict] = field(default_factory=dict)  # key -> metrics on the shared held-out set
    holdout_resampled: dict[str, Any] = field(default_factory=dict)  # as `resampled`, on held-out identities
    fairness: dict[str, Any] = field(default_factory=dict)  # `fairness()` on the test split
    holdout_fairness: dict[str, Any] = field(default_factory=dict)  # `fairness()` on the held-out set

    def auroc(self, key: str) -> float:
        return self.results[key]["test_macro_auroc"]


def resample(probabilities: dict, labels, identities, resamples: int = 1000, seed: int = 0, chunk: int = 100) -> dict:
    """Paired bootstrap over identities: {key: (resamples,) macro AUROC}, every model scored on the same
    resampled identities (drawn with replacement from `default_rng(seed)`, so the same seed and identities
    give the same resamples). probabilities: {key: (N, C)}."""
    import numpy as np

    rng = np.random.default_rng(seed)
    people, person = np.unique(identities, return_inverse=True)
    counts = np.stack([np.bincount(rng.choice(len(people), size=len(people)), minlength=len(people))
                       for _ in range(resamples)])
    labels = np.asarray(labels)
    return {k: np.concatenate([weighted_macro_auroc(np.asarray(probs, dtype=np.float64), labels,
                                                    counts[r:r + chunk][:, person])
                               for r in range(0, resamples, chunk)])
            for k, probs in probabilities.items()}


def bootstrap(resampled: list[dict]) -> dict:
    """95% intervals from the resampled scores of one or more seeds (each seed's resamples drawn within its
    own test split; several seeds are averaged resample by resample, the seeds themselves held fixed):
    {key: (lo, hi)} of (mean) macro AUROC, and for each pair of STEPS present, e.g. "distilled-baseline":
    (lo, hi, share of resamples in which the first scores higher)."""
    import numpy as np

    scores = {k: np.mean([r[k] for r in resampled], axis=0) for k in resampled[0]}
    out = {k: tuple(np.nanpercentile(v, [2.5, 97.5])) for k, v in scores.items()}
    for a, b in STEPS:
        if a in scores and b in scores:
            diff = scores[a] - scores[b]
            out[f"{a}-{b}"] = (*np.nanpercentile(diff, [2.5, 97.5]), float(np.mean(diff > 0)))
    return out


def seed_interval(differences) -> tuple[float, float]:
    """95% Student-t interval of the mean of per-seed differences: treats the training seed as random
    (the bootstrap holds each seed's trained models fixed); (nan, nan) with fewer than two seeds."""
    import numpy as np
    from scipy import stats

    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return (float(d.mean() - half), float(d.mean() + half))


def seed_text(differences) -> str:
    lo, hi = seed_interval(differences)
    return "" if lo != lo else f"; 95% t-interval over seeds {lo:+.3f} to {hi:+.3f}"


def cell(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def settings(args) -> str:
    return (f"Training: preset tiny (ViT D=128, 4 layers), {args.image_size} px, {args.epochs} epochs, batch "
            f"{args.batch_size}, AdamW lr backbone {args.lr_backbone:g} / heads {args.lr_head:g}, {args.warmup_epochs:g} "
            f"warm-up epoch(s), cosine to 1%, backbone frozen {args.freeze_epochs} epochs, backbone "
            f"{'from ' + args.pretrained_backbone if args.pretrained_backbone else 'random init'}, "
            f"{args.num_processes} process(es).")


def targets(teacher: float, distilled: float, baseline: float) -> str:
    return (f"teacher ≥ 0.96: {'met' if teacher >= 0.96 else 'not met'} ({teacher:.3f}); distilled ≥ 0.85: "
            f"{'met' if distilled >= 0.85 else 'not met'} ({distilled:.3f}); distilled > baseline: "
            f"{'yes' if distilled > baseline else 'no'} ({distilled:.3f} vs {baseline:.3f}).")


METRIC_COLUMNS = ["PSPI Acc.", "Acc. ±1", "Acc. ±2", "val. macro AUROC", "paper (AUROC / Acc. / ±1 / ±2)"]


def heading(what: str, args, columns: list[str]) -> list[str]:
    """Title and header rows of a table with Dataset, Method and columns (text left, numbers right)."""
    left = ("95% CI", "per seed", "pooled 95% CI", "paper (AUROC / Acc. / ±1 / ±2)")
    return [f"## Table 2 (ablations) on generated 3DPain, CPU, {what}" + (" (--quick smoke run)" if args.quick else ""),
            "", "| Dataset | Method | " + " | ".join(columns) + " |",
            "|---|---|" + "|".join("---" if c in left else "---:" for c in columns) + "|"]


def render(run: SeedRun, args, intervals: dict) -> str:
    """One seed's table: test metrics of the four runs with their bootstrap intervals."""
    lines = heading(f"seed {run.seed}", args, ["Macro AUROC", "95% CI", *METRIC_COLUMNS, "train min"])
    for key in TABLE_ORDER:
        r, (data, method), seconds = run.results[key], LABELS[key], run.seconds[key]
        ci = f"{cell(intervals[key][0])}-{cell(intervals[key][1])}"
        lines.append(f"| {data} | {method} | {cell(r['test_macro_auroc'])} | {ci} | "
                     + " | ".join(cell(r[f"test_{m}"]) for m in METRICS[1:])
                     + f" | {cell(r['validation_macro_auroc'])} | {' / '.join(f'{v:.2f}' for v in PAPER[key])}"
                     + f" | {'n/a' if seconds != seconds else f'{seconds / 60:.1f}'} |")
    t, d, b = (run.auroc(k) for k in ("teacher", "distilled", "baseline"))
    gap = intervals["distilled-baseline"]
    split_text = ", ".join(f"{s} {n_id} identities / {n} frames" for s, (n_id, n) in run.splits.items())
    lines += [
        "",
        "Test split metrics (identity-disjoint; best epoch by validation macro AUROC). PSPI 0-16: 17 classes "
        "(the paper: 0-15, 16 classes); macro AUROC averages the classes present in the test split.",
        f"Dataset `{run.dataset}`: {split_text}.",
        settings(args) + f" Seed {run.seed}.",
        "Targets: " + targets(t, d, b),
        f"Distilled minus baseline, paired bootstrap over test identities ({args.resamples} resamples): "
        f"{d - b:+.3f} (95% CI {gap[0]:+.3f} to {gap[1]:+.3f}); distilled higher in {100 * gap[2]:.0f}% of resamples.",
        f"Wall time: {sum(run.seconds.values()) / 60:.1f} min for the four runs (launch to exit, evaluation included).",
    ]
    return "\n".join(lines) + "\n"


def render_seeds(seed_runs: list[SeedRun], args, pooled: dict) -> str:
    """Several seeds: each method's mean and spread over seeds, and distilled minus baseline seed by seed
    and pooled."""
    import numpy as np

    n = len(seed_runs)
    seeds = ", ".join(str(r.seed) for r in seed_runs)
    lines = heading(f"{n} seeds ({seeds})", args, ["Macro AUROC mean ± sd", "per seed", "pooled 95% CI", *METRIC_COLUMNS])
    mean = {}
    for key in TABLE_ORDER:
        data, method = LABELS[key]
        values = {m: np.array([r.results[key][f"test_{m}"] for r in seed_runs]) for m in METRICS}
        mean[key] = values["macro_auroc"].mean()
        val = np.mean([r.results[key]["validation_macro_auroc"] for r in seed_runs])
        lines.append(f"| {data} | {method} | {mean[key]:.3f} ± {values['macro_auroc'].std(ddof=1):.3f} | "
                     f"{' / '.join(cell(v) for v in values['macro_auroc'])} | "
                     f"{cell(pooled[key][0])}-{cell(pooled[key][1])} | "
                     + " | ".join(cell(values[m].mean()) for m in METRICS[1:])
                     + f" | {cell(val)} | {' / '.join(f'{v:.2f}' for v in PAPER[key])} |")
    diffs = np.array([r.auroc("distilled") - r.auroc("baseline") for r in seed_runs])
    gap = pooled["distilled-baseline"]
    lines += [
        "",
        "Test split metrics of each seed (its own identities and identity-disjoint splits; best epoch by validation "
        "macro AUROC), PSPI 0-16, averaged over seeds; sd is the spread between seeds. The pooled interval "
        "resamples test identities within each seed and averages over the seeds, so it holds the seeds fixed.",
        settings(args) + f" Seeds {seeds}.",
        "Distilled minus baseline by seed: " + ", ".join(f"seed {r.seed} {d:+.3f}" for r, d in zip(seed_runs, diffs))
        + f"; mean {diffs.mean():+.3f} (sd {diffs.std(ddof=1):.3f}{seed_text(diffs)}), distilled higher in "
        f"{int((diffs > 0).sum())} of {n} seeds.",
        f"Pooled paired bootstrap ({args.resamples} resamples): 95% CI {gap[0]:+.3f} to {gap[1]:+.3f}; distilled higher "
        f"in {100 * gap[2]:.0f}% of resamples.",
        "Targets on the means: " + targets(mean["teacher"], mean["distilled"], mean["baseline"]),
        f"Wall time: {sum(sum(r.seconds.values()) for r in seed_runs) / 60:.1f} min for the {4 * n} runs.",
    ]
    return "\n".join(lines) + "\n"


def score_holdout(seed_runs: list[SeedRun], args, metric) -> tuple[str, int]:
    """Generates (or reuses) the held-out set of --holdout-identities new identities and scores every seed's
    four best models on all of it, filling each run's `holdout` metrics and `holdout_resampled` scores (the
    same resamples for every seed, so seeds pair too). Predictions are cached next to each model.
    Returns (the set's folder, its number of frames)."""
    import numpy as np

    name = f"holdout-{args.holdout_identities}id-{args.expressions}ex-{args.views}v-{args.size}px-seed{args.holdout_seed}"
    holdout = generate(Path(args.workdir) / name, args.holdout_identities, args.holdout_seed, args)
    splits = describe_splits(holdout)
    for run in seed_runs:
        log(f"seed {run.seed}: scoring the best models on the held-out set {holdout}")
        probabilities = {}
        for key in TABLE_ORDER:
            cache, model_file = run.runs / key / f"{name}.npz", run.runs / key / "best" / "model.safetensors"
            if cache.exists() and cache.stat().st_mtime >= model_file.stat().st_mtime:
                saved = np.load(cache)
                probs, labels, identities = saved["probabilities"], saved["labels"], saved["identities"]
            else:
                probs, labels, identities = test_predictions(run.runs / key, holdout, tuple(splits))
                np.savez(cache, probabilities=probs, labels=labels, identities=identities)
            probabilities[key] = probs
            run.holdout[key] = metric.compute(predictions=probs.tolist(), references=labels.tolist())
        run.holdout_resampled = resample(probabilities, labels, identities, args.resamples, args.holdout_seed)
        run.holdout_fairness = fairness(metric, probabilities, labels, identities, group_columns(holdout, tuple(splits)),
                                        args.resamples, args.holdout_seed)
    return holdout, sum(frames for _, frames in splits.values())


def render_holdout(seed_runs: list[SeedRun], args, holdout: str, frames: int) -> str:
    """Every seed's best models on the one held-out set: each method's mean over seeds, and distilled minus
    baseline seed by seed and pooled, with paired bootstrap intervals over the held-out identities."""
    import numpy as np

    n = len(seed_runs)
    seeds = ", ".join(str(r.seed) for r in seed_runs)
    pooled = bootstrap([r.holdout_resampled for r in seed_runs])
    lines = heading(f"held-out set of {args.holdout_identities} new identities, {n} seed(s) ({seeds})", args,
                    ["Macro AUROC mean ± sd", "per seed", "pooled 95% CI", *METRIC_COLUMNS[:3]])
    mean = {}
    for key in TABLE_ORDER:
        data, method = LABELS[key]
        values = {m: np.array([r.holdout[key][m] for r in seed_runs]) for m in METRICS}
        mean[key] = values["macro_auroc"].mean()
        sd = f"{values['macro_auroc'].std(ddof=1):.3f}" if n > 1 else "n/a"
        lines.append(f"| {data} | {method} | {mean[key]:.3f} ± {sd} | {' / '.join(cell(v) for v in values['macro_auroc'])}"
                     f" | {cell(pooled[key][0])}-{cell(pooled[key][1])} | "
                     + " | ".join(cell(values[m].mean()) for m in METRICS[1:]) + " |")
    diffs = [r.holdout["distilled"]["macro_auroc"] - r.holdout["baseline"]["macro_auroc"] for r in seed_runs]
    per_seed = [bootstrap([r.holdout_resampled])["distilled-baseline"] for r in seed_runs]
    gap = pooled["distilled-baseline"]
    lines += [
        "",
        f"Held-out set `{holdout}`: {args.holdout_identities} identities / {frames} frames drawn with generation seed "
        f"{args.holdout_seed} (no training seed's), all splits, the same for every seed; each seed's best models "
        "(chosen on that seed's own validation split) scored on all of it. PSPI 0-16.",
        "Distilled minus baseline by seed: " + ", ".join(
            f"seed {r.seed} {d:+.3f} (95% CI {g[0]:+.3f} to {g[1]:+.3f})" for r, d, g in zip(seed_runs, diffs, per_seed))
        + f"; mean {np.mean(diffs):+.3f}{seed_text(diffs)}, distilled higher in {sum(d > 0 for d in diffs)} of {n} "
        "seed(s).",
        f"Pooled paired bootstrap ({args.resamples} resamples of the held-out identities, shared by the seeds): 95% CI "
        f"{gap[0]:+.3f} to {gap[1]:+.3f}; distilled higher in {100 * gap[2]:.0f}% of resamples.",
        "Step by step (the ablation's order), mean over seeds with the pooled paired 95% CI: " + "; ".join(
            f"{LABELS[a][1].removeprefix('ViTPain ')} minus {LABELS[b][1].removeprefix('ViTPain ')} "
            f"{np.mean([r.holdout[a]['macro_auroc'] - r.holdout[b]['macro_auroc'] for r in seed_runs]):+.3f} "
            f"({pooled[f'{a}-{b}'][0]:+.3f} to {pooled[f'{a}-{b}'][1]:+.3f})" for a, b in STEPS[1:]) + ".",
        "Targets on the held-out means: " + targets(mean["teacher"], mean["distilled"], mean["baseline"]),
    ]
    return "\n".join(lines) + "\n"


def attributes_of(results: list[dict]) -> list[str]:
    """The fairness attributes every seed scored: FAIRNESS, then those of OPTIONAL_FAIRNESS."""
    return [a for a in FAIRNESS + OPTIONAL_FAIRNESS if all(a in r[key] for r in results for key in TABLE_ORDER)]


def render_fairness(results: list[dict], args, where: str) -> str:
    """Per-ethnicity, per-gender, per-age-group and (when the data has it) per-facial-hair macro AUROC of every method (mean over seeds), the
    largest gap, and its bootstrap 95% interval (each seed's), against the goal for the distilled student."""
    import numpy as np

    lines = [f"## Fairness: macro AUROC per demographic group, {where}" + (" (--quick smoke run)" if args.quick else ""),
             "", "| Method | Attribute | Macro AUROC per group | Largest gap (lowest → highest) | 95% CI of the gap |",
             "|---|---|---|---:|---|"]
    for key in TABLE_ORDER:
        for attribute in attributes_of(results):
            per_seed = [r[key][attribute] for r in results]
            names = list(per_seed[0]["per_group"])
            mean = {g: float(np.mean([p["per_group"][g]["macro_auroc"] for p in per_seed])) for g in names}
            gaps = [p["group_gap"]["macro_auroc"] for p in per_seed]
            cis = " / ".join(f"{cell(p['macro_auroc_gap_ci'][0])}-{cell(p['macro_auroc_gap_ci'][1])}" for p in per_seed)
            low, high = min(mean, key=mean.get), max(mean, key=mean.get)
            lines.append(f"| {LABELS[key][1]} | {attribute.replace('_', ' ')} | "
                         + ", ".join(f"{g} {cell(v)}" for g, v in mean.items())
                         + f" | {cell(float(np.mean([g['gap'] for g in gaps])))} ({low} → {high}) | {cis} |")
    gap = [r["distilled"]["ethnicity"]["group_gap"]["macro_auroc"] for r in results]
    mean_gap = float(np.mean([g["gap"] for g in gap]))
    cis = ", ".join(f"{cell(r['distilled']['ethnicity']['macro_auroc_gap_ci'][0])}-"
                    f"{cell(r['distilled']['ethnicity']['macro_auroc_gap_ci'][1])}" for r in results)
    verdict = "met" if mean_gap <= FAIRNESS_GOAL else "missed"
    lines += [
        "",
        f"Each group's macro AUROC over its frames; the gap is the highest minus the lowest group ({len(results)} seed(s): "
        f"means, one interval per seed, from {args.resamples} resamples of the identities).",
        f"Goal: the distilled student's largest between-ethnicity gap ≤ {FAIRNESS_GOAL}: {verdict} ({cell(mean_gap)}, "
        f"lowest {gap[0]['lowest']}, highest {gap[0]['highest']}; 95% CI {cis}).",
    ]
    return "\n".join(lines) + "\n"


def plot_fairness(results: list[dict], path: Path) -> None:
    """Macro AUROC per group of every method, one panel per attribute (mean over seeds; bars: the bootstrap
    95% interval with one seed, the seeds' range with several)."""
    import numpy as np

    from generation.figure import new_figure, png_bytes

    fig = new_figure(11.0, 3.6)
    attributes = attributes_of(results)
    sizes = [len(results[0]["baseline"][a]["per_group"]) for a in attributes]
    grid = fig.add_gridspec(1, sum(sizes) + len(sizes))
    col, first = 0, None
    for attribute, size in zip(attributes, sizes):
        ax = fig.add_subplot(grid[0, col:col + size + 1], sharey=first)
        first = first or ax
        col += size + 1
        names = list(results[0]["baseline"][attribute]["per_group"])
        width = 0.8 / len(TABLE_ORDER)
        for k, key in enumerate(TABLE_ORDER):
            groups = [r[key][attribute]["per_group"] for r in results]
            values = np.array([[g[n]["macro_auroc"] for n in names] for g in groups])
            mean = values.mean(0)
            if len(results) == 1:
                ci = np.array([groups[0][n]["macro_auroc_ci"] for n in names])
                low, high = mean - ci[:, 0], ci[:, 1] - mean
            else:
                low, high = mean - values.min(0), values.max(0) - mean
            xs = np.arange(len(names)) - 0.4 + width * (k + 0.5)
            ax.bar(xs, mean, width=width, yerr=np.stack([low, high]), capsize=2, label=LABELS[key][1],
                   error_kw={"linewidth": 0.8})
        gap = np.mean([r["distilled"][attribute]["group_gap"]["macro_auroc"]["gap"] for r in results])
        ax.set_title(f"{attribute.replace('_', ' ')} (distilled student's gap {gap:.3f})", fontsize=8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace(" ", "\n") for n in names], fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        if ax is not first:
            ax.tick_params(labelleft=False)
    shown = [v for r in results for key in TABLE_ORDER for a in attributes for g in r[key][a]["per_group"].values()
             for v in [g["macro_auroc"], *g["macro_auroc_ci"]] if v == v]
    first.set_ylim(max(0.0, min(shown, default=0.5) - 0.02), min(1.0, max(shown, default=1.0) + 0.06))
    first.set_ylabel("macro AUROC")
    first.legend(fontsize=6, loc="upper left", ncol=2, frameon=False)
    fig.suptitle("Macro AUROC per demographic group (error bars: " + ("bootstrap 95% CI by identity)" if len(results) == 1
                 else "range over seeds)"), fontsize=9)
    fig.tight_layout()
    path.write_bytes(png_bytes(fig))


def plot_curves(runs: list[Path], path: Path) -> None:
    """Validation macro AUROC per epoch of the four runs (from their metrics.csv): the mean over seeds, with
    the band between the lowest and highest seed when there are several."""
    import csv

    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for key in TABLE_ORDER:
        curves = []
        for folder in runs:
            with (folder / key / "metrics.csv").open() as fh:
                curves.append([float(r["val_macro_auroc"]) for r in csv.DictReader(fh)])
        curves = np.array(curves)
        epochs = np.arange(1, curves.shape[1] + 1)
        (line,) = ax.plot(epochs, curves.mean(0), marker=".", label=LABELS[key][1])
        if len(curves) > 1:
            ax.fill_between(epochs, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.15, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation macro AUROC" + (f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def run_seed(args, seed: int, metric) -> SeedRun:
    """Generates seed's dataset (unless --dataset), trains or reuses its four runs, and re-scores their best
    models on the test split through the saved model and image processor."""
    workdir = Path(args.workdir) / f"seed-{seed}"
    runs = workdir / "runs-quick" if args.quick else workdir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    dataset = make_dataset(args, seed, workdir)
    splits = describe_splits(dataset)
    log(f"seed {seed} splits: " + ", ".join(f"{s} {n_id} identities / {n} frames" for s, (n_id, n) in splits.items()))
    results, seconds = {}, {}
    for key, _, _, modality, extra in RUNS:
        results[key], seconds[key] = train_run(key, modality, extra, args, seed, dataset, runs)
    log(f"seed {seed}: scoring the best models on the test split again, and on {args.resamples} resamples of it")
    probabilities = {}
    for key in TABLE_ORDER:
        probs, labels, identities = test_predictions(runs / key, dataset)
        again = metric.compute(predictions=probs.tolist(), references=labels.tolist())
        if abs(again["macro_auroc"] - results[key]["test_macro_auroc"]) > 1e-3:  # the saved model is the scored one
            raise SystemExit(f"{key}: the saved best model scores {again['macro_auroc']:.4f} on test, training logged "
                             f"{results[key]['test_macro_auroc']:.4f}")
        probabilities[key] = probs
    resampled = resample(probabilities, labels, identities, args.resamples, seed)
    fair = fairness(metric, probabilities, labels, identities, group_columns(dataset), args.resamples, seed)
    return SeedRun(seed, dataset, runs, splits, results, seconds, resampled, fairness=fair)


def main(argv=None) -> None:
    args = parse_args(argv)
    t0 = time.perf_counter()
    metric = load_pain_metrics(keep_in_memory=True)
    seed_runs, tables = [], []
    for seed in args.seeds:
        run = run_seed(args, seed, metric)
        table = render(run, args, bootstrap([run.resampled]))
        (run.runs.parent / "table2.md").write_text(table)
        plot_curves([run.runs], run.runs.parent / "table2.png")
        seed_runs.append(run)
        tables.append(table)
    if len(seed_runs) > 1:
        tables.insert(0, render_seeds(seed_runs, args, bootstrap([r.resampled for r in seed_runs])))
    if args.holdout_identities:
        holdout, frames = score_holdout(seed_runs, args, metric)
        fair = [r.holdout_fairness for r in seed_runs]
        where = f"held-out set of {args.holdout_identities} new identities"
        tables.insert(0, render_holdout(seed_runs, args, holdout, frames))
        tables.insert(1, render_fairness(fair, args, where))
    else:
        fair = [r.fairness for r in seed_runs]
        tables.insert(1, render_fairness(fair, args, "each seed's test split"))  # after Table 2 (or the seeds' summary)
    fairness_png = Path(args.out).with_name(Path(args.out).stem + "-fairness.png")
    plot_fairness(fair, fairness_png)
    text = "\n".join(tables) + f"\nThis call took {(time.perf_counter() - t0) / 60:.1f} min (finished runs reused).\n"
    print("\n" + text)
    Path(args.out).write_text(text)
    curves = Path(args.out).with_suffix(".png")
    plot_curves([r.runs for r in seed_runs], curves)
    log(f"wrote {args.out}, {curves} (validation curves) and {fairness_png} (per-group macro AUROC); each seed's own "
        f"in {args.workdir}/seed-K/")


if __name__ == "__main__":
    main()
