"""The image processor that goes with a ViTPain model: face crop (when the model was trained on crops),
resize to the backbone's input, rescale, normalize.

Save it next to the model (`processor.save_pretrained(model_dir)` writes `preprocessor_config.json`)
and `AutoImageProcessor.from_pretrained(model_dir)` rebuilds the same preprocessing, so
`pipeline("image-classification", model=model_dir)` sees inputs exactly as the model was trained.
"""

from __future__ import annotations

from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD
from transformers.processing_utils import ImagesKwargs

# Imported directly: torchvision is absent here, so `ViTImageProcessor(...)` would fall back to this
# class with a warning anyway.
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from .configuration_vitpain import ViTPainConfig
from .face_crop import crop_faces


class ViTPainImageProcessorKwargs(ImagesKwargs, total=False):
    face_crop: bool


class ViTPainImageProcessor(ViTImageProcessorPil):
    """ViT preprocessing, preceded by `vitpain_hf.face_crop` when `face_crop` is set.

    With `face_crop`, each image is cropped around its largest dlib face (the framing the model was
    trained on); an image without a face raises `NoFaceError` (a `ValueError`) naming it.
    """

    valid_kwargs = ViTPainImageProcessorKwargs
    face_crop = False

    def _preprocess_image_like_inputs(self, images, *args, face_crop: bool = False, **kwargs) -> BatchFeature:
        if face_crop:
            from transformers.image_transforms import to_pil_image

            flat = self._prepare_images_structure(images)
            images = [crop for crop, _ in crop_faces([to_pil_image(im).convert("RGB") for im in flat])]
        return super()._preprocess_image_like_inputs(images, *args, **kwargs)

    def to_dict(self) -> dict:
        # No `image_processor_type`: AutoImageProcessor then takes the class from the model's config, whose
        # auto_map names it, so the folder also loads with trust_remote_code where vitpain_hf is not installed.
        # (An auto_map in preprocessor_config.json would make pipelines probe for a remote video processor.)
        out = super().to_dict()
        out.pop("image_processor_type", None)
        return out


def make_image_processor(
    config: ViTPainConfig,
    image_mean: tuple[float, ...] | list[float] = IMAGENET_STANDARD_MEAN,
    image_std: tuple[float, ...] | list[float] = IMAGENET_STANDARD_STD,
    face_crop: bool | None = None,
) -> ViTPainImageProcessor:
    """An image processor producing `pixel_values` of shape (B, 3, H, W) for `config`'s backbone.

    Images are face-cropped when `face_crop` (default: `config.face_crop`), converted to RGB, resized
    (bilinear) to the backbone's `image_size`, scaled to [0, 1] and normalised with `image_mean`/`image_std`
    (default 0.5/0.5, as Google's ViT checkpoints were trained). The same processor serves both
    modalities (photos and colorized heatmaps).
    """
    if not isinstance(config, ViTPainConfig):
        raise TypeError(f"make_image_processor needs a ViTPainConfig, got {type(config).__name__}")
    height, width = config.image_size
    return ViTPainImageProcessor(
        do_resize=True,
        size={"height": height, "width": width},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(image_mean),
        image_std=list(image_std),
        do_convert_rgb=True,
        face_crop=bool(config.face_crop if face_crop is None else face_crop),
    )


__all__ = ["ViTPainImageProcessor", "make_image_processor"]
