"""``pain3d assess IMAGE_OR_DIR...``: ViTPain's pain assessment of face images, one line per image.

Each image is scored with the model's own preprocessing (``ViTPainModel.predict``: the face crop
when the model was trained on crops); a file that is missing, unreadable or shows no face gets one
line naming it and the run goes on. ``--json``/``--csv`` also write every result to a file.
Exit status 0 when every image was assessed, 1 when some were not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MODEL_ENV = "PAIN3D_MODEL"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "spaces" / "model"  # `make space-model` builds it
MAX_PIXELS = 80_000_000  # larger images are refused (as in the Space), JPEGs decode downscaled


@dataclass
class Assessed:
    """One input file: the model's answer, or why there is none."""

    file: str
    error: str | None = None
    result: dict = field(default_factory=dict)

    def record(self) -> dict:
        r = self.result
        if self.error:
            return {"file": self.file, "ok": False, "error": self.error}
        return {"file": self.file, "ok": True, "expected_pspi": r["expected_pspi"], "pspi": r["pspi"],
                "pspi_probability": r["pspi_probs"][r["pspi"]], "au_intensities": r["au_intensities"],
                "face_box": None if r["face_box"] is None else [round(v, 1) for v in r["face_box"]],
                "pspi_probs": r["pspi_probs"]}

    def line(self) -> str:
        if self.error:
            return f"{self.file}: {self.error}"
        r = self.result
        aus = " ".join(f"{name} {value:.2f}" for name, value in r["au_intensities"].items())
        box = "whole image" if r["face_box"] is None else "face " + ",".join(f"{v:.0f}" for v in r["face_box"])
        return (f"{self.file}: expected PSPI {r['expected_pspi']:.2f}, class {r['pspi']} "
                f"(p {r['pspi_probs'][r['pspi']]:.2f}); {aus}; {box}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds ``assess`` to the ``pain3d`` command's subparsers."""
    p = subparsers.add_parser(
        "assess", help="score face images with ViTPain: expected PSPI, PSPI class, AU intensities, face box",
        description="Score face images with a ViTPain model, applying its own preprocessing (the face crop "
                    "when it was trained on crops). Per image: expected PSPI, most likely PSPI class, AU "
                    "intensities and the face box (left,top,right,bottom in pixels).",
        epilog="examples:\n  pain3d assess face.jpg\n  pain3d assess photos/ --csv scores.csv\n"
               "  pain3d assess a.png b.png --model runs/student/best --json scores.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files, or folders searched for "
                   f"{', '.join(IMAGE_SUFFIXES)} files (recursively)")
    p.add_argument("--model", default=None, help=f"ViTPain folder or Hub id (default: ${MODEL_ENV}, else the Space's "
                   "spaces/model)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", metavar="OUT", default=None, help="also write every result (and error) as JSON")
    out.add_argument("--csv", metavar="OUT", default=None, help="also write every result (and error) as CSV")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json/--csv file")
    p.add_argument("--whole-image", action="store_true", help="score whole images, without the face crop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_assess)
    return p


def find_images(inputs: list[str]) -> tuple[list[Path], bool]:
    """The files to assess, in order (folders searched recursively, sorted); and whether a folder was given."""
    files, folder = [], False
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            folder = True
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)  # a missing file gets its line later
    return files, folder


def load_image(path: Path):
    """The RGB image in `path` (EXIF orientation applied); ValueError with the reason otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise ValueError("no such file")
    if path.stat().st_size == 0:
        raise ValueError("empty file")
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (2048, 2048))  # a DCT-domain downscale: any JPEG decodes cheaply
            elif img.size[0] * img.size[1] > MAX_PIXELS:
                raise ValueError(f"{img.size[0]}x{img.size[1]} pixels is too large; downscale it")
            img.load()
            return (ImageOps.exif_transpose(img) or img).convert("RGB")
    except (UnidentifiedImageError, SyntaxError):
        raise ValueError("not an image this command can read (JPEG, PNG, WebP, BMP, TIFF)") from None
    except Image.DecompressionBombError:
        raise ValueError("too large to decode safely; downscale it") from None
    except OSError as err:
        raise ValueError(f"damaged or truncated image ({err})") from None


def load_model(spec: str | None):
    """ViTPainModel from --model, $PAIN3D_MODEL or the Space's default; ValueError naming the fix."""
    spec = spec or os.environ.get(MODEL_ENV) or None
    if spec is None:
        if not (DEFAULT_MODEL / "config.json").is_file():
            raise ValueError(f"no model given and {DEFAULT_MODEL} holds none: pass --model DIR_OR_HUB_ID "
                             "(or build the default with `make space-model`)")
        spec = str(DEFAULT_MODEL)
    local = Path(spec).expanduser()
    if (local.exists() or spec.startswith((".", "/", "~"))) and not (local / "config.json").is_file():
        raise ValueError(f"--model {spec}: not a model folder (it needs config.json and model.safetensors "
                         "from save_pretrained)")
    from vitpain_hf import ViTPainModel

    try:
        return ViTPainModel.from_pretrained(str(local) if local.exists() else spec).eval()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"--model {spec}: cannot load a ViTPain model ({str(err).splitlines()[0]})") from None


