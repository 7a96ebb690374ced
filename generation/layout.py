"""The generator's folder layout: images plus one JSON annotation per frame.

    OUT/
      .pain3d/owner.json               marks the folder as pain3d's (generation/outdir.py)
      pain3d.json                      run config, format version and the generator that started it
      manifest.jsonl                   one line per finished identity (for --resume)
      metadata.jsonl                   one line per frame, written last: imagefolder's labels
      frames/id_00000/
        id_00000_e00_v0.jpg            RGB frame (expression 0 = neutral, view 0..V-1)
        id_00000_e00_v0.json           labels; paths inside are relative to this JSON file
        id_00000_e03_v1_heatmap.png    colorized heatmap (pain frames only)
        id_00000_e03_v1_heat16.png     lossless heat: uint16 grey, value / 65535 = heat in [0, 1]
        id_00000_e03.glb               the expression's mesh (``--meshes glb`` only)

An identity's folder is written under a temporary name and renamed when complete, then added
to the manifest, so an interrupted run never leaves half an identity behind.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .heatmaps import colorize, encode_heat16
from .outdir import OutputDirError, prepare
from .pipeline import Frame, GenerationConfig, IdentityResult
from .png import encode_png
from .provenance import describe_stamp, generator_stamp

FORMAT_VERSION = 1
CONFIG_FILE = "pain3d.json"
MANIFEST = "manifest.jsonl"
METADATA = "metadata.jsonl"  # one line per frame, for load_dataset("imagefolder", data_dir=OUT)
# Where each output format keeps its run record (ownership is ``.pain3d/owner.json``, see
# generation/outdir.py). The Hub layout, pain3d_dataset/writer.py, keeps its bookkeeping under
# a hidden folder so the dataset repository's top level holds only the card, its plots and data/.
HUB_CONFIG_FILE = ".pain3d/config.json"
HUB_MANIFEST = ".pain3d/manifest.jsonl"
RUN_RECORDS = {"folder": CONFIG_FILE, "hub": HUB_CONFIG_FILE}
JPEG_QUALITY = 95


def frame_stem(f: Frame) -> str:
    return f"{f.identity}_e{f.expression:02d}_v{f.view}"


def mesh_stem(identity: str, expression: int) -> str:
    """File name (without extension) of an identity's mesh of one expression."""
    return f"{identity}_e{expression:02d}"


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buf.getvalue()


def frame_annotation(f: Frame, scale_mm: float) -> dict:
    """The JSON labels of one frame (paths relative to the JSON file)."""
    stem = frame_stem(f)
    neutral = f"{f.identity}_e00_v{f.view}.jpg"
    return {
        "image": f"{stem}.jpg",
        "neutral_image": neutral,
        "heatmap": f"{stem}_heatmap.png" if f.heat is not None else None,
        "heatmap_raw": f"{stem}_heat16.png" if f.heat is not None else None,
        "heatmap_scale_mm": scale_mm,
        "aus": f.aus,
        "distractor_aus": f.distractor_aus,
        "pspi": f.pspi,
        "identity": f.identity,
        "expression": f.expression,
        "view": f.view,
        "yaw": f.yaw,
        "pitch": f.pitch,
        "age_group": f.demographics.age_group,
        "gender": f.demographics.gender,
        "ethnicity": f.demographics.ethnicity,
        "age": round(f.age, 4),
        "skin_tone": round(f.appearance.skin_tone, 3),
        "facial_hair": f.appearance.hair_style.facial,
        "seed": f.seed,
        # an appearance backend's record: prompt, diffusion seed, portrait alignment attempts
        **({"diffusion": f.extras} if f.extras else {}),
    }


