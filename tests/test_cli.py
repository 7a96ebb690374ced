"""The ``pain3d`` command line, end to end: folder layout and labels, byte-identical output
(same seed, --workers, --resume), one-line errors with exit status 2 that leave existing
files alone, the FLAME face model from a user file, the contact sheet and --help.

Runs are tiny (--size 64, a few identities/expressions/views) so the module takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pain3d.cli import main
from helpers import assert_one_error_line, assert_same_tree, run, tree
from generation.heatmaps import colorize

# The synthetic FLAME builder lives in test_flame.py (tests/ is on sys.path under pytest's
# default import mode, as for any test module without a package).
from test_flame import py2_pickle_bytes, synthetic_flame

PAIN_AUS = {"AU4", "AU6", "AU7", "AU9", "AU10", "AU43"}
JSON_KEYS = {
    "image", "neutral_image", "heatmap", "heatmap_raw", "heatmap_scale_mm", "aus",
    "distractor_aus", "pspi", "identity", "expression", "view", "yaw", "pitch", "age_group",
    "gender", "ethnicity", "age", "skin_tone", "facial_hair", "seed",
}
IDS, EXPR, VIEWS = 3, 2, 3
# These tests cover the images + JSON layout (--format folder); the default Hub layout is
# tested in test_writer.py.
BASE = ["--format", "folder", "--identities", str(IDS), "--expressions", str(EXPR), "--views", str(VIEWS), "--size", "64", "--quiet"]
PAIN3D = Path(sys.executable).with_name("pain3d")  # the console script next to this Python


# --- helpers ------------------------------------------------------------------------------


def run_script(argv) -> subprocess.CompletedProcess:
    """The installed console script in a subprocess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(PAIN3D), *map(str, argv)], capture_output=True, text=True, env=env, timeout=300)


def generate(out: Path, capsys, *extra) -> None:
    code, _, err = run(["generate", "--out", out, *BASE, *extra], capsys)
    assert code == 0, err
    assert "Traceback" not in err


def pspi_formula(a: dict) -> float:
    return a["AU4"] + max(a["AU6"], a["AU7"]) + max(a["AU9"], a["AU10"]) + a["AU43"]


# --- a reference run, shared ----------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """seed 0, written by ``main`` in-process with one worker."""
    out = tmp_path_factory.mktemp("ref") / "out"
    code = main(["generate", "--out", str(out), *BASE, "--seed", "0"])
    assert code == 0
    return out


@pytest.fixture
def ref_copy(reference, tmp_path) -> Path:
    dst = tmp_path / "existing"
    shutil.copytree(reference, dst)
    return dst


# --- 1. layout and labels -------------------------------------------------------------------
def test_layout_and_labels(reference):
    top = sorted(p.name for p in reference.iterdir())
    assert top == [".pain3d", "frames", "manifest.jsonl", "metadata.jsonl", "pain3d.json"]
    meta = json.loads((reference / "pain3d.json").read_text())
    assert meta["config"]["identities"] == IDS and meta["config"]["seed"] == 0
    manifest = [json.loads(ln) for ln in (reference / "manifest.jsonl").read_text().splitlines()]
    assert [m["identity"] for m in manifest] == [f"id_{i:05d}" for i in range(IDS)]

    ids = sorted(p.name for p in (reference / "frames").iterdir())
    assert ids == [f"id_{i:05d}" for i in range(IDS)]
    jsons = sorted((reference / "frames").glob("id_*/id_*.json"))
    assert len(jsons) == IDS * (EXPR + 1) * VIEWS

    for i, name in enumerate(ids):
        folder = reference / "frames" / name
        expected = set()
        for e in range(EXPR + 1):
            for v in range(VIEWS):
                stem = f"{name}_e{e:02d}_v{v}"
                expected |= {f"{stem}.jpg", f"{stem}.json"}
                if e:
                    expected |= {f"{stem}_heatmap.png", f"{stem}_heat16.png"}
        assert {p.name for p in folder.iterdir()} == expected
        demo = set()
        for e in range(EXPR + 1):
            for v in range(VIEWS):
                path = folder / f"{name}_e{e:02d}_v{v}.json"
                ann = json.loads(path.read_text())
                assert set(ann) == JSON_KEYS
                assert (ann["identity"], ann["expression"], ann["view"], ann["seed"]) == (name, e, v, 0)
                assert ann["yaw"] == (-30.0, 0.0, 30.0)[v] and ann["pitch"] == 0.0
                assert set(ann["aus"]) == PAIN_AUS
                assert ann["distractor_aus"] == {}
                assert all(float(x).is_integer() and 0 <= x <= 5 for x in ann["aus"].values())
                assert ann["aus"]["AU43"] in (0, 1)
                assert ann["pspi"] == pspi_formula(ann["aus"])
                assert 0 <= ann["pspi"] <= 16
                demo.add((ann["age_group"], ann["gender"], ann["ethnicity"], ann["age"], ann["skin_tone"], ann["facial_hair"]))
                # paths are relative to the JSON file
                img = path.parent / ann["image"]
                assert img.name == f"{name}_e{e:02d}_v{v}.jpg" and img.is_file()
                neutral = path.parent / ann["neutral_image"]
                assert neutral.name == f"{name}_e00_v{v}.jpg" and neutral.is_file()
                rgb = np.asarray(Image.open(img))
                assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
                if e == 0:
                    assert ann["heatmap"] is None and ann["heatmap_raw"] is None
                    assert ann["pspi"] == 0 and not any(ann["aus"].values())
                    continue
                color = np.asarray(Image.open(path.parent / ann["heatmap"]))
                raw_img = Image.open(path.parent / ann["heatmap_raw"])
                raw = np.asarray(raw_img)
                assert raw_img.mode.startswith("I;16") and raw.dtype == np.uint16, raw_img.mode
                assert raw.shape == (64, 64) and color.shape == (64, 64, 3)
                black = (color == 0).all(axis=-1)
                assert black.any() and (~black).any()
                assert black[raw == 0].all()  # no heat -> black
                assert (raw[black] < 100).all()  # black only where the heat rounds to 0
                # the colour map is the lossless heat, colorized (up to 16-bit rounding)
                diff = np.abs(colorize(raw / 65535.0).astype(int) - color.astype(int))
                assert diff.max() <= 1
                if ann["pspi"] > 0:
                    assert raw.max() > 0
        assert len(demo) == 1  # one identity, one set of demographics


