"""Generator output -> dataset rows matching ``features.py`` (images as encoded bytes)."""

from __future__ import annotations

import json

import numpy as np

from generation.facs import DISTRACTOR_CODES, PAIN_CODES
from generation.heatmaps import colorize, encode_heat16
from generation.layout import encode_jpeg
from generation.png import encode_png
from generation.pipeline import Frame, IdentityResult

from .features import view_names


def _image(data: bytes) -> dict:
    return {"bytes": data, "path": None}


def _aus(values: dict, codes) -> dict:
    return {c: float(values.get(c, 0.0)) for c in codes}


def frame_rows(result: IdentityResult, yaws, scale_mm: float) -> list[dict]:
    """Rows of the ``frames`` config for one identity, in (expression, view) order."""
    names = view_names(yaws)
    neutral: dict[int, bytes] = {}
    black: dict[tuple[int, int], bytes] = {}
    rows = []
    for f in result.frames:
        jpg = encode_jpeg(f.image)
        if f.expression == 0:
            neutral[f.view] = jpg
        h, w = f.image.shape[:2]
        if f.heat is None:
            if (h, w) not in black:
                black[(h, w)] = (encode_png(np.zeros((h, w, 3), np.uint8)), encode_png(np.zeros((h, w), np.uint16)))
            heat_png, raw_png = black[(h, w)]
        else:
            heat_png, raw_png = encode_png(colorize(f.heat)), encode_png(encode_heat16(f.heat))
        rows.append(frame_row(f, jpg, neutral[f.view], heat_png, raw_png, names[f.view], scale_mm))
    return rows


def frame_row(f: Frame, jpg: bytes, neutral_jpg: bytes, heat_png: bytes, raw_png: bytes, view_name: str, scale_mm: float) -> dict:
    return {
        "image": _image(jpg),
        "neutral_image": _image(neutral_jpg),
        "heatmap": _image(heat_png),
        "heatmap_raw": _image(raw_png),
        "aus": _aus(f.aus, PAIN_CODES),
        "distractor_aus": _aus(f.distractor_aus, DISTRACTOR_CODES),
        "pspi": int(round(f.pspi)),
        "identity": f.identity,
        "expression": f.expression,
        "view": view_name,
        "yaw": f.yaw,
        "pitch": f.pitch,
        "age_group": f.demographics.age_group,
        "gender": f.demographics.gender,
        "ethnicity": f.demographics.ethnicity,
        "age": f.age,
        "skin_tone": f.appearance.skin_tone,
        "facial_hair": f.appearance.hair_style.facial,
        "heatmap_scale_mm": scale_mm,
        "seed": f.seed,
        "appearance": appearance_record(f.extras),
    }


def appearance_record(extras: dict) -> str:
    """The appearance backend's record of an identity (prompt, seeds, the portrait's alignment
    check and its attempts) as sorted JSON; "" for the procedural texture, which has none."""
    return json.dumps(extras, sort_keys=True) if extras else ""


def mesh_rows(result: IdentityResult, face_model: str, storage: str = "vertices") -> list[dict]:
    """Rows of the ``meshes`` config: one per expression (0 = neutral). ``storage`` "vertices":
    the vertex array and per-vertex albedo (uint8); "glb": the mesh as a GLB file
    (``generation.mesh_asset``: albedo or UV texture, named parts, the labels). The vertex
    rows need no ``HeadAsset`` (whose parts check costs more than the row): the faces config
    checks the parts once."""
    from generation.mesh_asset import albedo_uint8, export_asset, identity_assets, mesh_labels

    keys = ("identity", "expression", "face_model", "aus", "distractor_aus", "pspi")
    if storage == "glb":
        return [
            {**{k: a.metadata[k] for k in keys}, "glb": export_asset(a, "glb", "mesh")["mesh.glb"]}
            for a in identity_assets(result, face_model)
        ]
    albedo = albedo_uint8(result.albedo)
    by_expr = {f.expression: f for f in result.frames if f.view == 0}
    rows = []
    for e, verts in enumerate(result.meshes):
        labels = mesh_labels(result.name, e, face_model, by_expr[e].aus, by_expr[e].distractor_aus)
        rows.append({k: labels[k] for k in keys} | {"vertices": verts, "albedo": albedo})
    return rows
