"""ViTPain as a Hugging Face transformers model (paper section 4).

Importing this package registers `vitpain` with `AutoConfig`/`AutoModel`; `save_pretrained` folders
also carry the code (`auto_map`) and load with `trust_remote_code=True` where it is not installed.
"""

from transformers import AutoConfig, AutoModel

from .configuration_vitpain import DEFAULT_AU_NAMES, PRESET_CHECKPOINTS, ViTPainConfig
from .losses import (
    au_distill_loss,
    au_mse_loss,
    feature_distill_loss,
    pspi_ce_loss,
    pspi_distill_loss,
    total_loss,
)
from .modeling_vitpain import (
    ViTPainModel,
    ViTPainOutput,
    ViTPainPreTrainedModel,
    au_query_attention,
    load_backbone_weights,
)
from .processing_vitpain import make_image_processor

AutoConfig.register("vitpain", ViTPainConfig, exist_ok=True)
AutoModel.register(ViTPainConfig, ViTPainModel, exist_ok=True)
ViTPainConfig.register_for_auto_class()
ViTPainModel.register_for_auto_class("AutoModel")

__all__ = [
    "DEFAULT_AU_NAMES",
    "PRESET_CHECKPOINTS",
    "ViTPainConfig",
    "ViTPainModel",
    "ViTPainOutput",
    "ViTPainPreTrainedModel",
    "au_distill_loss",
    "au_mse_loss",
    "au_query_attention",
    "feature_distill_loss",
    "load_backbone_weights",
    "make_image_processor",
    "pspi_ce_loss",
    "pspi_distill_loss",
    "total_loss",
]
