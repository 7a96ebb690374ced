"""Benchmarks that cannot rot: every script in ``benchmarks/`` runs with ``--quick`` and prints
its numbers.

Each script runs as a user would run it (a subprocess from the repository root) for a few
seconds. The checks are that it exits 0 and that the lines carrying its measurements are there
with finite, positive numbers; never how large they are (no timing assertions: the CPU may be
shared).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
NUMBER = r"([0-9][0-9,]*\.?[0-9]*)"

# script -> (extra arguments, patterns that must each match a line with a number)
CASES = {
    "bench_render.py": ([], [
        rf"rasterize only \(project \+ rasterize\)\s+{NUMBER} frames/s",
        rf"full render \(rasterize \+ shade \+ background\)\s+{NUMBER} frames/s",
    ]),
    "bench_generate.py": ([], [
        rf"end-to-end fps, 1 process \(1 id, 33 frames\)\s+{NUMBER}",
        rf"finish: shards, card, plots\s+{NUMBER}\s+ms/frame",
        rf"peak RSS, largest process \(2 id, --workers 2\)\s+{NUMBER}",
        rf"peak RSS, largest process \(4 id, --workers 2\)\s+{NUMBER}",
        rf"--workers 2 fps, steady state\s+{NUMBER}",
    ]),
    "bench_dataset.py": (["--num-workers", "0"], [
        rf"datasets \(Parquet -> Arrow\)\s+0\s+{NUMBER}",
        rf"PIL \+ glob \+ JSON files\s+0\s+{NUMBER}",
        rf"at 224x224:\s+{NUMBER} images/s",
        rf"datasets loader at num_workers=0: {NUMBER} images/s",
    ]),
    "bench_model.py": ([], [
        rf"\| tiny \| latency, 1 image \(ms\) \| {NUMBER} \|",
        rf"\| tiny \| training, batch 8 \(images/s\) \| {NUMBER} \|",
    ]),
    "bench_space.py": (["--no-http"], [
        rf'"slider_change_function": \{{\s+"median_ms": {NUMBER}',
        rf'"new_identity": \{{\s+"median_ms": {NUMBER}',
    ]),
    "gpu_diffusion_check.py": ([], [
        rf"identity at 64px, 2 steps\s+{NUMBER} ms",
        r"same seed, same frames: (True)",
        r"prior transformer batch per step: (4) ",
        rf"linear hint: decoder, 2 steps\s+{NUMBER} ms",
        rf"inverse hint: decoder, 2 steps\s+{NUMBER} ms",
        r"RESULT: (ok)",
    ]),
    "gpu_render_check.py": ([], [
        rf"numba, CPU, 1 thread\s+{NUMBER} frames/s",
        r"RESULT: (ok)",
    ]),
    "identity_probe.py": ([], [
        rf"as generated\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%",
        rf"one light rig\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%",
        rf"eyes x2\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%",
        rf"differences x2\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%",
        rf"photo exposure\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%",
        rf"gender's shape\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}s",  # the same face, one property changed
    ]),
    "geometry_swap.py": ([], [
        rf"A warped onto B's landmarks, to A\s+{NUMBER}",
        rf"A warped onto B's landmarks, to B\s+{NUMBER}",
        rf"A to B\s+{NUMBER}",
        rf"brow above eye\s+(0\.304)\s+{NUMBER}\s+{NUMBER}\s+[-+]\d+%",  # the predictor's mean face, read from its file
        rf"as they are {NUMBER} \({NUMBER}%\), on the real mean layout {NUMBER} \({NUMBER}%\)",
    ]),
    "tracker_jitter.py": ([], [
        rf"renders \(3 identities, seed 11, 256 px\), 3 found\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}",
        rf"AU43\s+eye aspect ratio \(AU43\)\s+movement \+[0-9.]+\s+signal/noise {NUMBER}",
        rf"AU43\s+[-+][0-9.]+\s+[-+][0-9.]+\s+[-+][0-9.]+\s+\+{NUMBER}\s+\+{NUMBER}\n",  # its row of the cross-talk table, then the outline
    ]),
    "anthropometry.py": ([], [
        rf"pupillary distance\s+{NUMBER}\s+{NUMBER}%\s+{NUMBER}\s+{NUMBER}%\s+6\.0%",
        rf"nasion to pogonion\s+{NUMBER}\s+{NUMBER}%\s+{NUMBER}\s+{NUMBER}%",
        rf"upper vermilion\s+{NUMBER}\s+{NUMBER}%\s+{NUMBER}\s+{NUMBER}%\s+-",
    ]),
    "au_by_group.py": ([], [
        rf"all\s+6\s+[-+]{NUMBER}",  # every frame: check-faces' own numbers
        rf"facial hair\s+no hair over the lip\s+\d+\s+[-+]{NUMBER}",
        rf"ethnicity\s+White\s+1\s+[-+]{NUMBER}",
    ]),
    "tracker_mirror.py": ([], [
        rf"AU9/AU10\s+yaw-30\s+[-+]{NUMBER}\s+[-+]{NUMBER}",  # a view, as rendered and mirrored
        rf"AU4\s+all\s+[-+]{NUMBER}\s+[-+]{NUMBER}",
        rf"face found \(HOG, mean over views\): as rendered {NUMBER}%, mirrored {NUMBER}%",
    ]),
    "tracker_ceiling.py": ([], [
        rf"AU4\s+[-+][0-9.]+\s+\+{NUMBER}\s+[-+][0-9.]+\s+[-+][0-9.]+ / [-+][0-9.]+",  # the perfect tracker reads AU4
        rf"AU9/AU10\s+[-+][0-9.]+\s+\+{NUMBER}",
    ]),
    "compare_faces.py": ([], [
        rf"\| pairs over 0.6 \| {NUMBER}% \| {NUMBER}% \|  \|",
        rf"\| pairs differing in age only: median / over 0.6 \| {NUMBER} / {NUMBER}% \| {NUMBER} / {NUMBER}% \|  \|",
        rf"\| found, yaw\+0 \(HOG / CNN\) \| {NUMBER}% / {NUMBER}% \| {NUMBER}% / {NUMBER}% \| {NUMBER}% / - \|",
        rf"\| Spearman rho, AU4 \| \+{NUMBER} \[\+{NUMBER}, \+{NUMBER}\] \| \+{NUMBER} \[\+{NUMBER}, \+{NUMBER}\] \|",
    ]),
    "skin_colour.py": ([], [
        rf"all\s+3\s+L\*\s+{NUMBER}\s+a\*\s+{NUMBER}\s+b\*\s+{NUMBER}\s+chroma\s+{NUMBER}\s+hue\s+{NUMBER} deg",
    ]),
    "table2.py": ([], [
        rf"\| 3DPain RGB \| ViTPain Baseline \| {NUMBER} \|",
        rf"\| 3DPain Heatmaps \| ViTPain Teacher \| {NUMBER} \|",
    ]),
}


def test_every_benchmark_is_covered():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_quick_runs_and_prints_its_numbers(script, tmp_path):
    extra, patterns = CASES[script]
    if script == "table2.py":
        extra = [*extra, "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "table2.md")]
    if script == "gpu_render_check.py":
        extra = [*extra, "--out", str(tmp_path / "render")]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TMPDIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script} --quick exited {proc.returncode}:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    for pattern in patterns:
        m = re.search(pattern, out)
        assert m, f"{script} --quick printed no line matching {pattern!r}:\n{proc.stdout[-3000:]}"
        value = m.group(1)
        if value not in ("True", "ok"):
            number = float(value.replace(",", ""))
            assert math.isfinite(number) and number > 0, (pattern, value)
    if script == "table2.py":
        assert (tmp_path / "table2.md").read_text().startswith("## Table 2")


def test_tracker_ceiling_follows_the_skin():
    """tracker_ceiling's perfect tracker: a head shifted 2 mm down moves every tied landmark by
    that shift's projection (so the brows read as lowered and the lip as lowered by the same
    amount, in inter-ocular distances), no landmark is tied to an eyeball or the lashes, and the
    unposed face reads as unmoved."""
    sys.path.insert(0, str(BENCHMARKS))
    import numpy as np
    from tracker_ceiling import TIED, followed, tie_landmarks, trackable_vertices

    from generation.facecheck import FaceChecker, au_movement
    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=1, expressions=0, views=(0.0,), size=256, seed=11))
    result = gen.identity(0)
    camera, mesh = gen.cameras[0], result.meshes[0]
    neutral = FaceChecker().measure(result.frames[0].image)
    trackable = trackable_vertices(gen.template)
    hidden = [idx for name, idx in gen.template.regions.items() if name.endswith(("_eyeball", "_lashes"))]
    assert not trackable[np.concatenate(hidden)].any() and trackable.sum() > len(mesh) // 2
    ties = tie_landmarks(neutral.landmarks, mesh, result.faces, camera, trackable)
    assert sorted(ties) == list(TIED)
    assert all(trackable[idx].all() and abs(w.sum() - 1) < 1e-9 for idx, w in ties.values())
    still = au_movement(neutral, followed(neutral.landmarks, ties, mesh, mesh, camera))
    assert all(abs(v) < 1e-9 for v in still.values())

    shifted = mesh + np.array([0.0, -2.0, 0.0], dtype=np.float32)
    moved = au_movement(neutral, followed(neutral.landmarks, ties, mesh, shifted, camera))

    def drop(points: list[int]) -> float:
        """The image drop of 2 mm at the points' tied skin, in inter-ocular distances."""
        at = np.concatenate([mesh[ties[k][0]] for k in points]).astype(np.float64).mean(0)
        return (camera.project((at + [0.0, -2.0, 0.0])[None]) - camera.project(at[None]))[0, 1] / neutral.iod

    assert drop([19, 20, 21, 22, 23, 24]) > 0.02  # 2 mm is about 0.03 inter-ocular distances
    assert moved["AU4"] == pytest.approx(drop([19, 20, 21, 22, 23, 24]), rel=0.02)
    assert moved["AU9/AU10"] == pytest.approx(-drop([50, 51, 52]), rel=0.02)
    assert abs(moved["AU43"]) < 1e-3  # the eyes' shape does not change


