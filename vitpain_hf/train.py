"""Train ViTPain (paper section 4) on a 3DPain dataset with accelerate.

    accelerate launch -m vitpain_hf.train --dataset 3dpain --modality heatmap --output-dir runs/teacher
    accelerate launch -m vitpain_hf.train --dataset 3dpain --modality rgb --teacher runs/teacher/best \
        --output-dir runs/student
    # two CPU processes, real DDP over gloo (`--cpu --num_processes 2` would start ONE process):
    ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 --num_machines 1 \
        --mixed_precision no --dynamo_backend no -m vitpain_hf.train ...

OUT/ receives train_config.json, metrics.csv (one row per epoch) and curves.png (its losses, validation
metrics and learning rates), checkpoints/epoch_K (accelerator.save_state; --resume continues from the latest,
refusing changed settings or a different number of processes unless --allow-changed-settings, which
OUT/resumes.json records), best/ (save_pretrained + image processor + model card, chosen by validation
macro AUROC; the test split is scored whenever the best improves), all_results.json (the best epoch's
validation and test metrics), evaluation/ (the best model's test report of vitpain_hf.evaluate, per-group
metrics included, also appended to its card), and TensorBoard logs when tensorboard is installed.

Schedule: AdamW with two parameter groups (backbone, heads); the backbone is frozen (requires_grad False,
learning rate 0) for the first --freeze-epochs epochs; both learning rates follow one cosine from their
initial value at the first step to 1% of it at the last step, optionally after a linear warm-up over
--warmup-epochs (not in the paper; it keeps a backbone trained from scratch out of an early collapse in
which the CLS token stops depending on the image). The schedule is a function of the step counter, which
is checkpointed, so a resumed run continues the same curve.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import time
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.utils import is_tensorboard_available, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .model_card import RunFacts, write_model_card
from .resume import guard_resume
from .training_curves import plot_training_curves

MIN_LR_RATIO = 0.01  # cosine annealing ends at 1% of the initial learning rates
THRESHOLDS = (2, 3)  # PSPI thresholds of the binary pain metrics
CSV_METRICS = (  # scalar outputs of evaluate_metrics/pain_metrics logged per epoch
    "macro_auroc", "accuracy", "accuracy_within_1", "accuracy_within_2",
    *(f"{m}_at_{t}" for t in THRESHOLDS for m in ("auroc", "f1")), "mae", "pearson",
)
DISTILL_TERMS = ("pspi_distill", "au_distill", "feature_distill")


@dataclass
class TrainConfig:
    dataset: str  # a Hub-layout folder written by `pain3d generate`, or a Hub dataset id
    output_dir: str
    dataset_config: str | None = None  # None: the dataset's default config (3DPain: frames)
    modality: str = "rgb"  # rgb: the `image` column; heatmap: the colorized `heatmap` column
    teacher: str | None = None  # folder of a trained ViTPain teacher (section 4.2 distillation)
    preset: str = "tiny"
    image_size: int | None = None  # None: the preset's
    no_au_query: bool = False  # ablation: AU head on the CLS token instead of AU query tokens
    reference: bool = False  # reference-based variant: the neutral frame of the same identity as second input
    lora: bool = False  # train LoRA adapters of the backbone's attention (q, v) instead of all its weights
    lora_r: int = 8
    lora_alpha: int = 16
    augment: bool = False  # random square crops (>= 80%) and mirroring of training images
    face_crop: bool = False  # crop every image around the detected face, as the Space does
    pretrained_backbone: str | None = None  # ViT checkpoint (path or hub id) for the backbone
    epochs: int = 100  # the paper's; cosine annealing spans all of them
    freeze_epochs: int = 5
    warmup_epochs: float = 0.0  # linear warm-up of both learning rates before the cosine (0: the paper's)
    batch_size: int = 32  # per process
    lr_backbone: float = 5e-6
    lr_head: float = 5e-5
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # 0 disables
    max_train_samples: int | None = None
    num_workers: int = 0
    mixed_precision: str | None = None  # None: as `accelerate launch` says
    keep_checkpoints: int = 2  # newest epoch checkpoints kept
    resume: bool = False
    allow_changed_settings: bool = False  # with --resume: continue despite changed settings (recorded)
    seed: int = 0


HELP = {
    "dataset": "dataset folder (Hub layout) or Hub id, loaded with datasets.load_dataset",
    "output_dir": "run folder: metrics.csv, curves.png, checkpoints/, best/",
    "dataset_config": "dataset config (default: the dataset's default, 3DPain: frames)",
    "modality": "input of the model: rgb (the image column) or heatmap (the colorized heatmap column)",
    "teacher": "trained ViTPain folder used as distillation teacher (fed its own modality's column)",
    "preset": "backbone size: tiny (CPU), base (ViT-B/16) or large (the paper's ViT-L/16)",
    "image_size": "input size in pixels (default: the preset's)",
    "no_au_query": "AU head on the CLS token instead of AU query tokens (ablation)",
    "reference": "reference-based variant: the neutral frame of the same identity (neutral_image column) is "
                 "encoded by the same backbone and cross-attended; rgb only",
    "lora": "train LoRA adapters (peft) on the backbone's query and value projections; base weights stay "
            "frozen (use with --pretrained-backbone)",
    "lora_r": "LoRA rank (with --lora)",
    "lora_alpha": "LoRA scaling alpha (with --lora)",
    "augment": "random square crops (at least 80%% of the short side) and mirroring of training images, "
               "so the model tolerates face-detector framing",
    "face_crop": "crop every image (and its heatmap) around the face found by vitpain_hf.face_crop, the "
                 "same crop the Space applies to uploads (needs dlib: pain3d[facecheck]); recorded in the "
                 "model's config, so its processor and predict crop inputs alike",
    "pretrained_backbone": "ViT checkpoint (folder or Hub id) whose weights start the backbone",
    "epochs": "epochs; the cosine schedule spans all of them",
    "freeze_epochs": "epochs at the start with the backbone frozen (heads only); must be below --epochs for "
                     "the backbone to train at all",
    "warmup_epochs": "linear warm-up of both learning rates before the cosine (fractions allowed)",
    "batch_size": "batch size per process",
    "lr_backbone": "initial learning rate of the backbone (of the LoRA adapters with --lora)",
    "lr_head": "initial learning rate of the heads",
    "weight_decay": "AdamW weight decay",
    "grad_clip": "clip the gradient norm to this (0: no clipping)",
    "max_train_samples": "train on a random subset of this many frames",
    "num_workers": "DataLoader worker processes",
    "mixed_precision": "no, fp16 or bf16 (default: the launcher's setting)",
    "keep_checkpoints": "newest epoch checkpoints kept",
    "resume": "continue from the newest OUT/checkpoints/epoch_K (starts fresh if there is none); refused "
              "when the settings or the number of processes differ from that run's",
    "allow_changed_settings": "with --resume, continue even though settings or the number of processes "
                              "changed; the changes are recorded in OUT/resumes.json and the model card",
    "seed": "seed of the initial weights, data order and augmentation",
}
CHOICES = {"modality": ("rgb", "heatmap"), "preset": ("tiny", "base", "large"), "mixed_precision": ("no", "fp16", "bf16")}


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """--help shows every default that is a value (not None, not an unset flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """`--some-field VALUE` for every TrainConfig field; booleans are flags."""
    parser = argparse.ArgumentParser(prog="vitpain_hf.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    types = {"str": str, "int": int, "float": float}
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=HELP[f.name])
            continue
        required = f.default is MISSING
        kind = types[f.type.split(" ")[0]]
        parser.add_argument(flag, type=kind, required=required, default=None if required else f.default,
                            choices=CHOICES.get(f.name), help=HELP[f.name])
    cfg = TrainConfig(**vars(parser.parse_args(argv)))
    for name in ("epochs", "batch_size", "keep_checkpoints"):
        if getattr(cfg, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.freeze_epochs < 0 or (cfg.max_train_samples is not None and cfg.max_train_samples < 1):
        parser.error("--freeze-epochs must be >= 0 and --max-train-samples >= 1")
    if not 0 <= cfg.warmup_epochs < cfg.epochs:
        parser.error(f"--warmup-epochs must be >= 0 and below --epochs ({cfg.epochs}), got {cfg.warmup_epochs:g}")
    if not cfg.resume and list(Path(cfg.output_dir, "checkpoints").glob("epoch_*")):
        parser.error(f"{cfg.output_dir} already holds checkpoints: pass --resume, or choose another --output-dir")
    if cfg.allow_changed_settings and not cfg.resume:
        parser.error("--allow-changed-settings only applies with --resume")
    if cfg.reference and cfg.modality != "rgb":
        parser.error("--reference compares an RGB frame with its neutral RGB frame: use --modality rgb")
    if cfg.lora and (cfg.lora_r < 1 or cfg.lora_alpha < 1):
        parser.error("--lora-r and --lora-alpha must be at least 1")
    if cfg.freeze_epochs >= cfg.epochs:
        what = "LoRA adapters" if cfg.lora else "backbone"
        print(f"vitpain_hf.train: warning: --freeze-epochs {cfg.freeze_epochs} >= --epochs {cfg.epochs}: the {what} "
              f"never trains, only the heads do{' (the pretrained backbone stays as loaded)' if cfg.pretrained_backbone else ''}; "
              f"lower --freeze-epochs to train it", file=sys.stderr)
    return cfg


@dataclass
class TrainState:
    """Counters saved with every checkpoint (accelerator.register_for_checkpointing)."""

    epoch: int = 0  # next epoch to run
    step: int = 0  # optimizer steps taken
    best_auroc: float | None = None
    best_epoch: int | None = None

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


def lr_factor(step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """Linear from 1/warmup_steps up to 1 over the first warmup_steps steps, then a cosine from 1 to
    MIN_LR_RATIO at step total_steps - 1."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(total_steps - warmup_steps - 1, 1)
    return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * progress))


def random_view(images: list, min_scale: float = 0.8) -> list:
    """One random square crop (side >= min_scale of the short side, anywhere in the image) and
    a coin-flip mirror, applied alike to every image of a sample (student and teacher inputs), so
    the model tolerates how a face detector frames the face at inference time."""
    from PIL import ImageOps

    w, h = images[0].size
    side = int(round(min(w, h) * (min_scale + (1 - min_scale) * float(torch.rand(())))))
    x0 = int(float(torch.rand(())) * (w - side + 1))
    y0 = int(float(torch.rand(())) * (h - side + 1))
    flip = bool(torch.rand(()) < 0.5)
    out = []
    for im in images:
        im = im.crop((x0, y0, x0 + side, y0 + side))
        out.append(ImageOps.mirror(im) if flip else im)
    return out


def face_crop_batch(cropper, columns: list[str]):
    """``datasets.map`` function: crop each row's images around the face found in the first
    column (the same square for every column); rows without a detected face stay whole."""

    def crop(batch: dict) -> dict:
        out = {c: list(batch[c]) for c in columns}
        for k, img in enumerate(batch[columns[0]]):
            boxes = cropper.detect(img.convert("RGB"))
            if boxes:
                for c in columns:
                    out[c][k] = cropper.crop(batch[c][k].convert("RGB"), boxes[0])
        return out

    return crop


REFERENCE_COLUMN = "neutral_image"  # the reference variant's second input: the same identity and view, neutral


def make_transform(processor, column: str, au_names, teacher_processor=None, teacher_column: str = "heatmap",
                   augment: bool = False, reference: bool = False):
    """Decoded rows -> model inputs; runs in the DataLoader (datasets' set_transform)."""

    def transform(batch: dict) -> dict:
        if augment:
            cols = [column] + ([teacher_column] if teacher_processor is not None and teacher_column != column else [])
            cols += [REFERENCE_COLUMN] if reference else []
            views = [random_view([batch[c][k] for c in cols]) for k in range(len(batch[column]))]
            batch = {**batch, **{c: [v[j] for v in views] for j, c in enumerate(cols)}}
        out = {
            "pixel_values": processor(images=batch[column], return_tensors="pt")["pixel_values"],  # (B, 3, H, W)
            "pspi_labels": torch.tensor(batch["pspi"], dtype=torch.long),  # (B,)
            "au_labels": torch.tensor([[aus[a] for a in au_names] for aus in batch["aus"]], dtype=torch.float32),
        }
        if reference:
            out["reference_pixel_values"] = processor(images=batch[REFERENCE_COLUMN], return_tensors="pt")["pixel_values"]
        if teacher_processor is not None:
            out["teacher_pixel_values"] = teacher_processor(images=batch[teacher_column], return_tensors="pt")["pixel_values"]
        return out

    return transform


@torch.no_grad()
def evaluate(model, loader, accelerator, metric) -> dict:
    """Losses and pain metrics (macro AUROC, accuracies, ...) over the whole split, identical on every process."""
    from .losses import au_mse_loss, pspi_ce_loss

    model.eval()
    parts = []
    for batch in loader:
        with accelerator.autocast():
            out = model(pixel_values=batch["pixel_values"], reference_pixel_values=batch.get("reference_pixel_values"))
        parts.append(accelerator.gather_for_metrics(
            (out.pspi_logits.float(), batch["pspi_labels"], out.au_intensities.float(), batch["au_labels"])
        ))
    logits, labels, aus, au_labels = (torch.cat(p) for p in zip(*parts))
    scores = metric.compute(predictions=logits.softmax(-1).tolist(), references=labels.tolist(), thresholds=THRESHOLDS)
    return {"loss_pspi": pspi_ce_loss(logits, labels).item(), "loss_au": au_mse_loss(aus, au_labels).item(),
            **{k: scores[k] for k in CSV_METRICS}}


def save_checkpoint(accelerator, ckpt_dir: Path, epoch: int, keep: int) -> None:
    """accelerator.save_state to ckpt_dir/epoch_K, written under a temporary name and renamed once complete
    (so --resume never picks a torn checkpoint); keeps the newest `keep`."""
    tmp = ckpt_dir / f"epoch_{epoch}.tmp"
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(ckpt_dir / f"epoch_{epoch}", ignore_errors=True)
        tmp.rename(ckpt_dir / f"epoch_{epoch}")
        for old in checkpoints(ckpt_dir)[:-keep]:
            shutil.rmtree(old)


def checkpoints(ckpt_dir: Path) -> list[Path]:
    return sorted(ckpt_dir.glob("epoch_*[0-9]"), key=lambda p: int(p.name.split("_")[1]))


def save_best(out: Path, model, processor, cfg: TrainConfig, epoch: int, metrics: dict[str, dict], facts: RunFacts) -> None:
    """OUT/best (model, image processor, model card) and OUT/all_results.json for the best epoch so far."""
    model.save_pretrained(out / "best")
    processor.save_pretrained(out / "best")
    write_model_card(out / "best", cfg, model.config, epoch, metrics, facts)
    results = {"best_epoch": epoch, **{f"{split}_{k}": v for split, m in metrics.items() for k, v in m.items()}}
    (out / "all_results.json").write_text(json.dumps(results, indent=2) + "\n")


def start_metrics_csv(path: Path, columns: list[str], resume: bool, next_epoch: int) -> None:
    """Header, plus on --resume the rows of the epochs before the checkpoint (later ones are redone)."""
    kept = list(csv.DictReader(path.open())) if resume and path.exists() else []
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(r for r in kept if int(r["epoch"]) < next_epoch)


def has_unused_parameters(cfg: TrainConfig, next_epoch: int) -> bool:
    """Whether DDP must search for parameters without gradients (an extra pass, and a warning every run when
    there are none). Every module takes part in every forward; only frozen epochs ahead leave some out."""
    return cfg.freeze_epochs > next_epoch


def main(argv: list[str] | None = None) -> None:
    cfg = parse_args(argv)
    from datasets import load_dataset

    from evaluate_metrics import load_pain_metrics
    from pain3d_dataset.identity import dataset_identity

    from vitpain_hf import ViTPainConfig, ViTPainModel, load_backbone_weights, make_image_processor

    out, ckpt_dir = Path(cfg.output_dir), Path(cfg.output_dir) / "checkpoints"
    resume_from = checkpoints(ckpt_dir)[-1] if cfg.resume and checkpoints(ckpt_dir) else None
    next_epoch = int(resume_from.name.split("_")[1]) + 1 if resume_from else 0
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        log_with="tensorboard" if is_tensorboard_available() else None,
        project_dir=str(out),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=has_unused_parameters(cfg, next_epoch))],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=cfg.seed),
    )
    # Before anything is loaded or written: a resume must continue the same run.
    resumes = guard_resume(cfg, out, resume_from, accelerator.num_processes) if resume_from else []
    set_seed(cfg.seed)

    # Data: decoding and preprocessing happen lazily, per batch, in the DataLoader (set_transform).
    with accelerator.main_process_first():  # one process fills the datasets and evaluate caches
        ds = load_dataset(cfg.dataset, cfg.dataset_config)
        metric = load_pain_metrics(keep_in_memory=True)
    for split in ("train", "validation"):
        if split not in ds:
            raise ValueError(f"{cfg.dataset} has no {split!r} split (found {sorted(ds)})")
    if cfg.max_train_samples is not None:
        n = min(cfg.max_train_samples, len(ds["train"]))
        ds["train"] = ds["train"].shuffle(seed=cfg.seed, keep_in_memory=True).select(range(n), keep_in_memory=True)
    au_names = list(ds["train"].features["aus"])

    # Model, teacher (frozen, fed its own modality's column), image processors.
    teacher, teacher_processor = None, None
    if cfg.teacher:
        from transformers import AutoImageProcessor

        teacher = ViTPainModel.from_pretrained(cfg.teacher).to(accelerator.device).eval().requires_grad_(False)
        teacher_processor = (AutoImageProcessor.from_pretrained(cfg.teacher)
                             if Path(cfg.teacher, "preprocessor_config.json").exists()
                             else make_image_processor(teacher.config))
    if teacher is not None and teacher.config.use_reference:
        raise ValueError(f"the teacher {cfg.teacher} is reference-based; distil from a single-image teacher")
    pspi_names = ds["train"].features["pspi"].names  # the model's labels are the dataset's ClassLabel names
    model = ViTPainModel(ViTPainConfig.from_preset(
        cfg.preset, image_size=cfg.image_size, modality=cfg.modality, use_au_query=not cfg.no_au_query,
        num_pspi_classes=len(pspi_names), au_names=au_names,
        id2label=dict(enumerate(pspi_names)), label2id={n: i for i, n in enumerate(pspi_names)},
        teacher_hidden_size=teacher.config.hidden_size if teacher is not None else None,
        use_reference=cfg.reference, use_lora=cfg.lora, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
        face_crop=cfg.face_crop,  # recorded in config.json: the saved processor and predict crop inputs alike
    ))
    if teacher is not None and teacher.config.num_pspi_classes != model.config.num_pspi_classes:
        raise ValueError(f"teacher has {teacher.config.num_pspi_classes} PSPI classes, the data {model.config.num_pspi_classes}")
    if cfg.pretrained_backbone:
        load_backbone_weights(model, cfg.pretrained_backbone)
    processor = make_image_processor(model.config)  # saved with the model
    feed = make_image_processor(model.config, face_crop=False)  # the data below are cropped once, up front
    if teacher_processor is not None and hasattr(teacher_processor, "face_crop"):
        teacher_processor.face_crop = False
    column = "heatmap" if cfg.modality == "heatmap" else "image"
    teacher_column = "heatmap" if teacher is not None and teacher.config.modality == "heatmap" else "image"
    needed = {column, teacher_column, "pspi", "aus"} | ({REFERENCE_COLUMN} if cfg.reference else set())
    missing = needed - set(ds["train"].column_names)
    if missing:
        raise ValueError(f"{cfg.dataset} lacks the columns {sorted(missing)} (has {ds['train'].column_names})")
    if cfg.face_crop:
        from .face_crop import FaceCropper

        cropper = FaceCropper()
        if not cropper.available:
            raise ValueError("--face-crop needs dlib: pip install 'pain3d[facecheck]'")
        cols = ["image"] + sorted({column, teacher_column, *([REFERENCE_COLUMN] if cfg.reference else [])} - {"image"})
        with accelerator.main_process_first():
            ds = ds.map(face_crop_batch(cropper, cols), batched=True, batch_size=64, desc="face crop")
    ds["train"].set_transform(make_transform(feed, column, au_names, teacher_processor, teacher_column, cfg.augment,
                                             cfg.reference))
    loaders = {"train": DataLoader(ds["train"], batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers)}
    for split in ("validation", "test"):
        if split in ds:
            ds[split].set_transform(make_transform(feed, column, au_names, reference=cfg.reference))
            loaders[split] = DataLoader(ds[split], batch_size=cfg.batch_size, num_workers=cfg.num_workers)

    optimizer = torch.optim.AdamW(
        [{"params": model.backbone_parameters(), "lr": cfg.lr_backbone, "base_lr": cfg.lr_backbone, "name": "backbone"},
         {"params": model.head_parameters(), "lr": cfg.lr_head, "base_lr": cfg.lr_head, "name": "head"}],
        weight_decay=cfg.weight_decay,
    )
    model, optimizer, *prepared = accelerator.prepare(model, optimizer, *loaders.values())
    loaders = dict(zip(loaders, prepared))
    unwrapped = accelerator.unwrap_model(model)
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    total_steps = cfg.epochs * len(loaders["train"])
    warmup_steps = round(cfg.warmup_epochs * len(loaders["train"]))
    if resume_from:
        accelerator.load_state(str(resume_from))  # model, optimizer, RNG states and `state`
        accelerator.print(f"resumed from {resume_from} (next epoch {state.epoch}, step {state.step})")
    facts = RunFacts(accelerator.num_processes, accelerator.mixed_precision, dataset_identity(cfg.dataset), resumes)

    accelerator.init_trackers("vitpain", config={k: v if isinstance(v, (int, float, str, bool)) else str(v)
                                                 for k, v in asdict(cfg).items()})
    columns = ["epoch", "step", "lr_backbone", "lr_head", "backbone_trainable", "train_loss", "train_loss_pspi",
               "train_loss_au", *(f"train_loss_{t}" for t in DISTILL_TERMS if teacher is not None),
               "val_loss_pspi", "val_loss_au", *(f"val_{m}" for m in CSV_METRICS),
               "num_processes", "batches_per_rank", "weights_in_sync", "train_samples_per_s", "epoch_seconds"]
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
        if resumes:
            (out / "resumes.json").write_text(json.dumps(resumes, indent=2) + "\n")
        start_metrics_csv(out / "metrics.csv", columns, cfg.resume, state.epoch)

    for epoch in range(state.epoch, cfg.epochs):
        frozen = epoch < cfg.freeze_epochs
        unwrapped.set_backbone_trainable(not frozen)
        model.train()
        loaders["train"].set_epoch(epoch)  # the shuffle depends on (seed, epoch) alone
        sums, batches, samples, t0 = {}, 0, 0, time.perf_counter()
        for batch in tqdm(loaders["train"], desc=f"epoch {epoch}", disable=not accelerator.is_local_main_process):
            factor = lr_factor(state.step, total_steps, warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = 0.0 if frozen and group["name"] == "backbone" else group["base_lr"] * factor

            teacher_outputs = None
            if teacher is not None:
                with torch.no_grad(), accelerator.autocast():
                    t = teacher(pixel_values=batch.pop("teacher_pixel_values"))
                teacher_outputs = {"pspi_logits": t.pspi_logits, "au_intensities": t.au_intensities,
                                   "cls_embedding": t.cls_embedding}
            output = model(**batch, teacher_outputs=teacher_outputs)  # loss: eq. (15) over the terms present
            accelerator.backward(output.loss)
            if cfg.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)  # frozen parameters keep grad None: AdamW skips them
            state.step += 1

            for name in ("loss", "loss_pspi", "loss_au", *(f"loss_{t}" for t in DISTILL_TERMS)):
                if getattr(output, name) is not None:
                    sums[name] = sums.get(name, 0.0) + getattr(output, name).detach().float()
            batches, samples = batches + 1, samples + len(batch["pspi_labels"])

        # End of epoch: average over processes, validate, log, keep the best, checkpoint.
        seconds = time.perf_counter() - t0
        names = sorted(sums)
        means = accelerator.reduce(torch.stack([sums[n] for n in names]) / batches, "mean").tolist()
        per_rank = accelerator.gather(torch.tensor([batches, samples], device=accelerator.device)).view(-1, 2)
        checksum = sum(p.detach().double().sum() for p in unwrapped.parameters()).view(1)
        in_sync = bool((accelerator.gather(checksum) == checksum).all())  # DDP keeps every replica identical
        val = evaluate(model, loaders["validation"], accelerator, metric)
        row = {"epoch": epoch, "step": state.step, "backbone_trainable": int(not frozen),
               **{f"lr_{g['name']}": g["lr"] for g in optimizer.param_groups},
               **{f"train_{n}": v for n, v in zip(names, means)}, **{f"val_{k}": v for k, v in val.items()},
               "num_processes": accelerator.num_processes,
               "batches_per_rank": " ".join(str(int(b)) for b in per_rank[:, 0]), "weights_in_sync": int(in_sync),
               "train_samples_per_s": float(per_rank[:, 1].sum()) / seconds, "epoch_seconds": seconds}
        accelerator.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=epoch)
        accelerator.print(f"epoch {epoch}: train loss {row['train_loss']:.4f}, val macro AUROC "
                          f"{val['macro_auroc']:.4f}, acc {val['accuracy']:.3f}")
        if accelerator.is_main_process:
            with (out / "metrics.csv").open("a", newline="") as fh:
                csv.DictWriter(fh, columns, extrasaction="ignore").writerow(row)
            plot_training_curves(out / "metrics.csv", out / "curves.png")

        # Every process sees the same gathered metrics, so they all take the same branch here.
        score = -math.inf if math.isnan(val["macro_auroc"]) else val["macro_auroc"]
        if state.best_auroc is None or score > state.best_auroc:
            state.best_auroc, state.best_epoch = score, epoch
            splits = {"validation": val}
            if "test" in loaders:  # identities unseen in training and in model selection
                splits["test"] = evaluate(model, loaders["test"], accelerator, metric)
            if accelerator.is_main_process:
                save_best(out, unwrapped, processor, cfg, epoch, splits, facts)
        state.epoch = epoch + 1
        save_checkpoint(accelerator, ckpt_dir, epoch, cfg.keep_checkpoints)

    if accelerator.is_main_process and "test" in loaders and (out / "best").is_dir():
        from .evaluate import evaluate_model  # the report `python -m vitpain_hf.evaluate` writes

        evaluate_model(out / "best", cfg.dataset, "test", out / "evaluation", config=cfg.dataset_config, card=True,
                       overwrite=True, batch_size=cfg.batch_size, seed=cfg.seed, progress=False)
    if accelerator.num_processes > 1:
        # gloo (CPU DDP) keeps its last collective alive until teardown at exit; if that one still holds tensors
        # made in Python, freeing them needs the GIL while the main thread joins gloo's worker: a hang, in about
        # 1 run in 5. End on a barrier issued once the collective before it has retired (hence the pause).
        time.sleep(0.2)
        accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
