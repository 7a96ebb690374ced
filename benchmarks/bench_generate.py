"""Generation throughput and memory: renderer alone, end to end, per-stage, peak memory at two
dataset sizes, workers, projection to the paper's scale.

Run: ``python benchmarks/bench_generate.py`` (``make bench``). Prints its numbers; not a test.

  (a) renderer frames/s on the built-in head (its triangle count is printed) and, when that
      has more than 20k triangles, on a reduced ~20k-triangle ``BuiltinHead(HeadResolution(..))``,
      via ``measure_renderer`` from ``bench_render.py``; plus the render call as the generator
      makes it (its 3 cameras, background image, displacement attribute, a sampled light rig).
  (b) end-to-end frames/s of the real ``pain3d generate`` path in-process (``pain3d.cli.main``
      with ``--quiet`` into a temporary folder, Hub layout), timed after a warm-up run (numba
      compile or cache load), then the same identities split into generation (rig + render +
      heatmap), encoding (``HubWriter.piece_rows``: JPEG/PNG), writing the per-identity Arrow IPC
      pieces, and the finish (``HubWriter.finalize``: shards, card, plots).
  (c) peak resident memory of ``python -m pain3d generate --workers W`` run as a child
      process at two dataset sizes (default 120 and 240 identities, both past the point, about
      100 identities at 256 px, where a split's shard outgrows one row group): the largest process
      (its ``VmHWM``, what ``/usr/bin/time -f %M`` reports) and the sum over the process tree,
      sampled from /proc every 0.1 s (Linux only). Flat = bounded by the work in flight, not by
      the dataset.
  (d) the same runs' throughput: the steady-state frames/s from the difference of the two
      runs, the fixed cost (start-up, pool start, finish of a small dataset), and the projected
      time for the paper's full scale (2,500 identities x (1 neutral + 10 pain) x 3 views =
      82,500 frames), marked as a projection.

The machine may be shared: wall times are noisy under load, so CPU seconds (user + sys) are
printed next to them, with the load average at start and end.

Options: --identities N (in-process end-to-end run, default 12), --sizes A B (identities of the
two memory runs, default 120 240), --workers W (memory runs, default 2), --size S (default 256),
--quick (a few-second smoke run: tiny counts, 64 px), --profile (print the top functions of the
end-to-end path), --dir PATH (file system for the outputs; writing time depends on it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(_HERE)
sys.path.insert(0, _REPO)  # the repository (generation/)
sys.path.insert(0, _HERE)  # this folder (bench_render)

from bench_render import measure_renderer  # noqa: E402

from generation import pipeline  # noqa: E402
from generation.head import BuiltinHead, HeadResolution  # noqa: E402
from generation.pipeline import GenerationConfig, Generator, sample_lights  # noqa: E402
from generation.render import MeshRenderer  # noqa: E402
from pain3d import cli  # noqa: E402

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
    return f"{h}h{rem // 60:02d}m{rem % 60:02d}s" if h else f"{rem // 60}m{rem % 60:02d}s"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def generate_argv(out: Path, identities: int, size: int, workers: int = 1) -> list[str]:
    return [
        "generate", "--out", str(out), "--identities", str(identities),
        "--expressions", str(EXPRESSIONS), "--views", str(VIEWS), "--size", str(size),
        "--seed", "0", "--quiet", "--workers", str(workers),
    ]


def generate_cli(out: Path, identities: int, size: int, workers: int = 1) -> float:
    """Seconds for ``pain3d generate`` run in this process (the real CLI path)."""
    argv = generate_argv(out, identities, size, workers)
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

    # The render call as Generator.identity makes it: a renderer per identity (its light rig),
    # the generator's cameras, a background image and the displacement attribute.
    gen = Generator(GenerationConfig(identities=1, expressions=1, size=size))
    rng = np.random.default_rng(0)
    renderer = MeshRenderer(lights=sample_lights(rng), ssaa=gen.config.ssaa)
    verts = gen.template.vertices
    colors = np.broadcast_to(SKIN, verts.shape)
    bg = np.full((size, size, 3), 40, np.uint8)
    attrs = {"disp": rng.standard_normal((len(verts), 4)).astype(np.float32)}

    def call(cam):
        renderer((verts, gen.template.faces), cam, vertex_colors=colors, background=bg, extra_attrs=attrs)

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
STAGES = ("generate", "render", "heatmap", "encode", "write", "finish")


def bench_breakdown(identities: int, size: int, out: Path) -> dict[str, float]:
    """Seconds per stage of the Hub path over ``identities`` identities in this process, with
    render and heatmap split out of generation."""
    from pain3d_dataset.writer import HubWriter

    config = GenerationConfig(identities=identities, expressions=EXPRESSIONS,
                              views=GenerationConfig.view_yaws(VIEWS), size=size, seed=0)
    writer = HubWriter(out, config)
    writer.prepare(overwrite=False, resume=False)
    gen = Generator(config)
    t = dict.fromkeys(STAGES, 0.0)
    real_make_renderer, real_heatmap = pipeline.make_renderer, pipeline.heatmap_from_maps

    class TimedRenderer:
        """Adds the time spent producing each frame of ``render_batch`` to the render stage."""

        def __init__(self, inner):
            self.inner = inner

        def render_batch(self, *a, **k):
            outs = self.inner.render_batch(*a, **k)
            while True:
                t0 = time.perf_counter()
                out = next(outs, None)
                t["render"] += time.perf_counter() - t0
                if out is None:
                    return
                yield out

    def timed_heatmap(*a, **k):
        t0 = time.perf_counter()
        r = real_heatmap(*a, **k)
        t["heatmap"] += time.perf_counter() - t0
        return r

    pipeline.make_renderer = lambda *a, **k: TimedRenderer(real_make_renderer(*a, **k))
    pipeline.heatmap_from_maps = timed_heatmap
    try:
        for i in range(identities):
            t0 = time.perf_counter()
            res = gen.identity(i)
            t1 = time.perf_counter()
            rows = writer.piece_rows(res)
            t2 = time.perf_counter()
            writer.write_piece_rows(res.name, rows)
            writer.record(res.name, i)
            t3 = time.perf_counter()
            t["generate"] += t1 - t0
            t["encode"] += t2 - t1
            t["write"] += t3 - t2
    finally:
        pipeline.make_renderer, pipeline.heatmap_from_maps = real_make_renderer, real_heatmap
    t0 = time.perf_counter()
    writer.finalize(gen.template.faces, parts=gen.parts)
    t["finish"] = time.perf_counter() - t0
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


# ---------------------------------------------------------------------------------- (c), (d)
def _tree_memory(root: int) -> tuple[int, int]:
    """(resident bytes now, summed over ``root`` and all its descendants; the largest
    high-water mark ``VmHWM`` among them), from Linux's /proc; (0, 0) elsewhere."""
    if not os.path.isdir("/proc"):
        return 0, 0
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
                parent[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier += kids
    total = hwm = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            total += int(fields["VmRSS"].split()[0]) * 1024
            hwm = max(hwm, int(fields["VmHWM"].split()[0]) * 1024)
        except (OSError, ValueError, KeyError):
            continue
    return total, hwm


def measured_run(argv: list[str]) -> dict[str, float]:
    """Run ``python -m pain3d ARGV`` as a child: wall s, CPU s (user + sys, the child
    and its workers), peak RSS MB of its largest process and of the process tree.

    The largest process's peak is the highest ``VmHWM`` (the kernel's own high-water mark,
    what ``/usr/bin/time -f %M`` reports) seen while sampling every 0.1 s; ``wait4``'s
    ``ru_maxrss`` cannot be used, as it starts from this (forking) process's peak."""
    env = {**os.environ, "PYTHONPATH": _REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pain3d", *argv], env=env)
    peaks = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            total, hwm = _tree_memory(proc.pid)
            peaks[0], peaks[1] = max(peaks[0], total), max(peaks[1], hwm)
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"pain3d {' '.join(argv)} failed with status {proc.returncode}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peaks[1] / 2**20, "tree_mb": peaks[0] / 2**20}


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--identities", type=int, default=None, help="identities in the in-process end-to-end run (default 12; 1 with --quick)")
    ap.add_argument("--sizes", type=int, nargs=2, default=None, metavar=("A", "B"),
                    help="identities of the two memory/throughput runs (default 120 240; 2 4 with --quick)")
    ap.add_argument("--workers", type=int, default=2, help="--workers of the memory/throughput runs (default %(default)s)")
    ap.add_argument("--size", type=int, default=None, help="image size (default 256; 64 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run: tiny counts, 64 px, no repeats")
    ap.add_argument("--profile", action="store_true", help="also print the top 15 functions of the end-to-end path")
    ap.add_argument("--dir", default=None, help="where the temporary output folders go (default: the system temp folder); "
                    "writing cost depends on this file system")
    args = ap.parse_args()
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
        tempfile.tempdir = args.dir  # every TemporaryDirectory below
    n_id = args.identities if args.identities is not None else (1 if args.quick else 12)
    small, big = args.sizes if args.sizes is not None else ((2, 4) if args.quick else (120, 240))
    if not 0 < small < big:
        raise SystemExit(f"--sizes needs 0 < A < B, got {small} {big}")
    repeats = 1 if args.quick else 3
    render_frames = 15 if args.quick else 300
    size = args.size if args.size is not None else (64 if args.quick else 256)

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
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
            out = Path(tmp) / "out"
            runs.append(generate_cli(out, n_id, size))
    e2e_s = float(np.median(runs))
    e2e_fps = n_frames / e2e_s
    spread = f", runs {min(runs):.2f}-{max(runs):.2f} s" if repeats > 1 else ""
    rows.append((f"end-to-end fps, 1 process ({n_id} id, {n_frames} frames)", f"{e2e_fps:7.1f}",
                 f">= {TARGET_E2E_FPS:.0f} {ok(e2e_fps >= TARGET_E2E_FPS)}",
                 f"median {e2e_s:.2f} s of {repeats}{spread}; {1000 * e2e_s / n_frames:.1f} ms/frame"))

    with tempfile.TemporaryDirectory(prefix="bench_split_") as tmp:
        t = bench_breakdown(n_id, size, Path(tmp) / "out")
    total = t["generate"] + t["encode"] + t["write"] + t["finish"]
    for key, label in [
        ("generate", "  generation: Generator.identity"),
        ("render", "    of which renderer calls"),
        ("heatmap", "    of which heatmap_from_maps"),
        ("encode", "  encoding: HubWriter.piece_rows (JPEG, PNG)"),
        ("write", "  writing: Arrow IPC pieces + manifest"),
        ("finish", "  finish: shards, card, plots"),
    ]:
        rows.append((label, f"{1000 * t[key] / n_frames:7.2f}", "ms/frame",
                     f"{100 * t[key] / total:4.1f}% of {total:.2f} s"))
    rows.append(("  sum of stages -> fps", f"{n_frames / total:7.1f}", "", ""))

    # (c) + (d): the CLI as a user runs it, at two dataset sizes
    runs_by_size = {}
    with tempfile.TemporaryDirectory(prefix="bench_mem_") as tmp:
        for n in (small, big):
            out = Path(tmp) / f"ds{n}"
            runs_by_size[n] = measured_run(generate_argv(out, n, size, args.workers))
            runs_by_size[n]["disk"] = folder_bytes(out)
    for n in (small, big):
        r = runs_by_size[n]
        rows.append((f"peak RSS, largest process ({n} id, --workers {args.workers})", f"{r['peak_mb']:7.0f}",
                     f"< {TARGET_PEAK_MB:.0f} MB {ok(r['peak_mb'] < TARGET_PEAK_MB)}",
                     f"MB; process tree {r['tree_mb']:.0f} MB; {frames_of(n)} frames in {r['wall']:.1f} s wall, "
                     f"{r['cpu']:.1f} s CPU"))
    a, b = runs_by_size[small], runs_by_size[big]
    per_k = (b["peak_mb"] - a["peak_mb"]) / ((frames_of(big) - frames_of(small)) / 1000)
    rows.append(("  peak RSS growth per 1,000 frames", f"{per_k:7.1f}", "",
                 f"MB (~0 = bounded by the work in flight); x{frames_of(big) / frames_of(small):.0f} frames"))
    extra = frames_of(big) - frames_of(small)
    if b["wall"] - a["wall"] < 0.1 * b["wall"]:  # runs too short or too noisy to take a difference
        print(f"note: the {small}- and {big}-identity runs took {a['wall']:.1f} s and {b['wall']:.1f} s; "
              "the steady state below uses the larger run alone (start-up included)")
        a = {"wall": 0.0, "cpu": 0.0}
        extra = frames_of(big)
    steady = extra / (b["wall"] - a["wall"])
    cpu_per_frame = (b["cpu"] - a["cpu"]) / extra
    fixed = max(0.0, b["wall"] - frames_of(big) / steady)
    rows.append((f"--workers {args.workers} fps ({big} id, incl. start-up)", f"{frames_of(big) / b['wall']:7.1f}", "",
                 f"{b['wall']:.1f} s"))
    rows.append((f"--workers {args.workers} fps, steady state", f"{steady:7.1f}", "",
                 f"from ({big} id run - {small} id run); {1000 * cpu_per_frame:.1f} CPU ms/frame"))
    rows.append(("  fixed cost (start-up, pool, finish)", f"{fixed:7.1f}", "s", f"{big} id run minus its frames at the steady rate"))

    # projection (not a measurement)
    proj = fixed + PAPER_FRAMES / steady
    rows.append((f"PROJECTED {PAPER_FRAMES:,} frames ({PAPER_IDENTITIES:,} id), --workers {args.workers}", hms(proj).rjust(7), "",
                 f"projection: fixed cost + frames at {steady:.1f} fps; {PAPER_FRAMES * cpu_per_frame / 60:.0f} CPU min"))
    cores = min(args.workers, os.cpu_count() or 1)
    rows.append((f"PROJECTED {PAPER_FRAMES:,} frames, --workers {args.workers}, CPUs free", hms(fixed + PAPER_FRAMES * cpu_per_frame / cores).rjust(7), "",
                 f"projection: fixed cost + the CPU time spread over {cores} cores (what an unshared machine would do)"))
    rows.append((f"PROJECTED {PAPER_FRAMES:,} frames, 1 process", hms(PAPER_FRAMES / e2e_fps).rjust(7), "", f"projection at {e2e_fps:.1f} fps"))
    rows.append(("PROJECTED disk for the full scale", f"{b['disk'] / frames_of(big) * PAPER_FRAMES / 1e9:6.1f}G", "",
                 f"{b['disk'] / frames_of(big) / 1e3:.1f} kB/frame (frames + meshes + card); "
                 "about as much again for the pieces while generating"))

    me = peak_mb()
    rows.append(("peak RSS, this benchmark process", f"{me:7.0f}", "", "MB (in-process runs above)"))
    rows.append(("load average (1 min) at start / end", f"{load0:4.2f}/{os.getloadavg()[0]:.2f}".rjust(7), "",
                 f"includes this run; well above {os.cpu_count()} = contention, wall times noisy"))

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
