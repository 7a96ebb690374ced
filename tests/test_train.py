"""Tests of vitpain_hf.train, the accelerate training script, on a tiny generated 3DPain folder.

Every run is a subprocess, launched as a user would (`python -m` / `accelerate launch`): preset tiny at
32x32 (2x2 patches), 6 identities x 3 frames at 64 px. The dataset and the heatmap (teacher) run are
shared by the tests of this module. About a minute and a half on 2 CPU cores.
"""

import os

for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")  # nothing here may reach the Hub

import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoImageProcessor, AutoModel, ViTConfig, ViTModel  # noqa: E402

import vitpain_hf  # noqa: E402
from vitpain_hf import train  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE = 32
TINY = ["--preset", "tiny", "--image-size", str(IMAGE), "--seed", "0"]
LR_BACKBONE, LR_HEAD = 5e-6, 5e-5
EXPECTED_COLUMNS = [
    "epoch", "step", "lr_backbone", "lr_head", "backbone_trainable", "train_loss", "train_loss_pspi",
    "train_loss_au", "val_loss_pspi", "val_loss_au", "val_macro_auroc", "val_accuracy", "val_accuracy_within_1",
    "val_accuracy_within_2", "val_auroc_at_2", "val_f1_at_2", "val_auroc_at_3", "val_f1_at_3", "val_mae",
    "val_pearson", "num_processes", "batches_per_rank", "weights_in_sync", "train_samples_per_s", "epoch_seconds",
]
DISTILL_COLUMNS = ["train_loss_pspi_distill", "train_loss_au_distill", "train_loss_feature_distill"]


def run(args: list[str], cache: Path, timeout: float = 300, expect: int = 0) -> str:
    """Runs a command from the repository root in its own process group (killed whole on timeout); its exit
    status must be `expect`."""
    env = dict(os.environ, HF_DATASETS_CACHE=str(cache), PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(args[:6])} ... timed out after {timeout}s:\n{out[-3000:]}")
    assert proc.returncode == expect, f"{' '.join(args)} exited {proc.returncode}, not {expect}:\n{out[-5000:]}"
    return out


def train_cli(*args: str, cache: Path, expect: int = 0) -> str:
    return run([sys.executable, "-m", "vitpain_hf.train", *args], cache, expect=expect)


