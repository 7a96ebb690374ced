"""Meshes as 3D assets (generation/mesh_asset.py, pain3d_dataset/meshes.py): GLB, OBJ and PLY
files that round-trip exactly and load in trimesh, the meshes config's albedo and the faces
config's parts, ``--meshes none|vertices|glb``, ``pain3d export-meshes`` and the folder
format's ``metadata.jsonl`` for ``load_dataset("imagefolder")``.

Every dataset here is tiny (3 identities, 1-2 expressions, 64 px) so the module takes seconds.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from generation.facs import pspi
from generation.mesh_asset import (
    MESH_FORMATS,
    HeadAsset,
    Part,
    albedo_uint8,
    export_asset,
    file_metadata,
    identity_assets,
    read_asset,
    to_scene,
)
from generation.pipeline import BackendAppearance, GenerationConfig, Generator
from helpers import assert_one_error_line, run, tree

CFG = dict(identities=3, expressions=2, views=(-30.0, 30.0), size=64, seed=5)
GEN = ["--identities", "3", "--expressions", "2", "--views", "2", "--size", "64", "--seed", "5", "--quiet"]
PARTS = ("head", "left_eyeball", "left_upper_lid", "left_lower_lid", "right_eyeball", "right_upper_lid", "right_lower_lid")


@pytest.fixture(scope="module")
def gen():
    return Generator(GenerationConfig(**CFG))


@pytest.fixture(scope="module")
def result(gen):
    return gen.identity(1)


def _textured(gen) -> Generator:
    """A generator whose appearance backend makes a UV texture (as the diffusion texturer does):
    each vertex's u, v from its x, y, and a texture with a gradient, so every vertex differs."""

    def backend(vertices, faces, demographics, age, rng):
        lo, hi = vertices.min(0), vertices.max(0)
        uvs = ((vertices[:, :2] - lo[:2]) / (hi[:2] - lo[:2])).astype(np.float32)
        yy, xx = np.mgrid[0:32, 0:48]
        tex = np.stack([xx * 5, yy * 7, 255 - xx * 5], -1).astype(np.uint8)
        return BackendAppearance(uvs=uvs, texture=tex)

    return Generator(gen.config, model=gen.model, appearance_backend=backend)


# --- files ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", MESH_FORMATS)
def test_files_round_trip_exactly_and_load_in_trimesh(result, tmp_path, fmt):
    asset = identity_assets(result, "builtin")[2]
    assert asset.metadata["pspi"] == int(pspi(result.frames[-1].aus)) and asset.metadata["expression"] == 2
    for name, data in export_asset(asset, fmt, "m").items():
        (tmp_path / name).write_bytes(data)
    path = tmp_path / f"m.{fmt}"
    back = read_asset(path)
    np.testing.assert_array_equal(back.vertices, result.meshes[2])  # exact, in order
    np.testing.assert_array_equal(back.faces, result.faces)
    np.testing.assert_array_equal(back.albedo, albedo_uint8(result.albedo))
    assert [p.name for p in back.parts] == list(PARTS)
    assert back.metadata == asset.metadata and back.metadata["identity"] == "id_00001"
    # trimesh on its own reads the same geometry and colours
    loaded = trimesh.load(str(path), process=False)
    if fmt == "glb":
        assert sorted(loaded.geometry) == sorted(PARTS)
        head = loaded.geometry["head"]
        n = back.parts[0].stop
        np.testing.assert_array_equal(np.asarray(head.vertices, np.float32), result.meshes[2][:n])
        np.testing.assert_array_equal(head.visual.vertex_colors[:, :3], albedo_uint8(result.albedo)[:n])
        assert loaded.metadata["aus"] == asset.metadata["aus"]
    else:
        np.testing.assert_array_equal(np.asarray(loaded.vertices, np.float32), result.meshes[2])
        np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], albedo_uint8(result.albedo))
    assert file_metadata(path.read_bytes(), fmt)["pspi"] == asset.metadata["pspi"]


