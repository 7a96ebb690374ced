"""ViTPain configuration (paper section 4): a ViT-family backbone config plus the head options."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PretrainedConfig, ViTConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

PSPI_MAX = 16
DEFAULT_AU_NAMES = ("AU4", "AU6", "AU7", "AU9", "AU10", "AU43")
MODALITIES = ("rgb", "heatmap")

# Backbone shapes of the presets. "large" is the paper's (ViT-L/16, 224x224: N=196, D=1024).
_PRESET_BACKBONES: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
        image_size=96, patch_size=16,
    ),
    "base": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        image_size=224, patch_size=16,
    ),
    "large": dict(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        image_size=224, patch_size=16,
    ),
}
# Hub checkpoints whose shapes match the presets, for `load_backbone_weights` (never fetched here).
PRESET_CHECKPOINTS = {
    "tiny": None,
    "base": "google/vit-base-patch16-224-in21k",
    "large": "google/vit-large-patch16-224-in21k",
}


def _as_backbone_config(backbone_config: PretrainedConfig | dict | None) -> PretrainedConfig:
    if backbone_config is None:
        return ViTConfig()
    if isinstance(backbone_config, PretrainedConfig):
        return backbone_config
    if isinstance(backbone_config, dict):
        cfg = dict(backbone_config)
        model_type = cfg.pop("model_type", "vit")
        if model_type not in CONFIG_MAPPING:
            raise ValueError(f"backbone_config has unknown model_type {model_type!r}")
        cfg.pop("transformers_version", None)
        return CONFIG_MAPPING[model_type](**cfg)
    raise TypeError(f"backbone_config must be a PretrainedConfig, a dict or None, got {type(backbone_config).__name__}")


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


class ViTPainConfig(PretrainedConfig):
    r"""Configuration of [`ViTPainModel`].

    Args:
        backbone_config (`PretrainedConfig` or `dict`, *optional*):
            Any ViT-family vision config (a dict needs `model_type`); defaults to `ViTConfig()` (ViT-B/16, 224).
        num_pspi_classes (`int`, defaults to 17): PSPI scores 0..16.
        au_names (sequence of `str`): the action units regressed, in output order.
        modality (`str`, defaults to `"rgb"`): input the model is trained on, `"rgb"` or `"heatmap"`.
        use_au_query (`bool`, defaults to `True`): AU query tokens cross-attending to patches (eqs. 4-8);
            otherwise the AU head reads the CLS token.
        use_reference (`bool`, defaults to `False`): the reference-based variant; a neutral image of the
            same identity is encoded by the same backbone and cross-attended by the target's tokens.
        head_dropout (`float`): dropout of the PSPI head (eqs. 10-11) and of the reference fusion.
        pspi_hidden_sizes (two `int`, *optional*): widths of eqs. (10)-(11); default (D/2, D/4).
        au_hidden_size (`int`, *optional*): width of eq. (7); default D/2.
        teacher_hidden_size (`int`, *optional*): CLS width of a distillation teacher. When set and
            different from D, a learned linear projection D -> teacher_hidden_size is applied to the
            student's CLS before eq. (14).
        distill_temperature (`float`, defaults to 4.0) and `lambda_*`: equation (15)'s weights.
        use_lora, lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA adapters on the backbone (peft).
        initializer_range (`float`): std of the head initialisation.
        face_crop (`bool`, defaults to `False`): the model was trained on face crops (`vitpain_hf.face_crop`),
            so its image processor and `predict` crop every input around the largest detected face.

    The PSPI classes are the labels: `id2label` defaults to `{0: "0", ..., 16: "16"}`, the names of the
    3DPain dataset's `pspi` ClassLabel, so `pipeline("image-classification")` answers in PSPI levels.
    """

    model_type = "vitpain"
    # Lets `attn_implementation` (and other sub-config logic) reach the backbone config.
    sub_configs_defaults = {"backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="vit")}

    def __init__(
        self,
        backbone_config: PretrainedConfig | dict | None = None,
        num_pspi_classes: int = PSPI_MAX + 1,
        au_names: tuple[str, ...] | list[str] = DEFAULT_AU_NAMES,
        modality: str = "rgb",
        use_au_query: bool = True,
        use_reference: bool = False,
        head_dropout: float = 0.1,
        pspi_hidden_sizes: tuple[int, int] | list[int] | None = None,
        au_hidden_size: int | None = None,
        teacher_hidden_size: int | None = None,
        distill_temperature: float = 4.0,
        lambda_pspi: float = 1.0,
        lambda_au: float = 1.0,
        lambda_pspi_distill: float = 0.1,
        lambda_au_distill: float = 0.3,
        lambda_feature_distill: float = 0.5,
        use_lora: bool = False,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: tuple[str, ...] | list[str] = ("q_proj", "v_proj"),
        initializer_range: float = 0.02,
        face_crop: bool = False,
        **kwargs,
    ):
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        if int(num_pspi_classes) < 2:
            raise ValueError(f"num_pspi_classes must be >= 2, got {num_pspi_classes}")
        if len(au_names) == 0:
            raise ValueError("au_names must name at least one action unit")
        if float(distill_temperature) <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {distill_temperature}")

        self.backbone_config = _as_backbone_config(backbone_config)
        hidden = int(self.backbone_config.hidden_size)
        self.num_pspi_classes = int(num_pspi_classes)
        self.au_names = [str(a) for a in au_names]
        self.modality = modality
        self.use_au_query = bool(use_au_query)
        self.use_reference = bool(use_reference)
        self.head_dropout = float(head_dropout)
        if pspi_hidden_sizes is None:
            pspi_hidden_sizes = (max(hidden // 2, 1), max(hidden // 4, 1))
        if len(pspi_hidden_sizes) != 2:
            raise ValueError(f"pspi_hidden_sizes needs two widths (eqs. 10-11), got {pspi_hidden_sizes}")
        self.pspi_hidden_sizes = [int(w) for w in pspi_hidden_sizes]
        self.au_hidden_size = int(au_hidden_size) if au_hidden_size is not None else max(hidden // 2, 1)
        self.teacher_hidden_size = int(teacher_hidden_size) if teacher_hidden_size is not None else None
        self.distill_temperature = float(distill_temperature)
        self.lambda_pspi = float(lambda_pspi)
        self.lambda_au = float(lambda_au)
        self.lambda_pspi_distill = float(lambda_pspi_distill)
        self.lambda_au_distill = float(lambda_au_distill)
        self.lambda_feature_distill = float(lambda_feature_distill)
        self.use_lora = bool(use_lora)
        self.lora_r = int(lora_r)
        self.lora_alpha = int(lora_alpha)
        self.lora_dropout = float(lora_dropout)
        self.lora_target_modules = [str(m) for m in lora_target_modules]
        self.initializer_range = float(initializer_range)
        self.face_crop = bool(face_crop)

        if kwargs.get("id2label") is None:
            kwargs["id2label"] = {i: str(i) for i in range(self.num_pspi_classes)}
            kwargs["label2id"] = {str(i): i for i in range(self.num_pspi_classes)}
        elif len(kwargs["id2label"]) != self.num_pspi_classes:
            raise ValueError(f"id2label names {len(kwargs['id2label'])} labels for {self.num_pspi_classes} PSPI classes")
        kwargs.setdefault("problem_type", "single_label_classification")
        super().__init__(**kwargs)

    # Derived geometry -------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.backbone_config.hidden_size)

    @property
    def image_size(self) -> tuple[int, int]:
        return _pair(self.backbone_config.image_size)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(h, w): patches per column and per row; N = h * w."""
        (ih, iw), (ph, pw) = self.image_size, _pair(self.backbone_config.patch_size)
        return ih // ph, iw // pw

    @property
    def num_patches(self) -> int:
        h, w = self.patch_grid
        return h * w

    @property
    def num_aus(self) -> int:
        return len(self.au_names)

    @classmethod
    def from_preset(cls, name: str, image_size: int | None = None, **kwargs) -> "ViTPainConfig":
        """`tiny` (CPU: D=128, 4 layers, 96x96 -> N=36), `base` (ViT-B/16, 224), `large` (ViT-L/16, 224).

        `image_size` overrides the preset's input size; other kwargs go to `ViTPainConfig`.
        """
        if name not in _PRESET_BACKBONES:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(_PRESET_BACKBONES)}")
        if "backbone_config" in kwargs:
            raise ValueError("from_preset builds backbone_config itself; pass image_size or use ViTPainConfig(...)")
        backbone = dict(_PRESET_BACKBONES[name])
        if image_size is not None:
            if int(image_size) % backbone["patch_size"]:
                raise ValueError(f"image_size {image_size} is not a multiple of patch size {backbone['patch_size']}")
            backbone["image_size"] = int(image_size)
        return cls(backbone_config=ViTConfig(**backbone), **kwargs)


__all__ = ["ViTPainConfig", "PRESET_CHECKPOINTS", "DEFAULT_AU_NAMES"]
