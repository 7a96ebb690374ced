"""The pytorch3d renderer backend on a GPU next to the numba renderer on the CPU: speed and agreement.

Run: ``python benchmarks/gpu_render_check.py --out outputs/gpu_render`` (a CUDA machine with
torch + pytorch3d; under 2 minutes on one GPU, CUDA and numba warm-up included). Prints versions,
frames/s of both renderers on the generator's own call (one identity: its neutral face and pain
expressions x views, one ``render_batch``), the agreement of their outputs (mask IoU and where
the masks differ, depth, attribute, heatmap and RGB differences) and writes a side-by-side PNG.
Needs only numpy, numba, pillow, torch, pytorch3d and this repository (not ``datasets``).

Without pytorch3d (or without CUDA) it measures what it can, says plainly what it could not,
and still exits 0. ``--quick``: 64 px, one view, one pain expression: seconds on a CPU.

On a lent GPU machine (Python 3.12, its own torch, no network, 64 MiB may travel): ``make
gpu-site`` here unpacks easypytorch3d's cp312 module into .gpu-site/ with its debug info stripped
(70 MB wheel -> 44 MB); carry ``.gpu-site`` and run
``PYTHONPATH=.gpu-site python benchmarks/gpu_render_check.py --out $OUT/render``. pytorch3d was
built against torch 2.12.1; whether it loads beside another torch shows in the first lines.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from generation import pipeline  # noqa: E402
from generation.heatmaps import colorize, heatmap_from_maps  # noqa: E402
from generation.pipeline import GenerationConfig, Generator  # noqa: E402
from generation.preview import grid  # noqa: E402
from generation.render import MeshRenderer  # noqa: E402
from generation.render.backends import RendererUnavailable, load_pytorch3d  # noqa: E402


def versions() -> tuple[str | None, str]:
    """Print the software and hardware; return (pytorch3d device or None, why not measured)."""
    import numba

    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs")
    try:
        import torch
    except ImportError:
        return None, "torch is not installed"
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda})")
    try:
        p3d = load_pytorch3d()
    except RendererUnavailable as e:
        return None, str(e)
    print(f"pytorch3d {p3d.__version__}")
    if torch.cuda.is_available():
        print(f"device: cuda, {torch.cuda.get_device_name(0)}")
        return "cuda", ""
    print("device: no CUDA GPU; pytorch3d runs on the CPU (unbinned: slow, for checking only)")
    return "cpu", ""


def generator_batch(gen: Generator, index: int):
    """(lights, args, kwargs) of the ``render_batch`` call ``gen.identity(index)`` makes.

    Recorded by handing the generator a renderer that notes its call, so the timings below are
    of exactly the generator's work (meshes, albedo, background, displacement attributes).
    """
    seen = {}

    class Recorder:
        def __init__(self, lights, ssaa, device):
            self.inner = MeshRenderer(lights=lights, ssaa=ssaa)
            seen["lights"] = lights

        def render_batch(self, *args, **kwargs):
            seen["call"] = (args, kwargs)
            return self.inner.render_batch(*args, **kwargs)

    real = pipeline.make_renderer
    pipeline.make_renderer = lambda name, lights, ssaa, device: Recorder(lights, ssaa, device)
    try:
        gen.identity(index)
    finally:
        pipeline.make_renderer = real
    return seen["lights"], *seen["call"]


def frames_per_second(render, n_frames: int, rounds: int, device: str = "cpu") -> float:
    """Median frames/s over ``rounds`` calls of ``render()`` (each renders n_frames), after a warm-up."""
    sync = lambda: None  # noqa: E731
    if device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    render()
    rates = []
    for _ in range(rounds):
        sync()
        t0 = time.perf_counter()
        render()
        sync()
        rates.append(n_frames / (time.perf_counter() - t0))
    return float(np.median(rates))


def report(label: str, value: float, unit: str = "frames/s") -> None:
    """One aligned result line."""
    print(f"  {label:<46s} {value:9.1f} {unit}", flush=True)


def silhouette(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with a 4-neighbour of the other coverage (both sides of the edge)."""
    m = np.pad(mask, 1, mode="edge")
    c = m[1:-1, 1:-1]
    return (c != m[:-2, 1:-1]) | (c != m[2:, 1:-1]) | (c != m[1:-1, :-2]) | (c != m[1:-1, 2:])


