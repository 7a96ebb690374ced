"""ViTPain on the CPU: inference latency and throughput, training images/s, next to a bare transformers ViT.

Run: ``python benchmarks/bench_model.py`` (``--quick`` for a smoke run). Prints a markdown table; not a test.

For each preset (tiny: D=128, 4 layers, 96 px; base: ViT-B/16, 224 px), random weights:
  - latency of one image (batch 1, median over repeats), ViTPain forward vs the bare ``ViTModel`` of the same
    shape (``add_pooling_layer=False``, as ViTPain's backbone), plus ``ViTPainModel.predict`` on one PIL image
    (preprocessing and the output dicts included);
  - throughput at ``--batch-size`` (images/s);
  - training images/s (tiny by default): forward, backward and AdamW step; ViTPain with PSPI and AU labels
    (eq. 15, AU queries on) vs ``ViTForImageClassification`` (ViTModel + linear head, cross-entropy).
The "heads" column is ViTPain's time over the bare model's, minus one.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time

import torch
from PIL import Image
from transformers import ViTForImageClassification, ViTModel

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository

from vitpain_hf import ViTPainConfig, ViTPainModel  # noqa: E402


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def inference_rows(preset: str, batch: int, repeats: int) -> list[tuple]:
    torch.manual_seed(0)
    config = ViTPainConfig.from_preset(preset)
    ours = ViTPainModel(config).eval()
    bare = ViTModel(config.backbone_config, add_pooling_layer=False).eval()
    size = config.image_size[0]
    rows = []
    with torch.inference_mode():
        for n, label in ((1, "latency, 1 image (ms)"), (batch, f"throughput, batch {batch} (images/s)")):
            x = torch.randn(n, 3, size, size)
            t_ours = median_seconds(lambda: ours(pixel_values=x), repeats)
            t_bare = median_seconds(lambda: bare(pixel_values=x), repeats)
            if n == 1:
                rows.append((preset, label, t_ours * 1e3, t_bare * 1e3, t_ours / t_bare - 1))
            else:
                rows.append((preset, label, n / t_ours, n / t_bare, t_ours / t_bare - 1))
    image = Image.new("RGB", (256, 256), (180, 120, 100))
    t_predict = median_seconds(lambda: ours.predict([image]), repeats)
    rows.append((preset, "predict(), 1 PIL image 256 px (ms)", t_predict * 1e3, float("nan"), float("nan")))
    return rows


def training_rows(preset: str, batch: int, repeats: int) -> list[tuple]:
    torch.manual_seed(0)
    config = ViTPainConfig.from_preset(preset)
    ours = ViTPainModel(config).train()
    bare_config = copy.deepcopy(config.backbone_config)
    bare_config.num_labels = config.num_pspi_classes
    bare = ViTForImageClassification(bare_config).train()
    size = config.image_size[0]
    x = torch.randn(batch, 3, size, size)
    pspi = torch.randint(0, config.num_pspi_classes, (batch,))
    aus = torch.rand(batch, config.num_aus) * 5

    def step_fn(model, optimizer, **inputs):
        def step():
            loss = model(pixel_values=x, **inputs).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-5)
    opt_bare = torch.optim.AdamW(bare.parameters(), lr=1e-5)
    t_ours = median_seconds(step_fn(ours, opt_ours, pspi_labels=pspi, au_labels=aus), repeats)
    t_bare = median_seconds(step_fn(bare, opt_bare, labels=pspi), repeats)
    return [(preset, f"training, batch {batch} (images/s)", batch / t_ours, batch / t_bare, t_ours / t_bare - 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "base"], choices=["tiny", "base", "large"])
    parser.add_argument("--train-presets", nargs="+", default=["tiny"], choices=["tiny", "base", "large"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run: tiny only, batch 8, 3 repeats, 1 thread")
    args = parser.parse_args(argv)
    if args.quick:
        args.presets, args.train_presets, args.batch_size, args.repeats = ["tiny"], ["tiny"], 8, 3
        args.threads = args.threads or 1  # a shared machine's other load makes torch's threads spin
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; random weights, median of {args.repeats}\n")
    print("| preset | measurement | ViTPain | bare ViT | heads overhead |")
    print("|---|---|---:|---:|---:|", flush=True)
    rows = (*((p, inference_rows) for p in args.presets), *((p, training_rows) for p in args.train_presets))
    for preset, measure in rows:
        for _, label, ours, bare, overhead in measure(preset, args.batch_size, args.repeats):
            bare_text = "-" if bare != bare else f"{bare:.1f}"
            over_text = "-" if overhead != overhead else f"{overhead:+.1%}"
            print(f"| {preset} | {label} | {ours:.1f} | {bare_text} | {over_text} |", flush=True)


if __name__ == "__main__":
    main()
