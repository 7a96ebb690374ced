"""curves.png of a training run, drawn from its metrics.csv (no TensorBoard needed)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

PANELS = (  # (title, columns, log scale)
    ("losses", ("train_loss", "train_loss_pspi", "train_loss_au", "val_loss_pspi", "val_loss_au"), False),
    ("validation", ("val_macro_auroc", "val_accuracy", "val_accuracy_within_1", "val_accuracy_within_2"), False),
    ("learning rates", ("lr_backbone", "lr_head"), True),
)


def read_curves(metrics_csv: Path) -> dict[str, list[float]]:
    """{column: values per epoch} of the numeric columns of metrics.csv (empty cells become NaN)."""
    with Path(metrics_csv).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    curves: dict[str, list[float]] = {}
    for name in rows[0] if rows else ():
        try:
            curves[name] = [float(r[name]) if r[name] not in ("", None) else math.nan for r in rows]
        except ValueError:  # a text column (batches_per_rank)
            continue
    return curves


def plot_training_curves(metrics_csv: Path, png: Path) -> None:
    """Losses, validation metrics and learning rates per epoch, one panel each, written to `png`."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    curves = read_curves(metrics_csv)
    epochs = curves.get("epoch", [])
    fig = Figure(figsize=(12, 3.4), dpi=90)
    for i, (title, columns, log) in enumerate(PANELS):
        ax = fig.add_subplot(1, len(PANELS), i + 1)
        for column in columns:
            values = curves.get(column)
            if values and not all(math.isnan(v) for v in values) and (not log or max(values) > 0):
                ax.plot(epochs, values, marker=".", label=column)
        if log and ax.lines:
            ax.set_yscale("symlog", linthresh=min(v for line in ax.lines for v in line.get_ydata() if v > 0))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    png = Path(png)
    tmp = png.with_name(png.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(png)  # a reader never sees a half-written plot


__all__ = ["plot_training_curves", "read_curves"]