def agreement(ref: list, other: list, cameras: list, n_views: int, scale_mm: float) -> dict[str, float]:
    """Worst cases over frames of how far ``other`` RenderOutputs are from ``ref`` (numba)."""
    rows = []
    for k, (a, b) in enumerate(zip(ref, other)):
        both = a.mask & b.mask
        xor = a.mask ^ b.mask
        edge = silhouette(a.mask)
        d = np.abs(a.rgb.astype(np.int16) - b.rgb).max(-1)
        row = {
            "mask IoU": both.sum() / max((a.mask | b.mask).sum(), 1),
            "mask pixels differing": xor.sum(),
            "  of them off the silhouette": (xor & ~edge).sum(),
            "depth |diff| max (mm)": np.abs(a.depth[both] - b.depth[both]).max(initial=0.0),
            "rgb |diff| max, shared pixels (levels)": d[both].max(initial=0),
            "rgb pixels differing > 2 levels": (d > 2).sum(),
        }
        if a.attrs:
            rot = cameras[k % n_views].rotation_translation()[0]
            ha = heatmap_from_maps(a.attrs["disp"], rot, scale_mm)
            hb = heatmap_from_maps(b.attrs["disp"], rot, scale_mm)
            row["attribute |diff| max, shared pixels"] = np.abs(a.attrs["disp"][both] - b.attrs["disp"][both]).max(initial=0.0)
            row["heat |diff| max, shared pixels"] = np.abs(ha.heat[both] - hb.heat[both]).max(initial=0.0)
            row["heat pixels differing > 0.01"] = (np.abs(ha.heat - hb.heat) > 0.01).sum()
        rows.append(row)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    worst = {}
    for key in keys:
        vals = [r[key] for r in rows if key in r]
        worst[key] = float(min(vals) if key == "mask IoU" else max(vals))
    return worst