def test_fixed_aus(tmp_path, capsys):
    out = tmp_path / "one"
    code, _, err = run(["generate", "--out", out, "--format", "folder", "--identities", 1, "--expressions", 1, "--views", 1,
                        "--size", 64, "--quiet", "--au", "AU4=3,AU6=2,AU43=1"], capsys)
    assert code == 0, err
    ann = json.loads((out / "frames/id_00000/id_00000_e01_v0.json").read_text())
    assert ann["aus"] == {"AU4": 3.0, "AU6": 2.0, "AU7": 0.0, "AU9": 0.0, "AU10": 0.0, "AU43": 1.0}
    assert ann["pspi"] == 6.0 and ann["yaw"] == 0.0
    assert len(list((out / "frames/id_00000").glob("*.json"))) == 2


# --- 2. determinism -------------------------------------------------------------------------
def test_console_script_same_seed_same_bytes(reference, tmp_path):
    out = tmp_path / "again"
    proc = run_script(["generate", "--out", out, *BASE, "--seed", "0"])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert_same_tree(reference, out)


def test_workers_same_bytes(reference, tmp_path, capsys):
    out = tmp_path / "workers"
    generate(out, capsys, "--seed", "0", "--workers", "2")
    assert_same_tree(reference, out)


def test_other_seed_other_images(reference, tmp_path, capsys):
    out = tmp_path / "seed1"
    generate(out, capsys, "--seed", "1")
    a, b = tree(reference), tree(out)
    assert sorted(a) == sorted(b)
    jpgs = [k for k in a if k.endswith(".jpg")]
    assert all(a[k] != b[k] for k in jpgs)
    ann = json.loads(b["frames/id_00000/id_00000_e01_v0.json"])
    assert ann["seed"] == 1


# --- 3. --resume -----------------------------------------------------------------------------
def test_resume_after_interruption(reference, ref_copy, capsys):
    out = ref_copy
    last = f"id_{IDS - 1:05d}"
    # killed while writing the last identity: its folder still under a temporary name, half
    # full, and a torn manifest line for it
    shutil.move(out / "frames" / last, out / "frames" / f".{last}.tmp")
    for p in sorted((out / "frames" / f".{last}.tmp").iterdir())[::2]:
        p.unlink()
    lines = (out / "manifest.jsonl").read_text().splitlines(keepends=True)
    (out / "manifest.jsonl").write_text("".join(lines[:-1]) + lines[-1][:12])
    # and the one before it was never finished at all
    prev = f"id_{IDS - 2:05d}"
    shutil.rmtree(out / "frames" / prev)
    kept = [ln for ln in lines[:-1] if prev not in ln]
    (out / "manifest.jsonl").write_text("".join(kept) + lines[-1][:12])
    assert tree(out) != tree(reference)

    generate(out, capsys, "--seed", "0", "--resume")
    assert_same_tree(reference, out)

    # resuming a finished run changes nothing
    before = tree(out)
    generate(out, capsys, "--seed", "0", "--resume")
    assert tree(out) == before


