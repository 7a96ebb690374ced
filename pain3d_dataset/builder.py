"""``Pain3D``: a ``datasets.GeneratorBasedBuilder`` that generates 3DPain on the fly.

    from pain3d_dataset import Pain3D
    b = Pain3D(config_name="frames", identities=12, expressions=4, size=128, cache_dir=...)
    b.download_and_prepare()
    ds = b.as_dataset()          # DatasetDict with train/validation/test, split by identity

Same features, splits and rows as ``pain3d generate --out DIR`` with the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets

from generation.pipeline import GenerationConfig, Generator

from .features import features_for
from .rows import frame_rows, mesh_rows
from .features import SPLITS
from .splits import demographic_splits

_DESCRIPTION = (
    "Synthetic 3D pain faces with exact FACS AUs (AU4, AU6, AU7, AU9, AU10, AU43), PSPI labels, "
    "paired neutral frames and pain-region heatmaps, generated on the CPU by pain3d."
)


@dataclass
class Pain3DConfig(datasets.BuilderConfig):
    """Generation settings; ``name`` is the config: "frames" (default) or "meshes"."""

    identities: int = 8
    expressions: int = 10
    views: int = 3
    size: int = 256
    seed: int = 0
    distractor_probability: float = 0.0

    def generation_config(self) -> GenerationConfig:
        return GenerationConfig(
            identities=self.identities,
            expressions=self.expressions,
            views=GenerationConfig.view_yaws(self.views),
            size=self.size,
            seed=self.seed,
            distractor_probability=self.distractor_probability,
        )


class Pain3D(datasets.GeneratorBasedBuilder):
    """Generates the ``frames`` or ``meshes`` config of 3DPain."""

    BUILDER_CONFIG_CLASS = Pain3DConfig
    BUILDER_CONFIGS = [Pain3DConfig(name="frames"), Pain3DConfig(name="meshes")]
    DEFAULT_CONFIG_NAME = "frames"

    def _info(self) -> datasets.DatasetInfo:
        cfg = self.config.generation_config()
        return datasets.DatasetInfo(description=_DESCRIPTION, features=features_for(self.config.name, cfg.views))

    def _split_generators(self, dl_manager):
        splits = demographic_splits(self.config.identities, self.config.seed)
        return [
            datasets.SplitGenerator(name=s, gen_kwargs={"indices": [i for i, t in enumerate(splits) if t == s]})
            for s in SPLITS
        ]

    def _generate_examples(self, indices: list[int]):
        cfg = self.config.generation_config()
        gen = Generator(cfg)
        for i in indices:
            res = gen.identity(i)
            if self.config.name == "meshes":
                rows = mesh_rows(res, cfg.face_model)
            else:
                rows = frame_rows(res, cfg.views, cfg.heatmap_scale_mm)
            for k, row in enumerate(rows):
                yield f"{res.name}-{k}", row
