"""Generation throughput and memory: renderer alone, end to end, per-stage, workers, projection.

Run: ``python benchmarks/bench_generate.py`` (``make bench``). Prints its numbers; not a test.

  (a) renderer frames/s on the built-in head (its triangle count is printed) and, when that
      has more than 20k triangles, on a reduced ~20k-triangle ``BuiltinHead(HeadResolution(..))``,
      via ``measure_renderer`` from ``bench_render.py``; plus the render call as the generator
      makes it (its 3 cameras, background image, displacement attribute).
  (b) end-to-end frames/s of the real ``pain3d generate`` path in-process (``generation.cli.main``
      with ``--quiet`` into a temporary folder), timed after a warm-up run (numba compile or
      cache load), then the same identities split into generation (rig + render + heatmap),
      encoding (``layout.identity_files``) and writing (``layout.write_identity``).
  (c) peak resident memory (``ru_maxrss``) of this process and of the ``--workers`` children.
  (d) ``--workers 2`` throughput, measured, and the projected time for the paper's full scale
      (2,500 identities x (1 neutral + 10 pain) x 3 views = 82,500 frames).

Options: --identities N (end-to-end run, default 12), --size S (default 256), --quick (a
short run for a smoke check), --profile (print the top functions of the end-to-end path),
--dir PATH (file system for the outputs; writing time depends on it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # the repository (generation/)
sys.path.insert(0, _HERE)  # this folder (bench_render)

from bench_render import measure_renderer  # noqa: E402

from generation import cli, layout, pipeline  # noqa: E402
from generation.head import BuiltinHead, HeadResolution  # noqa: E402
from generation.pipeline import GenerationConfig, Generator  # noqa: E402

TARGET_RENDER_FPS = 250.0
TARGET_E2E_FPS = 50.0
TARGET_PEAK_MB = 2048.0
PAPER_IDENTITIES = 2500
EXPRESSIONS = 10  # pain expressions per identity, besides the neutral one
VIEWS = 3
PAPER_FRAMES = PAPER_IDENTITIES * (EXPRESSIONS + 1) * VIEWS  # 82,500
REDUCED = HeadResolution(cranium_rows=14, face_rows=66, columns=88)  # 20,016 triangles
SKIN = np.array([0.85, 0.66, 0.55], dtype=np.float32)


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MB (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(who).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024.0


def frames_of(identities: int) -> int:
    return identities * (EXPRESSIONS + 1) * VIEWS


def hms(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h}h{rem // 60:02d}m"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate_cli(out: Path, identities: int, size: int, workers: int = 1) -> float:
    """Seconds for ``pain3d generate`` run in this process (the real CLI path)."""
    argv = [
        "generate", "--out", str(out), "--identities", str(identities),
        "--expressions", str(EXPRESSIONS), "--views", str(VIEWS), "--size", str(size),
        "--seed", "0", "--quiet", "--workers", str(workers),
    ]
    t0 = time.perf_counter()
    rc = cli.main(argv)
    dt = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"pain3d generate {' '.join(argv)} failed with status {rc}")
    return dt


# ---------------------------------------------------------------------------------- (a)
def bench_renderer(size: int, n_frames: int) -> list[tuple[str, float, str]]:
    rows = []
    full = BuiltinHead()
    heads = [("built-in head", full)]
    if len(full.template().faces) > 20_000:
        heads.append(("reduced head", BuiltinHead(REDUCED)))
    for label, head in heads:
        mesh = head.template()
        colors = np.broadcast_to(SKIN, mesh.vertices.shape)
        res = measure_renderer(mesh.vertices, mesh.faces, colors, size=size, n_frames=n_frames)
        info = f"{res['n_faces']:,} tri, {len(mesh.vertices):,} vert, coverage {res['coverage']:.0%}"
        rows.append((f"render fps, {label} (measure_renderer)", res["render_fps"], info))
        rows.append((f"  rasterize-only fps, {label}", res["rasterize_fps"], ""))
        rows.append((f"  render fps ssaa=2, {label}", res["render_ssaa2_fps"], ""))

    # The render call exactly as Generator.identity makes it (its cameras, bg image, disp attr).
    gen = Generator(GenerationConfig(identities=1, expressions=1, size=size))
    rng = np.random.default_rng(0)
    verts = gen.template.vertices
    colors = np.broadcast_to(SKIN, verts.shape)
    bg = np.full((size, size, 3), 40, np.uint8)
    attrs = {"disp": rng.standard_normal((len(verts), 4)).astype(np.float32)}

    def call(cam):
        gen.renderer((verts, gen.template.faces), cam, vertex_colors=colors, background=bg, extra_attrs=attrs)

    for cam in gen.cameras:
        call(cam)
    rates = []
    per_round = max(n_frames // 5, VIEWS)
    for _ in range(5):
        t0 = time.perf_counter()
        for i in range(per_round):
            call(gen.cameras[i % VIEWS])
        rates.append(per_round / (time.perf_counter() - t0))
    rows.append(("render fps, built-in head, generator's call", float(np.median(rates)),
                 f"{len(gen.template.faces):,} tri, + 4-channel attr"))
    return rows


# ---------------------------------------------------------------------------------- (b)
def bench_breakdown(identities: int, size: int, out: Path) -> dict[str, float]:
    """Seconds per stage over ``identities`` identities, with render and heatmap split out."""
    config = GenerationConfig(identities=identities, expressions=EXPRESSIONS,
                              views=GenerationConfig.view_yaws(VIEWS), size=size, seed=0)
    layout.prepare_output(out, config, overwrite=False, resume=False)
    gen = Generator(config)
    t = {"generate": 0.0, "render": 0.0, "heatmap": 0.0, "encode": 0.0, "write": 0.0}
    renderer, heatmap = gen.renderer, pipeline.heatmap_from_maps

    def timed_render(*a, **k):
        t0 = time.perf_counter()
        r = renderer(*a, **k)
        t["render"] += time.perf_counter() - t0
        return r

    def timed_heatmap(*a, **k):
        t0 = time.perf_counter()
        r = heatmap(*a, **k)
        t["heatmap"] += time.perf_counter() - t0
        return r

    gen.renderer, pipeline.heatmap_from_maps = timed_render, timed_heatmap
    try:
        for i in range(identities):
            t0 = time.perf_counter()
            res = gen.identity(i)
            t1 = time.perf_counter()
            files = layout.identity_files(res, config.heatmap_scale_mm)
            t2 = time.perf_counter()
            layout.write_identity(out, res.name, files)
            t3 = time.perf_counter()
            t["generate"] += t1 - t0
            t["encode"] += t2 - t1
            t["write"] += t3 - t2
    finally:
        gen.renderer, pipeline.heatmap_from_maps = renderer, heatmap
    return t


def profile_e2e(identities: int, size: int, top: int = 15) -> str:
    with tempfile.TemporaryDirectory(prefix="bench_prof_") as tmp:
        prof = cProfile.Profile()
        prof.enable()
        generate_cli(Path(tmp) / "out", identities, size)
        prof.disable()
    buf = io.StringIO()
    for key in ("cumulative", "tottime"):
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
    return buf.getvalue()


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=int, default=None, help="identities in the end-to-end run (default 12; 3 with --quick)")
    ap.add_argument("--size", type=int, default=256, help="image size (default %(default)s)")
    ap.add_argument("--quick", action="store_true", help="short runs, no repeats: a smoke check, numbers are noisier")
    ap.add_argument("--profile", action="store_true", help="also print the top 15 functions of the end-to-end path")
    ap.add_argument("--dir", default=None, help="where the temporary output folders go (default: the system temp folder); "
                    "writing cost depends on this file system")
    args = ap.parse_args()
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
        tempfile.tempdir = args.dir  # every TemporaryDirectory below
    n_id = args.identities if args.identities is not None else (3 if args.quick else 12)
    n_w2 = max(n_id, 4)
    repeats = 1 if args.quick else 3
    render_frames = 60 if args.quick else 300
    size = args.size

    print(f"pain3d generation benchmark: {size}x{size}, {VIEWS} views, 1 neutral + {EXPRESSIONS} pain "
          f"expressions/identity; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"python {platform.python_version()}; output under {tempfile.gettempdir()}")

    load0 = os.getloadavg()[0]
    # numba compile / cache load and imports, outside every timing
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_warm_") as tmp:
        generate_cli(Path(tmp) / "out", 1, size)
    warm = time.perf_counter() - t0

    rows: list[tuple[str, str, str, str]] = []  # (metric, value, target, note)

    def ok(good: bool) -> str:
        return "ok" if good else "BELOW"

    # (a)
    for name, fps, note in bench_renderer(size, render_frames):
        main_row = not name.startswith("  ")
        target = f">= {TARGET_RENDER_FPS:.0f} {ok(fps >= TARGET_RENDER_FPS)}" if main_row else ""
        rows.append((name, f"{fps:7.1f}", target, note))

    # (b) end to end through the CLI, then the per-stage split
    n_frames = frames_of(n_id)
    runs = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
            out = Path(tmp) / "out"
            runs.append(generate_cli(out, n_id, size))
            disk = folder_bytes(out)
    e2e_s = float(np.median(runs))
    e2e_fps = n_frames / e2e_s
    spread = f", runs {min(runs):.2f}-{max(runs):.2f} s" if repeats > 1 else ""
    rows.append((f"end-to-end fps, 1 process ({n_id} id, {n_frames} frames)", f"{e2e_fps:7.1f}",
                 f">= {TARGET_E2E_FPS:.0f} {ok(e2e_fps >= TARGET_E2E_FPS)}",
                 f"median {e2e_s:.2f} s of {repeats}{spread}; {1000 * e2e_s / n_frames:.1f} ms/frame"))

    with tempfile.TemporaryDirectory(prefix="bench_split_") as tmp:
        t = bench_breakdown(n_id, size, Path(tmp) / "out")
    total = t["generate"] + t["encode"] + t["write"]
    for key, label in [
        ("generate", "  generation: Generator.identity"),
        ("render", "    of which renderer calls"),
        ("heatmap", "    of which heatmap_from_maps"),
        ("encode", "  encoding: layout.identity_files"),
        ("write", "  writing: layout.write_identity"),
    ]:
        rows.append((label, f"{1000 * t[key] / n_frames:7.2f}", "ms/frame",
                     f"{100 * t[key] / total:4.1f}% of {total:.2f} s"))
    rows.append(("  sum of stages -> fps", f"{n_frames / total:7.1f}", "", ""))

    # (d) --workers 2, measured: steady state from the difference of two run lengths
    with tempfile.TemporaryDirectory(prefix="bench_w2_") as tmp:
        t_small = generate_cli(Path(tmp) / "small", 2, size, workers=2)
        t_big = generate_cli(Path(tmp) / "big", n_w2, size, workers=2)
    w2_fps = frames_of(n_w2) / t_big
    w2_steady = (frames_of(n_w2) - frames_of(2)) / max(t_big - t_small, 1e-9)
    rows.append((f"--workers 2 fps ({n_w2} id, incl. pool start)", f"{w2_fps:7.1f}", "", f"{t_big:.2f} s"))
    rows.append(("--workers 2 fps, steady state", f"{w2_steady:7.1f}", "",
                 f"from ({n_w2} id run - 2 id run); x{w2_steady / e2e_fps:.2f} of 1 process"))

    # (c)
    me, kids = peak_mb(), peak_mb(resource.RUSAGE_CHILDREN)
    rows.append(("peak memory, this process (ru_maxrss)", f"{me:7.0f}", f"< {TARGET_PEAK_MB:.0f} MB {ok(me < TARGET_PEAK_MB)}", "MB, whole benchmark"))
    rows.append(("peak memory, largest --workers child", f"{kids:7.0f}", f"< {TARGET_PEAK_MB:.0f} MB {ok(kids < TARGET_PEAK_MB)}", "MB"))

    # (d) projection
    rows.append((f"projected {PAPER_FRAMES:,} frames ({PAPER_IDENTITIES:,} id), 1 process", hms(PAPER_FRAMES / e2e_fps).rjust(7), "", f"at {e2e_fps:.1f} fps"))
    rows.append((f"projected {PAPER_FRAMES:,} frames, --workers 2", hms(PAPER_FRAMES / w2_steady).rjust(7), "", f"at {w2_steady:.1f} fps (steady state)"))
    rows.append(("projected disk for the full scale", f"{disk / n_frames * PAPER_FRAMES / 1e9:6.1f}G", "", f"{disk / n_frames / 1e3:.1f} kB/frame incl. heatmaps + JSON"))

    rows.append(("load average (1 min) at start / end", f"{load0:4.2f}/{os.getloadavg()[0]:.2f}".rjust(7), "",
                 "includes this run; well above 2 on 2 CPUs = contention"))

    w = max(len(r[0]) for r in rows)
    print(f"warm-up run (numba compile or cache load, imports): {warm:.2f} s, not timed below")
    print(f"{'metric':<{w}}  {'value':>7}  {'target':<14}  note")
    for name, value, target, note in rows:
        print(f"{name:<{w}}  {value:>7}  {target:<14}  {note}")

    if args.profile:
        n_prof = min(n_id, 4)
        print(f"\ncProfile of `pain3d generate` ({n_prof} identities, 1 process):")
        print(profile_e2e(n_prof, size))


if __name__ == "__main__":
    main()