def test_resume_empty_folder_is_a_fresh_run(reference, tmp_path, capsys):
    out = tmp_path / "new"
    generate(out, capsys, "--seed", "0", "--resume")
    assert_same_tree(reference, out)


@pytest.mark.parametrize("change", [["--seed", "1"], ["--size", "96"], ["--au", "AU4=1"]])
def test_resume_with_other_settings_is_refused(ref_copy, capsys, change):
    before = tree(ref_copy)
    argv = ["generate", "--out", ref_copy, *BASE, "--resume"]
    if change[0] in argv:
        argv[argv.index(change[0]) + 1] = change[1]
    else:
        argv += change
    code, _, err = run(argv, capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "different settings" in err
    assert tree(ref_copy) == before


OTHER_GENERATOR = {"pain3d": "0.0.9", "source": "sha256:" + "0" * 64}


def interrupted_before_last(out: Path) -> None:
    """As if killed before the last identity started: its folder, manifest line and the metadata gone."""
    last = f"id_{IDS - 1:05d}"
    shutil.rmtree(out / "frames" / last)
    lines = (out / "manifest.jsonl").read_text().splitlines(keepends=True)
    (out / "manifest.jsonl").write_text("".join(ln for ln in lines if last not in ln))
    (out / "metadata.jsonl").unlink()


def set_recorded_generator(record: Path, stamp: dict | None) -> None:
    meta = json.loads(record.read_text())
    meta.pop("generator")
    if stamp is not None:
        meta["generator"] = stamp
    record.write_text(json.dumps(meta))


def test_run_record_names_the_generator(reference):
    from generation.provenance import generator_stamp

    stamp = json.loads((reference / "pain3d.json").read_text())["generator"]
    assert stamp == generator_stamp()
    assert stamp["source"].startswith("sha256:") and len(stamp["source"]) == 7 + 64


def test_source_hash_follows_every_python_file(tmp_path, monkeypatch):
    from generation.provenance import source_sha256

    pkg = tmp_path / "fakegen"
    (pkg / "render").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "render" / "raster.py").write_text("GAMMA = 2.2\n")
    (pkg / "notes.txt").write_text("not code")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = source_sha256(("fakegen",))
    assert source_sha256(("fakegen",)) == first
    (pkg / "notes.txt").write_text("still not code")
    assert source_sha256(("fakegen",)) == first
    (pkg / "render" / "raster.py").write_text("GAMMA = 2.4\n")
    changed = source_sha256(("fakegen",))
    assert changed != first
    (pkg / "render" / "extra.py").write_text("")
    assert source_sha256(("fakegen",)) not in (first, changed)
    with pytest.raises(ModuleNotFoundError, match="nosuchpkg"):
        source_sha256(("nosuchpkg",))


@pytest.mark.parametrize("recorded", [OTHER_GENERATOR, None], ids=["other source", "no stamp"])
def test_resume_after_a_source_change_that_draws_the_same(reference, ref_copy, capsys, recorded):
    """A run begun by another source (or before runs were stamped) whose first identity this
    generator remakes byte for byte is finished as usual."""
    interrupted_before_last(ref_copy)
    set_recorded_generator(ref_copy / "pain3d.json", recorded)
    generate(ref_copy, capsys, "--seed", "0", "--resume")
    assert_same_tree(reference, ref_copy, skip={"pain3d.json"})


