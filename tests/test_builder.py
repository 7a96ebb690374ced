"""The on-the-fly GeneratorBasedBuilder gives the same features, splits and rows as the writer."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import load_dataset

from pain3d.cli import main
from pain3d_dataset import Pain3D, frame_features

SETTINGS = dict(identities=4, expressions=1, views=1, size=64, seed=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    b = Pain3D(config_name="frames", cache_dir=str(cache), **SETTINGS)
    b.download_and_prepare()
    return b.as_dataset()


def test_builder_features_and_identity_splits(built):
    assert set(built) == {"train", "validation", "test"}
    for split in built.values():
        assert split.features == frame_features((0.0,))
    ids = {s: set(built[s]["identity"]) for s in built}
    assert not (ids["train"] & ids["validation"] or ids["train"] & ids["test"] or ids["validation"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == SETTINGS["identities"]
    assert sum(len(s) for s in built.values()) == SETTINGS["identities"] * (SETTINGS["expressions"] + 1)


def test_builder_matches_the_written_dataset(built, tmp_path):
    out = tmp_path / "3dpain"
    args = ["generate", "--out", str(out), "--quiet", "--identities", "4", "--expressions", "1", "--views", "1", "--size", "64", "--seed", "3"]
    assert main(args) == 0
    written = load_dataset(str(out))
    for split in ("train", "validation", "test"):
        a = sorted(built[split], key=lambda r: (r["identity"], r["expression"]))
        b = sorted(written[split], key=lambda r: (r["identity"], r["expression"]))
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            assert ra["pspi"] == rb["pspi"] and ra["aus"] == rb["aus"] and ra["identity"] == rb["identity"]
            assert np.array_equal(np.asarray(ra["image"]), np.asarray(rb["image"]))


def test_builder_meshes_config(tmp_path):
    b = Pain3D(config_name="meshes", cache_dir=str(tmp_path), **SETTINGS)
    b.download_and_prepare()
    ds = b.as_dataset()["train"].with_format("numpy")
    v = ds[0]["vertices"]
    assert v.ndim == 2 and v.shape[1] == 3 and v.shape[0] > 5000
