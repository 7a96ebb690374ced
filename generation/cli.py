"""The ``pain3d`` command line: generate, preview.

Bad input ends with one line ``pain3d: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

EXAMPLES = """examples:
  pain3d generate --out 3dpain --identities 24 --expressions 10 --views 3 --size 256 --seed 0
  pain3d generate --out 3dpain --identities 24 --resume          # finish an interrupted run
  pain3d generate --out one --identities 1 --expressions 1 --au "AU4=3,AU6=2,AU43=1"
  pain3d generate --out flame --face-model flame --flame-path generic_model.pkl
  pain3d preview --out contact_sheet.png --identities 4
"""


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


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
    p.add_argument("--views", type=_positive_int, default=3, help="camera views per frame; 3 = yaw -30/0/+30 (default %(default)s)")
    p.add_argument("--yaws", default=None, help="explicit comma-separated yaw angles in degrees, overrides --views")
    p.add_argument("--pitch", type=float, default=0.0, help="camera pitch in degrees (default %(default)s)")
    p.add_argument("--size", type=_positive_int, default=256, help="image size in pixels (default %(default)s)")
    p.add_argument("--seed", type=_positive_int, default=0, help="random seed; same seed, same bytes (default %(default)s)")
    p.add_argument("--face-model", choices=("builtin", "flame"), default="builtin", help="face model (default %(default)s)")
    p.add_argument("--flame-path", default=None, help="user-supplied FLAME generic_model.pkl or .npz (for --face-model flame)")
    p.add_argument("--distractors", type=float, default=0.0, help="probability that each non-pain AU (AU1, AU2, AU12, AU15, AU25, AU26) is active (default %(default)s)")
    p.add_argument("--au", default=None, help='fixed AUs for every pain expression, e.g. "AU4=3,AU6=2,AU43=1"')
    p.add_argument("--pspi-range", default="0-16", help="range of PSPI targets, sampled uniformly (default %(default)s)")
    p.add_argument("--weights", default=None, help='demographic weights, e.g. "ethnicity:Black=2;gender:woman=1" (default: exactly balanced)')
    p.add_argument("--ssaa", type=_positive_int, default=1, help="supersampling factor for anti-aliasing (default %(default)s)")


def _config(args: argparse.Namespace, expressions: int):
    from generation.demographics import parse_weights
    from generation.facs import parse_au_string
    from generation.pipeline import GenerationConfig

    if args.face_model == "flame" and args.flame_path and not Path(args.flame_path).is_file():
        raise CLIError(f"--flame-path {args.flame_path}: no such file")
    if args.yaws:
        try:
            views = tuple(float(v) for v in args.yaws.split(","))
        except ValueError:
            raise CLIError(f"--yaws must be comma-separated numbers, got {args.yaws!r}") from None
    else:
        views = GenerationConfig.view_yaws(args.views)
    try:
        lo, hi = (int(v) for v in args.pspi_range.split("-"))
    except ValueError:
        raise CLIError(f"--pspi-range must look like 0-16, got {args.pspi_range!r}") from None
    return GenerationConfig(
        identities=args.identities,
        expressions=expressions,
        views=views,
        pitch=args.pitch,
        size=args.size,
        seed=args.seed,
        face_model=args.face_model,
        flame_path=args.flame_path,
        distractor_probability=args.distractors,
        pspi_range=(lo, hi),
        fixed_aus=parse_au_string(args.au) if args.au else None,
        weights=parse_weights(args.weights) if args.weights else None,
        ssaa=max(1, args.ssaa),
    )


# Worker state: one Generator per process (built once, reused for every identity).
_WORKER = {}


def _init_worker(config) -> None:
    from generation.pipeline import Generator

    _WORKER["gen"] = Generator(config)


def _make_identity(index: int):
    from generation.layout import identity_files

    gen = _WORKER["gen"]
    res = gen.identity(index)
    return res.name, identity_files(res, gen.config.heatmap_scale_mm)


def cmd_generate(args: argparse.Namespace) -> int:
    from generation.layout import prepare_output, write_identity
    from generation.pipeline import Generator, identity_name

    config = _config(args, args.expressions)
    # Load the face model before touching --out: a bad --flame-path must fail here, before
    # --overwrite clears anything or a progress bar is drawn.
    gen = Generator(config)
    out = Path(args.out)
    done = prepare_output(out, config, overwrite=args.overwrite, resume=args.resume)
    todo = [i for i in range(config.identities) if identity_name(i) not in done]
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
        _WORKER["gen"] = gen
        for i in todo:
            name, files = _make_identity(i)
            write_identity(out, name, files)
            bar.update()
    bar.close()
    n_frames = config.identities * (config.expressions + 1) * len(config.views)
    if not args.quiet:
        print(f"wrote {config.identities} identities ({n_frames} frames) to {out}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from generation.preview import contact_sheet

    config = _config(args, 1)
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
    contact_sheet(config, levels, view=args.view).save(out)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pain3d",
        description="Controllable synthetic 3D pain faces (3DPain): exact FACS AUs, PSPI labels, pain-region heatmaps.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate a dataset folder", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--out", required=True, help="output folder")
    _add_generation_args(g, identities=8, expressions=10)
    g.add_argument("--expressions", type=_positive_int, default=10, help="pain expressions per identity, besides the neutral one (default %(default)s)")
    g.add_argument("--workers", type=_positive_int, default=1, help="processes to use (default %(default)s)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing pain3d output folder")
    g.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=cmd_generate)
    p = sub.add_parser("preview", help="write a contact sheet (identities x PSPI levels with heatmap overlays)")
    p.add_argument("--out", default="contact_sheet.png", help="PNG to write (default %(default)s)")
    _add_generation_args(p, identities=4, expressions=1)
    p.add_argument("--levels", default="0,4,8,12,16", help="PSPI levels, one column each (default %(default)s)")
    p.add_argument("--view", type=float, default=0.0, help="camera yaw in degrees (default %(default)s)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_preview)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, ValueError, OSError, IndexError) as e:  # AUValueError etc. are ValueErrors
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        print(f"pain3d: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pain3d: interrupted; rerun with --resume to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