def test_compare_faces_refuses_a_missing_or_foreign_report_in_one_line(tmp_path):
    foreign = tmp_path / "other.json"
    foreign.write_text('{"accuracy": 0.9}')
    for path, words in ((tmp_path / "missing.json", "cannot read it"), (foreign, "not a check-faces report")):
        proc = subprocess.run([sys.executable, str(BENCHMARKS / "compare_faces.py"), str(path), str(path)],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("script", ["tracker_mirror.py", "au_by_group.py"])
def test_dataset_scripts_refuse_a_missing_or_empty_folder_in_one_line(tmp_path, script):
    for path, words in ((tmp_path / "missing", "no such folder"), (tmp_path, "no frames found")):
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), str(path)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_au_by_group_tracks_each_frame_once_and_splits_by_group():
    """au_by_group runs the tracker once per distinct image however many groupings reuse it, and
    each group's rho is check-faces' own over that group's frames."""
    sys.path.insert(0, str(BENCHMARKS))
    from dataclasses import replace

    import numpy as np
    from au_by_group import OnceTracker, groupings

    from generation.facecheck import FaceRecord, check_faces

    class Counting:
        def __init__(self):
            self.calls = 0

        def detect(self, img):
            self.calls += 1
            return [(0, 0, 10, 10)]

        def landmarks(self, img, box):
            self.calls += 1
            pts = np.tile(np.linspace(0, 60, 68)[:, None], (1, 2))
            pts[[36, 39], 0], pts[[42, 45], 0], pts[[36, 39, 42, 45], 1] = (0, 20), (40, 60), 30
            pts[19:25, 1] += float(img[0, 0, 1])  # the inner brows fall by the green value, px
            return pts

    recs = []
    hair = ("moustache", "none", "stubble")
    for i, stratum in enumerate(("young/man/White", "elderly/woman/Black", "young/woman/White")):
        for e in range(4):
            img = np.zeros((4, 4, 3), np.uint8)
            img[0, 0, 0] = i
            img[0, 0, 1] = (e * (i + 1)) if i < 2 else (3 - e) * (e > 0)  # id2's brows rise with AU4
            recs.append(FaceRecord(f"id{i}", e, "yaw+0", 0.0, stratum, {"AU4": float(e)}, img, facial_hair=hair[i]))
    counting = Counting()
    tracker = OnceTracker(counting)
    groups = groupings(recs)
    assert set(groups) == {"age group", "gender", "ethnicity", "facial hair"}
    assert {k: len(v) for k, v in groups["ethnicity"].items()} == {"White": 8, "Black": 4}
    assert [r.identity for r in groups["facial hair"]["no hair over the lip"]] == ["id1"] * 4 + ["id2"] * 4
    assert "facial hair" not in groupings([replace(r, facial_hair="unknown") for r in recs])  # an imported dataset
    reports = {g: check_faces(r, tracker, aus_only=True) for grouping in groups.values() for g, r in grouping.items()}
    distinct = len({r.image.tobytes() for r in recs})  # id2's first and last frames are the same picture
    assert distinct == len(recs) - 1 and counting.calls == 2 * distinct  # one detection and one fit each
    assert reports["Black"].au_spearman["AU4"] == pytest.approx(1.0)
    alone = check_faces([r for r in recs if r.stratum.endswith("White")], Counting(), aus_only=True)
    white = reports["White"].au_spearman["AU4"]
    assert white == pytest.approx(alone.au_spearman["AU4"]) and white < 0.9  # id2 reads AU4 backwards


