"""Writes docs/inpaint_mask.jpg: what ``--inpainter diffusion`` repaints (README, diffusion section).

    python docs/inpaint_mask.py

One identity at yaw 0 and 30 degrees. Columns: the rendered frame; the inpainting mask over it
(red = repainted: everything outside the renderer's silhouette, eroded by inpaint_margin px;
the scalp, hair and neck are inside the silhouette and kept); the frame after the inpainter,
here with tiny random-weight pipelines (generation.diffusion_testing), so the repainted pixels
are noise, not a background: the figure shows where the inpainter paints, not what.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    import torch

    from generation.diffusion import DiffusionConfig, Inpainter, build_prompt
    from generation.diffusion_testing import tiny_pipelines
    from generation.pipeline import BackendAppearance, GenerationConfig, Generator

    pipes = tiny_pipelines()
    cfg = DiffusionConfig(resolution=256, steps=4, prior_steps=2, inpaint_steps=4, device="cpu")
    inpainter = Inpainter(pipes["prior"], pipes["inpaint"], cfg)
    rows = []

    def backend(vertices, faces, demographics, age, rng):
        prompt, negative = build_prompt(demographics, age, rng)

        def finish(rgb, mask, view, expression):
            after = inpainter(rgb, mask, prompt, negative, torch.Generator("cpu").manual_seed(view))
            repaint = inpainter.repaint_mask(mask).astype(bool)
            overlay = rgb.copy()
            overlay[repaint] = (0.45 * rgb[repaint] + 0.55 * np.array([230, 40, 40])).astype(np.uint8)
            rows.append(np.concatenate([rgb, overlay, after], axis=1))
            return after

        return BackendAppearance(finish=finish)

    gen = Generator(GenerationConfig(identities=2, expressions=0, views=(0.0, 30.0), size=256, seed=1), appearance_backend=backend)
    gen.identity(1)
    out = Path(__file__).resolve().parent / "inpaint_mask.jpg"
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, quality=88)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
