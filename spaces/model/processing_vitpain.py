"""The image processor that goes with a ViTPain model: resize to the backbone's input, rescale, normalize.

Save it next to the model (`processor.save_pretrained(model_dir)` writes `preprocessor_config.json`)
and `AutoImageProcessor.from_pretrained(model_dir)` rebuilds the same preprocessing.
"""

from __future__ import annotations

from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD

# Imported directly: torchvision is absent here, so `ViTImageProcessor(...)` would fall back to this
# class with a warning anyway.
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from .configuration_vitpain import ViTPainConfig


def make_image_processor(
    config: ViTPainConfig,
    image_mean: tuple[float, ...] | list[float] = IMAGENET_STANDARD_MEAN,
    image_std: tuple[float, ...] | list[float] = IMAGENET_STANDARD_STD,
) -> ViTImageProcessorPil:
    """An image processor producing `pixel_values` of shape (B, 3, H, W) for `config`'s backbone.

    Images are converted to RGB, resized (bilinear) to the backbone's `image_size`, scaled to [0, 1]
    and normalised with `image_mean`/`image_std` (default 0.5/0.5, as Google's ViT checkpoints were
    trained). The same processor serves both modalities (photos and colorized heatmaps).
    """
    if not isinstance(config, ViTPainConfig):
        raise TypeError(f"make_image_processor needs a ViTPainConfig, got {type(config).__name__}")
    height, width = config.image_size
    return ViTImageProcessorPil(
        do_resize=True,
        size={"height": height, "width": width},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(image_mean),
        image_std=list(image_std),
        do_convert_rgb=True,
    )


__all__ = ["make_image_processor"]
