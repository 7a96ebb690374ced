"""Which renderer draws the frames: the numba CPU renderer, or pytorch3d (GPU) in its own env.

Both take the same arguments and give the same ``RenderOutput``s (``render_batch`` over an
identity's expressions x views), so nothing downstream knows which one ran. pytorch3d is not in
the main environment: it loads only beside torch 2.12.1 (``make test-pytorch3d`` builds
``.venv-pytorch3d``), so it is imported here on first use, never at import time.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

import numpy as np

from .cameras import PerspectiveCamera
from .renderer import MeshRenderer, RenderOutput
from .shading import Lights

RENDERERS = ("numba", "pytorch3d")
INSTALL_HINT = (
    "install it in its own environment with `make test-pytorch3d` (builds .venv-pytorch3d: "
    "torch==2.12.1 + easypytorch3d==0.7.9.post1) or `pip install 'pain3d[pytorch3d]'`; "
    "the main environment's torch cannot load it"
)


class RendererUnavailable(RuntimeError):
    """The chosen renderer or device cannot run here; the message says how to get it."""


class Renderer(Protocol):
    """What the generator needs from a renderer backend (see ``MeshRenderer``)."""

    def __call__(self, mesh, camera: PerspectiveCamera, **shading) -> RenderOutput: ...

    def render_batch(
        self, vertices: Sequence[np.ndarray], faces: np.ndarray, cameras: Sequence[PerspectiveCamera], **shading
    ) -> Iterator[RenderOutput]: ...


def check_device(name: str, device: str) -> None:
    """Raise ValueError when ``device`` is malformed or not one renderer ``name`` runs on."""
    if not isinstance(device, str) or not (device in ("cpu", "cuda") or device[5:].isdigit() and device.startswith("cuda:")):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if name == "numba" and device != "cpu":
        raise ValueError(f"the numba renderer runs on the CPU only (--device cpu), got --device {device}; "
                         "use --renderer pytorch3d for a GPU")


def check_renderer(name: str, device: str) -> None:
    """Raise ValueError for an unknown name or device, RendererUnavailable when it cannot run here."""
    if name not in RENDERERS:
        raise ValueError(f"unknown renderer {name!r}; choose one of {', '.join(RENDERERS)}")
    check_device(name, device)
    if name == "numba":
        return
    load_pytorch3d()
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RendererUnavailable(f"--device {device}: torch {torch.__version__} sees no CUDA GPU here; "
                                  "use --device cpu (slow: pytorch3d's CPU rasterizer is not binned)")


def load_pytorch3d():
    """Import and return the ``pytorch3d`` module, or raise RendererUnavailable saying how to install it."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RendererUnavailable(f"the pytorch3d renderer needs torch and pytorch3d, and torch is missing; {INSTALL_HINT}") from None
    try:
        import pytorch3d
        from pytorch3d import _C  # noqa: F401  (the compiled kernels: where a torch mismatch shows)
    except ImportError as e:
        import torch

        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RendererUnavailable(
            f"the pytorch3d renderer cannot load pytorch3d beside torch {torch.__version__} ({first}); {INSTALL_HINT}"
        ) from None
    return pytorch3d


def make_renderer(name: str, lights: Lights, ssaa: int = 1, device: str = "cpu") -> Renderer:
    """The renderer ``name`` ("numba" or "pytorch3d") with this light rig and supersampling."""
    check_renderer(name, device)
    if name == "numba":
        return MeshRenderer(lights=lights, ssaa=ssaa)
    from ..devices import resolve_device
    from .pytorch3d_renderer import Pytorch3dRenderer

    # under accelerate launch / torchrun, plain "cuda" is this process's own GPU
    return Pytorch3dRenderer(lights=lights, ssaa=ssaa, device=resolve_device(device))
