"""CPU software renderer (numba): cameras, rasterizer, shading and their composition.

``MeshRenderer()(mesh, PerspectiveCamera(yaw_deg=30))`` -> ``RenderOutput`` (rgb, depth, mask,
fragments, per-vertex attribute maps). No OpenGL or pytorch3d needed. ``backends.make_renderer``
picks it or the pytorch3d backend (``pytorch3d_renderer``, GPU, in its own environment).
"""

from .cameras import NEAR_MM, PerspectiveCamera, default_views
from .rasterizer import Fragments, rasterize
from .reference import rasterize_reference
from .renderer import MeshRenderer, RenderOutput
from .shading import Lights, blinn_phong, interpolate, linear_to_srgb, sample_texture, srgb_to_linear

__all__ = [
    "NEAR_MM",
    "Fragments",
    "Lights",
    "MeshRenderer",
    "PerspectiveCamera",
    "RenderOutput",
    "blinn_phong",
    "default_views",
    "interpolate",
    "linear_to_srgb",
    "rasterize",
    "rasterize_reference",
    "sample_texture",
    "srgb_to_linear",
]
