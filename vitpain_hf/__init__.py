"""ViTPain as a Hugging Face transformers model (paper section 4).

Importing this package registers `vitpain` with `AutoConfig`, `AutoModel` (`ViTPainModel`),
`AutoModelForImageClassification` (`ViTPainForImageClassification`) and `AutoImageProcessor`
(`ViTPainImageProcessor`); `save_pretrained` folders also carry the code (`auto_map`) and load with
`trust_remote_code=True` where it is not installed.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

from .configuration_vitpain import DEFAULT_AU_NAMES, PRESET_CHECKPOINTS, ViTPainConfig
from .losses import (
    au_distill_loss,
    au_mse_loss,
    feature_distill_loss,
    pspi_ce_loss,
    pspi_distill_loss,
    total_loss,
)
from .face_crop import NoFaceError
from .modeling_vitpain import (
    ViTPainForImageClassification,
    ViTPainImageClassifierOutput,
    ViTPainModel,
    ViTPainOutput,
    ViTPainPreTrainedModel,
    au_query_attention,
    load_backbone_weights,
)
from .processing_vitpain import ViTPainImageProcessor, make_image_processor

AutoConfig.register("vitpain", ViTPainConfig, exist_ok=True)
AutoModel.register(ViTPainConfig, ViTPainModel, exist_ok=True)
AutoModelForImageClassification.register(ViTPainConfig, ViTPainForImageClassification, exist_ok=True)
AutoImageProcessor.register(ViTPainConfig, image_processor_classes={"pil": ViTPainImageProcessor}, exist_ok=True)
ViTPainConfig.register_for_auto_class()
ViTPainModel.register_for_auto_class("AutoModel")
ViTPainForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "DEFAULT_AU_NAMES",
    "NoFaceError",
    "PRESET_CHECKPOINTS",
    "ViTPainConfig",
    "ViTPainForImageClassification",
    "ViTPainImageClassifierOutput",
    "ViTPainImageProcessor",
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
