"""3DPain as a typed Hugging Face dataset: schema, writer, on-the-fly builder, importers."""

from .builder import Pain3D, Pain3DConfig
from .features import CONFIGS, frame_features, face_features, features_for, mesh_features

__all__ = ["CONFIGS", "Pain3D", "Pain3DConfig", "face_features", "features_for", "frame_features", "mesh_features"]
