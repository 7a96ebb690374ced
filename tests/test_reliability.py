"""Issue 16's fault probe, row by row. Each row of the issue's table is a test
(``test_row_NN_...``) or a row of ``BAD_VALUES``; each failed before the fix."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from helpers import assert_one_error_line, run, tree
from test_importers import build_release
from pain3d_dataset.importers import import_3dpain

A = ["--identities", "1", "--expressions", "1", "--views", "1", "--size", "64", "--quiet"]
BASE = ["--identities", "4", "--expressions", "1", "--views", "1", "--size", "64", "--quiet"]


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rel") / "ref"
    from generation.cli import main

    assert main(["generate", "--out", str(out), *BASE]) == 0
    return out


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return build_release(tmp_path_factory.mktemp("release") / "3D-Pain")


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --- rows 3 to 8: every numeric option checked before any work ---------------------------------------
BAD_VALUES = {  # row: (arguments, option named, accepted range named)
    "row 3 --identities 10**12": (["--identities", "1000000000000"], "--identities", "accepted --identities: 0.."),
    "row 4 --expressions 10**9": (["--expressions", "1000000000"], "--expressions", "accepted --expressions: 0.."),
    "row 4 --views 10**9": (["--views", "1000000000"], "--views", "accepted --views: 1.."),
    "row 4 --ssaa 1000": (["--ssaa", "1000"], "--ssaa", "accepted --ssaa: 1.."),
    "row 5 --seed 10**38": (["--seed", "1" + "0" * 38], "--seed", "from 0 to 9223372036854775807"),
    "row 6 --max-shard-mb inf": (["--max-shard-mb", "inf"], "--max-shard-mb", "finite number of MB above 0"),
    "row 6 --max-shard-mb nan": (["--max-shard-mb", "nan"], "--max-shard-mb", "finite number of MB above 0"),
    "row 6 --max-shard-mb 0": (["--max-shard-mb", "0"], "--max-shard-mb", "finite number of MB above 0"),
    "row 7 --pitch nan": (["--pitch", "nan"], "--pitch", "finite number from -89 to 89"),
    "row 7 --pitch inf": (["--pitch", "inf"], "--pitch", "finite number from -89 to 89"),
    "row 7 --pitch 200": (["--pitch", "200"], "--pitch", "finite number from -89 to 89"),
    "row 8 --yaws nan,inf": (["--yaws", "nan,inf"], "--yaws", "finite number from -180 to 180"),
    "--yaws 0,inf": (["--yaws", "0,inf"], "--yaws", "finite number from -180 to 180"),
    "--distractors nan": (["--distractors", "nan"], "--distractors", "[0, 1]"),
    "--size 100000": (["--size", "100000"], "--size", "from 32 to 2048"),
    "--workers 10**6": (["--workers", "1000000"], "--workers", "from 0 to 256"),
}


@pytest.mark.parametrize("fmt", ["hub", "folder"])
@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_refused_up_front(case, fmt, tmp_path, capsys):
    argv, option, accepted = BAD_VALUES[case]
    out = tmp_path / "o"
    start = time.monotonic()
    code, stdout, err = run(["generate", "--out", out, *A, "--format", fmt, *argv], capsys)
    assert time.monotonic() - start < 10  # refused before any work (row 3 took 27 s to fail)
    assert code == 2
    assert_one_error_line(err)
    assert option in err and accepted in err, err
    if case.split()[1] in ("3", "4"):
        assert "memory" in err and "B of memory" in err  # the estimate is in the message
    assert not out.exists()  # no folder left behind (row 4's --ssaa left .pain3d)


@pytest.mark.parametrize("case", ["row 4 --ssaa 1000", "row 7 --pitch nan", "row 5 --seed 10**38"])
def test_bad_values_leave_our_folder_as_it_was(ref, case, tmp_path, capsys):
    out = copy(ref, tmp_path / "ours")
    before = tree(out)
    code, _, err = run(["generate", "--out", out, *BASE, "--overwrite", *BAD_VALUES[case][0]], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert tree(out) == before


@pytest.mark.parametrize("argv, needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--max-shard-mb", "inf"], "--max-shard-mb"),
])
def test_import_bad_values(release, argv, needle, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run(["import-3dpain", release, "--out", out, "--quiet", *argv], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert needle in err
    assert not out.exists()


def test_preview_bad_view(tmp_path, capsys):
    code, _, err = run(["preview", "--out", tmp_path / "s.png", "--size", 64, "--view", "nan", "--quiet"], capsys)
    assert code == 2
    assert_one_error_line(err)
    assert "--view" in err and not (tmp_path / "s.png").exists()
