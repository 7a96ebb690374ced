"""Tests of vitpain_hf: the ViTPain transformers model (paper section 4).

Tiny random configs only (hidden 32, 2 layers, 32x32 images, 8x8 patches -> N = 16); no downloads.
Equations (4)-(15) are checked against hand computations written independently of the model code.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may reach the Hub

import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from transformers import AutoConfig, AutoImageProcessor, AutoModel, DeiTConfig, ViTConfig, ViTModel  # noqa: E402

import vitpain_hf  # noqa: E402
from vitpain_hf import (  # noqa: E402
    ViTPainConfig,
    ViTPainModel,
    ViTPainOutput,
    load_backbone_weights,
    make_image_processor,
)
from vitpain_hf import losses  # noqa: E402
from pain3d_dataset.features import PSPI_NAMES  # noqa: E402

from helpers import run_without_vitpain_hf  # noqa: E402

IMAGE, PATCH, HIDDEN = 32, 8, 32
N = (IMAGE // PATCH) ** 2
A = 6
C = 17
LAMBDA_DEFAULTS = dict(
    lambda_pspi=1.0, lambda_au=1.0, lambda_pspi_distill=0.1, lambda_au_distill=0.3, lambda_feature_distill=0.5
)


def tiny_backbone(**overrides) -> ViTConfig:
    values = dict(
        hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        image_size=IMAGE, patch_size=PATCH,
    )
    values.update(overrides)
    return ViTConfig(**values)


def tiny_config(**kwargs) -> ViTPainConfig:
    return ViTPainConfig(backbone_config=tiny_backbone(), **kwargs)


def tiny_model(seed: int = 0, **kwargs) -> ViTPainModel:
    torch.manual_seed(seed)
    return ViTPainModel(tiny_config(**kwargs)).eval()


def pixels(batch: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(seed))


def assert_same_outputs(a: ViTPainOutput, b: ViTPainOutput) -> None:
    for key in ("pspi_logits", "au_intensities", "au_attentions", "cls_embedding"):
        if a[key] is None or key not in a:
            assert b.get(key) is None
            continue
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
def test_config_defaults_and_presets():
    cfg = ViTPainConfig()
    assert cfg.model_type == "vitpain"
    assert isinstance(cfg.backbone_config, ViTConfig)
    assert cfg.num_pspi_classes == 17 and cfg.au_names == ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"]
    assert (cfg.modality, cfg.use_au_query, cfg.use_reference, cfg.use_lora) == ("rgb", True, False, False)
    assert cfg.distill_temperature == 4.0
    assert {k: getattr(cfg, k) for k in LAMBDA_DEFAULTS} == LAMBDA_DEFAULTS
    assert cfg.id2label[16] == "16" and cfg.label2id["7"] == 7
    assert [cfg.id2label[i] for i in range(17)] == PSPI_NAMES  # the dataset's ClassLabel names

    large = ViTPainConfig.from_preset("large")  # the paper's: ViT-L/16 at 224 -> N=196, D=1024
    assert (large.num_patches, large.hidden_size, large.backbone_config.num_hidden_layers) == (196, 1024, 24)
    base = ViTPainConfig.from_preset("base", modality="heatmap")
    assert (base.num_patches, base.hidden_size, base.modality) == (196, 768, "heatmap")
    tiny = ViTPainConfig.from_preset("tiny")
    assert 64 <= tiny.hidden_size <= 128 and tiny.backbone_config.num_hidden_layers <= 4
    assert tiny.image_size == (96, 96) and tiny.patch_grid == (6, 6)
    assert ViTPainConfig.from_preset("tiny", image_size=224).num_patches == 196

    with pytest.raises(ValueError, match="modality"):
        ViTPainConfig(modality="depth")
    with pytest.raises(ValueError, match="preset"):
        ViTPainConfig.from_preset("huge")
    with pytest.raises(ValueError, match="multiple of patch"):
        ViTPainConfig.from_preset("tiny", image_size=100)


def test_config_round_trip_and_other_backbone(tmp_path):
    cfg = ViTPainConfig(
        backbone_config={"model_type": "deit", "hidden_size": HIDDEN, "num_hidden_layers": 1,
                         "num_attention_heads": 4, "intermediate_size": 64, "image_size": IMAGE,
                         "patch_size": PATCH},
        modality="heatmap", use_au_query=False, lambda_au_distill=0.7,
    )
    assert isinstance(cfg.backbone_config, DeiTConfig)
    cfg.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, ViTPainConfig) and isinstance(loaded.backbone_config, DeiTConfig)
    assert loaded.to_diff_dict() == cfg.to_diff_dict()

    # DeiT has two prefix tokens (CLS, distillation); patches are the last N tokens.
    torch.manual_seed(0)
    model = ViTPainModel(cfg).eval()
    out = model(pixels())
    assert out.pspi_logits.shape == (3, C) and out.au_intensities.shape == (3, A)
    assert out.au_attentions is None
    tokens = model.backbone(pixel_values=pixels()).last_hidden_state
    assert tokens.shape[1] == N + 2
    torch.testing.assert_close(out.cls_embedding, tokens[:, 0])


# ---------------------------------------------------------------------------------------------
# Architecture: equations (4)-(12)
# ---------------------------------------------------------------------------------------------
def test_output_shapes():
    model = tiny_model()
    out = model(pixels(batch=2))
    assert isinstance(out, ViTPainOutput)
    assert out.loss is None
    assert out.pspi_logits.shape == (2, C)
    assert out.au_intensities.shape == (2, A)
    assert out.au_attentions.shape == (2, A, N)
    assert out.cls_embedding.shape == (2, HIDDEN)
    assert model.au_queries.queries.shape == (A, HIDDEN)  # Q_AU in R^{6 x D}

    no_query = tiny_model(use_au_query=False)
    out = no_query(pixels(batch=2))
    assert out.au_attentions is None and out.au_intensities.shape == (2, A)
    assert not hasattr(no_query.au_queries, "queries")

    as_tuple = model(pixels(batch=2), return_dict=False)
    assert isinstance(as_tuple, tuple) and as_tuple[0].shape == (2, C)


def test_au_attention_and_heads_match_equations():
    model = tiny_model()
    x = pixels()
    out = model(x)
    with torch.no_grad():
        tokens = model.backbone(pixel_values=x).last_hidden_state.double()
    cls, patches = tokens[:, 0], tokens[:, 1:]  # P in R^{N x D}
    assert patches.shape[1] == N
    q = model.au_queries.queries.detach().double()
    d = patches.shape[-1]

    alpha = torch.zeros(x.shape[0], A, N, dtype=torch.float64)
    feats = torch.zeros(x.shape[0], A, d, dtype=torch.float64)
    for b in range(x.shape[0]):
        for i in range(A):
            scores = [float(q[i] @ patches[b, j]) / math.sqrt(d) for j in range(N)]  # eq. (4)
            exps = [math.exp(s) for s in scores]
            for j in range(N):
                alpha[b, i, j] = exps[j] / sum(exps)  # eq. (5)
            feats[b, i] = sum(alpha[b, i, j] * patches[b, j] for j in range(N))  # eq. (6)

    torch.testing.assert_close(out.au_attentions.double().sum(-1), torch.ones(x.shape[0], A, dtype=torch.float64))
    torch.testing.assert_close(out.au_attentions.double(), alpha, rtol=1e-5, atol=1e-6)

    # Eqs. (7)-(8): Linear -> ReLU -> Linear -> ReLU on each F_AU_i, one scalar per AU.
    l1, l2 = model.au_head[0], model.au_head[2]
    w1, b1, w2, b2 = (t.detach().double() for t in (l1.weight, l1.bias, l2.weight, l2.bias))
    hidden = torch.relu(feats @ w1.T + b1)
    y_au = torch.relu(hidden @ w2.T + b2).squeeze(-1)
    torch.testing.assert_close(out.au_intensities.double(), y_au, rtol=1e-5, atol=1e-6)

    # Eqs. (9)-(12) in eval mode (dropout = identity): LayerNorm, two Linear+GELU, Linear to 17.
    head = model.pspi_head
    ln, fc1, fc2, fc3 = head[0], head[1], head[4], head[7]
    h = F.layer_norm(cls, (d,), ln.weight.detach().double(), ln.bias.detach().double(), ln.eps)
    h = F.gelu(h @ fc1.weight.detach().double().T + fc1.bias.detach().double())
    h = F.gelu(h @ fc2.weight.detach().double().T + fc2.bias.detach().double())
    logits = h @ fc3.weight.detach().double().T + fc3.bias.detach().double()
    assert fc1.out_features > fc2.out_features  # decreasing width
    torch.testing.assert_close(out.pspi_logits.double(), logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.cls_embedding.double(), cls)


def test_au_outputs_nonnegative_and_trainable_at_init():
    for use_au_query in (True, False):
        model = tiny_model(use_au_query=use_au_query).train()
        x = pixels(batch=16, seed=5) * 10
        out = model(x)
        # Every AU output starts in the ReLU's linear region, so the AU loss reaches the queries.
        assert (out.au_intensities > 0).all()
        model(x, au_labels=torch.zeros(16, A)).loss.backward()
        first = model.au_queries.queries if use_au_query else model.au_head[0].weight
        assert first.grad is not None and first.grad.abs().sum() > 0

        # Eq. (8)'s ReLU: pushed negative, outputs clip to exactly 0 and never go below.
        with torch.no_grad():
            model.au_head[2].bias.sub_(model.au_head[2].bias + 0.01 * torch.arange(model.au_head[2].bias.numel()))
            model.au_head[2].weight.mul_(100.0)
        clipped = model(x).au_intensities
        assert (clipped >= 0).all() and (clipped == 0).any() and (clipped > 0).any()


# ---------------------------------------------------------------------------------------------
# Losses: supervised (CE + MSE) and distillation (eqs. 13-15)
# ---------------------------------------------------------------------------------------------
def hand_ce(logits: torch.Tensor, labels: torch.Tensor) -> float:
    logits = logits.detach().double()
    total = 0.0
    for row, y in zip(logits, labels):
        total += -(float(row[y]) - math.log(float(torch.exp(row).sum())))
    return total / len(labels)


def hand_mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a.detach().double() - b.detach().double()) ** 2).sum()) / a.numel()


def hand_kl_t2(student: torch.Tensor, teacher: torch.Tensor, t: float) -> float:
    """T^2 * mean over the batch of sum_k p_t,k (log p_t,k - log p_s,k), with p = softmax(z / T)."""
    total = 0.0
    for s_row, t_row in zip(student.detach().double(), teacher.detach().double()):
        ps = torch.exp(s_row / t) / torch.exp(s_row / t).sum()
        pt = torch.exp(t_row / t) / torch.exp(t_row / t).sum()
        total += float((pt * (pt.log() - ps.log())).sum())
    return t * t * total / student.shape[0]


def test_loss_functions_against_hand_computation():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(5, C, generator=g) * 3, torch.randn(5, C, generator=g) * 3
    y = torch.randint(0, C, (5,), generator=g)
    a, b = torch.rand(5, A, generator=g) * 5, torch.rand(5, A, generator=g) * 5
    for temperature in (1.0, 4.0):
        assert losses.pspi_distill_loss(s, t, temperature).item() == pytest.approx(
            hand_kl_t2(s, t, temperature), rel=1e-5
        )
    assert losses.pspi_distill_loss(s, s, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.pspi_ce_loss(s, y).item() == pytest.approx(hand_ce(s, y), rel=1e-5)
    assert losses.au_mse_loss(a, b).item() == pytest.approx(hand_mse(a, b), rel=1e-5)
    assert losses.au_distill_loss(a, b).item() == pytest.approx(hand_mse(a, b), rel=1e-5)
    assert losses.feature_distill_loss(s, t).item() == pytest.approx(hand_mse(s, t), rel=1e-5)
    terms = {"pspi": torch.tensor(2.0), "au_distill": torch.tensor(10.0)}
    assert losses.total_loss(terms).item() == pytest.approx(2.0 + 0.3 * 10.0)
    with pytest.raises(ValueError, match="unknown loss terms"):
        losses.total_loss({"pspi_kl": torch.tensor(1.0)})


def test_supervised_loss_is_ce_plus_mse():
    model = tiny_model()
    x = pixels(batch=4)
    y = torch.tensor([0, 16, 3, 9])
    aus = torch.rand(4, A, generator=torch.Generator().manual_seed(2)) * 5
    out = model(x, pspi_labels=y, au_labels=aus)
    ce, mse = hand_ce(out.pspi_logits, y), hand_mse(out.au_intensities, aus)
    assert out.loss_pspi.item() == pytest.approx(ce, rel=1e-5)
    assert out.loss_au.item() == pytest.approx(mse, rel=1e-5)
    assert out.loss.item() == pytest.approx(1.0 * ce + 1.0 * mse, rel=1e-5)
    assert out.loss_pspi_distill is None

    only_pspi = model(x, pspi_labels=y)
    assert only_pspi.loss.item() == pytest.approx(ce, rel=1e-5)

    weighted = tiny_model(lambda_pspi=0.5, lambda_au=2.0)(x, pspi_labels=y, au_labels=aus)
    assert weighted.loss.item() == pytest.approx(0.5 * ce + 2.0 * mse, rel=1e-5)

    with pytest.raises(ValueError, match="au_labels must have shape"):
        model(x, au_labels=torch.zeros(4, 5))
    with pytest.raises(ValueError, match="pspi_labels must have shape"):
        model(x, pspi_labels=torch.zeros(4, 1, dtype=torch.long))


def test_distillation_terms_and_total_loss_eq15():
    teacher = tiny_model(seed=7, modality="heatmap")
    student = tiny_model(seed=0).train()
    with torch.no_grad():  # fresh heads give logits ~1e-3; make the two distributions distinct
        for seed, model in ((1, teacher), (2, student)):
            bias = model.pspi_head[7].bias
            bias.copy_(torch.randn(bias.shape, generator=torch.Generator().manual_seed(seed)) * 3)
    x_rgb, x_heat = pixels(batch=4, seed=1), pixels(batch=4, seed=2)
    y = torch.tensor([1, 2, 12, 16])
    aus = torch.rand(4, A, generator=torch.Generator().manual_seed(4)) * 5
    with torch.no_grad():
        t_out = teacher(x_heat)

    torch.manual_seed(11)  # same dropout masks for both student passes
    out = student(x_rgb, pspi_labels=y, au_labels=aus, teacher_outputs=t_out)
    torch.manual_seed(11)
    plain = student(x_rgb)
    torch.testing.assert_close(out.pspi_logits, plain.pspi_logits)

    kl = hand_kl_t2(out.pspi_logits, t_out.pspi_logits, 4.0)
    au_d = hand_mse(out.au_intensities, t_out.au_intensities)
    feat_d = hand_mse(out.cls_embedding, t_out.cls_embedding)
    ce, mse = hand_ce(out.pspi_logits, y), hand_mse(out.au_intensities, aus)
    assert kl > 0.01 and au_d > 0 and feat_d > 0.01
    assert out.loss_pspi_distill.item() == pytest.approx(kl, rel=1e-5)
    assert out.loss_au_distill.item() == pytest.approx(au_d, rel=1e-5)
    assert out.loss_feature_distill.item() == pytest.approx(feat_d, rel=1e-5)
    expected = 1.0 * ce + 1.0 * mse + 0.1 * kl + 0.3 * au_d + 0.5 * feat_d  # eq. (15), paper's lambdas
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)

    # A partial teacher (dict) adds only the terms it provides; gradients never reach the teacher.
    t_logits = t_out.pspi_logits.clone().requires_grad_(True)
    partial = student(x_rgb, teacher_outputs={"pspi_logits": t_logits})
    assert partial.loss_au_distill is None and partial.loss_feature_distill is None
    partial.loss.backward()
    assert t_logits.grad is None
    with pytest.raises(ValueError, match="holds none"):
        student(x_rgb, teacher_outputs={})


def test_feature_distillation_across_widths_uses_projection():
    wide_teacher_cls = torch.randn(3, 48)
    student = tiny_model()
    with pytest.raises(ValueError, match="teacher_hidden_size"):
        student(pixels(), teacher_outputs={"cls_embedding": wide_teacher_cls})
    projected = tiny_model(teacher_hidden_size=48)
    out = projected(pixels(), teacher_outputs={"cls_embedding": wide_teacher_cls})
    proj = projected.cls_projection
    expected = hand_mse(out.cls_embedding @ proj.weight.T + proj.bias, wide_teacher_cls)
    assert out.loss_feature_distill.item() == pytest.approx(expected, rel=1e-5)
    assert out.loss.item() == pytest.approx(0.5 * expected, rel=1e-5)
    assert out.cls_embedding.shape == (3, HIDDEN)  # the output keeps the student's own CLS


# ---------------------------------------------------------------------------------------------
# Hugging Face integration
# ---------------------------------------------------------------------------------------------
def test_save_pretrained_automodel_round_trip_safetensors_only(tmp_path):
    model = tiny_model()
    x = pixels()
    before = model(x)
    model.save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))], files
    for code in ("configuration_vitpain.py", "modeling_vitpain.py", "losses.py"):
        assert code in files  # remote code travels with the weights

    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is ViTPainModel
    assert_same_outputs(before, loaded(x))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_trust_remote_code_without_package(tmp_path):
    model_dir, io_dir = tmp_path / "model", tmp_path / "io"
    io_dir.mkdir()
    model = tiny_model(use_reference=True)
    x, ref = pixels(), pixels(seed=9)
    expected = model(x, reference_pixel_values=ref)
    model.save_pretrained(model_dir)
    torch.save({"x": x, "ref": ref}, io_dir / "inputs.pt")

    result = run_without_vitpain_hf(f"""
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        inputs = torch.load({str(io_dir / "inputs.pt")!r})
        with torch.no_grad():
            out = model(inputs["x"], reference_pixel_values=inputs["ref"])
        torch.save({{k: out[k] for k in ("pspi_logits", "au_intensities", "au_attentions", "cls_embedding")}},
                   {str(io_dir / "outputs.pt")!r})
        print("REMOTE_OK", type(model).__module__)
        """, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "REMOTE_OK" in result.stdout
    remote = torch.load(io_dir / "outputs.pt")
    for key, value in remote.items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0, msg=key)


def test_image_processor_round_trip(tmp_path):
    cfg = tiny_config()
    processor = make_image_processor(cfg)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)),
              Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8))]  # greyscale -> RGB
    direct = processor(images=images, return_tensors="pt")["pixel_values"]
    assert direct.shape == (2, 3, IMAGE, IMAGE)

    ViTPainModel(cfg).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    reloaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is type(processor)
    torch.testing.assert_close(reloaded(images=images, return_tensors="pt")["pixel_values"], direct, rtol=0, atol=0)

    # By hand: bilinear resize, /255, (x - 0.5) / 0.5.
    resized = np.asarray(images[0].resize((IMAGE, IMAGE), Image.BILINEAR), dtype=np.float32) / 255.0
    by_hand = torch.from_numpy(((resized - 0.5) / 0.5).transpose(2, 0, 1))
    torch.testing.assert_close(direct[0], by_hand, rtol=0, atol=1e-5)


def test_load_backbone_weights_from_local_vit(tmp_path):
    torch.manual_seed(123)
    source = ViTModel(tiny_backbone())  # with a pooler: the head is ignored
    source.save_pretrained(tmp_path / "vit")
    assert (tmp_path / "vit" / "model.safetensors").is_file()
    reference = source.state_dict()

    model = tiny_model()
    assert not torch.equal(model.backbone.embeddings.cls_token, reference["embeddings.cls_token"])
    count = load_backbone_weights(model, tmp_path / "vit")
    assert count == len(model.backbone.state_dict())
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0, msg=key)

    # Into a LoRA-wrapped backbone: base weights land under `.base_layer.`.
    pytest.importorskip("peft")
    lora = tiny_model(use_lora=True)
    load_backbone_weights(lora, tmp_path / "vit")
    torch.testing.assert_close(
        lora.backbone.layers[0].attention.q_proj.base_layer.weight, reference["layers.0.attention.q_proj.weight"]
    )

    # A checkpoint of another shape fails loudly.
    ViTModel(tiny_backbone(image_size=48)).save_pretrained(tmp_path / "vit48")
    with pytest.raises(ValueError, match="position_embeddings"):
        load_backbone_weights(tiny_model(), tmp_path / "vit48")


def test_reference_variant(tmp_path):
    model = tiny_model(use_reference=True)
    x, ref = pixels(), pixels(seed=9)
    out = model(x, reference_pixel_values=ref, pspi_labels=torch.tensor([0, 1, 2]))
    assert out.pspi_logits.shape == (3, C) and out.au_attentions.shape == (3, A, N)
    torch.testing.assert_close(out.au_attentions.sum(-1), torch.ones(3, A))
    other = model(x, reference_pixel_values=pixels(seed=10))
    assert not torch.allclose(out.pspi_logits, other.pspi_logits)  # the reference matters
    # Target and reference go through the same backbone (no second copy of its weights).
    assert not any("reference" in n and "backbone" in n for n, _ in model.named_parameters())
    with pytest.raises(ValueError, match="reference_pixel_values"):
        model(x)
    with pytest.raises(ValueError, match="use_reference=False"):
        tiny_model()(x, reference_pixel_values=ref)

    model.save_pretrained(tmp_path)
    assert_same_outputs(out, AutoModel.from_pretrained(tmp_path).eval()(x, reference_pixel_values=ref))


def test_lora_adapters(tmp_path):
    pytest.importorskip("peft")
    from peft.tuners.lora import LoraLayer

    lora = tiny_model(use_lora=True)
    wrapped = [n for n, m in lora.backbone.named_modules() if isinstance(m, LoraLayer)]
    assert len(wrapped) == 2 * 2  # q_proj and v_proj in each of 2 layers
    trainable = {n for n, p in lora.backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert all(p.requires_grad for p in lora.head_parameters())
    # lora_B starts at zero, so the adapted backbone equals the plain one (transformers' init kept it).
    for name, param in lora.backbone.named_parameters():
        if "lora_B" in name:
            assert torch.count_nonzero(param) == 0, name

    plain = ViTPainModel(tiny_config()).eval()
    plain.load_state_dict(
        {k.replace(".base_layer", ""): v for k, v in lora.state_dict().items() if "lora_" not in k}
    )
    x = pixels()
    out = lora(x)
    assert_same_outputs(out, plain(x))

    # Backbone freeze switch only touches the adapters; base weights stay frozen.
    lora.set_backbone_trainable(False)
    assert not any(p.requires_grad for p in lora.backbone.parameters())
    lora.set_backbone_trainable(True)
    assert {n for n, p in lora.backbone.named_parameters() if p.requires_grad} == trainable

    with torch.no_grad():
        for name, param in lora.backbone.named_parameters():
            if "lora_B" in name:
                param.normal_()
    changed = lora(x)
    assert not torch.allclose(changed.pspi_logits, out.pspi_logits)
    lora.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.use_lora
    assert_same_outputs(changed, loaded(x))


def test_parameter_groups_and_freezing():
    model = tiny_model()
    backbone_ids = {id(p) for p in model.backbone_parameters()}
    head_ids = {id(p) for p in model.head_parameters()}
    assert not backbone_ids & head_ids
    assert backbone_ids | head_ids == {id(p) for p in model.parameters()}
    assert id(model.au_queries.queries) in head_ids
    model.set_backbone_trainable(False)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head_parameters())


def test_determinism_under_manual_seed():
    a, b = tiny_model(seed=42), tiny_model(seed=42)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    x = pixels()
    assert_same_outputs(a(x), b(x))
    assert_same_outputs(a(x), a(x))
    c = tiny_model(seed=43)
    assert not torch.equal(a.au_queries.queries, c.au_queries.queries)


def test_predict_helper(tmp_path):
    model = tiny_model()
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]
    results = model.predict(images, batch_size=2)
    assert len(results) == 3
    processor = make_image_processor(model.config)
    direct = model(processor(images=images, return_tensors="pt")["pixel_values"])
    for i, result in enumerate(results):
        probs = np.asarray(result["pspi_probs"])
        assert probs.shape == (C,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert result["pspi"] == int(probs.argmax())
        assert result["expected_pspi"] == pytest.approx(float((probs * np.arange(C)).sum()), rel=1e-6)
        assert list(result["au_intensities"]) == model.config.au_names
        assert result["attention_maps"].shape == (A, IMAGE // PATCH, IMAGE // PATCH)
        np.testing.assert_allclose(result["attention_maps"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
        np.testing.assert_allclose(
            result["attention_maps"].reshape(A, N), direct.au_attentions[i].detach().numpy(), rtol=1e-5, atol=1e-7
        )

    # A saved folder brings its processor along.
    model.save_pretrained(tmp_path)
    make_image_processor(model.config, image_mean=(0.4, 0.4, 0.4)).save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    mean_shifted = loaded.predict(images[:1])[0]
    assert mean_shifted["pspi_probs"] != results[0]["pspi_probs"]

    ref_model = tiny_model(use_reference=True)
    with pytest.raises(ValueError, match="reference_images"):
        ref_model.predict(images)
    assert len(ref_model.predict(images, reference_images=images[::-1])) == 3


def test_package_exports():
    for name in vitpain_hf.__all__:
        assert hasattr(vitpain_hf, name), name
    assert AutoConfig.for_model("vitpain").__class__ is ViTPainConfig