def test_resume_by_a_generator_that_draws_differently_is_refused(ref_copy, capsys, monkeypatch):
    """Frames of two generators are never mixed: one error line naming both, nothing touched."""
    import generation.layout
    import generation.pipeline

    interrupted_before_last(ref_copy)
    before = tree(ref_copy)
    monkeypatch.setattr(generation.layout, "generator_stamp", lambda: OTHER_GENERATOR)
    monkeypatch.setattr(generation.pipeline, "EXPOSURE_METERING", 0.5)  # every frame's exposure moves
    code, _, err = run(["generate", "--out", ref_copy, *BASE, "--seed", "0", "--resume"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "another generator" in err and "pain3d 0.0.9" in err and "id_00000" in err and "--overwrite" in err
    assert tree(ref_copy) == before


def test_overwrite_replaces_a_pain3d_folder(reference, tmp_path, capsys):
    out = tmp_path / "ow"
    generate(out, capsys, "--seed", "5", "--identities", "4")
    generate(out, capsys, "--seed", "0", "--overwrite")
    assert_same_tree(reference, out)


# --- 4. bad input -----------------------------------------------------------------------------
BAD_GENERATE = {
    "unknown AU": (["--au", "AU5=2"], "AU5"),
    "AU4 too high": (["--au", "AU4=7"], "AU4"),
    "AU43 not 0/1": (["--au", "AU43=2"], "AU43"),
    "impossible PSPI": (["--pspi-range", "0-20"], "PSPI"),
    "bad PSPI range": (["--pspi-range", "high"], "--pspi-range"),
    "size too small": (["--size", "8"], "--size"),
    "flame without path": (["--face-model", "flame"], "--flame-path"),
    "missing flame file": (["--face-model", "flame", "--flame-path", "{tmp}/nope.pkl"], "nope.pkl"),
    "garbage flame file": (["--face-model", "flame", "--flame-path", "{tmp}/garbage.pkl"], "garbage.pkl"),
    "flame file is text": (["--face-model", "flame", "--flame-path", "{tmp}/text.pkl"], "text.pkl"),
    "both flags": (["--resume"], "--overwrite and --resume"),
    "--views and --yaws disagree": (["--yaws", "10"], f"--views {VIEWS} and --yaws 10 disagree"),
}


def _bad_files(tmp: Path) -> None:
    (tmp / "garbage.pkl").write_bytes(np.random.default_rng(3).bytes(4096).replace(b"P", b"Q"))
    (tmp / "text.pkl").write_text("not a model\n")


@pytest.mark.parametrize("case", sorted(BAD_GENERATE))
def test_bad_generate_input(case, ref_copy, tmp_path, capsys):
    """Exit 2, one line, and an existing output folder is left as it was, even with
    --overwrite (which would otherwise clear it)."""
    _bad_files(tmp_path)
    extra, needle = BAD_GENERATE[case]
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    before = tree(ref_copy)
    code, out, err = run(["generate", "--out", ref_copy, *BASE, "--overwrite", *extra], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert needle in err
    assert tree(ref_copy) == before


@pytest.mark.parametrize("case", ["unknown AU", "garbage flame file", "missing flame file", "--views and --yaws disagree"])
def test_bad_input_new_folder_is_not_created(case, tmp_path, capsys):
    _bad_files(tmp_path)
    extra, _ = BAD_GENERATE[case]
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    out = tmp_path / "never"
    code, _, err = run(["generate", "--out", out, *BASE, *extra], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert not out.exists()


def test_views_and_yaws_that_agree_are_accepted(tmp_path, capsys):
    """--yaws sets the views; a --views that counts them the same is redundant, not an error."""
    out = tmp_path / "o"
    code, _, err = run(["generate", "--out", out, "--format", "folder", "--identities", 1, "--expressions", 1,
                        "--views", 2, "--yaws=-20,20", "--size", 64, "--quiet"], capsys)
    assert code == 0, err
    frames = sorted(p.name for p in (out / "frames" / "id_00000").glob("*_v*.jpg"))
    assert frames and {name.split("_v")[1][0] for name in frames} == {"0", "1"}


def test_bad_input_console_script(tmp_path):
    """In a real process (with the progress bar on): garbage FLAME file, then a bad AU."""
    _bad_files(tmp_path)
    out = tmp_path / "o"
    for extra in (["--face-model", "flame", "--flame-path", tmp_path / "garbage.pkl"], ["--au", "AU5=2"]):
        proc = run_script(["generate", "--out", out, "--identities", 1, "--expressions", 1, "--size", 64, *extra])
        assert proc.returncode == 2
        assert_one_error_line(proc.stderr)
        assert proc.stdout == ""
        assert not out.exists()


@pytest.mark.parametrize("argv", [["--identities", "-1"], ["--expressions", "-2"], ["--workers", "x"]])
def test_negative_counts_usage_error(argv, tmp_path, capsys):
    code, _, err = run(["generate", "--out", tmp_path / "o", *argv], capsys)
    assert code == 2
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith("usage: pain3d generate")
    assert err.splitlines()[-1].startswith("pain3d generate: error: argument " + argv[0])
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("levels", ["17", "0,4,-1", "0,a"])
def test_preview_bad_levels(levels, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    code, _, err = run(["preview", "--out", out, "--identities", 1, "--size", 64, "--levels", levels, "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert not out.exists()


def test_preview_bad_input(tmp_path, capsys):
    code, _, err = run(["preview", "--out", tmp_path / "sheet.txt", "--size", 64, "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)
    code, _, err = run(["preview", "--out", tmp_path / "s.png", "--size", 64, "--au", "AU4=9", "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)


def test_existing_folder_needs_a_flag(ref_copy, capsys):
    before = tree(ref_copy)
    code, _, err = run(["generate", "--out", ref_copy, *BASE, "--seed", "3"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "--resume" in err and "--overwrite" in err
    assert tree(ref_copy) == before


@pytest.mark.parametrize("flag", ["--overwrite", "--resume", None])
def test_foreign_folder_is_never_touched(flag, tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "chapters").mkdir(parents=True)
    (out / "chapters" / "one.tex").write_text("\\chapter{Pain}\n")
    (out / "notes.txt").write_bytes(b"\x00\x01 keep me")
    before = tree(out)
    code, _, err = run(["generate", "--out", out, *BASE, *([flag] if flag else [])], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert tree(out) == before
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["chapters", "chapters/one.tex", "notes.txt"]


def test_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_bytes(b"data")
    code, _, err = run(["generate", "--out", f, *BASE, "--overwrite"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert f.read_bytes() == b"data"


# --- 5. FLAME from a user file --------------------------------------------------------------------
def test_flame_face_model(tmp_path, capsys, monkeypatch):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(py2_pickle_bytes(synthetic_flame(), monkeypatch))
    out = tmp_path / "flame"
    argv = ["generate", "--out", out, "--format", "folder", "--identities", 2, "--expressions", 2, "--views", 2, "--size", 64,
            "--quiet", "--face-model", "flame", "--flame-path", path]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    jsons = sorted((out / "frames").glob("id_*/id_*.json"))
    assert len(jsons) == 2 * 3 * 2
    assert json.loads((out / "pain3d.json").read_text())["config"]["face_model"] == "flame"
    for p in jsons:
        ann = json.loads(p.read_text())
        assert set(ann) == JSON_KEYS and set(ann["aus"]) == PAIN_AUS
        assert ann["pspi"] == pspi_formula(ann["aus"])
        assert (p.parent / ann["image"]).is_file() and (p.parent / ann["neutral_image"]).is_file()
        rgb = np.asarray(Image.open(p.parent / ann["image"]))
        assert rgb.shape == (64, 64, 3) and rgb.std() > 1  # not a blank frame
        if ann["expression"]:
            assert (p.parent / ann["heatmap"]).is_file()
            raw = np.asarray(Image.open(p.parent / ann["heatmap_raw"]))
            assert raw.dtype == np.uint16
            if ann["pspi"] > 0:
                assert raw.max() > 0
    # the same file gives the same bytes
    out2 = tmp_path / "flame2"
    argv[argv.index(out)] = out2
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert_same_tree(out, out2)


# --- 6. preview -------------------------------------------------------------------------------
@pytest.mark.parametrize("levels", [None, "0,16"])
def test_preview_writes_a_contact_sheet(levels, tmp_path, capsys):
    out = tmp_path / "sub" / "sheet.png"
    size, ids = 64, 2
    argv = ["preview", "--out", out, "--identities", ids, "--size", size, "--quiet"]
    if levels:
        argv += ["--levels", levels]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    n_levels = len((levels or "0,4,8,12,16").split(","))
    img = Image.open(out)
    assert img.format == "PNG" and img.mode == "RGB"
    assert img.size == ((n_levels + 1) * size, ids * (2 * size + 18) + 18)
    a = np.asarray(img)
    assert a[18 : 18 + size].std() > 1  # frames were pasted in


# --- 7. --help ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, words",
    [
        ([], ["generate", "preview", "verify", "push", "examples:"]),
        (["generate"], ["--out", "--identities", "--expressions", "--views", "--yaws", "--size", "--seed",
                        "--face-model", "--flame-path", "--distractors", "--au", "--pspi-range", "--weights",
                        "--format", "--max-shard-mb", "--workers", "--overwrite", "--resume", "--quiet"]),
        (["verify"], ["--sample", "--quiet"]),
        (["push"], ["--private", "--token", "--sample"]),
        (["preview"], ["--out", "--identities", "--levels", "--view", "--size", "--seed", "--face-model"]),
    ],
)
def test_help(argv, words, capsys):
    code, out, err = run([*argv, "--help"], capsys)
    assert code == 0
    assert err == ""
    assert out.startswith("usage: pain3d")
    for w in words:
        assert w in out, w


def test_help_console_script():
    proc = run_script(["generate", "--help"])
    assert proc.returncode == 0 and proc.stderr == ""
    assert "--resume" in proc.stdout
