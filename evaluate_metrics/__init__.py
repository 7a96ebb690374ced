"""`evaluate` modules of the pain3d project.

`pain_metrics/` is a self-contained `evaluate` metric folder (module, metric card, requirements,
Space app). Load it with `load_pain_metrics()` from anywhere, or with
`evaluate.load("evaluate_metrics/pain_metrics")` from the repository root.
"""

from pathlib import Path


PAIN_METRICS_PATH = Path(__file__).resolve().parent / "pain_metrics"


def load_pain_metrics(**kwargs):
    """Returns the pain-assessment metric: `evaluate.load` on the absolute path of `pain_metrics/`.

    Keyword arguments are passed on to `evaluate.load` (e.g. `experiment_id`, `keep_in_memory`).
    """
    import evaluate  # imported here so that importing this package does not require evaluate

    return evaluate.load(str(PAIN_METRICS_PATH), **kwargs)


__all__ = ["PAIN_METRICS_PATH", "load_pain_metrics"]
