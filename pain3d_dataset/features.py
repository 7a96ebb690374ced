"""The one ``datasets.Features`` schema of 3DPain, used by the writer, builder and importers.

Configs:
- ``frames`` (default): one row per rendered frame (identity x expression x view).
- ``meshes``: one row per identity and expression with its (V, 3) vertex array and (V, 3)
  uint8 albedo, or (``--meshes glb``) its GLB file; absent with ``--meshes none``.
- ``faces``: the triangle array and parts of each face model, stored once (one row per model).

Heatmaps come twice: ``heatmap`` is the colorized PNG (black for neutral frames), and
``heatmap_raw`` the lossless 16-bit grey PNG (decode: ``np.asarray(img) / 65535`` gives heat in
[0, 1]; multiply by ``heatmap_scale_mm`` for millimetres of displacement).

Values an imported source does not have (``importers.import_3dpain``): ClassLabels -1 (missing),
floats NaN, ``seed`` -1, images null; views may be named explicitly (``view_names(names=...)``).
"""

from __future__ import annotations

from typing import Sequence

from datasets import Array2D, ClassLabel, Features, Image, List, Value

from generation.demographics import AGE_GROUPS, ETHNICITIES, GENDERS
from generation.facs import DISTRACTOR_CODES, PAIN_CODES, PSPI_MAX
from generation.hair import FACIAL_HAIR
from generation.pipeline import MESH_STORAGE

CONFIGS = ("frames", "meshes", "faces")
DEFAULT_CONFIG = "frames"
SPLITS = ("train", "validation", "test")
PSPI_NAMES = [str(i) for i in range(PSPI_MAX + 1)]
DEFAULT_YAWS = (-30.0, 0.0, 30.0)


def view_names(yaws: Sequence[float] | None = None, names: Sequence[str] | None = None) -> list[str]:
    """ClassLabel names of the views, from their yaws: (-30, 0, 30) -> yaw-30, yaw+0, yaw+30.

    ``names`` overrides the yaw-derived names (e.g. the 3D-Pain release importer, whose views have
    no known yaw, uses view_000, view_001, view_002); if both are given they must be as long.
    """
    if names is not None:
        names = [str(n) for n in names]
        if yaws is not None and len(yaws) != len(names):
            raise ValueError(f"{len(names)} view names given for {len(yaws)} yaws; give one name per view")
        if len(set(names)) != len(names):
            raise ValueError(f"view names {names} repeat; give each view a distinct name")
        return names
    if yaws is None:
        yaws = DEFAULT_YAWS
    return [f"yaw{float(y):+g}" for y in yaws]


def au_struct(codes: Sequence[str]) -> dict:
    return {code: Value("float32") for code in codes}


def frame_features(yaws: Sequence[float] | None = None, names: Sequence[str] | None = None) -> Features:
    """Features of the default config (one row per frame).

    yaws default to (-30, 0, 30) unless ``names`` is given; ``names`` as in ``view_names``.
    """
    return Features(
        {
            "image": Image(),
            "neutral_image": Image(),
            "heatmap": Image(),
            "heatmap_raw": Image(),
            "aus": au_struct(PAIN_CODES),
            "distractor_aus": au_struct(DISTRACTOR_CODES),
            "pspi": ClassLabel(names=PSPI_NAMES),
            "identity": Value("string"),
            "expression": Value("int32"),
            "view": ClassLabel(names=view_names(yaws, names)),
            "yaw": Value("float32"),
            "pitch": Value("float32"),
            "age_group": ClassLabel(names=list(AGE_GROUPS)),
            "gender": ClassLabel(names=list(GENDERS)),
            "ethnicity": ClassLabel(names=list(ETHNICITIES)),
            "age": Value("float32"),
            "skin_tone": Value("float32"),
            "facial_hair": ClassLabel(names=list(FACIAL_HAIR)),
            "heatmap_scale_mm": Value("float32"),
            "seed": Value("int64"),
            "appearance": Value("string"),
        }
    )


def mesh_features(storage: str = "vertices") -> Features:
    """Features of the ``meshes`` config. ``storage`` "vertices": ``vertices`` (millimetres) and
    ``albedo`` (uint8 RGB per vertex); "glb": ``glb``, the mesh as a GLB file (albedo or UV
    texture, named parts, labels in the scene's extras; ``generation.mesh_asset``)."""
    if storage not in MESH_STORAGE[1:]:
        raise ValueError(f"no meshes config for --meshes {storage!r}; choose one of {', '.join(MESH_STORAGE[1:])}")
    data = (
        {"glb": Value("binary")}
        if storage == "glb"
        else {"vertices": Array2D(shape=(None, 3), dtype="float32"), "albedo": Array2D(shape=(None, 3), dtype="uint8")}
    )
    return Features(
        {
            "identity": Value("string"),
            "expression": Value("int32"),
            "face_model": Value("string"),
            **data,
            "aus": au_struct(PAIN_CODES),
            "distractor_aus": au_struct(DISTRACTOR_CODES),
            "pspi": ClassLabel(names=PSPI_NAMES),
        }
    )


def face_features() -> Features:
    """Features of the ``faces`` config: each face model's triangles, once, and its parts (head,
    eyeballs, eyelids: vertex ranges ``start:stop``, each a closed shell)."""
    part = {"name": Value("string"), "start": Value("int32"), "stop": Value("int32")}
    return Features(
        {"face_model": Value("string"), "faces": Array2D(shape=(None, 3), dtype="int32"), "parts": List(part)}
    )


def features_for(
    config: str, yaws: Sequence[float] | None = None, names: Sequence[str] | None = None, meshes: str = "vertices"
) -> Features:
    """Features of ``config``; ``meshes`` is the mesh storage (``--meshes``) of the meshes config."""
    if config == "frames":
        return frame_features(yaws, names)
    if config == "meshes":
        return mesh_features(meshes)
    if config == "faces":
        return face_features()
    raise ValueError(f"unknown config {config!r}; choose one of {', '.join(CONFIGS)}")
