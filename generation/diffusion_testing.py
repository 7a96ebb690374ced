"""Tiny randomly initialised Kandinsky 2.2 pipelines, built offline (tests and smoke checks).

The component sizes follow diffusers' own ``tests/pipelines/kandinsky2_2`` (hidden size 32,
two-level UNets, a 4-level MoVQ); their tokenizer is downloaded there, so here a byte-level
``CLIPTokenizer`` is built from a vocabulary of the special tokens plus every
``ByteLevel.alphabet()`` character and its ``</w>`` form, with no merges (each character is a
token). The text encoder's bos/eos/pad ids are the tokenizer's. Outputs are noise: these check
plumbing (shapes, masks, seeds), never image quality.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

__all__ = ["ddim_scheduler", "offline_clip_tokenizer", "tiny_pipelines"]

EMBED_DIM = 32


def offline_clip_tokenizer(max_length: int = 77):
    """A ``CLIPTokenizer`` needing no download: byte-level characters, no merges."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    alphabet = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for tok in alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab[tok] = len(vocab)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "vocab.json").write_text(json.dumps(vocab))
        (Path(d) / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(str(Path(d) / "vocab.json"), str(Path(d) / "merges.txt"), model_max_length=max_length)


def _unet(in_channels: int, addition_embed_type: str):
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        in_channels=in_channels,
        out_channels=8,  # mean and variance of 4 latent channels
        addition_embed_type=addition_embed_type,
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        encoder_hid_dim=EMBED_DIM,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=100,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )


def _movq():
    import torch
    from diffusers import VQModel

    torch.manual_seed(0)
    return VQModel(
        block_out_channels=[32, 32, 64, 64],
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        in_channels=3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        norm_type="spatial",
        num_vq_embeddings=12,
        out_channels=3,
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
        vq_embed_dim=4,
    )


def ddim_scheduler():
    """The DDIM scheduler of the Kandinsky 2.2 decoders (their published scheduler config)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        beta_start=0.00085,
        beta_end=0.012,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        thresholding=False,
    )


def tiny_pipelines(device: str = "cpu", dtype=None) -> dict:
    """{"prior", "controlnet", "inpaint"}: tiny Kandinsky 2.2 pipelines on ``device``."""
    import torch
    from diffusers import (
        KandinskyV22ControlnetPipeline,
        KandinskyV22InpaintPipeline,
        KandinskyV22PriorPipeline,
        PriorTransformer,
        UnCLIPScheduler,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    try:  # transformers >= 5 without torchvision: the PIL backend, named to skip a warning
        from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    except ImportError:  # pragma: no cover - older transformers
        from transformers import CLIPImageProcessor

    tok = offline_clip_tokenizer()
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(
        CLIPTextConfig(
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            hidden_size=EMBED_DIM,
            projection_dim=EMBED_DIM,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tok),
        )
    )
    torch.manual_seed(0)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=EMBED_DIM, num_layers=1)
    # clip_std starts at 0, which would make every embedding 0 (as diffusers' test notes).
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=EMBED_DIM,
            image_size=224,
            projection_dim=EMBED_DIM,
            intermediate_size=37,
            num_attention_heads=4,
            num_channels=3,
            num_hidden_layers=2,
            patch_size=14,
        )
    )
    image_processor = CLIPImageProcessor(
        crop_size=224,
        do_center_crop=True,
        do_normalize=True,
        do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
        size=224,
    )
    scheduler = UnCLIPScheduler(
        variance_type="fixed_small_log",
        prediction_type="sample",
        num_train_timesteps=1000,
        clip_sample=True,
        clip_sample_range=10.0,
    )
    pipes = {
        "prior": KandinskyV22PriorPipeline(
            prior=prior,
            image_encoder=image_encoder,
            text_encoder=text_encoder,
            tokenizer=tok,
            scheduler=scheduler,
            image_processor=image_processor,
        ),
        "controlnet": KandinskyV22ControlnetPipeline(unet=_unet(8, "image_hint"), scheduler=ddim_scheduler(), movq=_movq()),
        "inpaint": KandinskyV22InpaintPipeline(unet=_unet(9, "image"), scheduler=ddim_scheduler(), movq=_movq()),
    }
    for p in pipes.values():
        p.to(device=device, dtype=dtype)
        p.set_progress_bar_config(disable=True)
    return pipes