def test_identity_probe_exposure_sets_the_chips_centre_brightness_and_contrast(monkeypatch):
    """``exposed`` maps each chip's centre luminance to the given mean and standard deviation,
    checked against the statistics computed by hand after the edit, per chip."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import numpy as np
    from identity_probe import CENTRE, exposed

    rng = np.random.default_rng(3)
    chips = rng.uniform(20, 120, (3, 150, 150, 3)) * np.array([1.0, 0.7, 0.5])
    out = exposed(chips, mean=140.0, std=40.0)
    for before, after in zip(chips, out):
        lum = after[CENTRE, CENTRE].mean(axis=-1)
        assert abs(lum.mean() - 140.0) < 1e-9 and abs(lum.std() - 40.0) < 1e-9
        # one affine map of the whole chip: the colours keep their order and proportions
        lum0 = before[CENTRE, CENTRE].mean(axis=-1)
        gain = 40.0 / lum0.std()
        assert np.allclose(after - before * gain, (after - before * gain)[0, 0, 0])


def test_identity_probe_with_photos_prints_every_photo_row(tmp_path):
    """identity_probe's ``--photos`` rows, on stand-in "photographs" (our own renders of other
    identities, saved as PNG): each prints a median, a 95th percentile and a share over 0.6."""
    import numpy as np
    from PIL import Image

    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=3, expressions=0, views=(0.0,), size=192, seed=5))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.asarray(gen.identity(i).frames[0].image)).save(photos / f"p{i}.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "identity_probe.py"), "--quick", "--photos", str(photos)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for name in ("photographs", "photos blurred 4px", "on the photos' mean", "on the photos' mean x2",
                 "photos' mean, coarser than 12 px", "photos' mean, finer than 3 px",
                 "photos' mean, 3-12 px, everywhere", "photos' mean, 3-12 px, brows", "photos' mean, 3-12 px, mouth",
                 "photos' differences on our mean", "photos' coarse differences on our mean", "photos' fine differences, everywhere",
                 "our fine differences, nose", "photos' fine differences, inner face", "our fine differences, inner face"):
        assert re.search(rf"^{re.escape(name)}\s+\d+\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}%", proc.stdout, re.M), (name, proc.stdout)


def test_compare_faces_plots_reports_over_each_other(tmp_path):
    """compare_faces --plot draws the reports (here the built-in tiny ones, one of them as
    --aus-only writes it) into one PNG, and refuses another format before reading anything."""
    from PIL import Image

    png = tmp_path / "cmp.png"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "compare_faces.py"), "--quick", "--plot", str(png)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and f"wrote {png}" in proc.stdout, proc.stderr[-2000:]
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 3 * im.size[1]
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "compare_faces.py"), "--quick", "--plot", str(tmp_path / "x.pdf")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--plot must name a .png file" in proc.stderr and "Traceback" not in proc.stderr
