"""Matplotlib figures drawn off-screen, as reproducible PNG bytes: the one way this project
draws its plots (dataset card, evaluation report, check-faces, benchmarks)."""

from __future__ import annotations

import io


def new_figure(width: float, height: float):
    """A matplotlib Figure drawn off-screen (Agg), never touching pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes, reproducible for the same data."""
    buf = io.BytesIO()
    # no "Software" entry: the bytes depend on the data, not on the matplotlib release
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
