"""`pain3d assess`: ViTPain on image files and folders, one line per image, bad files named.

A tiny random model trained on nothing (its numbers mean nothing); every printed and written answer
is checked against `ViTPainModel.predict` on the same file and the face detector called directly.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from helpers import assert_one_error_line, run, tiny_vitpain

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXAMPLES = Path(__file__).resolve().parents[1] / "spaces" / "examples"
FACE = EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_vitpain(tmp_path_factory.mktemp("assess") / "model", face_crop=True)


@pytest.fixture(scope="module")
def model(model_dir):
    from vitpain_hf import ViTPainModel

    return ViTPainModel.from_pretrained(model_dir)


def mixed_folder(root: Path) -> dict[str, str | None]:
    """Good and bad files; name -> the reason it must be refused (None: assessed)."""
    root.mkdir()
    (root / "sub").mkdir()
    canvas = Image.new("RGB", (420, 360), (30, 60, 90))
    canvas.paste(Image.open(FACE), (120, 60))
    canvas.save(root / "a_face.png")
    Image.open(EXAMPLES / "neutral_seed5_young_man_black.jpg").save(root / "sub" / "b_face.jpg")
    Image.open(EXAMPLES / "no_face.jpg").save(root / "c_no_face.jpg")
    (root / "d_truncated.jpg").write_bytes(FACE.read_bytes()[:2500])
    (root / "e_text.png").write_text("not a picture")
    (root / "f_empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("ignored: not an image by name")
    return {"a_face.png": None, "sub/b_face.jpg": None, "c_no_face.jpg": "no face found",
            "d_truncated.jpg": "damaged or truncated", "e_text.png": "not an image", "f_empty.jpg": "empty file"}


def test_a_folder_of_mixed_files(model_dir, model, tmp_path, capsys):
    from vitpain_hf.face_crop import shared_cropper

    expected = mixed_folder(tmp_path / "in")
    missing = tmp_path / "gone.jpg"
    code, out, err = run(["assess", tmp_path / "in", missing, "--model", model_dir, "--csv", tmp_path / "s.csv"],
                         capsys)
    assert code == 1  # some images could not be assessed
    assert "Traceback" not in err and "assess: 100%" in err  # a progress bar over the folder

    lines = out.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ["a_face.png", "sub/b_face.jpg"]):
        path = tmp_path / "in" / name
        result = model.predict(path)
        box = shared_cropper().detect(Image.open(path).convert("RGB"))[0]
        assert line.startswith(f"{path}: expected PSPI {result['expected_pspi']:.2f}, class {result['pspi']} ")
        assert f"AU4 {result['au_intensities']['AU4']:.2f}" in line
        assert line.endswith("face " + ",".join(f"{v:.0f}" for v in box))
    errors = [ln for ln in err.splitlines() if ln.startswith("pain3d: assess: ") and " of " not in ln]
    named = {**{n: r for n, r in expected.items() if r}, str(missing): "no such file"}
    assert len(errors) == len(named)
    for name, reason in named.items():
        path = name if name == str(missing) else str(tmp_path / "in" / name)
        (line,) = [ln for ln in errors if ln.startswith(f"pain3d: assess: {path}: ")]
        assert reason in line
    assert "2 of 7 images assessed; 5 not" in err

    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["file"] for r in rows] == [str(tmp_path / "in" / n) for n in sorted(expected)] + [str(missing)]
    assert [r["ok"] for r in rows].count("True") == 2
    first = model.predict(tmp_path / "in" / "a_face.png")
    assert float(rows[0]["expected_pspi"]) == pytest.approx(first["expected_pspi"], rel=1e-6)
    assert float(rows[0]["AU43"]) == pytest.approx(first["au_intensities"]["AU43"], rel=1e-6)
    assert [float(rows[0][k]) for k in ("face_left", "face_top", "face_right", "face_bottom")] == pytest.approx(
        first["face_box"], abs=0.05)
    assert rows[1]["ok"] == "False" and "no face found" in rows[1]["error"]


def test_one_image_to_json_and_the_whole_image(model_dir, model, tmp_path, capsys):
    out = tmp_path / "one.json"
    code, stdout, err = run(["assess", FACE, "--model", model_dir, "--json", out, "--whole-image"], capsys)
    assert code == 0 and "assess:" not in err  # no progress bar for a single file
    (record,) = json.loads(out.read_text())
    whole = model.predict(FACE, face_crop=False)
    assert record["ok"] and record["face_box"] is None and stdout.rstrip().endswith("whole image")
    assert record["expected_pspi"] == pytest.approx(whole["expected_pspi"], rel=1e-6)
    assert record["pspi_probs"] == pytest.approx(whole["pspi_probs"], rel=1e-5)
    assert record["pspi"] == whole["pspi"] and record["pspi_probability"] == pytest.approx(max(whole["pspi_probs"]))

    before = out.read_bytes()  # an existing output file is never replaced unasked
    code, _, err = run(["assess", FACE, "--model", model_dir, "--json", out], capsys)
    assert code == 2 and "--overwrite" in err and out.read_bytes() == before
    assert_one_error_line(err)


@pytest.mark.parametrize("case", ["no model folder", "not a model", "no images", "json and csv"])
def test_bad_arguments_get_one_line(case, model_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = {
        "no model folder": ["assess", FACE, "--model", tmp_path / "nowhere"],
        "not a model": ["assess", FACE, "--model", tmp_path / "empty"],
        "no images": ["assess", tmp_path / "empty", "--model", model_dir],
        "json and csv": ["assess", FACE, "--json", tmp_path / "a.json", "--csv", tmp_path / "a.csv"],
    }[case]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    if case == "json and csv":
        assert "not allowed with argument" in err  # argparse's own message
    else:
        assert_one_error_line(err)
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "a.csv").exists()
