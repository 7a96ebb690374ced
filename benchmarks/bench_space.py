"""Space latency (and, with a model, how its PSPI follows the Generate tab's sliders).

    python benchmarks/bench_space.py                      # latency only
    python benchmarks/bench_space.py --model spaces/model # + correlation of ViTPain with the sliders
    python benchmarks/bench_space.py --quick              # a few-second smoke run

Latency of a slider change at --size (default 256): the Generate function on a cached identity
(re-pose + three views + heatmaps + strips), in-process and end to end through the Gradio server
with gradio_client (queue, HTTP, JPEG encoding and the client's image downloads included), plus
the one-off cost of a new identity (seed or demographics change).

Correlation: random slider settings on --identities identities, each frame of the three views
assessed like an upload (face detection + crop + ViTPain); Pearson and Spearman between the
slider PSPI and the expected PSPI, and the mean expected PSPI per PSPI band.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from generation.facs import PAIN_CODES, sample_aus_for_pspi  # noqa: E402


def load_space():
    spec = importlib.util.spec_from_file_location("pain3d_space_app", ROOT / "spaces" / "app.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def stats(ts: list[float]) -> dict[str, float]:
    a = np.asarray(ts) * 1000
    return {"median_ms": round(float(np.median(a)), 1), "p90_ms": round(float(np.percentile(a, 90)), 1),
            "max_ms": round(float(a.max()), 1), "n": len(ts)}


def random_sliders(rng: np.random.Generator) -> list:
    aus = sample_aus_for_pspi(int(rng.integers(0, 17)), rng)
    return [aus[c] for c in PAIN_CODES[:5]] + [bool(aus["AU43"])]


def measure_latency(space, app, size: int, n: int, http: bool) -> dict:
    rng = np.random.default_rng(0)
    ident = ["young", "woman", "Latino", 0, size]
    app.generate(*random_sliders(rng), *[0] * 6, *ident)  # warm: numba JIT and the identity cache
    t_fn, t_core = [], []
    for _ in range(n):
        sl = random_sliders(rng)
        t = time.perf_counter()
        out = app.generate(*sl, *[0] * 6, *ident)
        t_fn.append(time.perf_counter() - t)
        t_core.append(out[4]["timings_ms"]["pose_render"] / 1000)
    t_new = []
    for seed in range(1, 6):
        t = time.perf_counter()
        app.generate(*random_sliders(rng), *[0] * 6, "elderly", "man", "Black", 1000 + seed, size)
        t_new.append(time.perf_counter() - t)
    res = {"size": size, "slider_change_function": stats(t_fn), "pose_and_render_only": stats(t_core),
           "new_identity": stats(t_new)}
    if http:
        from gradio_client import Client

        demo = space.build_demo(app)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            client.predict(*random_sliders(rng), *[0] * 6, *ident, api_name="/generate")
            t_http = []
            for _ in range(n):
                sl = random_sliders(rng)
                t = time.perf_counter()
                client.predict(*sl, *[0] * 6, *ident, api_name="/generate")
                t_http.append(time.perf_counter() - t)
            res["slider_change_http_gradio_client"] = stats(t_http)
        finally:
            demo.close()
    return res


def rankdata(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(len(a))
    for v in np.unique(a):  # average ties
        m = a == v
        ranks[m] = ranks[m].mean()
    return ranks


def measure_correlation(space, app, identities: int, per_identity: int, size: int) -> dict:
    from generation.demographics import STRATA

    rng = np.random.default_rng(123)
    truth, pred, missed = [], [], 0
    for i in range(identities):
        demo = STRATA[int(rng.integers(0, len(STRATA)))]
        for _ in range(per_identity):
            target = int(rng.integers(0, 17))
            aus = sample_aus_for_pspi(target, rng)
            s = space.render_sample(app.factory, aus, {}, demo, 5000 + i, size)
            use_ref = app.assessor.model.config.use_reference
            for img, neutral in zip(s.pain_images, s.identity.neutral_images):
                a = app.assessor(img, neutral if use_ref else None, False)
                if not a.ok:
                    missed += 1
                    continue
                truth.append(s.pspi)
                pred.append(a.result["expected_pspi"])
    t, p = np.asarray(truth), np.asarray(pred)
    bands = {f"{lo}-{hi}": round(float(p[(t >= lo) & (t <= hi)].mean()), 2)
             for lo, hi in ((0, 3), (4, 7), (8, 11), (12, 16)) if ((t >= lo) & (t <= hi)).any()}
    return {
        "frames": len(t), "no_face_found": missed,
        "pearson": round(float(np.corrcoef(t, p)[0, 1]), 3),
        "spearman": round(float(np.corrcoef(rankdata(t), rankdata(p))[0, 1]), 3),
        "mae": round(float(np.abs(t - p).mean()), 2),
        "mean_expected_pspi_by_slider_pspi": bands,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="image size (default 256; 128 with --quick)")
    ap.add_argument("--n", type=int, default=None, help="slider changes timed (default 30; 3 with --quick)")
    ap.add_argument("--no-http", action="store_true", help="skip the end-to-end gradio_client timing")
    ap.add_argument("--model", default=None, help="ViTPain folder or hub id: also measure the PSPI correlation")
    ap.add_argument("--identities", type=int, default=12)
    ap.add_argument("--per-identity", type=int, default=6)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="a few-second smoke run: 3 slider changes at 128 px (and 2 x 2 "
                    "frames for the correlation); the numbers are noisy")
    args = ap.parse_args(argv)
    for name, full, quick in (("size", 256, 128), ("n", 30, 3)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.quick:
        args.identities, args.per_identity = min(args.identities, 2), min(args.per_identity, 2)
    space = load_space()
    app = space.App(args.model)
    res = {"latency": measure_latency(space, app, args.size, args.n, not args.no_http)}
    if args.model:
        if app.assessor.model is None:
            raise SystemExit(app.model_info)
        res["correlation"] = measure_correlation(space, app, args.identities, args.per_identity, args.size)
    print(json.dumps(res, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