def prepare_output(
    out: Path,
    config: GenerationConfig,
    overwrite: bool,
    resume: bool,
    *,
    layout: str = "folder",
    manifest: str = MANIFEST,
) -> set[str]:
    """Check/create the output folder; return the identities already finished (for resume).

    ``layout`` is the output format ("folder" or "hub"): its run record is ``RUN_RECORDS[layout]``
    and its manifest ``manifest`` (paths relative to ``out``). Whether the folder is pain3d's
    own, and what ``--overwrite`` may delete, is ``generation.outdir``'s decision; resuming
    needs the same format and the same settings.
    """
    record = out / RUN_RECORDS[layout]
    meta = config_record(config)
    if prepare(out, layout, overwrite=overwrite, resume=resume) and record.exists():
        old = read_record(record)
        if old.get("config") != meta["config"]:
            raise OutputDirError(f"{out} was generated with different settings; rerun with those settings or use --overwrite")
        repair_manifest(out, manifest)
        return read_manifest(out, manifest)
    write_atomic(record, json.dumps(meta, indent=2, sort_keys=True).encode())
    return set()


def read_record(path: Path) -> dict:
    """A run record (``pain3d.json``, ``.pain3d/config.json``); damage is an error naming it."""
    try:
        rec = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise OutputDirError(f"{path} is damaged ({str(e).splitlines()[0]}); use --overwrite to start again") from None
    if not isinstance(rec, dict):
        raise OutputDirError(f"{path} is damaged (not a JSON object); use --overwrite to start again")
    return rec


def config_record(config: GenerationConfig) -> dict:
    cfg = {
        "identities": config.identities,
        "expressions": config.expressions,
        "views": list(config.views),
        "pitch": config.pitch,
        "size": config.size,
        "seed": config.seed,
        "face_model": config.face_model,
        "flame_path": str(Path(config.flame_path).resolve()) if config.flame_path else None,
        "distractor_probability": config.distractor_probability,
        "heatmap_scale_mm": config.heatmap_scale_mm,
        "pspi_range": list(config.pspi_range),
        "fixed_aus": dict(config.fixed_aus) if config.fixed_aus else None,
        "weights": config.weights,
        "ssaa": config.ssaa,
        "meshes": config.meshes,
    }
    return {"format_version": FORMAT_VERSION, "config": json.loads(json.dumps(cfg)), "generator": generator_stamp()}


def check_same_generator(out: Path, layout: str, first_done: str, differs: Callable[[], list[str]]) -> None:
    """Refuse (OutputDirError, nothing touched) to resume a run that another generator started
    and whose frames this one draws differently: finishing it would mix two generators' frames.

    When the run record's ``generator`` stamp is this one's, the run is ours. Otherwise (another
    pain3d version or source, or a record from before the stamp) ``differs()`` remakes the first
    finished identity, ``first_done``, and names the stored files or pieces it would change; the
    run resumes only when there are none (a change that leaves the output alone, such as a comment).
    """
    old = read_record(out / RUN_RECORDS[layout]).get("generator")
    new = generator_stamp()
    if old == new:
        return
    changed = differs()
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise OutputDirError(
            f"{out} was started by another generator ({describe_stamp(old)}; this is {describe_stamp(new)}) and "
            f"{first_done} now comes out different ({changed[0]}{more}): finishing it would mix two generators' "
            "frames; finish it with the pain3d that started it, or start again with --overwrite or a new --out"
        )


def stored_files_differ(out: Path, name: str, files: dict[str, bytes]) -> list[str]:
    """The files of identity ``name`` under OUT/frames that are missing, extra or not ``files``' bytes."""
    folder = out / "frames" / name
    on_disk = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    changed = [f for f in sorted(files) if f not in on_disk or (folder / f).read_bytes() != files[f]]
    return changed + sorted(on_disk - set(files))


def read_manifest(out: Path, manifest: str = MANIFEST) -> set[str]:
    path = out / manifest
    if not path.exists():
        return set()
    done = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                done.add(json.loads(line)["identity"])
            except (json.JSONDecodeError, KeyError):
                continue  # a torn last line from a killed run: that identity is redone
    return done


