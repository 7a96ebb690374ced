"""Training-input throughput: the Hub-layout dataset through ``datasets`` vs plain files, and
against the model's training-step rate.

Run: ``python benchmarks/bench_dataset.py`` (prints its numbers; not a test).

Generates one dataset twice with the same seed: ``pain3d generate`` (Hub layout: Parquet
shards + card) and ``pain3d generate --format folder`` (JPEG + JSON files, the authors'
approach). Then measures decoded-and-transformed images per second into a PyTorch
``DataLoader`` (batch 32, shuffled, ``--num-workers``, default 0 and 2) for

- ``datasets``: ``load_dataset(DIR, split="train+validation+test")``, only the columns
  training needs (``select_columns(["image", "pspi"])``), ``with_transform`` doing the
  transform on each fetched batch;
- files: ``glob("frames/*/*.json")``, ``json.load`` each, ``PIL.Image.open`` the image.

Both use the same transform: RGB, resize to 224x224 (bilinear), float tensor in [0, 1], ImageNet
mean/std normalisation. Files are in the page cache for both (they were just written).
Reported: steady-state images/s (median of the timed epochs, after one warm-up epoch with
persistent workers), the one-time ``load_dataset`` preparation (Parquet -> Arrow cache), and
the bytes on disk. Then the tiny preset's training rate (ViTPain forward + backward + AdamW step
on random inputs, PSPI and AU labels, batch as above, torch's threads) at its own 96 px and at
the loader's 224 px, and the loader's rate over it: above 1, the input keeps up with training.
On a 2-core machine the loader's workers and the training step share the same cores.

``--dataset DIR`` measures an existing Hub-layout folder instead (e.g. the full-scale one; the
files comparison is then skipped); ``--max-batches N`` caps every timed pass at N batches.

Options: --identities N (default 24), --expressions K (default 4), --views V (default 3),
--size S (default 256), --epochs E timed epochs (default 3), --batch-size B (default 32),
--num-workers W [W ...] (default 0 2), --train-steps T (default 10), --dir PATH (where to
write; default a temporary folder), --quick (a few-second smoke run: 3 identities, 64 px,
batch 8, 1 timed pass, 2 training steps).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from pain3d import cli  # noqa: E402

SIDE = 224
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def transform(img: Image.Image) -> torch.Tensor:
    """The one transform both loaders use: PIL -> resized, normalised CHW float tensor."""
    img = img.convert("RGB").resize((SIDE, SIDE), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
    return (x - MEAN) / STD


def hf_batch_transform(batch: dict) -> dict:
    return {"pixel_values": [transform(im) for im in batch["image"]], "labels": batch["pspi"]}


class FileFrames(Dataset):
    """The plain loader: glob the JSON labels, open each image with PIL."""

    def __init__(self, root: Path) -> None:
        self.paths = sorted(glob.glob(str(root / "frames" / "*" / "*.json")))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        path = self.paths[i]
        with open(path) as fh:
            ann = json.load(fh)
        with Image.open(os.path.join(os.path.dirname(path), ann["image"])) as im:
            x = transform(im)
        return {"pixel_values": x, "labels": int(ann["pspi"])}


def throughput(ds, batch_size: int, workers: int, epochs: int, max_batches: int | None = None) -> tuple[float, float]:
    """(steady-state images/s, first-epoch images/s incl. worker start-up); each pass stops
    after ``max_batches`` batches if given."""
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    rates = []
    for _ in range(epochs + 1):
        n, t0 = 0, time.perf_counter()
        for k, batch in enumerate(loader):
            assert batch["pixel_values"].shape[1:] == (3, SIDE, SIDE)
            n += batch["pixel_values"].shape[0]
            if max_batches is not None and k + 1 >= max_batches:
                break
        rates.append(n / (time.perf_counter() - t0))
    return float(np.median(rates[1:])), rates[0]


def training_rate(image_size: int, batch_size: int, steps: int, threads: int) -> float:
    """Images/s of the tiny preset's training step (forward, backward, AdamW) at ``image_size``,
    random inputs with PSPI and AU labels; median step time of ``steps`` after one warm-up."""
    from vitpain_hf import ViTPainConfig, ViTPainModel

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        config = ViTPainConfig.from_preset("tiny", image_size=image_size)
        model = ViTPainModel(config).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        x = torch.randn(batch_size, 3, image_size, image_size)
        pspi = torch.randint(0, config.num_pspi_classes, (batch_size,))
        aus = torch.rand(batch_size, config.num_aus) * 5
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            model(pixel_values=x, pspi_labels=pspi, au_labels=aus).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        return batch_size / float(np.median(times[1:]))
    finally:
        torch.set_num_threads(before)


def folder_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", type=int, default=None, help="default 24 (3 with --quick)")
    ap.add_argument("--expressions", type=int, default=None, help="default 4 (1 with --quick)")
    ap.add_argument("--views", type=int, default=3)
    ap.add_argument("--size", type=int, default=None, help="default 256 (64 with --quick)")
    ap.add_argument("--epochs", type=int, default=None, help="timed passes, default 3 (1 with --quick)")
    ap.add_argument("--batch-size", type=int, default=None, help="default 32 (8 with --quick)")
    ap.add_argument("--num-workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to measure (default 0 2)")
    ap.add_argument("--max-batches", type=int, default=None, help="cap every timed pass at N batches")
    ap.add_argument("--train-steps", type=int, default=None, help="timed training steps, default 10 (2 with --quick)")
    ap.add_argument("--dataset", default=None, help="an existing Hub-layout folder to measure (no generation, no files comparison)")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run")
    args = ap.parse_args()
    quick = dict(identities=3, expressions=1, size=64, epochs=1, batch_size=8, train_steps=2)
    full = dict(identities=24, expressions=4, size=256, epochs=3, batch_size=32, train_steps=10)
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    threads = torch.get_num_threads()  # training's own, measured below
    torch.set_num_threads(1)  # the loaders' work is per image; keep the comparison about I/O + decode

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        tmp = Path(tmp)
        hub = Path(args.dataset) if args.dataset else tmp / "hub"
        t_hub = t_files = None
        if args.dataset is None:
            gen_args = ["--identities", args.identities, "--expressions", args.expressions, "--views", args.views,
                        "--size", args.size, "--seed", "0", "--quiet", "--workers", 1 if args.quick else min(2, os.cpu_count() or 1)]
            gen_args = [str(a) for a in gen_args]
            t0 = time.perf_counter()
            assert cli.main(["generate", "--out", str(hub), *gen_args]) == 0
            t_hub = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert cli.main(["generate", "--out", str(tmp / "files"), "--format", "folder", *gen_args]) == 0
            t_files = time.perf_counter() - t0

        from datasets import load_dataset
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
        t0 = time.perf_counter()
        hf = load_dataset(str(hub), split="train+validation+test", cache_dir=str(tmp / "cache"))
        t_prepare = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_dataset(str(hub), split="train+validation+test", cache_dir=str(tmp / "cache"))
        t_reload = time.perf_counter() - t0
        n = len(hf)
        hf = hf.select_columns(["image", "pspi"]).with_transform(hf_batch_transform)
        loaders = [("datasets (Parquet -> Arrow)", hf)]
        if args.dataset is None:
            files = FileFrames(tmp / "files")
            assert len(hf) == len(files), (len(hf), len(files))
            loaders.append(("PIL + glob + JSON files", files))

        rows = []
        for workers in args.num_workers:
            for name, ds in loaders:
                steady, first = throughput(ds, args.batch_size, workers, args.epochs, args.max_batches)
                rows.append((name, workers, steady, first))
        train = {side: training_rate(side, args.batch_size, args.train_steps, threads) for side in (96, SIDE)}

        if args.dataset is None:
            print(f"bench_dataset: {n} frames ({args.identities} identities x {args.expressions + 1} expressions x "
                  f"{args.views} views), {args.size}px JPEG -> {SIDE}x{SIDE} normalised tensors, batch {args.batch_size}")
        else:
            print(f"bench_dataset: {hub}, {n} frames -> {SIDE}x{SIDE} normalised tensors, batch {args.batch_size}")
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}; "
              f"load average {os.getloadavg()[0]:.2f} (shared CPUs make every rate noisy)")
        if t_hub is not None:
            print(f"generate: hub layout {t_hub:.1f}s, folder layout {t_files:.1f}s")
            print(f"on disk: Parquet shards {folder_bytes(hub / 'data') / 2**20:.1f} MB "
                  f"(all 4 images per frame + meshes); frame JPEGs {folder_bytes(tmp / 'files', '*.jpg') / 2**20:.1f} MB, "
                  f"whole folder {folder_bytes(tmp / 'files') / 2**20:.1f} MB")
        else:
            print(f"on disk: Parquet shards {folder_bytes(hub / 'data') / 2**30:.2f} GB")
        print(f"load_dataset: first call (Parquet -> Arrow cache) {t_prepare:.2f}s, cached reload {t_reload:.2f}s")
        print()
        print(f"{'loader':<30} {'workers':>7} {'images/s':>10} {'first epoch':>12}")
        for name, workers, steady, first in rows:
            print(f"{name:<30} {workers:>7} {steady:>10.0f} {first:>12.0f}")
        if args.dataset is None:
            for workers in args.num_workers:
                a = next(r[2] for r in rows if r[1] == workers and r[0].startswith("datasets"))
                b = next(r[2] for r in rows if r[1] == workers and r[0].startswith("PIL"))
                print(f"datasets / files at num_workers={workers}: {a / b:.2f}x")
        print()
        print(f"tiny preset training (forward + backward + AdamW, batch {args.batch_size}, {threads} torch threads, "
              f"median of {args.train_steps} steps):")
        for side, rate in train.items():
            print(f"  at {side}x{side}: {rate:8.0f} images/s")
        for workers in args.num_workers:
            a = next(r[2] for r in rows if r[1] == workers and r[0].startswith("datasets"))
            ratios = ", ".join(f"{a / rate:.2f}x the {side}px step" for side, rate in train.items())
            print(f"datasets loader at num_workers={workers}: {a:.0f} images/s = {ratios}")


if __name__ == "__main__":
    main()
