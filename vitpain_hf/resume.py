"""--resume continues the same run: the checkpoint's settings and number of processes must match this
run's, unless --allow-changed-settings, whose changes OUT/resumes.json records."""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .train import TrainConfig

RESUME_FREE = ("resume", "allow_changed_settings", "keep_checkpoints", "num_workers", "output_dir")


def checkpoint_processes(checkpoint: Path) -> int:
    """Processes that wrote an accelerate checkpoint: one random_states_K.pkl each."""
    return max(1, len(list(checkpoint.glob("random_states_*.pkl"))))


def resume_changes(saved: dict | None, cfg: TrainConfig, saved_processes: int, processes: int) -> dict[str, tuple]:
    """{setting: (then, now)} between the checkpointed run and this one; `processes` for the world size."""
    now = asdict(cfg)
    defaults = {f.name: f.default for f in fields(cfg)}  # settings added since the run was started
    changes = {}
    if saved is None:
        changes["train_config.json"] = ("missing", "present")
    else:
        for key, value in now.items():
            then = saved.get(key, defaults[key])
            if key not in RESUME_FREE and then != value:
                changes[key] = (then, value)
    if saved_processes != processes:
        changes["processes"] = (saved_processes, processes)
    return changes


def guard_resume(cfg: TrainConfig, out: Path, checkpoint: Path, processes: int) -> list[dict]:
    """Refuses (exit 2, one line) to resume `checkpoint` with other settings or another number of processes,
    unless --allow-changed-settings; then returns OUT/resumes.json's records with this resume appended."""
    try:
        saved = json.loads((out / "train_config.json").read_text())
    except (OSError, ValueError):
        saved = None
    changes = resume_changes(saved, cfg, checkpoint_processes(checkpoint), processes)
    log = out / "resumes.json"
    records = json.loads(log.read_text()) if log.exists() else []
    if not changes:
        return records
    named = ", ".join(f"{'--' + k.replace('_', '-') if k in asdict(cfg) else k} {then} (now {now})"
                      for k, (then, now) in changes.items())
    if not cfg.allow_changed_settings:
        print(f"vitpain_hf.train: error: {checkpoint} was made with other settings: {named}; resume with the same "
              f"settings, or pass --allow-changed-settings to continue anyway (recorded in {log})", file=sys.stderr)
        raise SystemExit(2)
    print(f"vitpain_hf.train: warning: resuming with changed settings: {named} (recorded in {log})", file=sys.stderr)
    return records + [{"epoch": int(checkpoint.name.split("_")[1]) + 1, "changed": changes,
                       "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}]


__all__ = ["checkpoint_processes", "guard_resume", "resume_changes"]