@pytest.mark.parametrize("fmt", MESH_FORMATS)
def test_uv_texture_is_carried_when_the_texturer_made_one(gen, tmp_path, fmt):
    res = _textured(gen).identity(0)
    # the per-vertex albedo is the texture at each vertex: checked against a hand lookup of the
    # texel under (u, v) (v up; bilinear, so within one step of the gradient's neighbours)
    tex = np.asarray(res.texture)
    h, w = tex.shape[:2]
    px = np.clip((res.uvs[:, 0] * w).astype(int), 0, w - 1)
    py = np.clip(((1 - res.uvs[:, 1]) * h).astype(int), 0, h - 1)
    assert np.abs(albedo_uint8(res.albedo).astype(int) - tex[py, px]).max() <= 7
    asset = identity_assets(res, "builtin")[1]
    assert asset.albedo is None and asset.texture is not None
    files = export_asset(asset, fmt, "t")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    if fmt != "glb":
        assert "id_00000_albedo.png" in files  # the texture beside the OBJ / PLY
    back = read_asset(tmp_path / f"t.{fmt}")
    np.testing.assert_array_equal(back.vertices, res.meshes[1])
    np.testing.assert_array_equal(back.texture, tex)
    np.testing.assert_allclose(back.uvs, res.uvs, atol=1e-6)
    loaded = trimesh.load(str(tmp_path / f"t.{fmt}"), process=False, force="mesh")
    assert loaded.visual.kind == "texture" and len(loaded.faces) == len(res.faces)


def test_parts_must_be_separate_shells():
    v = np.zeros((6, 3), np.float32)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    assert [p.name for p in HeadAsset(v, f).parts] == ["head"]
    HeadAsset(v, f, parts=(Part("a", 0, 3), Part("b", 3, 6)))
    with pytest.raises(ValueError, match="joins two parts"):
        HeadAsset(v, np.array([[0, 1, 3]]), parts=(Part("a", 0, 3), Part("b", 3, 6)))
    with pytest.raises(ValueError, match="contiguous"):
        HeadAsset(v, f, parts=(Part("a", 0, 2), Part("b", 3, 6)))


# --- datasets --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The same tiny dataset with each --meshes choice (and the default)."""
    root = tmp_path_factory.mktemp("meshes")
    from pain3d.cli import main

    out = {}
    for storage in ("default", "none", "glb"):
        extra = [] if storage == "default" else ["--meshes", storage]
        assert main(["generate", "--out", str(root / storage), *GEN, *extra]) == 0
        out[storage] = root / storage
    return out


def _load(path: Path, config: str):
    from datasets import load_dataset

    return load_dataset(str(path), config)


def test_meshes_config_holds_vertices_albedo_and_parts(hub, gen):
    meshes, faces = _load(hub["default"], "meshes"), _load(hub["default"], "faces")
    assert list(meshes["train"].features)[:5] == ["identity", "expression", "face_model", "vertices", "albedo"]
    rows = [r for s in meshes for r in meshes[s]]
    assert len(rows) == 3 * 3
    frow = faces["train"][0]
    assert [p["name"] for p in frow["parts"]] == list(PARTS) and frow["parts"][-1]["stop"] == len(rows[0]["vertices"])
    for r in rows:
        res = gen.identity(int(r["identity"][3:]))
        np.testing.assert_array_equal(np.asarray(r["vertices"], np.float32), res.meshes[r["expression"]])
        np.testing.assert_array_equal(np.asarray(r["albedo"], np.uint8), albedo_uint8(res.albedo))
    # one call to a trimesh.Scene: named parts, exact vertices, the albedo as vertex colours
    from pain3d_dataset.meshes import to_scene as row_scene
    from pain3d_dataset.meshes import to_trimesh

    r = rows[4]
    scene = row_scene(r, faces)
    assert sorted(scene.geometry) == sorted(PARTS) and scene.metadata["pspi"] == r["pspi"]
    eye = scene.geometry["left_eyeball"]
    lo, hi = frow["parts"][1]["start"], frow["parts"][1]["stop"]
    np.testing.assert_array_equal(np.asarray(eye.vertices, np.float32), np.asarray(r["vertices"], np.float32)[lo:hi])
    np.testing.assert_array_equal(eye.visual.vertex_colors[:, :3], np.asarray(r["albedo"])[lo:hi])
    mesh = to_trimesh(r, faces["train"])
    assert len(mesh.faces) == len(frow["faces"]) and mesh.metadata["identity"] == r["identity"]


