"""Limits on generation settings, checked before any work: what fits in memory, and ranges.

``check_counts`` compares a memory estimate of a run (the dataset-wide plan, one identity's
frames, one supersampled render) with this machine's memory, and names the option to lower
with its accepted range. Seeds lie in 0..2**63 - 1: numpy's generators take any non-negative
integer, the Parquet ``seed`` column is int64.
"""

from __future__ import annotations

import math
import numbers
import os

SEED_MAX = 2**63 - 1
MAX_SIZE = 2048
MIN_SIZE = 32
# rough bytes per unit, measured on the procedural CPU path (an estimate, not a bound)
PLAN_BYTES_PER_IDENTITY = 2048  # demographics, split and manifest records
PLAN_BYTES_PER_EXPRESSION = 64  # PSPI targets
FRAME_BYTES_PER_PIXEL = 24  # image, heat, direction and encoded copies of one frame
RENDER_BYTES_PER_SAMPLE = 120  # z-buffer, face ids, barycentrics, shading of one sample
BASE_BYTES = 300 << 20  # interpreter, libraries, face model


def memory_budget() -> int:
    """Physical memory of this machine in bytes (16 GiB when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"


def estimate(identities: int, expressions: int, views: int, size: int, ssaa: int) -> dict[str, int]:
    """Bytes of the run's parts: ``plan``, ``identity`` (one identity's frames), ``render``."""
    return {
        "plan": identities * (PLAN_BYTES_PER_IDENTITY + expressions * PLAN_BYTES_PER_EXPRESSION),
        "identity": (expressions + 1) * views * size * size * FRAME_BYTES_PER_PIXEL,
        "render": (size * ssaa) ** 2 * RENDER_BYTES_PER_SAMPLE,
    }


def check_counts(identities: int, expressions: int, views: int, size: int, ssaa: int, budget: int | None = None) -> None:
    """Raise ValueError naming the option (and its accepted range) when a setting is out of
    range or the run would not fit in ``budget`` bytes (default: this machine's memory)."""
    for name, v, lo in (("--identities", identities, 0), ("--expressions", expressions, 0), ("--views", views, 1), ("--ssaa", ssaa, 1)):
        if v < lo:
            raise ValueError(f"{name} must be at least {lo}, got {v}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"--size must be an integer from {MIN_SIZE} to {MAX_SIZE}, got {size}")
    budget = memory_budget() if budget is None else budget
    room = budget - BASE_BYTES
    parts = estimate(identities, expressions, views, size, ssaa)
    have = human(budget)
    if parts["render"] > room:
        top = max(1, math.isqrt(room // RENDER_BYTES_PER_SAMPLE) // size)
        raise ValueError(
            f"--ssaa {ssaa} at --size {size} renders {size * ssaa} x {size * ssaa} samples: about {human(parts['render'])} "
            f"of memory, more than this machine's {have}; accepted --ssaa: 1..{top} at --size {size}"
        )
    if parts["identity"] > room:
        per_frame = size * size * FRAME_BYTES_PER_PIXEL
        frames = max(1, room // per_frame)
        what = f"one identity's {expressions + 1} x {views} frames at --size {size}: about {human(parts['identity'])} of memory, more than this machine's {have}"
        if views > expressions + 1:
            raise ValueError(f"--views {views} with {what}; accepted --views: 1..{max(1, frames // (expressions + 1))} with --expressions {expressions}")
        raise ValueError(f"--expressions {expressions} with {what}; accepted --expressions: 0..{max(0, frames // views - 1)} with --views {views}")
    if parts["plan"] > room:
        per_identity = PLAN_BYTES_PER_IDENTITY + expressions * PLAN_BYTES_PER_EXPRESSION
        raise ValueError(
            f"--identities {identities} with --expressions {expressions}: the run's plan needs about {human(parts['plan'])} of memory, "
            f"more than this machine's {have}; accepted --identities: 0..{room // per_identity} (split larger runs over several --out folders)"
        )


def check_seed(seed: int, option: str = "--seed") -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"{option} must be a whole number from 0 to {SEED_MAX} (2**63 - 1), got {seed}")


def check_finite(value: float, option: str, lo: float, hi: float) -> None:
    """``value`` must be a finite number within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(f"{option} must be a finite number from {lo:g} to {hi:g}, got {value}")


def check_shard_mb(mb: float, option: str = "--max-shard-mb") -> None:
    if isinstance(mb, bool) or not isinstance(mb, numbers.Real) or not (math.isfinite(mb) and mb > 0):
        raise ValueError(f"{option} must be a finite number of MB above 0 (e.g. 256), got {mb}")


__all__ = ["SEED_MAX", "check_counts", "check_finite", "check_seed", "check_shard_mb", "estimate", "memory_budget"]
