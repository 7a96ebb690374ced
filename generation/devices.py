"""Which torch device a process uses: one place for "auto" and for one GPU per launched process."""

from __future__ import annotations

import os


def resolve_device(device: str) -> str:
    """"auto" -> "cuda" if available else "cpu"; "cuda" -> "cuda:$LOCAL_RANK" in a launched job
    (``accelerate launch`` / ``torchrun``), so each process renders or diffuses on its own GPU.

    Raises ValueError when CUDA is asked for and torch cannot see a GPU.
    """
    import torch

    device = str(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}: torch sees no CUDA GPU (torch {torch.__version__})")
        if device == "cuda" and "LOCAL_RANK" in os.environ:
            device = f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device
