"""The model card (README.md) of a trained ViTPain: model-index metrics, and the run as it actually was
(the data by name, generation command and content hash; the processes and mixed precision used)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pain3d_dataset.identity import DatasetIdentity

    from .train import TrainConfig


@dataclass
class RunFacts:
    """What the run actually used (as opposed to what was asked), for the model card."""

    processes: int
    mixed_precision: str  # the accelerator's: no, fp16 or bf16
    dataset: DatasetIdentity
    resumes: list[dict]  # OUT/resumes.json: resumes that went on despite changed settings


def write_model_card(path: Path, cfg: TrainConfig, model_config, epoch: int, metrics: dict[str, dict],
                     facts: RunFacts) -> None:
    """README.md with model-index metrics ({split: {metric: value}}) and how the model was trained."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    name = f"vitpain-{cfg.preset}-{cfg.modality}" + ("-distilled" if cfg.teacher else "")
    card_metrics = {"macro_auroc": "Macro AUROC", "accuracy": "Accuracy", "accuracy_within_1": "Accuracy (±1)",
                    "accuracy_within_2": "Accuracy (±2)", "mae": "MAE of expected PSPI"}
    data = facts.dataset
    results = [
        EvalResult(task_type="image-classification", task_name="PSPI classification (0-16)",
                   dataset_type=data.type, dataset_name=data.name, dataset_config=cfg.dataset_config,
                   dataset_split=split, dataset_revision=data.revision, metric_type=key, metric_name=label,
                   metric_value=round(values[key], 4))
        for split, values in metrics.items() for key, label in card_metrics.items()
        if key in values and not math.isnan(values[key])
    ]
    card_data = ModelCardData(model_name=name, library_name="transformers", pipeline_tag="image-classification",
                              tags=["vitpain", "pain-assessment", "pspi", "facial-action-units"], eval_results=results)
    rows = "\n".join(
        f"| {split} | " + " | ".join(f"{values.get(k, float('nan')):.4f}" for k in card_metrics) + " |"
        for split, values in metrics.items()
    )
    variant = ", ".join(v for v, on in (("reference-based (neutral frame as second input)", cfg.reference),
                                         (f"LoRA r={cfg.lora_r} alpha={cfg.lora_alpha} on q/v", cfg.lora)) if on)
    settings = {
        "dataset": data.describe() + (f", config `{cfg.dataset_config}`" if cfg.dataset_config else ""),
        "input modality": cfg.modality + (" (face crops)" if cfg.face_crop else ""),
        "preset": f"{cfg.preset}, {model_config.image_size[0]}px", "variant": variant or "plain",
        "AU query tokens": not cfg.no_au_query, "teacher (distillation, eq. 15)": cfg.teacher or "none",
        "pretrained backbone": cfg.pretrained_backbone or "none (random init)",
        "epochs": f"{cfg.epochs} (backbone frozen for {cfg.freeze_epochs}); best epoch {epoch}",
        "optimizer": f"AdamW, lr backbone {cfg.lr_backbone:g} / heads {cfg.lr_head:g}, "
                     f"{f'{cfg.warmup_epochs:g} warm-up epochs, ' if cfg.warmup_epochs else ''}cosine to 1%, "
                     f"weight decay {cfg.weight_decay:g}",
        "augmentation": "random crops and mirroring" if cfg.augment else "none",
        "batch size": f"{cfg.batch_size} per process x {facts.processes} process(es)",
        "mixed precision": facts.mixed_precision, "seed": cfg.seed,
    }
    for r in facts.resumes:
        changes = ", ".join(f"{k} {was} -> {now}" for k, (was, now) in r["changed"].items())
        settings[f"resumed at epoch {r['epoch']}"] = f"with changed settings ({changes}), --allow-changed-settings"
    body = "\n".join(f"| {k} | {v} |" for k, v in settings.items())
    text = f"""---
{card_data.to_yaml()}
---

# {name}

ViTPain (paper "Pain in 3D", section 4): PSPI classification (17 classes, scores 0-16) and AU intensity
regression from one face image, trained with `python -m vitpain_hf.train`.

## Results

| split | {" | ".join(card_metrics.values())} |
|---|{"---|" * len(card_metrics)}
{rows}

## Training

| setting | value |
|---|---|
{body}

## Use

```python
from transformers import pipeline

classifier = pipeline("image-classification", model="path/to/this/folder", trust_remote_code=True)
print(classifier("face.png"))  # [{{'label': '7', 'score': ...}}, ...]: PSPI levels, most likely first
```

or, for the expected PSPI, the AU intensities and the face box
(`pain3d assess face.png --model path/to/this/folder` from the command line):

```python
import vitpain_hf  # registers the model; or pass trust_remote_code=True without the package
from transformers import AutoModel

model = AutoModel.from_pretrained("path/to/this/folder")
print(model.predict("face.png")["expected_pspi"])
```
""" + ("""
The model was trained on face crops: its image processor and `predict` find the largest face (dlib's HOG
detector, `pip install dlib-bin`) and crop it the same way; an image without a face is refused.
""" if cfg.face_crop else "")
    ModelCard(text).save(path / "README.md")


__all__ = ["RunFacts", "write_model_card"]
