"""One figure of a ``pain3d check-faces`` report: what face models trained on photographs make
of a generated dataset, for people who would rather look than read the numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .facecheck import AU_GROUPS, AU_MEASURES, SAME_PERSON, FaceReport

DETECTION_TARGET = 0.98  # issue 12: the face found in at least 98 % of each view's frames
REAL_PEOPLE = (0.8, 1.0)  # typical descriptor distance between different real people


def _detection(ax, report: FaceReport) -> None:
    views = list(report.detection)
    detectors = sorted({d for rates in report.detection.values() for d in rates}, reverse=True)  # HOG, CNN
    width = 0.8 / max(1, len(detectors))
    for k, det in enumerate(detectors):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(views))]
        ax.bar(xs, [100 * report.detection[v].get(det, np.nan) for v in views], width=width, label=det)
    ax.axhline(100 * DETECTION_TARGET, color="k", ls="--", lw=0.8, label=f"{DETECTION_TARGET:.0%}")
    ax.set_xticks(range(len(views)))
    ax.set_xticklabels(views, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("frames with the face found (%)")
    ax.set_title("face found, per view", fontsize=9)
    ax.legend(fontsize=7, loc="lower center", framealpha=0.9)


def _identity(ax, report: FaceReport) -> None:
    hist = report.distance_histogram
    ax.set_title("identity distance, neutral faces", fontsize=9)
    ax.set_xlabel(f"descriptor distance ({report.identity_view})")
    if not hist:
        ax.text(0.5, 0.5, "not measured\n(--aus-only)", ha="center", va="center", transform=ax.transAxes, fontsize=9)
        ax.set_yticks([])
        return
    edges = np.asarray(hist["edges"])
    for name in ("all", "same stratum"):
        counts = np.asarray(hist[name], dtype=np.float64)
        if counts.sum():
            ax.stairs(100 * counts / counts.sum(), edges, label=f"{name} ({counts.sum():.0f} pairs)",
                      fill=name == "all", alpha=0.5 if name == "all" else 1.0)
    ax.axvline(SAME_PERSON, color="k", ls="--", lw=0.8)
    ax.text(SAME_PERSON + 0.02, ax.get_ylim()[1] * 0.97, f"same person\nbelow {SAME_PERSON}", fontsize=7, va="top",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.axvspan(*REAL_PEOPLE, color="tab:green", alpha=0.12, label="different real people")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel("pairs (%)")
    d = report.distance
    ax.set_title(f"identity distance, neutral faces: median {d['median']:.2f}, {d['distinct']:.0%} over {SAME_PERSON}", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")


def _movement(ax, report: FaceReport, groups: list[str], ylabel: str) -> None:
    for k, g in enumerate(groups):
        levels = report.au_levels.get(g, [])
        if not levels:
            continue
        x = np.array([v["level"] for v in levels]) + 0.06 * (k - (len(groups) - 1) / 2)
        med = np.array([v["median"] for v in levels])
        iqr = np.array([v["iqr"] for v in levels])
        rho = report.au_spearman.get(g, np.nan)
        ax.errorbar(x, med, yerr=iqr / 2, marker="o", ms=3, capsize=2, lw=1, label=f"{g}: rho {rho:+.2f}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("label level")
    ax.set_xticks(sorted({v["level"] for g in groups for v in report.au_levels.get(g, [])}))
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left")


def report_figure(report: FaceReport) -> bytes:
    """PNG bytes: detection per view, the identity distances against dlib's same-person threshold
    and real people's range, and each pain AU group's landmark movement by label level (median,
    bar = interquartile range) with its rank correlation."""
    from pain3d_dataset.card import new_figure, png_bytes

    fig = new_figure(16.0, 3.6)
    axes = [fig.add_subplot(1, 4, i + 1) for i in range(4)]
    _detection(axes[0], report)
    _identity(axes[1], report)
    ruler = [g for g in AU_GROUPS if g != "AU43"]
    _movement(axes[2], report, ruler, "movement, inter-ocular distances")
    axes[2].set_title("pain AUs: " + ", ".join(AU_MEASURES[g] for g in ruler), fontsize=8)
    _movement(axes[3], report, ["AU43"], "eye aspect ratio fallen")
    axes[3].set_title(f"AU43: {AU_MEASURES['AU43'].split(' (')[0]}", fontsize=9)
    fig.suptitle(f"{report.frames} frames of {report.identities} identities, as dlib's models trained on photographs see them", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def write_report_figure(report: FaceReport, png: Path) -> None:
    """``report_figure`` written to ``png`` through a temporary file (no half-written plot)."""
    png = Path(png)
    tmp = png.with_name(png.name + ".tmp")
    tmp.write_bytes(report_figure(report))
    tmp.replace(png)