def repair_manifest(out: Path, manifest: str = MANIFEST) -> None:
    """Drop torn lines (a run killed mid-write) so the records appended next start on a line
    of their own and the manifest ends up as an uninterrupted run's."""
    path = out / manifest
    if not path.exists():
        return
    text = path.read_text()
    good = []
    for line in text.splitlines():
        try:
            json.loads(line)["identity"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
        good.append(line + "\n")
    if "".join(good) != text:
        write_atomic(path, "".join(good).encode())


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def identity_files(result: IdentityResult, scale_mm: float, meshes: str = "none", face_model: str = "builtin") -> dict[str, bytes]:
    """File name -> encoded bytes for one identity (pure, so workers can encode in parallel);
    with ``meshes="glb"`` also one GLB per expression (``mesh_stem``)."""
    files: dict[str, bytes] = {}
    if meshes == "glb":
        from .mesh_asset import export_asset, identity_assets

        for e, asset in enumerate(identity_assets(result, face_model)):
            files.update(export_asset(asset, "glb", mesh_stem(result.name, e)))
    for f in result.frames:
        stem = frame_stem(f)
        files[f"{stem}.jpg"] = encode_jpeg(f.image)
        if f.heat is not None:
            files[f"{stem}_heatmap.png"] = encode_png(colorize(f.heat))
            files[f"{stem}_heat16.png"] = encode_png(encode_heat16(f.heat))
        ann = frame_annotation(f, scale_mm)
        files[f"{stem}.json"] = (json.dumps(ann, indent=1, sort_keys=True) + "\n").encode()
    return files


def write_identity(out: Path, name: str, files: dict[str, bytes]) -> None:
    """Write one identity's files under a temporary folder, rename it, record it as done."""
    frames = out / "frames"
    frames.mkdir(exist_ok=True)
    final = frames / name
    tmp = frames / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for fname, data in files.items():
        (tmp / fname).write_bytes(data)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    with open(out / MANIFEST, "a") as fh:
        fh.write(json.dumps({"identity": name, "files": len(files)}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def metadata_record(ann: dict, folder: str) -> dict:
    """A frame's line of ``metadata.jsonl``: its annotation (``frame_annotation``) with the
    images as imagefolder columns (``file_name``, ``*_file_name``: paths relative to OUT) and
    the labels typed as in the Hub layout (integer PSPI, every AU present)."""
    from .facs import DISTRACTOR_CODES, PAIN_CODES

    def rel(name: str | None) -> str | None:
        return None if name is None else f"{folder}/{name}"

    rec = {
        "file_name": rel(ann["image"]),
        "neutral_image_file_name": rel(ann["neutral_image"]),
        "heatmap_file_name": rel(ann["heatmap"]),
        "heatmap_raw_file_name": rel(ann["heatmap_raw"]),
        "aus": {c: float(ann["aus"].get(c, 0.0)) for c in PAIN_CODES},
        "distractor_aus": {c: float(ann["distractor_aus"].get(c, 0.0)) for c in DISTRACTOR_CODES},
        "pspi": int(round(ann["pspi"])),
    }
    skip = {"image", "neutral_image", "heatmap", "heatmap_raw", "aus", "distractor_aus", "pspi"}
    rec.update({k: v for k, v in ann.items() if k not in skip})
    return rec


def write_metadata(out: Path, config: GenerationConfig) -> int:
    """``OUT/metadata.jsonl`` from the identities' JSON files, in identity, expression and view
    order (so the bytes do not depend on --workers or --resume), atomically; returns the rows.
    With it ``load_dataset("imagefolder", data_dir=OUT)`` gives one row per frame: ``image``,
    ``neutral_image``, ``heatmap`` and ``heatmap_raw`` as image columns plus the labels."""
    from .pipeline import identity_name

    out = Path(out)
    tmp = out / f".{METADATA}.tmp"
    rows = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(config.identities):
            name = identity_name(i)
            folder = f"frames/{name}"
            for e in range(config.expressions + 1):
                for j in range(len(config.views)):
                    ann = json.loads((out / folder / f"{name}_e{e:02d}_v{j}.json").read_text())
                    rec = metadata_record(ann, folder)
                    if config.meshes == "glb":
                        rec["mesh"] = f"{folder}/{mesh_stem(name, e)}.glb"
                    fh.write(json.dumps(rec, sort_keys=False) + "\n")
                    rows += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out / METADATA)
    return rows