def read_metrics(out_dir: Path) -> list[dict]:
    with (out_dir / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train")


@pytest.fixture(scope="module")
def dataset(workdir) -> Path:
    """6 identities (4 train / 1 validation / 1 test) x (neutral + 2 expressions) x 1 view, Hub layout."""
    out = workdir / "3dpain"
    run([sys.executable, "-m", "pain3d", "generate", "--out", str(out), "--size", "64", "--identities", "6",
         "--expressions", "2", "--views", "1", "--seed", "0", "--quiet"], workdir / "cache")
    return out


@pytest.fixture(scope="module")
def pretrained_vit(workdir) -> Path:
    """A random ViT with the tiny preset's shape, saved like a Hub checkpoint."""
    torch.manual_seed(1)
    config = ViTConfig(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
                       image_size=IMAGE, patch_size=16)
    ViTModel(config, add_pooling_layer=False).save_pretrained(workdir / "tiny-vit")
    return workdir / "tiny-vit"


@pytest.fixture(scope="module")
def teacher_run(workdir, dataset, pretrained_vit) -> Path:
    """Heatmap modality, 2 epochs, backbone frozen in the first, from a pretrained backbone."""
    out = workdir / "teacher"
    train_cli("--dataset", str(dataset), "--modality", "heatmap", *TINY, "--epochs", "2", "--freeze-epochs", "1",
              "--batch-size", "4", "--pretrained-backbone", str(pretrained_vit), "--output-dir", str(out),
              cache=workdir / "cache")
    return out


def test_lr_factor_is_a_cosine_from_one_to_one_percent():
    values = [train.lr_factor(step, 10) for step in range(10)]
    assert values[0] == pytest.approx(1.0) and values[-1] == pytest.approx(train.MIN_LR_RATIO)
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[4] + values[5] == pytest.approx(1 + train.MIN_LR_RATIO)  # symmetric about the midpoint


def test_lr_factor_warms_up_linearly_then_follows_the_cosine_over_the_remaining_steps():
    values = [train.lr_factor(step, 14, warmup_steps=4) for step in range(14)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[4:] == pytest.approx([train.lr_factor(step, 10) for step in range(10)])


def test_help_shows_the_defaults(capsys):
    import re

    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    options = capsys.readouterr().out.split("\noptions:\n", 1)[1]
    # one block per option: its line, then the indented continuation lines of its help
    blocks = {m.group(1): " ".join(m.group(0).split()) for m in re.finditer(r"^  (--[\w-]+)[^\n]*(?:\n {8,}[^\n]*)*", options, re.M)}
    for flag, default in (("--epochs", "100"), ("--freeze-epochs", "5"), ("--lr-backbone", "5e-06"),
                          ("--batch-size", "32"), ("--lora-r", "8"), ("--modality", "rgb")):
        assert blocks[flag].endswith(f"(default: {default})"), blocks[flag]
    assert {"--reference", "--lora", "--allow-changed-settings", "--resume"} <= set(blocks)
    assert "default" not in blocks["--resume"]  # flags that are off say nothing


def test_warns_when_the_backbone_never_trains(tmp_path, capsys):
    train.parse_args(["--dataset", "x", "--output-dir", str(tmp_path), "--epochs", "1",
                      "--pretrained-backbone", "vit"])  # --freeze-epochs 5 by default
    err = capsys.readouterr().err
    assert "--freeze-epochs 5 >= --epochs 1" in err and "never trains" in err and "pretrained" in err
    train.parse_args(["--dataset", "x", "--output-dir", str(tmp_path), "--epochs", "6"])
    assert capsys.readouterr().err == ""


def test_unused_parameters_are_searched_only_while_something_is_frozen():
    cfg = train.parse_args(["--dataset", "x", "--output-dir", "unused", "--epochs", "4", "--freeze-epochs", "2"])
    assert [train.has_unused_parameters(cfg, epoch) for epoch in range(4)] == [True, True, False, False]
    cfg.freeze_epochs = 0
    assert not train.has_unused_parameters(cfg, 0)


def test_cli_rejects_bad_input(tmp_path, capsys):
    (tmp_path / "checkpoints" / "epoch_0").mkdir(parents=True)
    with pytest.raises(SystemExit):
        train.parse_args(["--dataset", "x", "--output-dir", str(tmp_path)])
    assert "--resume" in capsys.readouterr().err
    for bad in (["--modality", "depth"], ["--epochs", "0"], ["--preset", "huge"], ["--epochs", "2", "--warmup-epochs", "2"]):
        with pytest.raises(SystemExit):
            train.parse_args(["--dataset", "x", "--output-dir", str(tmp_path / "new"), *bad])
    cfg = train.parse_args(["--dataset", "x", "--output-dir", str(tmp_path), "--resume", "--no-au-query"])
    assert cfg.resume and cfg.no_au_query and cfg.lr_backbone == LR_BACKBONE and cfg.lr_head == LR_HEAD


def test_single_process_run_logs_metrics_and_saves_best(teacher_run):
    rows = read_metrics(teacher_run)
    assert list(rows[0]) == EXPECTED_COLUMNS
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [int(r["step"]) for r in rows] == [3, 6]  # 4 train identities x 3 frames / batch 4 = 3 steps per epoch
    for r in rows:
        assert r["num_processes"] == "1" and r["batches_per_rank"] == "3" and r["weights_in_sync"] == "1"
        assert 0.0 <= float(r["val_macro_auroc"]) <= 1.0
        assert 0.0 <= float(r["val_accuracy"]) <= float(r["val_accuracy_within_1"]) <= float(r["val_accuracy_within_2"])
        assert math.isfinite(float(r["train_loss"])) and float(r["val_mae"]) >= 0

    best = teacher_run / "best"
    model = AutoModel.from_pretrained(best)
    processor = AutoImageProcessor.from_pretrained(best)
    assert isinstance(model, vitpain_hf.ViTPainModel) and model.config.modality == "heatmap"
    pixels = processor(images=[Image.new("RGB", (64, 64), (200, 40, 10))], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, IMAGE, IMAGE)
    assert model.eval()(pixel_values=pixels).pspi_logits.shape == (1, 17)

    card = (best / "README.md").read_text()
    assert "model-index:" in card and "type: macro_auroc" in card and "split: test" in card
    assert "heatmap" in card and "3dpain" in card
    # The data as what they are (generation settings, content hash), the precision as used.
    assert "type: pain3d-synthetic" in card and "revision: sha256:" in card
    assert "`pain3d generate --identities 6 --expressions 2 --views 1 --size 64 --seed 0`" in card
    assert "| mixed precision | no |" in card and "as launched" not in card
    assert 'pipeline("image-classification"' in card
    curves = Image.open(teacher_run / "curves.png")
    assert curves.format == "PNG" and curves.size[0] > 600
    results = json.loads((teacher_run / "all_results.json").read_text())
    assert results["best_epoch"] in (0, 1) and 0.0 <= results["test_macro_auroc"] <= 1.0
    assert results["validation_macro_auroc"] == pytest.approx(max(float(r["val_macro_auroc"]) for r in rows))
    # the best model's test report (vitpain_hf.evaluate) agrees with the test metrics training logged
    report = json.loads((teacher_run / "evaluation" / "metrics.json").read_text())
    assert report["split"] == "test" and report["samples"] == 3 and report["identities"] == 1
    for key in ("macro_auroc", "accuracy", "mae"):
        assert report["metrics"][key] == pytest.approx(results[f"test_{key}"], abs=1e-4), key
    assert card.count("<!-- pain3d-evaluation:") == 1 and "## Evaluation:" in card


def test_backbone_frozen_first_then_trained_and_lr_anneals_to_one_percent(teacher_run, pretrained_vit):
    first, last = read_metrics(teacher_run)
    assert float(first["lr_backbone"]) == 0.0 and first["backbone_trainable"] == "0"
    assert float(last["lr_backbone"]) > 0.0 and last["backbone_trainable"] == "1"
    assert float(last["lr_head"]) == pytest.approx(train.MIN_LR_RATIO * LR_HEAD, rel=1e-6)
    assert float(last["lr_backbone"]) == pytest.approx(train.MIN_LR_RATIO * LR_BACKBONE, rel=1e-6)
    assert LR_HEAD * train.MIN_LR_RATIO < float(first["lr_head"]) < LR_HEAD

    # Frozen means untouched (no step, no weight decay) in epoch 0, and trained in epoch 1.
    pretrained = ViTModel.from_pretrained(pretrained_vit, add_pooling_layer=False).state_dict()
    after = {k: load_file(teacher_run / "checkpoints" / f"epoch_{k}" / "model.safetensors") for k in (0, 1)}
    assert all(torch.equal(after[0][f"backbone.{name}"], value) for name, value in pretrained.items())
    assert not torch.equal(after[1]["backbone.embeddings.cls_token"], pretrained["embeddings.cls_token"])
    heads = [name for name in after[0] if name.startswith("pspi_head.")]
    assert heads and any(not torch.equal(after[0][n], after[1][n]) for n in heads)


def test_resume_reaches_the_weights_of_an_uninterrupted_run(teacher_run, dataset, pretrained_vit, workdir, tmp_path):
    # Replay the run as if it had been killed after epoch 0: drop the last checkpoint and resume.
    out = tmp_path / "resumed"
    shutil.copytree(teacher_run, out)
    reference = load_file(teacher_run / "checkpoints" / "epoch_1" / "model.safetensors")
    shutil.rmtree(out / "checkpoints" / "epoch_1")
    log = train_cli("--dataset", str(dataset), "--modality", "heatmap", *TINY, "--epochs", "2", "--freeze-epochs",
                    "1", "--batch-size", "4", "--pretrained-backbone", str(pretrained_vit), "--output-dir", str(out),
                    "--resume", cache=workdir / "cache")
    assert "resumed from" in log and "epoch_0" in log
    resumed = load_file(out / "checkpoints" / "epoch_1" / "model.safetensors")
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    rows, original = read_metrics(out), read_metrics(teacher_run)
    assert [r["epoch"] for r in rows] == ["0", "1"]  # epoch 1 redone once, not appended twice
    for column in ("train_loss", "lr_head", "val_macro_auroc", "val_loss_pspi"):
        assert rows[1][column] == original[1][column]


def test_resume_refuses_other_settings_or_processes_unless_told(teacher_run, dataset, pretrained_vit, workdir, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(teacher_run, out)
    same = ["--dataset", str(dataset), "--modality", "heatmap", *TINY, "--freeze-epochs", "1", "--batch-size", "4",
            "--pretrained-backbone", str(pretrained_vit), "--output-dir", str(out), "--resume"]
    kept = {name: (out / name).read_bytes() for name in ("train_config.json", "metrics.csv", "all_results.json")}

    log = train_cli(*same, "--epochs", "3", "--lr-head", "1e-3", cache=workdir / "cache", expect=2)
    (line,) = [ln for ln in log.splitlines() if "vitpain_hf.train: error:" in ln]
    assert "--epochs 2 (now 3)" in line and "--lr-head 5e-05 (now 0.001)" in line and "--allow-changed-settings" in line
    assert "Traceback" not in log

    # A checkpoint written by two processes (one random_states file each) is not resumed by one.
    checkpoint = out / "checkpoints" / "epoch_1"
    shutil.copy(checkpoint / "random_states_0.pkl", checkpoint / "random_states_1.pkl")
    log = train_cli(*same, "--epochs", "2", cache=workdir / "cache", expect=2)
    assert "processes 2 (now 1)" in log and "--epochs" not in log.split("error:", 1)[1]
    (checkpoint / "random_states_1.pkl").unlink()
    assert {name: (out / name).read_bytes() for name in kept} == kept  # refused runs wrote nothing
    assert not (out / "resumes.json").exists()

    # Told to, it continues with the new schedule, and says so in resumes.json and the model card.
    train_cli(*same, "--epochs", "3", "--allow-changed-settings", cache=workdir / "cache")
    assert [r["epoch"] for r in read_metrics(out)] == ["0", "1", "2"]
    (record,) = json.loads((out / "resumes.json").read_text())
    assert record["epoch"] == 2 and record["changed"] == {"epochs": [2, 3]}
    assert json.loads((out / "train_config.json").read_text())["epochs"] == 3
    if json.loads((out / "all_results.json").read_text())["best_epoch"] == 2:
        assert "resumed at epoch 2" in (out / "best" / "README.md").read_text()


def test_lora_and_reference_variants_train(dataset, pretrained_vit, workdir, tmp_path):
    out = tmp_path / "lora-ref"
    train_cli("--dataset", str(dataset), "--modality", "rgb", *TINY, "--epochs", "1", "--freeze-epochs", "0",
              "--batch-size", "4", "--max-train-samples", "8", "--lora", "--lora-r", "4", "--reference",
              "--pretrained-backbone", str(pretrained_vit), "--lr-backbone", "1e-2", "--output-dir", str(out),
              cache=workdir / "cache")
    model = AutoModel.from_pretrained(out / "best")
    assert model.config.use_lora and model.config.lora_r == 4 and model.config.use_reference
    trained = load_file(out / "checkpoints" / "epoch_0" / "model.safetensors")
    pretrained = ViTModel.from_pretrained(pretrained_vit, add_pooling_layer=False).state_dict()
    # LoRA: the base weights stay as loaded, the adapters (lora_B starts at 0) have learned.
    base = {k for k in trained if ".base_layer." in k}
    assert base and all(torch.equal(trained[k], pretrained[k.replace("backbone.", "", 1).replace(".base_layer", "")])
                        for k in base)
    lora_b = [k for k in trained if "lora_B" in k]
    assert lora_b and any(torch.count_nonzero(trained[k]) for k in lora_b)
    assert any(k.startswith("reference_fusion.") for k in trained)
    card = (out / "best" / "README.md").read_text()
    assert "reference-based" in card and "LoRA r=4" in card


def test_distillation_from_the_heatmap_teacher(teacher_run, dataset, workdir, tmp_path):
    out = tmp_path / "student"
    train_cli("--dataset", str(dataset), "--modality", "rgb", "--teacher", str(teacher_run / "best"),
              "--preset", "tiny", "--image-size", "48", "--epochs", "1", "--freeze-epochs", "0", "--batch-size", "4",
              "--max-train-samples", "8", "--output-dir", str(out), cache=workdir / "cache")
    (row,) = read_metrics(out)
    assert set(DISTILL_COLUMNS) <= set(row)
    terms = {c: float(row[c]) for c in ["train_loss_pspi", "train_loss_au", *DISTILL_COLUMNS]}
    assert all(math.isfinite(v) and v >= 0 for v in terms.values())
    assert terms["train_loss_feature_distill"] > 0  # a random student's CLS differs from the teacher's
    # Eq. (15) with the default weights (1, 1, 0.1, 0.3, 0.5); per-batch means, averaged, stay linear.
    weights = [1.0, 1.0, 0.1, 0.3, 0.5]
    assert float(row["train_loss"]) == pytest.approx(sum(w * v for w, v in zip(weights, terms.values())), rel=1e-5)
    assert row["batches_per_rank"] == "2"  # --max-train-samples 8 / batch 4
    student = AutoModel.from_pretrained(out / "best")
    assert student.config.modality == "rgb" and student.config.image_size == (48, 48)
    assert str(teacher_run / "best") in (out / "best" / "README.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_processes_run_real_ddp(dataset, workdir, tmp_path):
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    os.environ["ACCELERATE_USE_CPU"] = "1"  # with --multi_gpu: two gloo ranks, not two rank-0 copies
    try:
        run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
             "-m", "vitpain_hf.train", "--dataset", str(dataset), "--modality", "rgb", *TINY, "--epochs", "2",
             "--freeze-epochs", "1", "--batch-size", "2", "--output-dir", str(out)], workdir / "cache")
    finally:
        del os.environ["ACCELERATE_USE_CPU"]
    rows = read_metrics(out)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for r in rows:
        assert r["num_processes"] == "2"
        assert r["batches_per_rank"] == "3 3"  # 12 train frames / (2 ranks x batch 2): both ranks trained
        assert r["weights_in_sync"] == "1"  # gradients were all-reduced, also after unfreezing the backbone
    assert sorted(p.name for p in (out / "checkpoints" / "epoch_1").glob("random_states_*")) == [
        "random_states_0.pkl", "random_states_1.pkl"]
    assert (out / "best" / "model.safetensors").exists() and (out / "all_results.json").exists()
    assert "| batch size | 2 per process x 2 process(es) |" in (out / "best" / "README.md").read_text()


def test_ddp_without_frozen_parameters_does_not_search_for_unused_ones(dataset, workdir, tmp_path):
    out = tmp_path / "ddp"
    os.environ["ACCELERATE_USE_CPU"] = "1"
    try:
        log = run([str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
                   "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                   str(_free_port()), "-m", "vitpain_hf.train", "--dataset", str(dataset), "--modality", "rgb", *TINY,
                   "--epochs", "1", "--freeze-epochs", "0", "--batch-size", "2", "--max-train-samples", "8",
                   "--output-dir", str(out)], workdir / "cache")
    finally:
        del os.environ["ACCELERATE_USE_CPU"]
    assert "find_unused_parameters=True" not in log  # DDP's warning when it searched and found none
    (row,) = read_metrics(out)
    assert row["num_processes"] == "2" and row["weights_in_sync"] == "1"


def test_random_view_crops_student_and_teacher_alike():
    """--augment: one square crop of at least 80% and one mirror decision per sample, shared by
    every image of the sample; the crop stays inside the image."""
    import numpy as np
    import torch
    from PIL import Image

    from vitpain_hf.train import random_view

    a = np.arange(64 * 48 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
    img = Image.fromarray(a)
    torch.manual_seed(0)
    sides = set()
    for _ in range(40):
        s, t = random_view([img, img])
        assert s.size == t.size and s.size[0] == s.size[1]
        assert 0.8 * 48 - 1 <= s.size[0] <= 48
        assert np.array_equal(np.asarray(s), np.asarray(t))
        sides.add(s.size[0])
    assert len(sides) > 3  # the scale really varies


def test_face_crop_batch_matches_the_space_crop():
    """--face-crop: training images get exactly the crop the Space applies to uploads, the same
    square for the heatmap; an image without a face is left whole."""
    import numpy as np
    from PIL import Image

    from generation.pipeline import GenerationConfig, Generator
    from vitpain_hf.face_crop import FaceCropper
    from vitpain_hf.train import face_crop_batch

    res = Generator(GenerationConfig(identities=1, expressions=1, views=(0.0,), size=192, seed=4)).identity(0)
    face = Image.fromarray(res.frames[1].image)
    heat = Image.fromarray((np.asarray(face) // 2).astype(np.uint8))
    blank = Image.new("RGB", (192, 192), (90, 120, 150))
    cropper = FaceCropper()
    out = face_crop_batch(cropper, ["image", "heatmap"])({"image": [face, blank], "heatmap": [heat, blank]})
    expected = cropper(face)
    assert expected is not None and expected.size[0] < 192
    assert np.array_equal(np.asarray(out["image"][0]), np.asarray(expected))
    assert out["heatmap"][0].size == expected.size
    assert np.array_equal(np.asarray(out["heatmap"][0]), np.asarray(expected) // 2)
    assert out["image"][1] is blank  # no face: unchanged


def import_table2():
    """benchmarks/table2.py as a module (benchmarks/ is not a package)."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import table2
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    return table2


def test_table2_ablation_runs_four_rows_per_seed_and_reuses_finished_runs(dataset, workdir, tmp_path):
    """benchmarks/table2.py end to end at toy size with two seeds: per seed the four runs in order (the
    distilled one with that seed's teacher), a table of their test metrics, a summary whose means are the
    seeds' own results, and a second call that retrains nothing."""
    import numpy as np

    args = [sys.executable, "benchmarks/table2.py", "--dataset", str(dataset), "--workdir", str(tmp_path / "t2"),
            "--out", str(tmp_path / "table2.md"), "--image-size", str(IMAGE), "--epochs", "1", "--batch-size", "4",
            "--resamples", "20", "--seeds", "0", "1",
            "--holdout-identities", "3", "--expressions", "2", "--views", "1", "--size", "64"]  # held-out set size
    first = run(args, workdir / "cache", timeout=900)
    keys = ("baseline", "au_query", "distilled", "teacher")
    results = {}
    for seed in (0, 1):
        runs = tmp_path / "t2" / f"seed-{seed}" / "runs"
        configs = {k: json.loads((runs / k / "train_config.json").read_text()) for k in keys}
        assert {c["seed"] for c in configs.values()} == {seed}
        assert configs["teacher"]["modality"] == "heatmap" and configs["teacher"]["teacher"] is None
        assert configs["baseline"]["no_au_query"] and not configs["au_query"]["no_au_query"]
        assert configs["distilled"]["teacher"] == str(runs / "teacher" / "best")
        assert AutoModel.from_pretrained(runs / "baseline" / "best").config.use_au_query is False
        results[seed] = {k: json.loads((runs / k / "all_results.json").read_text()) for k in keys}

        table = (runs.parent / "table2.md").read_text()
        rows = [ln for ln in table.splitlines() if ln.startswith("| 3DPain")]
        assert [r.split(" | ")[1] for r in rows] == [
            "ViTPain Baseline", "ViTPain + AU-Query", "ViTPain + AU-Query + Heatmap", "ViTPain Teacher"]
        for row, key in zip(rows, keys):
            accuracy = float(row.split(" | ")[4])  # PSPI Acc. column, from the run's own results
            assert accuracy == pytest.approx(results[seed][key]["test_accuracy"], abs=5e-4)
        assert "Targets: teacher ≥ 0.96" in table and f"seed {seed}" in table
        assert Image.open(runs.parent / "table2.png").size[0] > 300  # the validation curves

    summary = (tmp_path / "table2.md").read_text()
    assert "2 seeds (0, 1)" in summary
    # first the held-out set: 3 new identities, every seed's models scored on all of it
    from datasets import concatenate_datasets, load_dataset

    from evaluate_metrics import load_pain_metrics

    holdout = tmp_path / "t2" / "holdout-3id-2ex-1v-64px-seed1000"
    frames = concatenate_datasets(list(load_dataset(str(holdout)).values()))
    assert len(set(frames["identity"])) == 3 and set(frames["seed"]) == {1000}
    metric = load_pain_metrics(keep_in_memory=True)
    rows = [ln for ln in summary.splitlines() if ln.startswith("| 3DPain")]
    assert "held-out set of 3 new identities, 2 seed(s) (0, 1)" in summary.splitlines()[0]
    cached = {}
    for row, key in zip(rows[:4], keys):
        per_seed = [float(v) for v in row.split(" | ")[3].split(" / ")]
        for seed, value in zip((0, 1), per_seed):
            cache = tmp_path / "t2" / f"seed-{seed}" / "runs" / key / f"{holdout.name}.npz"
            saved = np.load(cache)
            assert saved["labels"].tolist() == frames["pspi"] and saved["identities"].tolist() == frames["identity"]
            assert saved["probabilities"].shape == (len(frames), 17)
            expected = metric.compute(predictions=saved["probabilities"].tolist(), references=frames["pspi"])
            assert value == pytest.approx(expected["macro_auroc"], abs=5e-4)
            cached[cache] = cache.stat().st_mtime_ns
    assert "Pooled paired bootstrap (20 resamples of the held-out identities" in summary
    # the fairness rows: per-group macro AUROC of each method on the held-out set, mean over the seeds
    assert "## Fairness: macro AUROC per demographic group, held-out set of 3 new identities" in summary
    fair = [ln for ln in summary.splitlines() if ln.startswith("| ViTPain") and " | ethnicity | " in ln]
    assert len(fair) == 4 and "Goal: the distilled student's largest between-ethnicity gap ≤ 0.02" in summary
    eth = frames.features["ethnicity"]
    groups = [eth.int2str(v) for v in frames["ethnicity"]]
    per_seed = [np.load(tmp_path / "t2" / f"seed-{s}" / "runs" / "distilled" / f"{holdout.name}.npz") for s in (0, 1)]
    scored = [metric.compute(predictions=p["probabilities"].tolist(), references=frames["pspi"], groups=groups,
                             thresholds=())["per_group"] for p in per_seed]
    row = next(ln for ln in fair if ln.startswith("| ViTPain + AU-Query + Heatmap |"))
    shown = dict(item.rsplit(" ", 1) for item in row.split(" | ")[2].split(", "))
    assert set(shown) == set(groups)
    for group, value in shown.items():
        want = np.mean([s[group]["macro_auroc"] for s in scored])
        assert (value == "n/a" and want != want) or float(value) == pytest.approx(want, abs=5e-4), group
    # facial hair is a fairness attribute when the held-out identities have two or more kinds of it
    hair_rows = [ln for ln in summary.splitlines() if ln.startswith("| ViTPain") and " | facial hair | " in ln]
    assert len(hair_rows) == (4 if len(set(frames["facial_hair"])) > 1 else 0)
    assert Image.open(tmp_path / "table2-fairness.png").size[0] > 300
    assert summary.count("t-interval over seeds") == 2  # held-out table and seeds' summary, two seeds each
    assert "+ AU-Query minus Baseline" in summary and "+ AU-Query + Heatmap minus + AU-Query" in summary

    rows = rows[4:8]  # then the summary of the seeds' own test splits
    for row, key in zip(rows, keys):
        mean, sd = (float(x) for x in row.split(" | ")[2].split(" ± "))
        scores = [results[s][key]["test_macro_auroc"] for s in (0, 1)]
        assert mean == pytest.approx(np.mean(scores), abs=5e-4)
        assert sd == pytest.approx(np.std(scores, ddof=1), abs=5e-4)
    assert "distilled higher in" in summary and "Targets on the means" in summary
    assert Image.open(tmp_path / "table2.png").size[0] > 300

    stamps = {(s, k): (tmp_path / "t2" / f"seed-{s}" / "runs" / k / "all_results.json").stat().st_mtime_ns
              for s in (0, 1) for k in keys}
    second = run(args, workdir / "cache", timeout=600)
    assert second.count(": reusing ") == 8 and "training (" not in second, second
    assert stamps == {(s, k): (tmp_path / "t2" / f"seed-{s}" / "runs" / k / "all_results.json").stat().st_mtime_ns
                      for s in (0, 1) for k in keys}
    assert "training (" in first
    assert cached == {c: c.stat().st_mtime_ns for c in cached}  # held-out predictions reused


def test_table2_rejects_a_repeated_seed(capsys):
    table2 = import_table2()
    with pytest.raises(SystemExit):
        table2.parse_args(["--seeds", "0", "0"])
    assert "each seed once" in capsys.readouterr().err


def test_table2_reuses_only_runs_that_logged_every_epoch(tmp_path):
    table2 = import_table2()
    (tmp_path / "all_results.json").write_text("{}")  # written at each new best, also by a run cut short
    (tmp_path / "metrics.csv").write_text("epoch\n0\n1\n")
    assert not table2.finished(tmp_path, epochs=3)
    (tmp_path / "metrics.csv").write_text("epoch\n0\n1\n2\n")
    assert table2.finished(tmp_path, epochs=3)
    (tmp_path / "all_results.json").unlink()
    assert not table2.finished(tmp_path, epochs=3)


def test_table2_bootstrap_resamples_identities_and_pairs_the_models():
    import numpy as np

    table2 = import_table2()
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(5), 8)  # 8 identities x PSPI 0..4
    identities = np.repeat([f"id{i}" for i in range(8)], 5)
    perfect = np.eye(5)[labels]
    flat = np.full((40, 5), 0.2)  # every class tied: AUROC 0.5 for each
    noisy = rng.dirichlet(np.ones(5), size=40)
    one = table2.resample({"distilled": perfect, "baseline": flat, "teacher": noisy}, labels, identities, 50)
    out = table2.bootstrap([one])
    assert out["distilled"] == pytest.approx((1.0, 1.0)) and out["baseline"] == pytest.approx((0.5, 0.5))
    assert out["distilled-baseline"] == pytest.approx((0.5, 0.5, 1.0))
    assert set(out) == {"distilled", "baseline", "teacher", "distilled-baseline"}  # steps with absent models left out
    steps = table2.bootstrap([table2.resample({"distilled": perfect, "au_query": perfect, "baseline": flat}, labels,
                                              identities, 20)])
    assert steps["au_query-baseline"] == pytest.approx((0.5, 0.5, 1.0))
    assert steps["distilled-au_query"] == pytest.approx((0.0, 0.0, 0.0))  # tied everywhere: never higher
    lo, hi = out["teacher"]
    assert 0.0 < lo < hi < 1.0  # resampling identities moves a noisy model's score

    # two seeds, the second with the roles swapped: each model's mean over seeds is (1 + 0.5) / 2 every resample
    swapped = table2.resample({"distilled": flat, "baseline": perfect, "teacher": noisy}, labels, identities, 50,
                              seed=1)
    out = table2.bootstrap([one, swapped])
    assert out["distilled"] == pytest.approx((0.75, 0.75)) and out["baseline"] == pytest.approx((0.75, 0.75))
    assert out["distilled-baseline"] == pytest.approx((0.0, 0.0, 0.0))


def test_table2_resampled_macro_auroc_equals_the_metric_on_the_repeated_rows():
    """The bootstrap's weighted macro AUROC (one sort per class for all resamples) against the pain metric on
    each resample's rows written out, with many tied scores and a class absent from the labels."""
    import numpy as np

    from evaluate_metrics import load_pain_metrics

    table2 = import_table2()
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=240)  # classes 0..4 of 6: class 5 never a positive
    identities = np.repeat([f"id{i:02d}" for i in range(24)], 10)
    probs = np.round(rng.dirichlet(np.ones(6), size=240), 1) + 1e-3  # rounded: many ties
    probs /= probs.sum(1, keepdims=True)
    scores = table2.resample({"m": probs}, labels, identities, resamples=30, seed=7, chunk=8)["m"]
    metric = load_pain_metrics(keep_in_memory=True)
    draw, people = np.random.default_rng(7), np.unique(identities)
    for r in range(30):
        rows = np.concatenate([np.flatnonzero(identities == p) for p in draw.choice(people, size=len(people))])
        assert scores[r] == pytest.approx(metric._compute(predictions=probs[rows], references=labels[rows])["macro_auroc"],
                                          abs=1e-12)
    assert np.ptp(scores) > 0.01  # resamples differ


def test_table2_holdout_seed_must_differ_from_the_training_seeds(capsys):
    table2 = import_table2()
    with pytest.raises(SystemExit):
        table2.parse_args(["--seeds", "0", "1000", "--holdout-identities", "10"])
    assert "--holdout-seed 1000 is also in --seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        table2.parse_args(["--holdout-identities", "-1"])
    assert "use 0 (none) or a positive number" in capsys.readouterr().err
    assert table2.parse_args(["--seeds", "0", "1000"]).holdout_identities == 0  # no held-out set: no clash


def test_table2_seed_interval_is_the_student_t_interval_of_the_mean():
    table2 = import_table2()
    lo, hi = table2.seed_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2 df) = 4.3027 from the table
    assert (lo, hi) == pytest.approx((2 - 4.3027 / 3 ** 0.5, 2 + 4.3027 / 3 ** 0.5), abs=1e-4)
    assert all(x != x for x in table2.seed_interval([0.5]))  # one seed: no interval
    assert table2.seed_text([0.5]) == ""
    # mean 0.01, sd 0.01414, t(0.975, 1 df) = 12.706: 0.01 ± 12.706 x 0.01414 / sqrt(2) = 0.01 ± 0.127
    assert "t-interval over seeds -0.117 to +0.137" in table2.seed_text([0.0, 0.02])
