"""Importers: the authors' 3D-Pain release (miniature built here) and a UNBC-McMaster miniature."""

from __future__ import annotations

import argparse
import io
import json
import math
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from generation.facs import DISTRACTOR_CODES, PAIN_CODES, pspi
from pain3d_dataset.features import frame_features
from pain3d_dataset.importers import (
    ReleaseError,
    UNBCError,
    assign_splits,
    import_3dpain,
    load_unbc,
    register_cli,
    subject_groups,
    unbc_features,
    unbc_folds,
)
from pain3d_dataset.importers.threedpain import VIEW_NAMES
from pain3d_dataset.importers.unbc import UNBCWarning

datasets = pytest.importorskip("datasets")

# --------------------------------------------------------------------------- miniature release

IDS = [f"flame_sample_{i:04d}" for i in range(4)]
AUS = {  # (identity index, pain level) -> AUs (PSPI = AU4 + max(6,7) + max(9,10) + AU43)
    (0, 1): {"AU4": 2, "AU6": 1, "AU7": 3, "AU9": 0, "AU10": 1, "AU43": 1},
    (0, 2): {"AU4": 5, "AU6": 5, "AU7": 0, "AU9": 4, "AU10": 2, "AU43": 0},
    (1, 1): {"AU4": 0, "AU6": 0, "AU7": 0, "AU9": 0, "AU10": 1, "AU43": 0},
    (1, 2): {"AU4": 1, "AU6": 1, "AU7": 1, "AU9": 1, "AU10": 1, "AU43": 1},  # written with a wrong PSPI
    (2, 1): {"AU4": 3, "AU6": 2, "AU7": 2, "AU9": 0, "AU10": 0, "AU43": 1},
    (3, 1): {"AU4": 4, "AU6": 0, "AU7": 5, "AU9": 5, "AU10": 0, "AU43": 1},
}
HEAT_RGB = (200, 100, 50)


def _colour(ident: int, expr: int, view: int) -> tuple[int, int, int]:
    return (30 + 50 * ident, 10 + 20 * expr, 20 + 80 * view)


