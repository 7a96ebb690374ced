"""One figure of ``pain3d check-faces`` reports: what face models trained on photographs make of
a generated dataset, or of several (before and after a change), for people who would rather
look than read the numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .facecheck import AU_GROUPS, AU_MEASURES, SAME_PERSON, FaceReport
from .layout import write_atomic

DETECTION_TARGET = 0.98  # issue 12: the face found in at least 98 % of each view's frames
REAL_PEOPLE = (0.8, 1.0)  # typical descriptor distance between different real people
LINE_STYLES = ("-", "--", ":", "-.")  # one per report, in order


def _detection(ax, reports: Mapping[str, FaceReport]) -> None:
    views = list(dict.fromkeys(v for rep in reports.values() for v in rep.detection))
    bars = [(name, det) for name, rep in reports.items()
            for det in sorted({d for rates in rep.detection.values() for d in rates}, reverse=True)]  # HOG, CNN
    width = 0.8 / max(1, len(bars))
    for k, (name, det) in enumerate(bars):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(views))]
        rates = reports[name].detection
        label = det if len(reports) == 1 else f"{name}: {det}"
        ax.bar(xs, [100 * rates.get(v, {}).get(det, np.nan) for v in views], width=width, label=label)
    ax.axhline(100 * DETECTION_TARGET, color="k", ls="--", lw=0.8, label=f"{DETECTION_TARGET:.0%}")
    ax.set_xticks(range(len(views)))
    ax.set_xticklabels(views, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("frames with the face found (%)")
    ax.set_title("face found, per view", fontsize=9)
    ax.legend(fontsize=7, loc="lower center", framealpha=0.9)


def _identity(ax, reports: Mapping[str, FaceReport]) -> None:
    ax.set_xlabel("descriptor distance, frontal neutral faces")
    measured = {name: rep for name, rep in reports.items() if rep.distance_histogram}
    if not measured:
        ax.set_title("identity distance", fontsize=9)
        ax.text(0.5, 0.5, "no distances in the report\n(--aus-only)", ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_yticks([])
        return
    one = len(reports) == 1
    for k, (name, rep) in enumerate(measured.items()):
        edges = np.asarray(rep.distance_histogram["edges"])
        style = LINE_STYLES[k % len(LINE_STYLES)]
        for part in ("all", "same stratum"):
            counts = np.asarray(rep.distance_histogram[part], dtype=np.float64)
            if not counts.sum():
                continue
            label = f"{part} ({counts.sum():.0f} pairs)" if one else f"{name}, {part}"
            fill = one and part == "all"
            ax.stairs(100 * counts / counts.sum(), edges, label=label, fill=fill, alpha=0.5 if fill else 1.0,
                      color="tab:blue" if part == "all" else "tab:orange", ls=style)
    ax.axvline(SAME_PERSON, color="k", ls="--", lw=0.8)
    ax.text(SAME_PERSON + 0.02, 0.6, f"same person\nbelow {SAME_PERSON}", fontsize=7, va="top",
            transform=ax.get_xaxis_transform(), bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.axvspan(*REAL_PEOPLE, color="tab:green", alpha=0.12, label="different real people")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel("pairs (%)")
    if one:
        d = next(iter(measured.values())).distance
        title = f"identity distance: median {d['median']:.2f}, {d['distinct']:.0%} over {SAME_PERSON}"
    else:
        title = "identity distance, median: " + ", ".join(f"{n} {r.distance['median']:.2f}" for n, r in measured.items())
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")


def _movement(ax, reports: Mapping[str, FaceReport], groups: list[str], ylabel: str) -> None:
    colours = {g: f"C{i}" for i, g in enumerate(AU_GROUPS)}
    ticks = set()
    for k, (name, rep) in enumerate(reports.items()):
        for j, g in enumerate(groups):
            levels = rep.au_levels.get(g, [])
            if not levels:
                continue
            ticks |= {v["level"] for v in levels}
            x = np.array([v["level"] for v in levels]) + 0.05 * (j + k * len(groups) - (len(groups) * len(reports) - 1) / 2)
            med = np.array([v["median"] for v in levels])
            iqr = np.array([v["iqr"] for v in levels])
            label = f"{g}: rho {rep.au_spearman.get(g, np.nan):+.2f}" + ("" if len(reports) == 1 else f" ({name})")
            ax.errorbar(x, med, yerr=iqr / 2, marker="o", ms=3, capsize=2, lw=1, color=colours[g],
                        ls=LINE_STYLES[k % len(LINE_STYLES)], label=label)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("label level")
    ax.set_xticks(sorted(ticks))
    ax.set_ylabel(ylabel, fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, frameon=False, loc="upper left")


def report_figure(reports: FaceReport | Mapping[str, FaceReport]) -> bytes:
    """PNG bytes: detection per view, the identity distances against dlib's same-person threshold
    and real people's range, and each pain AU group's landmark movement by label level (median,
    bar = interquartile range) with its rank correlation. Several reports ({name: report}) are
    drawn over each other, one line style each."""
    from .figure import new_figure, png_bytes

    if isinstance(reports, FaceReport):
        reports = {"": reports}
    if not reports:
        raise ValueError("no report to draw")
    fig = new_figure(16.0, 3.6 if len(reports) == 1 else 4.2)
    axes = [fig.add_subplot(1, 4, i + 1) for i in range(4)]
    _detection(axes[0], reports)
    _identity(axes[1], reports)
    ruler = [g for g in AU_GROUPS if g != "AU43"]
    _movement(axes[2], reports, ruler, "movement, inter-ocular distances")
    axes[2].set_title("pain AUs: " + ", ".join(AU_MEASURES[g] for g in ruler), fontsize=8)
    _movement(axes[3], reports, ["AU43"], "eye aspect ratio fallen")
    axes[3].set_title(f"AU43: {AU_MEASURES['AU43'].split(' (')[0]}", fontsize=9)
    first = next(iter(reports.values()))
    what = f"{first.frames} frames of {first.identities} identities" if len(reports) == 1 else " vs ".join(reports)
    fig.suptitle(f"{what}, as dlib's models trained on photographs see them", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def plot_path_error(png: Path | str) -> str | None:
    """Why ``png`` cannot take the figure (for ``--plot``, checked before any work), or None."""
    png = Path(png)
    if png.suffix.lower() != ".png" or png.is_dir():
        return f"--plot must name a .png file, got {png}"
    return None


def write_report_figure(reports: FaceReport | Mapping[str, FaceReport], png: Path) -> None:
    """``report_figure`` written to ``png`` atomically (no half-written plot)."""
    write_atomic(Path(png), report_figure(reports))