def test_meshes_none_and_glb(hub):
    frames = lambda p: {k: v for k, v in tree(p / "data").items() if k.startswith("frames/")}  # noqa: E731
    assert frames(hub["none"]) == frames(hub["default"]) == frames(hub["glb"])  # frames never change
    assert not (hub["none"] / "data" / "meshes").exists() and not (hub["none"] / "data" / "faces").exists()
    assert "meshes" not in (hub["none"] / "README.md").read_text().split("---")[1]
    from pain3d_dataset.verify import verify

    for storage in ("none", "glb"):
        report = verify(hub[storage])
        assert report.ok, report.problems
    glb = _load(hub["glb"], "meshes")
    vert = _load(hub["default"], "meshes")
    faces = _load(hub["default"], "faces")
    assert "vertices" not in glb["train"].features and glb["train"].features["glb"].dtype == "binary"
    from pain3d_dataset.meshes import row_asset

    for a, b in zip(glb["test"], vert["test"]):
        ga, va = row_asset(a), row_asset(b, faces)
        np.testing.assert_array_equal(ga.vertices, va.vertices)
        np.testing.assert_array_equal(ga.albedo, va.albedo)
        assert ga.parts == va.parts and ga.metadata["aus"] == b["aus"] and ga.metadata["pspi"] == b["pspi"]


def test_export_meshes_writes_files_that_match_the_rows(hub, tmp_path, capsys):
    out = tmp_path / "exp"
    code, stdout, err = run(["export-meshes", hub["default"], "--out", out, "--format", "obj",
                             "--identities", "id_00000,id_00002", "--expressions", "0,2"], capsys)
    assert code == 0, err
    files = sorted(p.relative_to(out / "meshes").as_posix() for p in (out / "meshes").rglob("*"))
    assert files == ["id_00000", "id_00000/id_00000_e00.obj", "id_00000/id_00000_e02.obj",
                     "id_00002", "id_00002/id_00002_e00.obj", "id_00002/id_00002_e02.obj"]
    assert "exported 4 meshes of 2 identities as OBJ" in stdout
    m = _load(hub["default"], "meshes")
    rows = {(r["identity"], r["expression"]): r for s in m for r in m[s]}
    for f in (out / "meshes").rglob("*.obj"):
        a = read_asset(f)
        r = rows[(a.metadata["identity"], a.metadata["expression"])]
        np.testing.assert_array_equal(a.vertices, np.asarray(r["vertices"], np.float32))
        np.testing.assert_array_equal(a.albedo, np.asarray(r["albedo"], np.uint8))
        assert a.metadata["aus"] == r["aus"]
    # from the GLB dataset and from a folder with GLBs: the same meshes
    for src, name in ((hub["glb"], "from-glb"), (None, "from-folder")):
        if src is None:
            src = tmp_path / "folder"
            assert run(["generate", "--out", src, "--format", "folder", "--meshes", "glb", *GEN], capsys)[0] == 0
        code, _, err = run(["export-meshes", src, "--out", tmp_path / name, "--format", "ply", "--identities", "id_00002", "--quiet"], capsys)
        assert code == 0, err
        for e in (0, 2):
            a = read_asset(tmp_path / name / "meshes" / "id_00002" / f"id_00002_e{e:02d}.ply")
            np.testing.assert_array_equal(a.vertices, np.asarray(rows[("id_00002", e)]["vertices"], np.float32))


def _sha(root: Path) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in tree(root).items()}


