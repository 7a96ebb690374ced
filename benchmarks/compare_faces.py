"""Side-by-side table of two `pain3d check-faces --json` reports (e.g. before and after a change).

    python benchmarks/compare_faces.py before.json after.json [--names before after] [--plot cmp.png]

Prints a Markdown table of the issue-12 measures next to their targets; ``--plot`` also draws
the reports over each other (``check-faces --plot``'s figure, one line style per report).
--quick runs the comparison on tiny hand-made reports (no dlib needed), so the script cannot rot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generation.facecheck import FaceReport
from generation.facecheck_plot import plot_path_error, write_report_figure

TARGETS = {
    "pairs over 0.6": ">= 90 %",
    "same-stratum pairs over 0.6": ">= 80 %",
    "median distance": "real people: 0.8-1.0",
    "pain frames kept": ">= 95 %",
}


def rows(rep: dict) -> dict[str, str]:
    """The measures of one report as formatted cells (a ``--aus-only`` report has no identity
    measures and no CNN detection: those cells stay empty)."""
    out = {}
    if rep["distance"]:
        out = {
            "pairs over 0.6": f"{rep['distance']['distinct']:.1%}",
            "same-stratum pairs over 0.6": f"{rep['within_stratum_distinct']:.1%}",
            "median distance": f"{rep['distance']['median']:.3f}",
            "5th percentile distance": f"{rep['distance']['p5']:.3f}",
            "pain frames kept": f"{rep['pain_kept']:.1%}",
        }
    for contrast, v in rep.get("distance_by_contrast", {}).items():  # reports before 2026-12-05 have none
        if contrast != "same stratum" and v["pairs"]:
            out[f"pairs differing in {contrast}: median / over 0.6"] = f"{v['median']:.3f} / {v['distinct']:.1%}"
    for view, rates in rep["detection"].items():
        out[f"found, {view} (HOG / CNN)"] = " / ".join(f"{rates[d]:.1%}" if d in rates else "-" for d in ("HOG", "CNN"))
    intervals = rep.get("au_spearman_ci", {})  # reports before the intervals have none
    for group, rho in rep["au_spearman"].items():
        lo, hi = intervals.get(group, (float("nan"), float("nan")))
        out[f"Spearman rho, {group}"] = f"{rho:+.2f}" + (f" [{lo:+.2f}, {hi:+.2f}]" if lo == lo else "")
    return out


def table(reports: list[dict], names: list[str]) -> str:
    cells = [rows(r) for r in reports]
    keys = list(dict.fromkeys(k for c in cells for k in c))
    lines = ["| measure | " + " | ".join(names) + " | target |", "|---|" + "---|" * len(names) + "---|"]
    for k in keys:
        target = TARGETS.get(k, ">= 98 %" if k.startswith("found") else ">= 0.7" if k.startswith("Spearman") else "")
        lines.append(f"| {k} | " + " | ".join(c.get(k, "") for c in cells) + f" | {target} |")
    return "\n".join(lines)


def _tiny(distinct: float | None) -> dict:
    """A hand-made report; ``distinct`` None: as ``check-faces --aus-only`` writes it."""
    full = distinct is not None
    return {
        "distance": {"distinct": distinct, "median": 0.5, "p5": 0.4, "pairs": 3} if full else {},
        "within_stratum_distinct": 0.0 if full else float("nan"),
        "distance_by_contrast": {"age only": {"median": 0.45, "distinct": 0.0, "pairs": 2}} if full else {},
        "pain_kept": 1.0 if full else float("nan"),
        "detection": {"yaw+0": {"HOG": 1.0, "CNN": 1.0} if full else {"HOG": 1.0}},
        "au_spearman": {"AU4": 0.5},
        "au_spearman_ci": {"AU4": [0.4, 0.6]},
        "au_levels": {"AU4": [{"level": 0.0, "pairs": 4, "median": 0.0, "iqr": 0.01},
                              {"level": 5.0, "pairs": 4, "median": 0.05 + 0.1 * (distinct or 0), "iqr": 0.02}]},
        "distance_histogram": {"edges": [0.0, 0.6, 1.2], "all": [2, 1], "same stratum": [1, 0]} if full else {},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="*", help="check-faces JSON reports")
    ap.add_argument("--names", nargs="*", default=None, help="column names (default: file names)")
    ap.add_argument("--quick", action="store_true", help="compare two built-in tiny reports")
    ap.add_argument("--plot", default=None, metavar="PNG", help="also draw the reports over each other into this PNG")
    args = ap.parse_args()
    if args.plot and plot_path_error(args.plot):
        ap.error(plot_path_error(args.plot))
    if args.quick:
        reports, names = [_tiny(0.25), _tiny(0.5), _tiny(None)], ["a", "b", "aus-only"]
    else:
        if not args.reports:
            ap.error("give two or more check-faces JSON reports, or --quick")
        reports = []
        for p in args.reports:
            try:
                rep = json.loads(Path(p).read_text())
                rows(rep)
            except OSError as e:
                ap.error(f"{p}: cannot read it ({e.strerror}); give reports written by pain3d check-faces --json")
            except (ValueError, KeyError, TypeError, AttributeError):
                ap.error(f"{p}: not a check-faces report; write one with pain3d check-faces DIR --json {p}")
            reports.append(rep)
        names = args.names or [Path(p).stem for p in args.reports]
    print(table(reports, names))
    if args.plot:
        write_report_figure({n: FaceReport.from_dict(r) for n, r in zip(names, reports)}, Path(args.plot))
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