def assess_files(model, files: list[Path], whole_image: bool, progress: bool):
    """Yields an Assessed per file, in order."""
    from vitpain_hf import NoFaceError

    for path in tqdm(files, desc="assess", unit="image", disable=not progress, file=sys.stderr):
        try:
            image = load_image(path)
            yield Assessed(str(path), result=model.predict(image, face_crop=False if whole_image else None))
        except NoFaceError:
            yield Assessed(str(path), "no face found (the model scores face crops; --whole-image scores the frame)")
        except ValueError as err:
            yield Assessed(str(path), str(err))


def write_results(path: Path, results: list[Assessed], kind: str, au_names: list[str]) -> None:
    """--json/--csv OUT, written whole under a temporary name and renamed."""
    from generation.layout import write_atomic

    records = [r.record() for r in results]
    if kind == "json":
        write_atomic(path, (json.dumps(records, indent=1) + "\n").encode())
        return
    buf = io.StringIO()
    columns = ["file", "ok", "error", "expected_pspi", "pspi", "pspi_probability", *au_names,
               "face_left", "face_top", "face_right", "face_bottom"]
    writer = csv.DictWriter(buf, columns, extrasaction="ignore")
    writer.writeheader()
    for rec in records:
        box = rec.get("face_box") or [None] * 4
        writer.writerow({**rec, **rec.get("au_intensities", {}),
                         **dict(zip(("face_left", "face_top", "face_right", "face_bottom"), box))})
    write_atomic(path, buf.getvalue().encode())


def cmd_assess(args: argparse.Namespace) -> int:
    target, kind = (args.json, "json") if args.json else (args.csv, "csv") if args.csv else (None, None)
    if target is not None:
        target = Path(target)
        if target.is_dir():
            raise ValueError(f"--{kind} {target} is a folder; give a file name")
        if target.exists() and not args.overwrite:
            raise ValueError(f"--{kind} {target} exists; pass --overwrite to replace it, or choose another name")
        if not target.parent.is_dir():
            raise ValueError(f"--{kind} {target}: no such folder {target.parent}")
    files, folder = find_images(args.inputs)
    if not files:
        raise ValueError(f"no images found in {', '.join(args.inputs)} (looked for {', '.join(IMAGE_SUFFIXES)})")
    model = load_model(args.model)

    results = []
    for assessed in assess_files(model, files, args.whole_image, progress=folder and not args.quiet):
        results.append(assessed)
        if assessed.error:
            tqdm.write(f"pain3d: assess: {assessed.line()}", file=sys.stderr)
        else:
            tqdm.write(assessed.line(), file=sys.stdout)
    if target is not None:
        write_results(target, results, kind, list(model.config.au_names))
    failed = sum(1 for r in results if r.error)
    if failed and not args.quiet:
        print(f"pain3d: assess: {len(results) - failed} of {len(results)} images assessed; {failed} not "
              "(see the lines above)", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["Assessed", "add_parser", "assess_files", "cmd_assess", "find_images", "load_image", "load_model"]
