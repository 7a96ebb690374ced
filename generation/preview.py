"""Contact sheets: identities x PSPI levels, each frame beside its heatmap overlay."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from .heatmaps import overlay
from .pipeline import GenerationConfig, Generator

DEFAULT_LEVELS = (0, 4, 8, 12, 16)


def contact_sheet(
    config: GenerationConfig, levels: Sequence[int] = DEFAULT_LEVELS, view: float = 0.0
) -> Image.Image:
    """Render ``config.identities`` identities at each PSPI level (one view) into one image.

    Each row is an identity (its neutral face first); each cell shows the frame and, below
    it, the pain-region heatmap over the frame.
    """
    cfg = replace(config, expressions=len(levels), views=(float(view),))
    gen = Generator(cfg)
    gen.pspi_targets = np.tile(np.asarray(levels, dtype=np.int64), (cfg.identities, 1))
    s = cfg.size
    label_h = 18
    cols = len(levels) + 1
    sheet = Image.new("RGB", (cols * s, label_h + cfg.identities * (2 * s + label_h)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(["neutral"] + [f"PSPI {lv}" for lv in levels]):
        draw.text((c * s + 4, 3), title, fill=(230, 230, 230))
    for i in range(cfg.identities):
        res = gen.identity(i)
        y0 = label_h + i * (2 * s + label_h)
        d = res.frames[0].demographics
        draw.text((4, y0 + 3), f"{res.name}: {d.age_group} {d.gender}, {d.ethnicity}", fill=(230, 230, 230))
        for f in res.frames:
            x0 = f.expression * s
            sheet.paste(Image.fromarray(f.image), (x0, y0 + label_h))
            heat = f.heat if f.heat is not None else np.zeros(f.image.shape[:2], np.float32)
            sheet.paste(Image.fromarray(overlay(f.image, heat)), (x0, y0 + label_h + s))
            if f.expression:
                # PSPI 0 cells are distractor-only expressions: their non-pain AUs are listed too
                au = " ".join(f"{k[2:]}:{int(v)}" for k, v in {**f.aus, **f.distractor_aus}.items() if v)
                draw.text((x0 + 3, y0 + label_h + s - 12), au, fill=(255, 255, 255))
    return sheet


def lineup(config: GenerationConfig, views: Sequence[float] = (0.0, 30.0), columns: int = 4) -> Image.Image:
    """Neutral faces of ``config.identities`` identities (24 = one per demographic stratum),
    each in every view of ``views`` side by side, labelled with its stratum."""
    cfg = replace(config, expressions=0, views=tuple(float(v) for v in views))
    gen = Generator(cfg)
    s, label_h, n_v = cfg.size, 16, len(cfg.views)
    rows = (cfg.identities + columns - 1) // columns
    sheet = Image.new("RGB", (columns * n_v * s, rows * (s + label_h)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for i in range(cfg.identities):
        res = gen.identity(i)
        r, c = divmod(i, columns)
        x0, y0 = c * n_v * s, r * (s + label_h)
        d = res.frames[0].demographics
        draw.text((x0 + 4, y0 + 2), f"{res.name}: {d.age_group} {d.gender}, {d.ethnicity}", fill=(230, 230, 230))
        for f in res.frames:
            sheet.paste(Image.fromarray(f.image), (x0 + f.view * s, y0 + label_h))
    return sheet


def grid(images: Iterable[np.ndarray], columns: int) -> np.ndarray:
    """Tile equally sized (H, W, 3) uint8 images into a grid, row-major."""
    imgs = list(images)
    if not imgs:
        raise ValueError("no images to tile")
    h, w = imgs[0].shape[:2]
    rows = (len(imgs) + columns - 1) // columns
    out = np.zeros((rows * h, columns * w, 3), dtype=np.uint8)
    for k, im in enumerate(imgs):
        r, c = divmod(k, columns)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = im
    return out
