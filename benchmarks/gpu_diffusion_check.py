"""Smoke check and timings of the diffusion backend on CUDA in fp16 (random weights, no download).

Run: ``python benchmarks/gpu_diffusion_check.py [--full-size] [--steps 50] [--resolution 512]``.
Prints its numbers; not a test. Without CUDA it says so and runs the same on the CPU in fp32.
``--quick``: the tiny check only, at 64 px diffusion and one 64 px view (seconds on a CPU): it
exercises every stage of the backend, its timings mean little.

  (a) tiny pipelines (generation.diffusion_testing): one identity of the real generator with
      ``DiffusionAppearance`` (depth hint -> prior -> depth ControlNet -> texture projection
      -> 3 views x 2 expressions rendered -> inpainting once per view), timed per stage, and
      a check that fp16 produced finite, non-constant images.
  (b) --full-size: randomly initialised decoder UNets and MoVQ with the Kandinsky 2.2 decoder's
      architecture as we recall its published config (block_out_channels 384/768/1152/1536,
      3 layers per block, image-embedding dim 1280; the parameter count is printed: the real
      one is about 1.2 B) and a prior transformer of the prior's shape, timed at --resolution
      with classifier-free guidance. The weights are noise, so only the timings mean anything;
      they give a per-identity estimate for the default steps.

On a lent device machine diffusers is missing; carry it as wheels (see the device README):
``pip download --no-deps --only-binary=:all: --python-version 3.12 ... -d .whl diffusers==0.42.1
importlib_metadata==10.2.0 lazy-importer==0.1.0``, then start the command with the README's
``pip install --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site`` and run this file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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
        print(f"  {name:<44s} {dt * 1000:9.1f} ms", flush=True)
        return out


def check_image(name: str, img) -> bool:
    a = np.asarray(img, dtype=np.float32)
    ok = bool(np.isfinite(a).all() and a.std() > 0)
    print(f"  {name}: shape {a.shape}, mean {a.mean():.1f}, std {a.std():.1f} -> {'ok' if ok else 'SUSPECT (constant or NaN)'}")
    return ok


def tiny_check(device: str, dtype, resolutions=(64, 512), size: int = 256, views=(-30.0, 0.0, 30.0), warm_up: bool = True) -> bool:
    import torch

    from generation.diffusion import DiffusionAppearance, DiffusionConfig, Inpainter, NeutralFaceGenerator
    from generation.diffusion_testing import tiny_pipelines
    from generation.pipeline import GenerationConfig, Generator

    print(f"(a) tiny pipelines on {device}, {dtype}")
    timer = Timer(device)
    pipes = timer("build tiny pipelines", tiny_pipelines, device, dtype)
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
    return ok


def full_size(device: str, dtype, steps: int, prior_steps: int, resolution: int) -> None:
    import torch
    from diffusers import DDIMScheduler, KandinskyV22ControlnetPipeline, PriorTransformer, UNet2DConditionModel, VQModel

    print(f"(b) full-size random decoder at {resolution}px on {device}, {dtype}")
    timer = Timer(device)

    def unet(in_channels: int, kind: str):
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

    def movq():
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

    u = timer("build ControlNet UNet (random)", unet, 8, "image_hint")  # latents + hint features
    print(f"  UNet parameters: {sum(p.numel() for p in u.parameters()) / 1e9:.2f} B")
    pipe = KandinskyV22ControlnetPipeline(
        unet=u,
        scheduler=DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                                clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon"),
        movq=timer("build MoVQ (random)", movq),
    )
    pipe.set_progress_bar_config(disable=True)
    emb = torch.randn(1, 1280, device=device, dtype=dtype)
    hint = torch.rand(1, 3, resolution, resolution, device=device, dtype=dtype)
    kw = dict(image_embeds=emb, negative_image_embeds=torch.zeros_like(emb), hint=hint, height=resolution, width=resolution,
              guidance_scale=4.0, generator=torch.Generator("cpu").manual_seed(0), output_type="np")
    timer("ControlNet decoder, 2 steps (warm-up)", pipe, num_inference_steps=2, **kw)
    t2 = timer("ControlNet decoder, 2 steps", pipe, num_inference_steps=2, **kw)
    t_short = timer.rows[-1][1]
    timer(f"ControlNet decoder, {steps} steps", pipe, num_inference_steps=steps, **kw)
    t_full = timer.rows[-1][1]
    per_step = (t_full - t_short) / max(steps - 2, 1)
    del t2

    with torch.device(device):
        prior = PriorTransformer(num_attention_heads=32, attention_head_dim=64, num_layers=20, embedding_dim=1280, num_embeddings=77, additional_embeddings=4).to(dtype)
    print(f"  prior transformer parameters: {sum(p.numel() for p in prior.parameters()) / 1e9:.2f} B")
    x = torch.randn(2, 1280, device=device, dtype=dtype)
    text = torch.randn(2, 77, 1280, device=device, dtype=dtype)
    mask = torch.ones(2, 77, device=device, dtype=torch.bool)

    def prior_steps_run(n):
        with torch.no_grad():
            for t in range(n):
                prior(x, timestep=t, proj_embedding=x, encoder_hidden_states=text, attention_mask=mask)

    timer("prior, 2 steps (warm-up)", prior_steps_run, 2)
    timer(f"prior, {prior_steps} steps (batch 2 = guidance)", prior_steps_run, prior_steps)
    t_prior = timer.rows[-1][1]
    views = 3
    # The prior runs once per identity (its embeddings serve both decoders); an inpainting call
    # costs about a decoder run (same UNet size, 9 input channels) plus diffusers' per-pixel
    # Python mask preparation, counted as 0.3 s.
    est = t_prior + t_full + views * (t_full + 0.3)
    print(
        f"  per decoder step at {resolution}px with guidance: {per_step * 1000:.1f} ms\n"
        f"  ESTIMATE per identity (prior {prior_steps} steps, ControlNet {steps} steps, inpainting {steps} steps x {views} views,"
        f" CPU rendering excluded): {est:.1f} s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full-size", action="store_true", help="also time random full-size Kandinsky 2.2 decoder/prior networks")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--prior-steps", type=int, default=25)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--tiny-resolutions", default=None, help="resolutions of the tiny-pipeline identity runs (default 64,512; 64 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="a few-second smoke run on whatever device there is: the tiny check only, at 64 px diffusion, "
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
    ok = tiny_check(device, dtype, tuple(int(r) for r in args.tiny_resolutions.split(",")), size=size, views=views,
                    warm_up=not args.quick)
    if args.full_size:
        try:
            full_size(device, dtype, args.steps, args.prior_steps, args.resolution)
        except Exception as e:  # report and keep the tiny check's verdict
            print(f"  full-size timing failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    print("RESULT:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
