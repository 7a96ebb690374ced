"""Renderer throughput: frames/s for rasterize-only, full render and 2x supersampled render.

Run: ``python benchmarks/bench_render.py`` (one core; numba warm-up excluded from timings).
``measure_renderer`` is importable by other benchmarks. ``--renderer pytorch3d`` (in
.venv-pytorch3d, ``make test-pytorch3d``) times the pytorch3d backend's full render instead, as
one batch of the three views, on ``--device`` (default: cuda when there is one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generation.mesh import grid_faces, is_closed_manifold  # noqa: E402
from generation.render import (  # noqa: E402
    MeshRenderer,
    PerspectiveCamera,
    default_views,
    rasterize,
)

DISTANCE_MM = 500.0
FOV_DEG = 25.0


def head_like_mesh(
    rings: int = 79, segments: int = 128
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed, deformed UV sphere of head size (~150 x 200 x 170 mm) with a nose bump.

    Returns (vertices (V, 3) float32, faces (F, 3) int32 outward CCW, colours (V, 3) float32);
    2 * segments * rings faces (20224 with the defaults).
    """
    theta = np.linspace(0.0, np.pi, rings + 2)[1:-1]  # polar angle from +y, poles excluded
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)  # 0 at +z (the face)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    unit = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    unit = np.concatenate([unit, [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
    radii = np.array([75.0, 100.0, 85.0])
    bumps = 3.0 * np.sin(5 * unit[:, 0]) * np.cos(4 * unit[:, 1])  # skin-scale relief
    nose = 25.0 * np.exp(-((unit[:, 0] / 0.12) ** 2 + ((unit[:, 1] + 0.05) / 0.25) ** 2))
    nose *= unit[:, 2] > 0
    verts = unit * radii * (1.0 + bumps[:, None] / 85.0)
    verts[:, 2] += nose
    body = grid_faces(rings, segments, wrap_cols=True)
    top, bottom = rings * segments, rings * segments + 1
    c = np.arange(segments)
    c1 = (c + 1) % segments
    last = (rings - 1) * segments
    cap_top = np.stack([np.full(segments, top), c, c1], 1)
    cap_bottom = np.stack([np.full(segments, bottom), last + c1, last + c], 1)
    faces = np.concatenate([body, cap_top, cap_bottom]).astype(np.int32)
    tri = verts[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert is_closed_manifold(faces) and volume > 0, "benchmark mesh must be closed and outward"
    skin = np.array([0.85, 0.66, 0.55])
    colors = skin * (0.9 + 0.1 * np.cos(3 * unit[:, 1:2]))
    return verts.astype(np.float32), faces, colors.astype(np.float32)


def _fps(fn, cameras: list[PerspectiveCamera], n_frames: int, rounds: int = 5) -> float:
    """Median over ``rounds`` of frames/s of fn(camera), cycling over cameras, after a warm-up.

    The median of several rounds keeps the number stable on a shared machine.
    """
    for cam in cameras:
        fn(cam)
    per_round = max(n_frames // rounds, len(cameras))
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(per_round):
            fn(cameras[i % len(cameras)])
        rates.append(per_round / (time.perf_counter() - start))
    return float(np.median(rates))


def measure_renderer(
    vertices: np.ndarray,
    faces: np.ndarray,
    colors: np.ndarray,
    size: int = 256,
    n_frames: int = 300,
    yaws: tuple[float, ...] = default_views(3),
) -> dict[str, float]:
    """Frames/s at size x size over the given yaws: rasterize-only, full render, full with ssaa=2.

    Rasterize-only includes projecting the vertices; full adds normals, shading and a
    background image. Keys: "rasterize_fps", "render_fps", "render_ssaa2_fps", plus
    "coverage" (mean mask fraction, to show the mesh fills the frame) and the sizes.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    colors = np.ascontiguousarray(colors, dtype=np.float32)
    cams = [
        PerspectiveCamera(yaw_deg=y, distance=DISTANCE_MM, fov_deg=FOV_DEG, image_size=size)
        for y in yaws
    ]
    background = np.full((size, size, 3), 40, dtype=np.uint8)
    r1, r2 = MeshRenderer(ssaa=1), MeshRenderer(ssaa=2)

    def raster_only(cam: PerspectiveCamera) -> None:
        rasterize(cam.project(vertices), faces, size, size)

    def full(renderer: MeshRenderer):
        return lambda cam: renderer(
            (vertices, faces), cam, vertex_colors=colors, background=background
        )

    coverage = float(np.mean([full(r1)(c).mask.mean() for c in cams]))
    return {
        "size": size,
        "n_faces": int(len(faces)),
        "coverage": coverage,
        "rasterize_fps": _fps(raster_only, cams, n_frames),
        "render_fps": _fps(full(r1), cams, n_frames),
        "render_ssaa2_fps": _fps(full(r2), cams, max(n_frames // 3, 3)),
    }


def measure_pytorch3d(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, size: int, n_frames: int, device: str
) -> float:
    """Frames/s of the pytorch3d backend's full render (batches of the three views), after a warm-up."""
    from generation.render.pytorch3d_renderer import Pytorch3dRenderer

    cams = [PerspectiveCamera(yaw_deg=y, distance=DISTANCE_MM, fov_deg=FOV_DEG, image_size=size) for y in default_views(3)]
    background = np.full((size, size, 3), 40, dtype=np.uint8)
    renderer = Pytorch3dRenderer(device=device)

    def batch() -> None:
        list(renderer.render_batch([vertices], faces, cams, vertex_colors=colors, background=background))

    batch()
    rounds = max(1, n_frames // len(cams))
    start = time.perf_counter()
    for _ in range(rounds):
        batch()  # the outputs land in host numpy: the GPU has finished
    return rounds * len(cams) / (time.perf_counter() - start)


def main() -> None:
    """Print frames/s for the head-like test mesh; optionally save the three views."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=None, help="frames per measurement (default 600; 30 with --quick)")
    ap.add_argument("--save", default=None, help="folder to write the rendered views to")
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run: 30 frames per measurement, noisier")
    ap.add_argument("--renderer", choices=("numba", "pytorch3d"), default="numba", help="renderer to time (default %(default)s)")
    ap.add_argument("--device", default=None, help="pytorch3d's device (default: cuda if available, else cpu)")
    args = ap.parse_args()
    if args.frames is None:
        args.frames = 30 if args.quick else 600
    verts, faces, colors = head_like_mesh()
    if args.renderer == "pytorch3d":
        from generation.render.backends import RendererUnavailable, load_pytorch3d

        try:
            load_pytorch3d()
        except RendererUnavailable as e:
            sys.exit(f"bench_render: {e}")
        import torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        frames = 3 if args.quick and device == "cpu" else args.frames  # the CPU path is unbinned: seconds a frame
        fps = measure_pytorch3d(verts, faces, colors, args.size, frames, device)
        where = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
        print(f"mesh: {len(verts)} vertices, {len(faces)} faces; {args.size}x{args.size}; yaws {default_views(3)}; "
              f"torch {torch.__version__}; {where}")
        print(f"  {'pytorch3d full render (' + device + ', 3 views a batch)':<46s} {fps:8.2f} frames/s  ({1000.0 / fps:.0f} ms/frame)")
        return
    t0 = time.perf_counter()
    MeshRenderer()((verts, faces), PerspectiveCamera(image_size=16), vertex_colors=colors)
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")
    res = measure_renderer(verts, faces, colors, size=args.size, n_frames=args.frames)
    print(
        f"mesh: {len(verts)} vertices, {res['n_faces']} faces; {args.size}x{args.size}; "
        f"yaws {default_views(3)}; mean coverage {res['coverage']:.1%}; one core "
        f"(single-threaded kernels); median of 5 rounds"
    )
    for key, label in [
        ("rasterize_fps", "rasterize only (project + rasterize)"),
        ("render_fps", "full render (rasterize + shade + background)"),
        ("render_ssaa2_fps", "full render, ssaa=2"),
    ]:
        print(f"  {label:<46s} {res[key]:8.1f} frames/s  ({1000.0 / res[key]:.2f} ms/frame)")
    if args.save:
        from PIL import Image

        os.makedirs(args.save, exist_ok=True)
        for y in default_views(3):
            cam = PerspectiveCamera(
                yaw_deg=y, distance=DISTANCE_MM, fov_deg=FOV_DEG, image_size=args.size
            )
            out = MeshRenderer(ssaa=2)((verts, faces), cam, vertex_colors=colors)
            Image.fromarray(out.rgb).save(os.path.join(args.save, f"yaw{y:+.0f}.png"))


if __name__ == "__main__":
    main()
