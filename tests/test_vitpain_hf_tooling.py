"""ViTPain in the standard Hugging Face tooling: AutoModelForImageClassification, pipeline, Trainer,
evaluate's evaluator, and inference that applies the model's own face crop.

Tiny random models saved by the tests (hidden 32, 2 layers, 32x32 images); no downloads. Answers are
compared with the model's own forward pass on hand-processed inputs, hand-written losses, and the
face detector called directly.
"""

import os

for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_variable, "1")  # nothing here may reach the Hub

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline  # noqa: E402

from vitpain_hf import (  # noqa: E402
    NoFaceError,
    ViTPainForImageClassification,
    ViTPainImageProcessor,
    ViTPainModel,
    make_image_processor,
)
from vitpain_hf.face_crop import FaceCropper  # noqa: E402

from helpers import run_without_vitpain_hf, tiny_vitpain  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "spaces" / "examples"
IMAGE, C, A = 32, 17, 6


def random_images(n: int, seed: int = 0, size: int = 40) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)) for _ in range(n)]


def probabilities(model: ViTPainModel, images: list[Image.Image]) -> torch.Tensor:
    """Softmax of the model's PSPI logits on images preprocessed by hand (resize, /255, (x-0.5)/0.5)."""
    arrays = [np.asarray(im.convert("RGB").resize((IMAGE, IMAGE), Image.BILINEAR), np.float32) / 255 for im in images]
    x = torch.from_numpy((np.stack(arrays) - 0.5) / 0.5).permute(0, 3, 1, 2)
    with torch.no_grad():
        return ViTPainModel.forward(model.eval(), x).pspi_logits.softmax(-1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tiny_vitpain(tmp_path_factory.mktemp("vitpain") / "model")


# --------------------------------------------------------------------------------------------
# The classification head
# --------------------------------------------------------------------------------------------
def test_classification_head_shares_the_weights_and_adds_the_losses(folder, tmp_path):
    base = AutoModel.from_pretrained(folder).eval()
    head = AutoModelForImageClassification.from_pretrained(folder).eval()
    assert type(base) is ViTPainModel and type(head) is ViTPainForImageClassification
    assert base.state_dict().keys() == head.state_dict().keys()
    assert all(torch.equal(v, head.state_dict()[k]) for k, v in base.state_dict().items())

    x = torch.randn(4, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 5, 16, 7])
    aus = torch.rand(4, A, generator=torch.Generator().manual_seed(4)) * 5
    reference = base(x)
    out = head(x, labels=labels)
    torch.testing.assert_close(out.logits, reference.pspi_logits, rtol=0, atol=0)
    torch.testing.assert_close(out.au_intensities, reference.au_intensities, rtol=0, atol=0)
    assert out.au_attentions.shape == (4, A, (IMAGE // 8) ** 2)
    ce = -torch.log_softmax(reference.pspi_logits, -1)[torch.arange(4), labels].mean()  # by hand
    assert out.loss.item() == pytest.approx(ce.item(), rel=1e-5)
    with_aus = head(x, labels=labels, au_labels=aus)
    mse = ((reference.au_intensities - aus) ** 2).mean()
    assert with_aus.loss.item() == pytest.approx(ce.item() + mse.item(), rel=1e-5)
    assert head(x).loss is None and head(x, return_dict=False)[0].shape == (4, C)

    # Saved as the classification class, the folder loads back as ViTPainModel too.
    head.save_pretrained(tmp_path / "head")
    again = AutoModel.from_pretrained(tmp_path / "head").eval()
    assert type(again) is ViTPainModel
    torch.testing.assert_close(again(x).pspi_logits, reference.pspi_logits, rtol=0, atol=0)
    auto_map = json.loads((tmp_path / "head" / "config.json").read_text())["auto_map"]
    assert {"AutoModel", "AutoModelForImageClassification", "AutoImageProcessor"} <= set(auto_map)


# --------------------------------------------------------------------------------------------
# pipeline("image-classification")
# --------------------------------------------------------------------------------------------
def test_pipeline_answers_in_pspi_levels(folder):
    images = random_images(3)
    pipe = pipeline("image-classification", model=str(folder))
    assert isinstance(pipe.model, ViTPainForImageClassification)
    assert isinstance(pipe.image_processor, ViTPainImageProcessor)
    expected = probabilities(AutoModel.from_pretrained(folder), images)
    for image, probs in zip(images, expected):
        answer = pipe(image, top_k=C)
        assert [a["label"] for a in answer] == [str(int(k)) for k in torch.argsort(probs, descending=True)]
        np.testing.assert_allclose([a["score"] for a in answer], np.sort(probs.numpy())[::-1], rtol=1e-4, atol=1e-6)
    assert len(pipe(images, top_k=2)) == 3


def test_pipeline_with_remote_code_where_the_package_is_not_installed(folder, tmp_path):
    image = random_images(1, seed=5)[0]
    image.save(tmp_path / "face.png")
    expected = probabilities(AutoModel.from_pretrained(folder), [image])[0]
    result = run_without_vitpain_hf(f"""
        import json
        from transformers import pipeline

        pipe = pipeline("image-classification", model={str(folder)!r}, trust_remote_code=True)
        assert type(pipe.model).__module__.startswith("transformers_modules"), type(pipe.model).__module__
        assert type(pipe.image_processor).__name__ == "ViTPainImageProcessor"
        print("ANSWER", json.dumps(pipe({str(tmp_path / "face.png")!r}, top_k=17)))
        """, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "custom code" not in result.stdout + result.stderr  # no trust prompt
    answer = json.loads(result.stdout.split("ANSWER", 1)[1])
    scores = dict((a["label"], a["score"]) for a in answer)
    np.testing.assert_allclose([scores[str(k)] for k in range(C)], expected.numpy(), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Trainer and evaluate's evaluator
# --------------------------------------------------------------------------------------------
def tiny_dataset(n: int = 16, seed: int = 0):
    from datasets import ClassLabel, Dataset, Features, Image as ImageFeature, Value

    from pain3d_dataset.features import PSPI_NAMES, au_struct

    rng = np.random.default_rng(seed)
    labels = [int(v) for v in rng.integers(0, C, n)]
    features = Features({"image": ImageFeature(), "pspi": ClassLabel(names=PSPI_NAMES),
                         "aus": au_struct(["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"])})
    return Dataset.from_dict({
        "image": random_images(n, seed),
        "pspi": labels,
        "aus": [{a: float(rng.uniform(0, 5)) for a in ("AU4", "AU6", "AU7", "AU9", "AU10", "AU43")} for _ in range(n)],
    }, features=features)


def test_trainer_trains_the_classification_head(folder, tmp_path):
    from transformers import Trainer, TrainingArguments

    model = AutoModelForImageClassification.from_pretrained(folder)
    processor = AutoImageProcessor.from_pretrained(folder)
    names = list(model.config.au_names)

    def to_inputs(batch):
        return {"pixel_values": processor(images=batch["image"], return_tensors="pt")["pixel_values"],
                "labels": batch["pspi"], "au_labels": [[aus[a] for a in names] for aus in batch["aus"]]}

    data = tiny_dataset(8).with_transform(to_inputs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=12, per_device_train_batch_size=8, learning_rate=3e-3,
                             lr_scheduler_type="constant", logging_steps=1, report_to="none", save_strategy="no",
                             use_cpu=True, remove_unused_columns=False, seed=0, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 1.0  # one fixed batch of 8: the loss (CE + AU MSE) must fall
    assert not torch.equal(before["pspi_head.7.weight"], model.state_dict()["pspi_head.7.weight"])
    assert not torch.equal(before["backbone.embeddings.cls_token"], model.state_dict()["backbone.embeddings.cls_token"])
    metrics = trainer.evaluate()
    assert np.isfinite(metrics["eval_loss"])
    predictions = trainer.predict(data)
    assert predictions.predictions[0].shape == (8, C)  # logits first, then AU intensities, ...


def test_evaluator_feeds_the_pain_metrics_probabilities(folder):
    from evaluate_metrics import load_pain_metrics
    from vitpain_hf.evaluator import PSPIEvaluator

    data = tiny_dataset(12, seed=2)
    pipe = pipeline("image-classification", model=str(folder))
    metric = load_pain_metrics(keep_in_memory=True)
    probs = probabilities(AutoModel.from_pretrained(folder), list(data["image"]))
    direct = metric.compute(predictions=probs.tolist(), references=data["pspi"], thresholds=(2, 3))
    for model_or_pipeline in (pipe, str(folder)):
        results = PSPIEvaluator().compute(model_or_pipeline=model_or_pipeline, data=data, metric=metric,
                                          input_column="image", label_column="pspi")
        for key in ("macro_auroc", "accuracy", "accuracy_within_2", "auroc_at_2", "mae", "pearson"):
            assert results[key] == pytest.approx(direct[key], abs=1e-3), key  # pearson is near 0 here
        assert results["mae"] > 0 and "latency_in_seconds" in results


# --------------------------------------------------------------------------------------------
# Inference with the model's own preprocessing
# --------------------------------------------------------------------------------------------
FACE = EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg"
NO_FACE = EXAMPLES / "no_face.jpg"


def test_predict_takes_one_image_or_many(folder):
    model = AutoModel.from_pretrained(folder)
    images = random_images(3, seed=7)
    many = model.predict(images)
    one = model.predict(images[1])
    assert isinstance(many, list) and isinstance(one, dict)
    assert one["pspi_probs"] == pytest.approx(many[1]["pspi_probs"], abs=1e-6)
    assert one["label"] == str(one["pspi"]) and one["face_box"] is None
    np.testing.assert_allclose(one["pspi_probs"], probabilities(model, [images[1]])[0].numpy(), rtol=1e-4, atol=1e-6)
    as_array = model.predict(np.asarray(images[1]))
    assert as_array["pspi_probs"] == pytest.approx(one["pspi_probs"], abs=1e-6)


def test_face_crop_models_crop_in_predict_processor_and_pipeline(tmp_path):
    folder = tiny_vitpain(tmp_path / "cropped", face_crop=True)
    model = AutoModel.from_pretrained(folder)
    processor = AutoImageProcessor.from_pretrained(folder)
    assert model.config.face_crop and processor.face_crop
    face = Image.new("RGB", (560, 420), (40, 90, 60))
    face.paste(Image.open(FACE).convert("RGB"), (230, 100))  # a generated frame, off centre on a larger canvas
    face.save(tmp_path / "face.png")
    (box,) = FaceCropper().detect(face)[:1]
    assert 230 < box[0] < box[2] < 230 + 256 and 100 < box[1] < box[3] < 100 + 256
    crop = FaceCropper.crop(face, box)

    result = model.predict(face)
    assert result["face_box"] == pytest.approx(box)
    np.testing.assert_allclose(result["pspi_probs"], probabilities(model, [crop])[0].numpy(), rtol=1e-4, atol=1e-6)
    whole = model.predict(face, face_crop=False)
    assert whole["face_box"] is None
    np.testing.assert_allclose(whole["pspi_probs"], probabilities(model, [face])[0].numpy(), rtol=1e-4, atol=1e-6)

    # The saved processor crops too, so the pipeline sees what predict sees.
    by_processor = processor(images=face, return_tensors="pt")["pixel_values"]
    by_hand = make_image_processor(model.config, face_crop=False)(images=crop, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(by_processor, by_hand, rtol=0, atol=0)
    answer = pipeline("image-classification", model=str(folder))(str(tmp_path / "face.png"), top_k=C)
    scores = {a["label"]: a["score"] for a in answer}
    np.testing.assert_allclose([scores[str(k)] for k in range(C)], result["pspi_probs"], rtol=1e-4, atol=1e-6)

    with pytest.raises(NoFaceError, match="no face found in image 1") as err:
        model.predict([face, Image.open(NO_FACE)])
    assert err.value.index == 1
    with pytest.raises(NoFaceError, match="face_crop=False"):
        processor(images=Image.open(NO_FACE), return_tensors="pt")


def test_predict_refuses_what_is_not_an_image(folder):
    model = AutoModel.from_pretrained(folder)
    with pytest.raises(TypeError, match="PIL image, an array or a file path"):
        model.predict(12)
    with pytest.raises(FileNotFoundError):
        model.predict("no/such/face.png")