def _jpeg(rgb, size=(16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _png(rgb, size=(16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG")
    return buf.getvalue()


def _tar(path: Path, members: dict[str, bytes], prefix: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


# textured_meshes/: (identity, expression) -> (member name, format); identity 3's has other
# triangles, and identity 1's pain_2 has an annotation that is skipped (PSPI disagrees)
MESH_FILES = {
    (0, 0): ("flame_sample_0000_neutral/textured_mesh.obj", "obj"),
    (1, 0): ("flame_sample_0001_neutral.glb", "glb"),
    (2, 1): ("flame_sample_0002_pain_1_mesh.ply", "ply"),
    (1, 2): ("flame_sample_0001_pain_2.glb", "glb"),
    (3, 0): ("flame_sample_0003_neutral.ply", "ply"),
}
TEXTURE_RGB = (10, 200, 30)


def release_mesh(ident: int, expr: int):
    """A small closed mesh per identity and expression: an icosphere whose vertices are ordered
    by first use in the triangles (the order trimesh reads a textured OBJ in), scaled and
    shifted per identity; vertex colours; identity 3's has one more subdivision."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2 if ident == 3 else 1)
    _, first = np.unique(sphere.faces.ravel(), return_index=True)
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    verts = (sphere.vertices[order] * (40 + 5 * ident) + [ident, expr, 0]).astype(np.float32)
    colors = np.stack([np.arange(len(verts)) * 3 % 256, np.full(len(verts), 20 * ident), np.full(len(verts), 9 * expr)], 1).astype(np.uint8)
    return verts, remap[sphere.faces].astype(np.int32), colors


def _mesh_files(ident: int, expr: int, name: str, fmt: str) -> dict[str, bytes]:
    import trimesh

    verts, faces, colors = release_mesh(ident, expr)
    if fmt == "obj":  # textured, as Hunyuan3D writes: OBJ + MTL + texture image
        uv = (verts[:, :2] - verts[:, :2].min(0)) / np.ptp(verts[:, :2], 0)
        material = trimesh.visual.material.SimpleMaterial(image=Image.new("RGB", (8, 8), TEXTURE_RGB), name="tex")
        mesh = trimesh.Trimesh(verts, faces, visual=trimesh.visual.TextureVisuals(uv=uv, material=material), process=False)
        text, extra = trimesh.exchange.obj.export_obj(mesh, return_texture=True, mtl_name="textured_mesh.mtl", digits=10)
        folder = name.rsplit("/", 1)[0]
        return {name: text.encode(), **{f"{folder}/{k}": bytes(v) for k, v in extra.items()}}
    rgba = np.concatenate([colors, np.full((len(verts), 1), 255, np.uint8)], 1)
    mesh = trimesh.Trimesh(verts, faces, vertex_colors=rgba, process=False)
    return {name: mesh.export(file_type=fmt)}


def _img_name(ident: int, expr: int, view: int) -> str:
    kind = "neutral" if expr == 0 else f"pain_{expr}"
    return f"{IDS[ident]}_{kind}_textured_view_{view:03d}_inpainted.jpg"


def build_release(root: Path) -> Path:
    """4 identities; two shards per folder; one of each kind of problem."""
    images: list[dict[str, bytes]] = [{}, {}]
    for i in range(4):
        for expr in (0, 1, 2):
            for v in range(3):
                # identity 1's neutral images sit in the other shard than its pain images
                shard = (i >= 2) if not (i == 1 and expr == 0) else 1
                images[shard][_img_name(i, expr, v)] = _jpeg(_colour(i, expr, v))
    images[1][_img_name(3, 9, 0)] = _jpeg((1, 2, 3))  # pain image without annotation
    images[0]["notes.txt"] = b"not an image"  # unrecognised name
    _tar(root / "images" / "images_00000.tar.gz", images[0], prefix="images/")
    _tar(root / "images" / "images_00001.tar.gz", images[1])

    ann: list[dict[str, bytes]] = [{}, {}]
    for (i, lvl), aus in AUS.items():
        doc = dict(aus, PSPI=pspi(aus))
        if (i, lvl) == (1, 2):
            doc["PSPI"] = pspi(aus) + 2  # disagrees with the AU formula
        ann[i >= 2][f"{IDS[i]}_pain_{lvl}_annotations.json"] = json.dumps(doc).encode()
    ann[1][f"{IDS[2]}_pain_2_annotations.json"] = b'{"AU4": 2, "AU6": '  # malformed JSON
    ann[1][f"{IDS[3]}_pain_2_annotations.json"] = json.dumps({"AU4": 1, "AU6": 0, "AU7": 0, "AU9": 0, "AU10": 0, "PSPI": 1}).encode()
    ann[0][f"{IDS[1]}_pain_7_annotations.json"] = json.dumps(dict(AUS[(1, 1)], PSPI=1)).encode()  # no images
    _tar(root / "annotations" / "annotations_00000.tar.gz", ann[0])
    _tar(root / "annotations" / "annotations_00001.tar.gz", ann[1])

    heat: list[dict[str, bytes]] = [{}, {}]
    for (i, lvl) in AUS:
        if (i, lvl) == (0, 2):
            continue  # pain frames without heatmap
        if i == 2:  # per-view heatmaps
            for v in range(3):
                heat[1][f"{IDS[i]}_pain_{lvl}_view_{v:03d}_heatmap.png"] = _png(HEAT_RGB)
        else:  # one heatmap per expression
            heat[i >= 2][f"{IDS[i]}_pain_{lvl}_heatmap.png"] = _png(HEAT_RGB)
    heat[0][f"{IDS[1]}_pain_8_heatmap.png"] = _png(HEAT_RGB)  # no matching image
    _tar(root / "heatmaps" / "heatmaps_00000.tar.gz", heat[0])
    _tar(root / "heatmaps" / "heatmaps_00001.tar.gz", heat[1])
    meshes = {"flame_sample_0000.obj": b"v 0 0 0\n"}  # no expression in the name: ignored
    for (i, expr), (name, fmt) in MESH_FILES.items():
        meshes.update(_mesh_files(i, expr, name, fmt))
    _tar(root / "textured_meshes" / "meshes_00000.tar.gz", meshes)
    for folder in ("images", "heatmaps", "annotations", "textured_meshes"):
        (root / folder / "README.txt").write_text("release readme\n")
    return root


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return build_release(tmp_path_factory.mktemp("release") / "3D-Pain")


@pytest.fixture(scope="module")
def imported(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("imp") / "3dpain"
    report = import_3dpain(release, out, progress=False, verbose=False)
    cache = tmp_path_factory.mktemp("cache")
    dd = datasets.load_dataset(str(out), cache_dir=str(cache))
    return out, report, dd


def test_report_names_every_problem_file(imported):
    _, report, _ = imported
    skipped, ignored, kept = report.files("skipped"), report.files("ignored"), report.files("kept")
    assert "flame_sample_0002_pain_2_annotations.json" in skipped  # malformed JSON
    assert "flame_sample_0003_pain_2_annotations.json" in skipped  # missing AU43
    assert "flame_sample_0001_pain_2_annotations.json" in skipped  # PSPI disagrees
    assert "flame_sample_0001_pain_7_annotations.json" in skipped  # annotation without images
    assert _img_name(3, 9, 0) in skipped  # image without annotation
    assert "notes.txt" in ignored
    assert "flame_sample_0001_pain_8_heatmap.png" in ignored
    assert {_img_name(0, 2, v) for v in range(3)} <= kept  # no heatmap
    msgs = {_p.file.rsplit(":", 1)[-1].rsplit("/", 1)[-1]: _p.message for _p in report.problems}
    assert "malformed JSON" in msgs["flame_sample_0002_pain_2_annotations.json"]
    assert "AU43" in msgs["flame_sample_0003_pain_2_annotations.json"]
    assert "disagrees" in msgs["flame_sample_0001_pain_2_annotations.json"]
    assert any("textured_meshes" in n for n in report.notes)
    assert (report.out / "import_report.txt").read_text().count("\n") >= len(report.problems)


def test_textured_meshes_become_the_meshes_config(imported, tmp_path, capsys):
    out, report, _ = imported
    meshes = datasets.load_dataset(str(out), "meshes")
    faces = datasets.load_dataset(str(out), "faces")["train"]
    rows = {(r["identity"], r["expression"]): r for split in meshes for r in meshes[split]}
    assert sorted(rows) == [("flame_sample_0000", 0), ("flame_sample_0001", 0), ("flame_sample_0002", 1)]
    _, tri, _ = release_mesh(0, 0)
    assert len(faces) == 1 and faces[0]["face_model"] == "3dpain-release"
    np.testing.assert_array_equal(np.asarray(faces[0]["faces"]), tri)
    for (ident, expr), r in rows.items():
        i = int(ident[-4:])
        verts, _, colors = release_mesh(i, expr)
        np.testing.assert_allclose(np.asarray(r["vertices"], np.float32), verts, atol=1e-6 if i == 0 else 0)
        want = np.tile(TEXTURE_RGB, (len(verts), 1)) if i == 0 else colors  # the texture at each vertex
        np.testing.assert_array_equal(np.asarray(r["albedo"]), want)
    assert rows[("flame_sample_0002", 1)]["aus"] == {k: float(v) for k, v in AUS[(2, 1)].items()}
    assert rows[("flame_sample_0002", 1)]["pspi"] == pspi(AUS[(2, 1)])
    assert rows[("flame_sample_0000", 0)]["pspi"] == 0
    msgs = {p.file.rsplit(":", 1)[-1]: (p.action, p.message) for p in report.problems}
    assert msgs["flame_sample_0003_neutral.ply"][0] == "skipped" and "triangles differ" in msgs["flame_sample_0003_neutral.ply"][1]
    assert msgs["flame_sample_0001_pain_2.glb"][0] == "skipped" and "annotation" in msgs["flame_sample_0001_pain_2.glb"][1]
    assert msgs["flame_sample_0000.obj"][0] == "ignored"
    from pain3d_dataset.verify import verify

    assert verify(out).ok, verify(out).problems
    # and out again as files
    from pain3d.cli import main
    from generation.mesh_asset import read_asset

    assert main(["export-meshes", str(out), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    back = read_asset(tmp_path / "m" / "meshes" / "flame_sample_0002" / "flame_sample_0002_e01.glb")
    np.testing.assert_array_equal(back.vertices, release_mesh(2, 1)[0])
    assert back.metadata["pspi"] == pspi(AUS[(2, 1)])


def test_layout_and_declared_features(imported):
    out, report, dd = imported
    expected = frame_features(names=VIEW_NAMES)
    assert set(dd) == {"train", "validation", "test"}
    for split, ds in dd.items():
        assert ds.features == expected
        shards = sorted((out / "data" / "frames").glob(f"{split}-*.parquet"))
        assert shards and all(p.name.endswith(f"-of-{len(shards):05d}.parquet") for p in shards)
    # 4 identities x 3 neutral views + valid pain expressions (0:1,2  1:1  2:1  3:1) x 3 views
    assert sum(len(ds) for ds in dd.values()) == 12 + 5 * 3 == report.total_rows
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "dataset_info:" in card
    assert not list(out.glob(".import-*"))


def test_splits_are_identity_disjoint_and_seeded(imported):
    _, _, dd = imported
    ids = {s: set(ds["identity"]) for s, ds in dd.items()}
    assert ids["train"].isdisjoint(ids["validation"]) and ids["train"].isdisjoint(ids["test"])
    assert ids["validation"].isdisjoint(ids["test"])
    assert set().union(*ids.values()) == set(IDS)
    assignment = assign_splits(IDS, seed=0)
    assert all(assignment[i] == s for s, members in ids.items() for i in members)
    assert assign_splits(IDS, seed=0) == assignment
    big = assign_splits([f"id{i}" for i in range(100)], seed=3)
    assert [sum(v == s for v in big.values()) for s in ("train", "validation", "test")] == [70, 20, 10]


def test_labels_images_and_heatmaps(imported):
    _, _, dd = imported
    for ds in dd.values():
        for row in ds:
            ident = IDS.index(row["identity"])
            expr, view = row["expression"], ds.features["view"].int2str(row["view"])
            v = VIEW_NAMES.index(view)
            aus = {c: 0.0 for c in PAIN_CODES} if expr == 0 else AUS[(ident, expr)]
            assert row["aus"] == pytest.approx({c: float(aus[c]) for c in PAIN_CODES})
            assert row["distractor_aus"] == {c: 0.0 for c in DISTRACTOR_CODES}
            assert row["pspi"] == int(pspi(aus))
            assert math.isnan(row["yaw"]) and math.isnan(row["pitch"]) and math.isnan(row["heatmap_scale_mm"])
            assert row["age_group"] == row["gender"] == row["ethnicity"] == -1 and row["seed"] == -1
            mean = np.asarray(row["image"]).reshape(-1, 3).mean(0)
            assert np.abs(mean - _colour(ident, expr, v)).max() < 6
            neutral = np.asarray(row["neutral_image"]).reshape(-1, 3).mean(0)
            assert np.abs(neutral - _colour(ident, 0, v)).max() < 6
            raw = row["heatmap_raw"]
            if expr == 0:
                assert not np.asarray(row["heatmap"]).any() and not np.asarray(raw).any()
                assert row["heatmap"].size == row["image"].size
            elif (ident, expr) == (0, 2):
                assert row["heatmap"] is None and raw is None
            else:
                assert np.asarray(row["heatmap"].convert("RGB"))[0, 0].tolist() == list(HEAT_RGB)
                grey = np.asarray(Image.new("RGB", (1, 1), HEAT_RGB).convert("L"))[0, 0]
                assert np.asarray(raw).dtype.kind in "iu" and int(np.asarray(raw)[0, 0]) == int(grey) * 257


def test_release_split_file_and_shard_rolling(release, tmp_path):
    src = tmp_path / "src"
    import shutil

    shutil.copytree(release, src)
    lines = ["annotation_base_name,split"] + [
        f"{IDS[i]}_pain_{lvl},{split}" for i, split in enumerate((2, 0, 1, 0)) for lvl in (1, 2)
    ]
    (src / "split.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    report = import_3dpain(src, out, progress=False, verbose=False, max_shard_mb=0.0005)
    assert "split.csv" in report.split_source
    dd = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert set(dd["test"]["identity"]) == {IDS[0]}
    assert set(dd["train"]["identity"]) == {IDS[1], IDS[3]}
    assert set(dd["validation"]["identity"]) == {IDS[2]}
    assert report.shards["train"] > 1  # ~1 KB rows in 0.5 KB shards: one row per shard
    assert report.shards["train"] == len(list((out / "data" / "frames").glob("train-*")))

    (src / "split.csv").write_text("annotation_base_name,split\nflame_sample_0000_pain_1,0\nflame_sample_0000_pain_2,1\n")
    with pytest.raises(ReleaseError, match="both train and validation"):
        import_3dpain(src, tmp_path / "out2", progress=False, verbose=False)


def test_fatal_errors_are_one_line(release, tmp_path):
    with pytest.raises(ReleaseError, match="does not exist"):
        import_3dpain(tmp_path / "nope", tmp_path / "o1", progress=False)
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "annotations").mkdir()
    _tar(bad / "annotations" / "annotations_00000.tar.gz", {})
    (bad / "images" / "images_00000.tar.gz").write_bytes(b"\x1f\x8b garbage, not gzip")
    with pytest.raises(ReleaseError, match="not a readable tar archive") as e:
        import_3dpain(bad, tmp_path / "o2", progress=False)
    assert "\n" not in str(e.value)
    _tar(tmp_path / "half" / "images" / "images_00000.tar.gz", {})
    with pytest.raises(ReleaseError, match="no annotations/ folder"):
        import_3dpain(tmp_path / "half", tmp_path / "o3", progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(ReleaseError, match="not empty"):
        import_3dpain(release, busy, progress=False)


def test_cli_subcommand(release, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="pain3d")
    register_cli(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli"
    args = parser.parse_args(["import-3dpain", str(release), "--out", str(out), "--quiet", "--seed", "1"])
    assert args.func(args) == 0
    err = capsys.readouterr().err
    assert "flame_sample_0002_pain_2_annotations.json" in err and "imported 27 frames" in err
    assert (out / "README.md").is_file()
    args = parser.parse_args(["import-3dpain", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    with pytest.raises(ValueError) as e:  # the pain3d main prints ValueErrors as one line
        args.func(args)
    assert "\n" not in str(e.value)


def test_view_names_accept_explicit_names():
    from pain3d_dataset.features import view_names

    assert view_names((-30, 0, 30)) == ["yaw-30", "yaw+0", "yaw+30"] == frame_features()["view"].names
    assert frame_features(names=VIEW_NAMES)["view"].names == list(VIEW_NAMES)
    with pytest.raises(ValueError, match="one name per view"):
        view_names((0.0,), names=("a", "b"))


# --------------------------------------------------------------------------- UNBC miniature


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _sci(*values: float) -> str:
    return "   ".join(f"{v:.7e}" for v in values)


UNBC_SUBJECTS = [f"{n:03d}-x{n:03d}" for n in (107, 42, 95, 64, 121, 43, 80, 101, 47, 123)]


def _unbc_frame_aus(s: int, q: int, f: int) -> list[tuple[int, int]]:
    """(AU, intensity) rows of one frame: frame 0 has none (an empty file)."""
    if f == 0:
        return []
    rows = [(4, (s + f) % 4), (6, q + 1), (7, f), (10, s % 3), (12, 2), (20, 3), (25, 1)]
    if (s + q + f) % 2:
        rows.append((43, 0))  # occurrence-coded eyes closed
    return [r for r in rows if r[1] or r[0] == 43]


def _unbc_pspi(rows) -> int:
    d = dict(rows)
    return d.get(4, 0) + max(d.get(6, 0), d.get(7, 0)) + max(d.get(9, 0), d.get(10, 0)) + (43 in d)


def build_unbc(root: Path) -> Path:
    for s, subject in enumerate(UNBC_SUBJECTS):
        for q in range(2):
            seq = f"{subject[4:]}t{q + 1}aaaff"
            for f in range(3):
                frame = f"{seq}{f + 1:03d}"
                img = root / "Images" / subject / seq / f"{frame}.png"
                img.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (8, 6), (s * 20, q * 100, f * 80)).save(img)
                rows = _unbc_frame_aus(s, q, f)
                facs = "\n".join(_sci(au, i, 0, 0) for au, i in rows) + ("\n" if rows else "")
                _write(root / "Frame_Labels" / "FACS" / subject / seq / f"{frame}_facs.txt", facs)
                _write(root / "Frame_Labels" / "PSPI" / subject / seq / f"{frame}_facs.txt", f"   {_unbc_pspi(rows):.7e}\n")
                if s == 0:
                    pts = "\n".join(_sci(x, x + 1) for x in range(66))
                    _write(root / "AAM_landmarks" / subject / seq / f"{frame}_aam.txt", pts + "\n")
    # problems: an image without labels, a label without image, a malformed FACS file
    Image.new("RGB", (8, 6)).save(root / "Images" / UNBC_SUBJECTS[1] / "x042t1aaaff" / "x042t1aaaff099.png")
    _write(root / "Frame_Labels" / "PSPI" / UNBC_SUBJECTS[1] / "x042t1aaaff" / "x042t1aaaff077_facs.txt", "0\n")
    _write(root / "Frame_Labels" / "FACS" / UNBC_SUBJECTS[2] / "x095t2aaaff" / "x095t2aaaff003_facs.txt", "4 two\n")
    return root


@pytest.fixture(scope="module")
def unbc_root(tmp_path_factory) -> Path:
    return build_unbc(tmp_path_factory.mktemp("unbc") / "UNBC")


def test_unbc_labels(unbc_root):
    problems = []
    with pytest.warns(UNBCWarning, match="x042t1aaaff099.png"):
        dd = load_unbc(unbc_root, problems=problems)
    assert list(dd) == ["train"]
    ds = dd["train"]
    assert ds.features == unbc_features()
    assert len(ds) == 10 * 2 * 3 - 1  # the malformed FACS frame is skipped
    actions = {p.file.rsplit("/", 1)[-1]: p.action for p in problems}
    assert actions == {"x042t1aaaff099.png": "skipped", "x042t1aaaff077_facs.txt": "skipped", "x095t2aaaff003_facs.txt": "skipped"}
    by_name = {r["frame"]: r for r in ds}
    for s, subject in enumerate(UNBC_SUBJECTS):
        for q in range(2):
            for f in range(3):
                frame = f"{subject[4:]}t{q + 1}aaaff{f + 1:03d}"
                if frame == "x095t2aaaff003":
                    continue
                r = by_name[frame]
                rows = dict(_unbc_frame_aus(s, q, f))
                level = _unbc_pspi(_unbc_frame_aus(s, q, f))
                assert r["identity"] == subject and r["sequence"] == frame[:-3] and r["frame_index"] == f
                assert r["pspi"] == level
                assert r["pain_ge2"] == int(level >= 2) and r["pain_ge3"] == int(level >= 3)
                assert r["aus"]["AU43"] == (1.0 if 43 in rows else 0.0)
                assert r["aus"]["AU4"] == rows.get(4, 0) and r["aus"]["AU7"] == rows.get(7, 0)
                assert r["distractor_aus"] == {"AU1": 0.0, "AU2": 0.0, "AU12": rows.get(12, 0), "AU15": 0.0, "AU25": rows.get(25, 0), "AU26": 0.0}
                if s == 0:
                    assert np.asarray(r["landmarks"]).shape == (66, 2)
                else:
                    assert r["landmarks"] is None
    empty = by_name["x107t1aaaff001"]
    assert empty["pspi"] == 0 and not any(empty["aus"].values())
    assert np.asarray(by_name["x043t2aaaff002"]["image"]).shape == (6, 8, 3)


def test_unbc_folds(unbc_root):
    groups = unbc_folds(unbc_root)
    ordered = sorted(UNBC_SUBJECTS)
    assert groups == [ordered[2 * k : 2 * k + 2] for k in range(5)]
    for k in (0, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UNBCWarning)
            dd = load_unbc(unbc_root, fold=k)
        assert set(dd["test"]["identity"]) == set(groups[k])
        assert set(dd["train"]["identity"]) == set(ordered) - set(groups[k])
        assert set(dd["test"]["fold"]) == {k}
    with pytest.raises(UNBCError, match="fold 5"):
        load_unbc(unbc_root, fold=5)


def test_unbc_25_subjects_in_5_groups_of_5(tmp_path):
    numbers = [42, 43, 47, 48, 49, 52, 59, 64, 66, 80, 92, 95, 96, 97, 101, 103, 106, 107, 108, 109, 115, 120, 121, 123, 124]
    subjects = [f"{n:03d}-s{n:03d}" for n in numbers]
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(subjects)):
        (tmp_path / "Images" / subjects[i]).mkdir(parents=True)
    groups = unbc_folds(tmp_path)
    assert groups == [subjects[5 * k : 5 * k + 5] for k in range(5)]
    assert groups == subject_groups(list(reversed(subjects)))
    assert sorted(s for g in groups for s in g) == sorted(subjects)
    with pytest.raises(UNBCError, match="4 subjects"):
        subject_groups(subjects[:4])