def side_by_side(ref: list, other: list, cameras: list, n_views: int, scale_mm: float, path: str) -> None:
    """PNG: per view of the last expression, numba | pytorch3d | 10 x |rgb diff| | numba heat | pytorch3d heat."""
    from PIL import Image

    tiles = []
    for j in range(n_views):
        a, b = ref[-n_views + j], other[-n_views + j]
        rot = cameras[j].rotation_translation()[0]
        diff = np.clip(10 * np.abs(a.rgb.astype(np.int16) - b.rgb), 0, 255).astype(np.uint8)
        heats = [colorize(heatmap_from_maps(o.attrs["disp"], rot, scale_mm).heat) if o.attrs else np.zeros_like(a.rgb)
                 for o in (a, b)]
        tiles += [a.rgb, b.rgb, diff, *heats]
    Image.fromarray(grid(tiles, 5)).save(path)
    print(f"wrote {path} (rows: views; columns: numba, pytorch3d, 10 x |difference|, numba heat, pytorch3d heat)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="outputs/gpu_render_check", help="folder for the side-by-side PNG (default %(default)s)")
    ap.add_argument("--size", type=int, default=256, help="image size (default %(default)s; 64 with --quick)")
    ap.add_argument("--expressions", type=int, default=10, help="pain expressions besides the neutral one (default %(default)s; 1 with --quick)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds, median reported (default %(default)s)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for the multi-threaded numba figure (default: all CPUs)")
    ap.add_argument("--quick", action="store_true",
                    help="64 px, one view, one pain expression, one round, no generator timing (seconds on a CPU)")
    args = ap.parse_args()
    views = (0.0,) if args.quick else (-30.0, 0.0, 30.0)
    if args.quick:
        args.size, args.expressions, args.rounds = 64, 1, 1
    t_start = time.perf_counter()
    p3d_device, why = versions()

    cfg = GenerationConfig(identities=1, expressions=args.expressions, views=views, size=args.size, seed=0)
    t0 = time.perf_counter()
    gen = Generator(cfg)
    lights, call_args, call_kwargs = generator_batch(gen, 0)  # also warms numba up
    meshes, faces, cameras = call_args
    n_frames = len(meshes) * len(cameras)
    print(f"generated head: {len(meshes[0]):,} vertices, {len(faces):,} faces; {len(meshes)} meshes "
          f"(neutral + {args.expressions} pain) x {len(cameras)} views = {n_frames} frames at "
          f"{args.size}x{args.size} (setup and numba warm-up {time.perf_counter() - t0:.1f} s)")

    numba_r = MeshRenderer(lights=lights)
    ref = list(numba_r.render_batch(*call_args, **call_kwargs))
    fps1 = frames_per_second(lambda: list(numba_r.render_batch(*call_args, **call_kwargs)), n_frames, args.rounds)
    report("numba, CPU, 1 thread", fps1)
    pairs = [(m, a) for m, a in zip(meshes, call_kwargs["extra_attrs"])]
    shading = {k: v for k, v in call_kwargs.items() if k != "extra_attrs"}

    jobs = [(m, a, c) for m, a in pairs for c in cameras]
    with ThreadPoolExecutor(args.threads) as pool:  # the numba kernels release the GIL
        fps_t = frames_per_second(
            lambda: list(pool.map(lambda j: numba_r((j[0], faces), j[2], extra_attrs=j[1], **shading), jobs)),
            n_frames, args.rounds,
        )
    report(f"numba, CPU, {args.threads} threads", fps_t)

    if p3d_device is None:
        print(f"  pytorch3d: not measured: {why}")
        print("RESULT: ok (numba only; pytorch3d speed and agreement not measured here)")
        return 0
    from generation.render.pytorch3d_renderer import Pytorch3dRenderer

    p3d = Pytorch3dRenderer(lights=lights, device=p3d_device)
    t0 = time.perf_counter()
    other = list(p3d.render_batch(*call_args, **call_kwargs))
    report("pytorch3d first batch (warm-up)", time.perf_counter() - t0, "s")
    fps_p = frames_per_second(lambda: list(p3d.render_batch(*call_args, **call_kwargs)), n_frames, args.rounds, p3d_device)
    report(f"pytorch3d, {p3d_device}, batch of {n_frames}", fps_p, "frames/s (outputs in host numpy)")

    for renderer in () if args.quick else ("numba", "pytorch3d"):
        g = Generator(GenerationConfig(identities=1, expressions=args.expressions, views=views, size=args.size,
                                       seed=0, renderer=renderer, device="cpu" if renderer == "numba" else p3d_device))
        g.identity(0)
        t0 = time.perf_counter()
        g.identity(0)
        report(f"generator end to end, {renderer}", n_frames / (time.perf_counter() - t0), "frames/s (1 identity, 1 process)")

    print("agreement, pytorch3d vs numba (worst frame):")
    worst = agreement(ref, other, cameras, len(cameras), cfg.heatmap_scale_mm)
    for key, value in worst.items():
        print(f"  {key:<42s} {value:.6g}")
    os.makedirs(args.out, exist_ok=True)
    side_by_side(ref, other, cameras, len(cameras), cfg.heatmap_scale_mm, os.path.join(args.out, "gpu_render_check.png"))
    ok = worst["mask IoU"] > 0.99 and worst["depth |diff| max (mm)"] < 0.05 and worst.get("heat |diff| max, shared pixels", 0) < 1e-3
    print(f"RESULT: {'ok' if ok else 'DISAGREE'} (total {time.perf_counter() - t_start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
