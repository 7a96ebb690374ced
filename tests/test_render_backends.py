"""Renderer backends as the generator sees them: ``make_renderer`` and ``render_batch``.

Why this suite never imports pytorch3d: the pytorch3d backend needs pytorch3d, which PyPI ships
only as easypytorch3d, a CUDA 13 build that loads beside exactly torch 2.12.1; this environment
keeps the CPU torch (2.13, which it cannot load). Its agreement tests with the numba renderer
(analytic plane and cube, random meshes, a generated head at 64 px) are in
tests_pytorch3d/ and run in their own environment: ``make test-pytorch3d``. Here: the numba
side of the shared interface, and the clear errors when pytorch3d is asked for but absent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run

from generation.mesh import grid_faces
from generation.pipeline import GenerationConfig
from generation.render import Lights, MeshRenderer, PerspectiveCamera
from generation.render.backends import RendererUnavailable, check_renderer, load_pytorch3d, make_renderer

REPO = Path(__file__).resolve().parents[1]


def wavy_sheet(n: int = 12, lift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid sheet (100 mm wide, facing +z) with a bump; ``lift`` raises the bump."""
    xs, ys = np.meshgrid(np.linspace(-50, 50, n), np.linspace(50, -50, n))
    zs = (10.0 + lift) * np.exp(-(xs**2 + ys**2) / 800.0)
    return np.stack([xs, ys, zs], -1).reshape(-1, 3).astype(np.float32), grid_faces(n, n)


def assert_batch_is_single_frames(renderer, meshes, faces, cams, attrs) -> list:
    """``renderer.render_batch`` yields (mesh e, camera j) e-major, each equal to one single
    call (background (5, 6, 7)); returns the batch's outputs. Shared with tests_pytorch3d/."""
    outs = list(renderer.render_batch(meshes, faces, cams, background=(5, 6, 7), extra_attrs=attrs))
    assert len(outs) == len(meshes) * len(cams)
    for k, out in enumerate(outs):
        e, j = divmod(k, len(cams))
        one = renderer((meshes[e], faces), cams[j], background=(5, 6, 7), extra_attrs=attrs[e])
        np.testing.assert_array_equal(out.rgb, one.rgb)
        np.testing.assert_array_equal(out.depth, one.depth)
        np.testing.assert_array_equal(out.fragments.face_idx, one.fragments.face_idx)
        assert sorted(out.attrs) == sorted(attrs[e] or {})
    return outs


def test_numba_render_batch_is_every_mesh_from_every_camera_in_order():
    """render_batch yields (mesh e, camera j) e-major, each equal to a single render call."""
    faces = wavy_sheet()[1]
    meshes = [wavy_sheet(lift=d)[0] for d in (0.0, 15.0)]
    cams = [PerspectiveCamera(yaw_deg=y, distance=300, image_size=40) for y in (-20.0, 0.0, 25.0)]
    attrs = [None, {"z": meshes[1][:, 2]}]
    outs = assert_batch_is_single_frames(MeshRenderer(lights=Lights(), ssaa=2), meshes, faces, cams, attrs)
    # the two meshes differ where the bump is: the order is not a repeat of one mesh
    assert (outs[1].depth != outs[4].depth).any()
    with pytest.raises(ValueError, match=r"one entry per mesh \(2\), got 1"):
        list(MeshRenderer().render_batch(meshes, faces, cams, extra_attrs=[None]))


def test_missing_pytorch3d_is_a_clear_error_naming_the_make_target(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch3d", None)  # as where it is not installed
    with pytest.raises(RendererUnavailable, match=r"make test-pytorch3d.*torch==2\.12\.1") as err:
        make_renderer("pytorch3d", Lights(), 1, "cpu")
    assert "\n" not in str(err.value)


def test_this_environment_keeps_the_cpu_torch_that_cannot_load_pytorch3d():
    """The reason this suite does not test pytorch3d itself (see the module docstring)."""
    import torch

    assert torch.__version__.startswith("2.13") and torch.version.cuda is None
    with pytest.raises(RendererUnavailable, match="make test-pytorch3d"):
        load_pytorch3d()
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^test-pytorch3d:.*\n\t(.*)", makefile, re.M)
    assert recipe and "tests_pytorch3d" in recipe.group(1)
    assert list((REPO / "tests_pytorch3d").glob("test_*.py"))


@pytest.mark.parametrize(
    "name, device, message",
    [
        ("opengl", "cpu", "unknown renderer 'opengl'; choose one of numba, pytorch3d"),
        ("numba", "cuda", "the numba renderer runs on the CPU only"),
        ("pytorch3d", "gpu", "--device must be cpu, cuda or cuda:N, got 'gpu'"),
        ("pytorch3d", "cuda:x", "--device must be cpu, cuda or cuda:N"),
    ],
)
def test_bad_renderer_or_device_is_refused(name, device, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_renderer(name, device)
    with pytest.raises(ValueError, match=re.escape(message)):
        GenerationConfig(renderer=name, device=device)


def test_cli_pytorch3d_without_it_is_one_line_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch3d", None)
    out = tmp_path / "ds"
    code, _, err = run(["generate", "--out", out, "--identities", "1", "--expressions", "1",
                        "--renderer", "pytorch3d", "--device", "cuda"], capsys)
    assert code == 2
    assert err.startswith("pain3d: error: --renderer pytorch3d: ") and "make test-pytorch3d" in err
    assert err.count("\n") == 1 and not out.exists()
    code, _, err = run(["generate", "--out", out, "--renderer", "numba", "--device", "cuda"], capsys)
    assert code == 2 and "runs on the CPU only" in err and not out.exists()


def test_cuda_means_this_process_gpu_under_a_launcher(monkeypatch):
    """Under accelerate launch / torchrun each process takes cuda:LOCAL_RANK (mod the GPU count),
    for the pytorch3d renderer and the diffusion backend alike (one resolve_device)."""
    import torch

    from generation import diffusion
    from generation.devices import resolve_device

    assert diffusion.resolve_device is resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("cuda") == "cuda"
    assert resolve_device("auto") == "cuda"
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device("cuda") == "cuda:1"
    assert resolve_device("cuda:0") == "cuda:0"  # an explicit index is kept
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        resolve_device("cuda")
