"""ViTPain (paper section 4): a ViT backbone with an AU-query cross-attention branch and a PSPI head.

Relative imports only: `save_pretrained` copies this file (and the files it imports relatively)
next to the weights so the folder loads with `trust_remote_code=True` without this package.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.models.auto.modeling_auto import MODEL_MAPPING
from transformers.utils import ModelOutput

from .configuration_vitpain import ViTPainConfig
from .losses import (
    au_distill_loss,
    au_mse_loss,
    feature_distill_loss,
    pspi_ce_loss,
    pspi_distill_loss,
    total_loss,
)


@dataclass
class ViTPainOutput(ModelOutput):
    r"""Output of [`ViTPainModel`]. B = batch, C = PSPI classes, A = AUs, N = patches, D = hidden size.

    loss (`torch.FloatTensor` of shape `()`, *optional*): eq. (15) over the terms whose inputs were passed.
    pspi_logits (`(B, C)`): PSPI class logits, eq. (12).
    au_intensities (`(B, A)`): AU intensities (>= 0, ReLU), eq. (8).
    au_attentions (`(B, A, N)`, *optional*): alpha of eq. (5), rows sum to 1; `None` without AU queries.
    cls_embedding (`(B, D)`): the CLS token after the backbone (and the reference fusion, if any).
    loss_pspi, loss_au, loss_pspi_distill, loss_au_distill, loss_feature_distill (*optional*):
        the unweighted terms of eq. (15) that were computed.
    """

    loss: torch.FloatTensor | None = None
    pspi_logits: torch.FloatTensor | None = None
    au_intensities: torch.FloatTensor | None = None
    au_attentions: torch.FloatTensor | None = None
    cls_embedding: torch.FloatTensor | None = None
    loss_pspi: torch.FloatTensor | None = None
    loss_au: torch.FloatTensor | None = None
    loss_pspi_distill: torch.FloatTensor | None = None
    loss_au_distill: torch.FloatTensor | None = None
    loss_feature_distill: torch.FloatTensor | None = None


@dataclass
class ViTPainImageClassifierOutput(ModelOutput):
    r"""Output of [`ViTPainForImageClassification`]: the image-classification names for ViTPain's outputs.

    loss (*optional*): cross-entropy of `labels`, plus `lambda_au` x the AU MSE when `au_labels` were given.
    logits (`(B, C)`): PSPI class logits; class k is PSPI k (`config.id2label`).
    au_intensities (`(B, A)`), au_attentions (`(B, A, N)`, *optional*), cls_embedding (`(B, D)`),
    loss_pspi, loss_au (*optional*): as in [`ViTPainOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    au_intensities: torch.FloatTensor | None = None
    au_attentions: torch.FloatTensor | None = None
    cls_embedding: torch.FloatTensor | None = None
    loss_pspi: torch.FloatTensor | None = None
    loss_au: torch.FloatTensor | None = None


def au_query_attention(queries: torch.Tensor, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Equations (4)-(6): single-head scaled dot-product cross-attention of A queries over N patches.

    queries (A, D), patches (B, N, D) -> features (B, A, D), alpha (B, A, N) with rows summing to 1.
    No projections: A_ij = Q_i . P_j / sqrt(D), alpha = softmax_j(A), F_i = sum_j alpha_ij P_j.
    """
    scores = torch.einsum("ad,bnd->ban", queries.to(patches.dtype), patches) / math.sqrt(patches.shape[-1])
    alpha = scores.softmax(dim=-1, dtype=torch.float32).to(patches.dtype)
    return torch.bmm(alpha, patches), alpha


class ViTPainAUQueries(nn.Module):
    """Learnable AU query tokens Q_AU (A, D) and their cross-attention to the patch tokens."""

    def __init__(self, num_aus: int, hidden_size: int):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(num_aus, hidden_size))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return au_query_attention(self.queries, patches)


class ViTPainReferenceFusion(nn.Module):
    """Reference variant: target tokens (queries) cross-attend to the neutral reference's tokens.

    tokens = LayerNorm(target + Dropout(MultiHeadAttention(q=target, k=reference, v=reference))).
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float, eps: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(hidden_size, num_heads, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.layernorm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(target, reference, reference, need_weights=False)
        return self.layernorm(target + self.dropout(attended))


def _build_backbone(config) -> PreTrainedModel:
    """The transformers base model for a vision config, without a pooler when the class has one."""
    try:
        model_cls = MODEL_MAPPING[type(config)]
    except KeyError as err:
        raise ValueError(f"no transformers base model for backbone config {type(config).__name__}") from err
    kwargs = {}
    if "add_pooling_layer" in inspect.signature(model_cls.__init__).parameters:
        kwargs["add_pooling_layer"] = False
    return model_cls(config, **kwargs)


def _inject_lora(backbone: nn.Module, config: ViTPainConfig) -> nn.Module:
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:  # optional dependency
        raise ImportError("use_lora=True needs peft: pip install peft") from err
    lora_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
    )
    backbone = inject_adapter_in_model(lora_config, backbone)
    # LoRA trains only the adapters; peft initialised them (lora_B = 0, so the wrapped backbone starts
    # identical to the plain one). Flag them so transformers' init pass leaves them alone.
    for name, module in backbone.named_modules():
        if "lora_" in name:
            module._is_hf_initialized = True
            for param in module.parameters(recurse=False):
                param._is_hf_initialized = True
    for name, param in backbone.named_parameters():
        param.requires_grad = "lora_" in name
    return backbone


AU_OUTPUT_BIAS_INIT = 1.0  # initial AU intensity; see `_init_weights`
REMOTE_AUTO_MAP = {
    "AutoModel": "modeling_vitpain.ViTPainModel",
    "AutoModelForImageClassification": "modeling_vitpain.ViTPainForImageClassification",
    # In the model's config rather than preprocessor_config.json: an image processor's auto_map makes
    # pipelines look for a matching remote video processor too, and ask whether to trust the code.
    "AutoImageProcessor": "processing_vitpain.ViTPainImageProcessor",
}


class ViTPainPreTrainedModel(PreTrainedModel):
    config_class = ViTPainConfig
    config: ViTPainConfig
    base_model_prefix = "vitpain"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["ViTEmbeddings", "ViTLayer"]
    _supports_sdpa = True

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`; the folder's `auto_map` names both heads, which share one set of
        weights, so it loads as `AutoModel` or `AutoModelForImageClassification` with `trust_remote_code`, and
        so does the image processor saved beside it."""
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **REMOTE_AUTO_MAP}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module):
        # Backbone modules are initialised by the backbone's own `_init_weights` (transformers
        # dispatches to each sub-`PreTrainedModel`); this covers the heads.
        std = self.config.initializer_range
        if isinstance(module, ViTPainAUQueries):
            # Unit-scale queries (like nn.Embedding's default) so the initial attention of eq. (5)
            # over post-LayerNorm patch tokens is not uniform.
            init.normal_(module.queries, mean=0.0, std=1.0)
        elif isinstance(module, nn.MultiheadAttention):
            module._reset_parameters()
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                au_head = getattr(self, "au_head", None)
                if au_head is not None and module is au_head[2]:
                    # Eq. (8)'s output ReLU: with a zero bias many (often all) AU outputs start at exactly
                    # 0, where the ReLU passes no gradient and the AU branch never trains. A positive
                    # bias starts every output in the ReLU's linear region.
                    init.constant_(module.bias, AU_OUTPUT_BIAS_INIT)
                else:
                    init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class ViTPainModel(ViTPainPreTrainedModel):
    r"""ViTPain: PSPI classification (17 classes) and AU intensity regression from one face image.

    `backbone` is a transformers vision model (`ViTModel` by default) without a pooler. Its last hidden
    state is split into the CLS token (first token) and the N patch tokens (last N tokens); backbones
    without any prefix token use the mean patch token as "CLS".
    """

    def __init__(self, config: ViTPainConfig):
        super().__init__(config)
        bb = config.backbone_config
        hidden = config.hidden_size
        eps = float(getattr(bb, "layer_norm_eps", 1e-12))

        self.backbone = _build_backbone(bb)
        if config.use_lora:
            self.backbone = _inject_lora(self.backbone, config)

        self.reference_fusion = (
            ViTPainReferenceFusion(hidden, int(getattr(bb, "num_attention_heads", 1)), config.head_dropout, eps)
            if config.use_reference
            else None
        )

        # AU branch, eqs. (4)-(8). With queries: one shared MLP maps each F_AU_i (D) to one intensity.
        # Without: the MLP maps the CLS token to all A intensities.
        self.au_queries = ViTPainAUQueries(config.num_aus, hidden) if config.use_au_query else None
        au_out = 1 if config.use_au_query else config.num_aus
        self.au_head = nn.Sequential(
            nn.Linear(hidden, config.au_hidden_size),  # eq. (7)
            nn.ReLU(),
            nn.Linear(config.au_hidden_size, au_out),  # eq. (8)
            nn.ReLU(),
        )

        # PSPI branch, eqs. (9)-(12), on the CLS token.
        h1, h2 = config.pspi_hidden_sizes
        self.pspi_head = nn.Sequential(
            nn.LayerNorm(hidden, eps=eps),  # eq. (9)
            nn.Linear(hidden, h1),  # eq. (10)
            nn.GELU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(h1, h2),  # eq. (11)
            nn.GELU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(h2, config.num_pspi_classes),  # eq. (12)
        )

        # Feature distillation across widths (eq. 14): a learned projection of the student's CLS.
        self.cls_projection = (
            nn.Linear(hidden, config.teacher_hidden_size)
            if config.teacher_hidden_size is not None and config.teacher_hidden_size != hidden
            else None
        )

        self.post_init()

    # ------------------------------------------------------------------------------------------
    def _encode(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Backbone tokens (B, L, D) for pixel values (B, 3, H, W)."""
        if pixel_values.ndim != 4:
            raise ValueError(f"pixel_values must be (B, C, H, W), got shape {tuple(pixel_values.shape)}")
        return self.backbone(pixel_values=pixel_values).last_hidden_state

    def _split_tokens(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) -> CLS (B, D), patches (B, N, D)."""
        n = self.config.num_patches
        num_prefix = tokens.shape[1] - n
        if num_prefix < 0:
            raise ValueError(
                f"backbone returned {tokens.shape[1]} tokens, fewer than the {n} patches its config implies"
            )
        cls = tokens[:, 0] if num_prefix > 0 else tokens.mean(dim=1)
        return cls, tokens[:, num_prefix:]

    def forward(
        self,
        pixel_values: torch.Tensor,
        pspi_labels: torch.Tensor | None = None,
        au_labels: torch.Tensor | None = None,
        reference_pixel_values: torch.Tensor | None = None,
        teacher_outputs: ViTPainOutput | dict[str, torch.Tensor] | None = None,
        return_dict: bool | None = None,
    ) -> ViTPainOutput | tuple:
        r"""
        pixel_values (`(B, 3, H, W)`): the processed target images.
        pspi_labels (`(B,)` int, *optional*): PSPI classes; adds the cross-entropy term.
        au_labels (`(B, A)` float, *optional*): AU intensities; adds the AU MSE term.
        reference_pixel_values (`(B, 3, H, W)`, *optional*): neutral frames of the same identities;
            required when `config.use_reference`.
        teacher_outputs (*optional*): a teacher's `ViTPainOutput` (or a dict with some of `pspi_logits`,
            `au_intensities`, `cls_embedding`) for the same batch; adds the distillation terms present.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch = pixel_values.shape[0]

        if self.config.use_reference:
            if reference_pixel_values is None:
                raise ValueError("this model uses a neutral reference (use_reference=True): pass reference_pixel_values")
            if reference_pixel_values.shape != pixel_values.shape:
                raise ValueError(
                    f"reference_pixel_values shape {tuple(reference_pixel_values.shape)} must match "
                    f"pixel_values shape {tuple(pixel_values.shape)}"
                )
            # Same backbone, one pass over target and reference.
            both = self._encode(torch.cat([pixel_values, reference_pixel_values], dim=0))
            tokens = self.reference_fusion(both[:batch], both[batch:])
        else:
            if reference_pixel_values is not None:
                raise ValueError("reference_pixel_values given but the model was built with use_reference=False")
            tokens = self._encode(pixel_values)

        cls, patches = self._split_tokens(tokens)

        au_attentions = None
        if self.au_queries is not None:
            au_features, au_attentions = self.au_queries(patches)  # (B, A, D), (B, A, N)
            au_intensities = self.au_head(au_features).squeeze(-1)  # (B, A)
        else:
            au_intensities = self.au_head(cls)  # (B, A)
        pspi_logits = self.pspi_head(cls)  # (B, C)

        terms: dict[str, torch.Tensor] = {}
        if pspi_labels is not None:
            if pspi_labels.shape != (batch,):
                raise ValueError(f"pspi_labels must have shape ({batch},), got {tuple(pspi_labels.shape)}")
            terms["pspi"] = pspi_ce_loss(pspi_logits, pspi_labels)
        if au_labels is not None:
            if tuple(au_labels.shape) != tuple(au_intensities.shape):
                raise ValueError(
                    f"au_labels must have shape {tuple(au_intensities.shape)} ({self.config.au_names}), "
                    f"got {tuple(au_labels.shape)}"
                )
            terms["au"] = au_mse_loss(au_intensities, au_labels)
        if teacher_outputs is not None:
            terms.update(self._distillation_terms(pspi_logits, au_intensities, cls, teacher_outputs))

        cfg = self.config
        loss = (
            total_loss(
                terms,
                lambda_pspi=cfg.lambda_pspi,
                lambda_au=cfg.lambda_au,
                lambda_pspi_distill=cfg.lambda_pspi_distill,
                lambda_au_distill=cfg.lambda_au_distill,
                lambda_feature_distill=cfg.lambda_feature_distill,
            )
            if terms
            else None
        )
        output = ViTPainOutput(
            loss=loss,
            pspi_logits=pspi_logits,
            au_intensities=au_intensities,
            au_attentions=au_attentions,
            cls_embedding=cls,
            **{f"loss_{name}": value for name, value in terms.items()},
        )
        return output if return_dict else output.to_tuple()

    def _distillation_terms(self, pspi_logits, au_intensities, cls, teacher) -> dict[str, torch.Tensor]:
        """The terms of section 4.2 for which the teacher provides outputs."""
        get = teacher.get if hasattr(teacher, "get") else lambda key: getattr(teacher, key, None)
        terms = {}
        t_logits, t_aus, t_cls = get("pspi_logits"), get("au_intensities"), get("cls_embedding")
        if t_logits is None and t_aus is None and t_cls is None:
            raise ValueError("teacher_outputs holds none of pspi_logits, au_intensities, cls_embedding")
        if t_logits is not None:
            if t_logits.shape != pspi_logits.shape:
                raise ValueError(f"teacher pspi_logits {tuple(t_logits.shape)} != student {tuple(pspi_logits.shape)}")
            terms["pspi_distill"] = pspi_distill_loss(pspi_logits, t_logits, self.config.distill_temperature)
        if t_aus is not None:
            if t_aus.shape != au_intensities.shape:
                raise ValueError(
                    f"teacher au_intensities {tuple(t_aus.shape)} != student {tuple(au_intensities.shape)}"
                )
            terms["au_distill"] = au_distill_loss(au_intensities, t_aus)
        if t_cls is not None:
            student_cls = self.cls_projection(cls) if self.cls_projection is not None else cls
            if t_cls.shape != student_cls.shape:
                raise ValueError(
                    f"teacher cls_embedding {tuple(t_cls.shape)} != student {tuple(student_cls.shape)}; for a "
                    "teacher of another width set config.teacher_hidden_size to add a learned projection"
                )
            terms["feature_distill"] = feature_distill_loss(student_cls, t_cls)
        return terms

    # Training helpers ---------------------------------------------------------------------------
    def backbone_parameters(self) -> list[nn.Parameter]:
        """Backbone parameters (LoRA adapters only when `use_lora`), e.g. for a lower learning rate."""
        return [p for n, p in self.backbone.named_parameters() if not self.config.use_lora or "lora_" in n]

    def head_parameters(self) -> list[nn.Parameter]:
        """Everything outside the backbone: AU queries, heads, reference fusion, CLS projection."""
        return [p for n, p in self.named_parameters() if not n.startswith("backbone.")]

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze the backbone (with LoRA: its adapters; base weights stay frozen)."""
        for param in self.backbone_parameters():
            param.requires_grad = bool(trainable)

    # Inference ----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self,
        images,
        processor=None,
        reference_images=None,
        batch_size: int = 32,
        face_crop: bool | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Assess pain in one image or a list of them (PIL images, arrays, or file paths).

        One dict per image (a single dict for a single image): `pspi_probs` (C floats), `pspi` (argmax class),
        `label` (its `config.id2label` name), `expected_pspi` (sum_k k * p_k), `au_intensities` ({AU name: float}),
        `attention_maps` (np.ndarray (A, h, w) over the patch grid, rows of eq. (5); `None` without AU queries),
        `au_names`, and `face_box` ((left, top, right, bottom) of the face the model saw, in the image's pixels;
        `None` when the whole image was used).
        `face_crop` defaults to `config.face_crop`: a model trained on face crops sees the largest face of
        each image cropped the same way (dlib); an image without a face raises `NoFaceError` naming it.
        `processor` defaults to the one saved with the model, else `make_image_processor(config)`.
        """
        import numpy as np

        from .face_crop import crop_faces

        single = not isinstance(images, (list, tuple))
        images = [_as_rgb(im) for im in ([images] if single else images)]
        if reference_images is not None:
            ref_single = not isinstance(reference_images, (list, tuple))
            reference_images = [_as_rgb(im) for im in ([reference_images] if ref_single else reference_images)]
        if self.config.use_reference and reference_images is None:
            raise ValueError("this model uses a neutral reference: pass reference_images (one per image)")
        if reference_images is not None and len(reference_images) != len(images):
            raise ValueError(f"got {len(reference_images)} reference_images for {len(images)} images")
        processor = processor if processor is not None else self._default_processor()
        # The crop happens here (to report each face box), so the processor must not crop again.
        no_crop = {"face_crop": False} if "face_crop" in getattr(processor, "_valid_kwargs_names", ()) else {}
        boxes: list = [None] * len(images)
        if face_crop if face_crop is not None else getattr(self.config, "face_crop", False):
            images, boxes = map(list, zip(*crop_faces(images)))
            if reference_images is not None and self.config.use_reference:
                reference_images = [r for r, _ in crop_faces(reference_images)]

        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        dtype = next(self.parameters()).dtype
        h, w = self.config.patch_grid
        classes = torch.arange(self.config.num_pspi_classes, dtype=torch.float32)
        results: list[dict[str, Any]] = []
        try:
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                pixels = processor(images=chunk, return_tensors="pt", **no_crop)["pixel_values"].to(device, dtype)
                ref = None
                if reference_images is not None and self.config.use_reference:
                    ref_chunk = reference_images[start : start + batch_size]
                    ref = processor(images=ref_chunk, return_tensors="pt", **no_crop)["pixel_values"].to(device, dtype)
                out = ViTPainModel.forward(self, pixel_values=pixels, reference_pixel_values=ref, return_dict=True)
                probs = out.pspi_logits.float().softmax(-1).cpu()
                aus = out.au_intensities.float().cpu()
                maps = None
                if out.au_attentions is not None:
                    maps = out.au_attentions.float().cpu().reshape(len(chunk), self.config.num_aus, h, w).numpy()
                for i in range(len(chunk)):
                    k = int(probs[i].argmax())
                    results.append(
                        {
                            "pspi_probs": probs[i].tolist(),
                            "pspi": k,
                            "label": self.config.id2label.get(k, str(k)),
                            "expected_pspi": float((probs[i] * classes).sum()),
                            "au_intensities": dict(zip(self.config.au_names, aus[i].tolist())),
                            "attention_maps": None if maps is None else np.ascontiguousarray(maps[i]),
                            "au_names": list(self.config.au_names),
                            "face_box": boxes[start + i],
                        }
                    )
        finally:
            self.train(was_training)
        return results[0] if single else results

    def _default_processor(self):
        path = self.config.name_or_path
        if path and os.path.isfile(os.path.join(path, "preprocessor_config.json")):
            from transformers import AutoImageProcessor

            return AutoImageProcessor.from_pretrained(path)
        from .processing_vitpain import make_image_processor

        return make_image_processor(self.config)