def test_export_meshes_refuses_and_deletes_nothing(hub, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own file\n")
    before_data, before_mine = _sha(hub["default"]), _sha(mine)
    cases = [
        (["--out", hub["default"], "--overwrite"], "overlaps the dataset"),
        (["--out", hub["default"] / "x"], "overlaps the dataset"),
        (["--out", mine], "not empty"),
        (["--out", mine, "--overwrite"], "no pain3d marker"),
        (["--out", hub["glb"], "--overwrite"], "not an export"),
        (["--out", tmp_path / "a", "--identities", "id_09999"], "id_09999 not in"),
        (["--out", tmp_path / "a", "--expressions", "7"], "7 not in"),
        (["--out", tmp_path / "a", "--expressions", "x"], "whole numbers"),
        (["--out", tmp_path / "a", "--format", "stl"], "invalid choice"),
    ]
    for extra, words in cases:
        code, _, err = run(["export-meshes", hub["default"], *extra], capsys)
        assert code == 2 and words in err, (extra, err)
        if words != "invalid choice":
            assert_one_error_line(err)
    code, _, err = run(["export-meshes", hub["none"], "--out", tmp_path / "a"], capsys)
    assert code == 2 and "holds no meshes" in err
    assert not (tmp_path / "a").exists()
    assert _sha(hub["default"]) == before_data and _sha(mine) == before_mine
    # an earlier export is ours to replace
    for _ in range(2):
        code, _, err = run(["export-meshes", hub["default"], "--out", tmp_path / "b", "--identities", "id_00001", "--overwrite", "--quiet"], capsys)
        assert code == 0, err


def test_folder_format_loads_with_imagefolder(tmp_path, capsys):
    from datasets import load_dataset

    out = tmp_path / "f"
    assert run(["generate", "--out", out, "--format", "folder", *GEN], capsys)[0] == 0
    assert not list(out.rglob("*.glb"))  # --meshes none is the folder default
    ds = load_dataset("imagefolder", data_dir=str(out))["train"]
    jsons = sorted((out / "frames").rglob("*.json"))
    assert len(ds) == len(jsons) == 3 * 3 * 2
    assert "label" not in ds.features  # not labelled by identity folder
    for col in ("image", "neutral_image", "heatmap", "heatmap_raw"):
        assert type(ds.features[col]).__name__ == "Image"
    rows = {(r["identity"], r["expression"], r["view"]): r for r in ds}
    for j in jsons:
        ann = json.loads(j.read_text())
        r = rows[(ann["identity"], ann["expression"], ann["view"])]
        assert r["pspi"] == int(ann["pspi"]) and isinstance(r["pspi"], int)
        assert r["aus"] == {k: float(v) for k, v in ann["aus"].items()} and r["ethnicity"] == ann["ethnicity"]
        frame = np.asarray(r["image"])
        from PIL import Image

        assert np.array_equal(frame, np.asarray(Image.open(j.with_name(ann["image"]))))
        if ann["heatmap"] is None:
            assert r["heatmap"] is None and r["expression"] == 0
        else:
            raw = np.asarray(r["heatmap_raw"])
            assert raw.dtype == np.uint16 and np.array_equal(raw, np.asarray(Image.open(j.with_name(ann["heatmap_raw"]))))


def test_meshes_option_is_checked_up_front(tmp_path, capsys):
    for extra, words in ((["--format", "folder", "--meshes", "vertices"], "--meshes vertices is for --format hub"),
                         (["--meshes", "stl"], "invalid choice")):
        code, _, err = run(["generate", "--out", tmp_path / "x", *GEN, *extra], capsys)
        assert code == 2 and words in err, err
        assert not (tmp_path / "x").exists()
    # a finished run's settings include --meshes: resuming with another choice is refused
    assert run(["generate", "--out", tmp_path / "y", *GEN, "--identities", "1", "--meshes", "none"], capsys)[0] == 0
    code, _, err = run(["generate", "--out", tmp_path / "y", *GEN, "--identities", "1", "--meshes", "glb", "--resume"], capsys)
    assert code == 2 and "different settings" in err
    assert_one_error_line(err)