def _as_rgb(image):
    """A PIL image, an array or a file path -> an RGB PIL image (what the face detector and processor take)."""
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as im:
            return im.convert("RGB")
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if hasattr(image, "__array__"):
        import numpy as np

        array = np.asarray(image)
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
            array = array.transpose(1, 2, 0)  # channels first -> last
        return Image.fromarray(array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array).convert("RGB")
    raise TypeError(f"expected a PIL image, an array or a file path, got {type(image).__name__}")


class ViTPainForImageClassification(ViTPainModel):
    r"""ViTPain under the image-classification interface: `labels` in, `logits` out.

    The same modules and parameter names as [`ViTPainModel`] (it is one), so one saved folder loads as
    either class; this one is what `AutoModelForImageClassification`, `pipeline("image-classification")`,
    `Trainer` and `evaluate.evaluator("image-classification")` use. AU intensities and AU attentions stay
    in the output; distillation stays with `ViTPainModel`.
    """

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        au_labels: torch.Tensor | None = None,
        reference_pixel_values: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> ViTPainImageClassifierOutput | tuple:
        r"""
        pixel_values (`(B, 3, H, W)`): the processed images.
        labels (`(B,)` int, *optional*): PSPI classes; the loss is their cross-entropy (times `lambda_pspi`).
        au_labels (`(B, A)` float, *optional*): AU intensities; adds `lambda_au` x their MSE to the loss.
        reference_pixel_values (`(B, 3, H, W)`, *optional*): neutral frames, for the reference variant.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        out = super().forward(pixel_values, pspi_labels=labels, au_labels=au_labels,
                              reference_pixel_values=reference_pixel_values, return_dict=True)
        output = ViTPainImageClassifierOutput(
            loss=out.loss, logits=out.pspi_logits, au_intensities=out.au_intensities, au_attentions=out.au_attentions,
            cls_embedding=out.cls_embedding, loss_pspi=out.loss_pspi, loss_au=out.loss_au,
        )
        return output if return_dict else output.to_tuple()


def load_backbone_weights(model: ViTPainModel, path_or_hub_id: str | os.PathLike, **from_pretrained_kwargs) -> int:
    """Copy a pretrained checkpoint's weights (safetensors only) into `model.backbone`; returns the tensor count.

    The checkpoint is read with the backbone's own class (`ViTModel.from_pretrained(..., add_pooling_layer=False)`
    for ViT), which understands legacy on-disk parameter names, and its `state_dict()` is copied. Any head
    in the checkpoint (pooler, classifier) is ignored. Shapes must match: same width, depth, patch size and
    image size (position embeddings). Works before or after LoRA injection (base weights are copied).
    """
    if not isinstance(model, ViTPainModel):
        raise TypeError(f"load_backbone_weights needs a ViTPainModel, got {type(model).__name__}")
    base_cls = MODEL_MAPPING[type(model.config.backbone_config)]
    kwargs = {"use_safetensors": True, **from_pretrained_kwargs}
    if "add_pooling_layer" in inspect.signature(base_cls.__init__).parameters:
        kwargs.setdefault("add_pooling_layer", False)
    source = base_cls.from_pretrained(os.fspath(path_or_hub_id), **kwargs)
    source_state = source.state_dict()
    target_state = model.backbone.state_dict()

    mapped: dict[str, torch.Tensor] = {}
    for key, value in source_state.items():
        if key not in target_state:
            # After LoRA injection the wrapped Linear keeps its weights under `.base_layer.`.
            prefix, _, leaf = key.rpartition(".")
            lora_key = f"{prefix}.base_layer.{leaf}"
            if lora_key not in target_state:
                continue  # a head of the checkpoint (e.g. pooler) the backbone lacks
            key = lora_key
        if target_state[key].shape != value.shape:
            raise ValueError(
                f"checkpoint tensor {key} has shape {tuple(value.shape)}, backbone expects "
                f"{tuple(target_state[key].shape)}: the checkpoint's config (hidden size, patch size, "
                "image size) must match the model's backbone_config"
            )
        mapped[key] = value
    missing = [k for k in target_state if k not in mapped and "lora_" not in k]
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} backbone tensors, e.g. {missing[:5]}")
    model.backbone.load_state_dict(mapped, strict=False)
    return len(mapped)


__all__ = [
    "ViTPainForImageClassification",
    "ViTPainImageClassifierOutput",
    "ViTPainModel",
    "ViTPainOutput",
    "ViTPainPreTrainedModel",
    "au_query_attention",
    "load_backbone_weights",
]
