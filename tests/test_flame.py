"""FLAME loading and the FLAME face model, on a small synthetic model in FLAME's key layout.

The synthetic head is a UV sphere (radius 120 mm) with two separate eyeball spheres (radius
12 mm), all in metres like FLAME. The pickle is written the way Python 2 wrote FLAME's
``generic_model.pkl``: protocol 2, byte strings as Python 2 ``str``, ``shapedirs`` as a
chumpy ``Ch`` (a fake class registered only while pickling), ``J_regressor`` as a scipy csc
matrix, and the old module names ``numpy.core.multiarray`` / ``scipy.sparse.csc``.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

from generation.face_model import LANDMARK_NAMES, Eyelid, FaceModel
from generation.flame import (
    JAW_JOINT,
    N_SHAPE_COMPONENTS,
    FlameData,
    FlameFaceModel,
    FlameLoadError,
    blend_shapes,
    flame_vertices,
    load_flame,
    rodrigues_x,
)
from generation.mesh import grid_faces

HEAD_RADIUS = 0.12
EYE_RADIUS = 0.012
LEFT_EYE = np.array([0.032, 0.01, 0.105])  # metres, ~10 mm behind the head surface; +x is
RIGHT_EYE = np.array([-0.032, 0.01, 0.105])  # the subject's left
EYES_MM = (LEFT_EYE - [0.0, LEFT_EYE[1], 0.0]) * 1000.0  # left eye after re-centring
N_EXPR = 100
EYEBALL_VERTS = 7 * 12 + 2  # uv_sphere(..., rings=8, segments=12)


# --- the synthetic model ------------------------------------------------------------------
def uv_sphere(center, radius, polar, lon):
    """Closed UV sphere with rings at the ``polar`` angles (radians, strictly inside (0, pi),
    increasing) and ``lon`` longitudes (increasing, wrapping round); longitude 0 faces +z.
    Returns (V, 3) vertices and (F, 3) faces with outward normals."""
    la, lo = np.meshgrid(polar, lon, indexing="ij")
    ring = np.stack([np.sin(la) * np.sin(lo), np.cos(la), np.sin(la) * np.cos(lo)], -1)
    ring = ring.reshape(-1, 3)
    verts = np.concatenate([[[0, 1, 0]], ring, [[0, -1, 0]]]) * radius + center
    rings, segments = len(polar), len(lon)
    body = grid_faces(rings, segments, wrap_cols=True, offset=1)
    s = np.arange(segments)
    top = np.stack([np.zeros(segments, int), 1 + s, 1 + (s + 1) % segments], 1)
    last = 1 + (rings - 1) * segments
    bottom = np.stack([np.full(segments, len(ring) + 1), last + (s + 1) % segments, last + s], 1)
    faces = np.concatenate([top, body, bottom])
    v = verts[faces]
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    flip = np.einsum("fc,fc->f", normal, v.mean(1) - center) < 0
    faces[flip] = faces[flip][:, ::-1]
    return verts, faces.astype(np.int64)


def uniform_angles(rings, segments):
    return np.pi * np.arange(1, rings) / rings, 2 * np.pi * np.arange(segments) / segments


def fine_angles():
    """Rings and longitudes 1.25 deg apart (~2.6 mm, like FLAME's face) over the face (polar
    50..135 deg, longitude -45..45 deg; the eyes are at ~85 and ~+-17 deg), 10 deg elsewhere."""
    polar = np.concatenate(
        [np.arange(10, 50, 10), np.arange(50, 136, 1.25), np.arange(145, 180, 10)]
    )
    lon = np.concatenate([np.arange(-45, 45, 1.25), np.arange(45, 315, 10)])
    return np.deg2rad(polar), np.deg2rad(lon)


def synthetic_flame(seed: int = 0, fine: bool = False, eye_openings: bool = False) -> dict:
    """A dict in FLAME's key layout (dense arrays; J_regressor as a csc matrix).

    eye_openings: cut the head where the eyeballs poke through it, so the lid margins are
    mesh boundaries as in FLAME.
    """
    rng = np.random.default_rng(seed)
    angles = fine_angles() if fine else uniform_angles(36, 56)
    hv, hf = uv_sphere(np.zeros(3), HEAD_RADIUS, *angles)
    if eye_openings:
        inside = np.zeros(len(hv), dtype=bool)
        for c in (LEFT_EYE, RIGHT_EYE):
            inside |= np.linalg.norm(hv - c, axis=1) < EYE_RADIUS
        hf = hf[~inside[hf].any(axis=1)]
        keep = np.unique(hf)
        remap = np.full(len(hv), -1)
        remap[keep] = np.arange(len(keep))
        hv, hf = hv[keep], remap[hf]
    lv, lf = uv_sphere(LEFT_EYE, EYE_RADIUS, *uniform_angles(8, 12))
    rv, rf = uv_sphere(RIGHT_EYE, EYE_RADIUS, *uniform_angles(8, 12))
    nh, ne = len(hv), len(lv)
    v = np.concatenate([hv, lv, rv])
    f = np.concatenate([hf, lf + nh, rf + nh + ne]).astype(np.uint32)
    n_v = len(v)
    head = np.arange(nh)
    left = np.arange(nh, nh + ne)
    right = np.arange(nh + ne, n_v)

    jaw_full = head[(hv[:, 1] < -0.03) & (hv[:, 2] > 0.02)]
    jaw_half = head[(hv[:, 1] >= -0.03) & (hv[:, 1] < -0.02) & (hv[:, 2] > 0.02)]
    weights = np.zeros((n_v, 5))
    weights[head, 1] = 1.0
    weights[jaw_full] = [0, 0, 1, 0, 0]
    weights[jaw_half] = [0, 0.5, 0.5, 0, 0]
    weights[left, 3] = 1.0
    weights[right, 4] = 1.0

    # Jaw joint: the centre of the vertex ring nearest y = -10 mm (behind the jaw vertices).
    ring_y = np.unique(np.round(hv[:, 1], 9))
    jaw_ring = head[np.isclose(hv[:, 1], ring_y[np.argmin(np.abs(ring_y + 0.01))])]
    reg = np.zeros((5, n_v))
    for j, idx in enumerate([head, head[hv[:, 1] < -0.06], jaw_ring, left, right]):
        reg[j, idx] = 1.0 / len(idx)

    shapedirs = rng.normal(0.0, 1e-3, (n_v, 3, N_SHAPE_COMPONENTS + N_EXPR))
    return {
        "v_template": v,
        "f": f,
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((n_v, 3, 36)),
        "J_regressor": sp.csc_matrix(reg),
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "J": reg @ v,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def _fresh_pickle():
    """The pure-Python pickle module as the standard library defines it, unpatched."""
    spec = importlib.util.find_spec("pickle")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PICKLE = _fresh_pickle()


class _Py2Pickler(_PICKLE._Pickler):
    """Writes bytes and ASCII text as Python 2 ``str`` (BINSTRING), as FLAME's pickle has."""

    # from a fresh copy of the pickle module: importing dill (e.g. via datasets) replaces
    # entries of pickle._Pickler.dispatch, which would write dill._dill references
    dispatch = dict(_PICKLE._Pickler.dispatch)

    def save_py2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def fake_chumpy(monkeypatch):
    """Register a stand-in ``chumpy.ch.Ch`` so the pickler can name it."""
    pkg, mod = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    Ch = type("Ch", (), {"__module__": "chumpy.ch"})
    mod.Ch, pkg.ch = Ch, mod
    monkeypatch.setitem(sys.modules, "chumpy", pkg)
    monkeypatch.setitem(sys.modules, "chumpy.ch", mod)
    return Ch


def py2_pickle_bytes(model: dict, monkeypatch, ch_state=None) -> bytes:
    """FLAME-2020-style pickle of ``model`` with shapedirs wrapped in a chumpy Ch."""
    with monkeypatch.context() as m:
        Ch = fake_chumpy(m)
        ch = Ch()
        if ch_state is None:
            ch_state = {"x": model["shapedirs"], "_dirty_vars": set(), "_depends_on_deps": {}}
        ch.__dict__.update(ch_state)
        buf = io.BytesIO()
        _Py2Pickler(buf, protocol=2).dump({**model, "shapedirs": ch})
        data = buf.getvalue()
    assert "chumpy" not in sys.modules  # loading below must not need it
    # Module names as Python 2-era numpy and scipy wrote them (GLOBAL text has no length).
    data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    data = data.replace(b"cscipy.sparse._csc\n", b"cscipy.sparse.csc\n")
    return data


@pytest.fixture(scope="module")
def model_dict():
    return synthetic_flame()


@pytest.fixture
def pkl_path(tmp_path, model_dict, monkeypatch):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(py2_pickle_bytes(model_dict, monkeypatch))
    return path


def write_npz(path, model: dict, dense_regressor: bool = True):
    arrays = dict(model)
    if dense_regressor:
        arrays["J_regressor"] = model["J_regressor"].toarray()
    np.savez(path, **arrays)
    return path


@pytest.fixture
def npz_path(tmp_path, model_dict):
    return write_npz(tmp_path / "flame.npz", model_dict)


@pytest.fixture(scope="module")
def face_model(tmp_path_factory):
    path = write_npz(tmp_path_factory.mktemp("fine") / "flame.npz", synthetic_flame(fine=True))
    return FlameFaceModel(path, n_shape=20)


@pytest.fixture(scope="module")
def open_eyed_model(tmp_path_factory):
    d = synthetic_flame(fine=True, eye_openings=True)
    return FlameFaceModel(write_npz(tmp_path_factory.mktemp("open") / "flame.npz", d))


# --- loading ------------------------------------------------------------------------------
def test_py2_pickle_has_chumpy_and_legacy_names(pkl_path):
    raw = pkl_path.read_bytes()
    assert raw.startswith(b"\x80\x02")
    for name in (
        b"chumpy.ch\nCh\n",
        b"numpy.core.multiarray\n_reconstruct\n",
        b"scipy.sparse.csc\ncsc_matrix\n",
    ):
        assert name in raw
    assert b"_codecs" not in raw  # arrays are raw Python 2 strings, decoded as latin1


def test_pkl_and_npz_load_identically(pkl_path, npz_path, model_dict, tmp_path):
    a, b = load_flame(pkl_path), load_flame(npz_path)
    c = load_flame(write_npz(tmp_path / "sparse.npz", model_dict, dense_regressor=False))
    assert "chumpy" not in sys.modules
    fields = ("v_template", "faces", "shapedirs", "posedirs", "J_regressor", "weights", "parents")
    for field in fields:
        for other in (b, c):
            np.testing.assert_array_equal(getattr(a, field), getattr(other, field), err_msg=field)
    np.testing.assert_allclose(a.shapedirs, model_dict["shapedirs"].astype(np.float32))
    np.testing.assert_allclose(a.J_regressor, model_dict["J_regressor"].toarray(), rtol=1e-6)
    assert a.shapedirs.dtype == np.float32 and a.faces.dtype == np.int32
    assert list(a.parents) == [-1, 0, 1, 1, 1]
    assert (a.bs_style, a.bs_type) == ("lbs", "lrotmin") == (b.bs_style, b.bs_type)
    assert a.n_expression == N_EXPR


def test_vertices_are_template_plus_blendshapes(npz_path, model_dict):
    data = load_flame(npz_path)
    rng = np.random.default_rng(1)
    shape, expr = rng.normal(size=7), rng.normal(size=5)
    sd = model_dict["shapedirs"]
    want = model_dict["v_template"] + sd[:, :, :7] @ shape + sd[:, :, 300:305] @ expr
    np.testing.assert_allclose(flame_vertices(data, shape, expr), want, atol=1e-7)

    fm = FlameFaceModel(npz_path, n_shape=20)
    offset_mm = -np.array([0.0, LEFT_EYE[1], 0.0]) * 1000.0
    want_mm = (model_dict["v_template"] + sd[:, :, :7] @ shape) * 1000.0 + offset_mm
    np.testing.assert_allclose(fm.identity(shape), want_mm, atol=1e-3)
    want_template = model_dict["v_template"] * 1000 + offset_mm
    np.testing.assert_allclose(fm.template().vertices, want_template, atol=1e-3)


def test_blend_shapes_batched():
    rng = np.random.default_rng(2)
    betas, dirs = rng.normal(size=(3, 4)), rng.normal(size=(6, 3, 4))
    out = blend_shapes(betas, dirs)
    assert out.shape == (3, 6, 3)
    np.testing.assert_allclose(out[2, 5], dirs[5] @ betas[2])


def test_short_vectors_are_zero_padded_long_ones_raise(npz_path):
    data = load_flame(npz_path)
    shape, expr = np.array([0.5, -1.0, 2.0]), np.array([1.0])
    full_s, full_e = np.zeros(300), np.zeros(N_EXPR)
    full_s[:3], full_e[:1] = shape, expr
    np.testing.assert_array_equal(
        flame_vertices(data, shape, expr), flame_vertices(data, full_s, full_e)
    )
    np.testing.assert_array_equal(flame_vertices(data), data.v_template)
    with pytest.raises(ValueError, match="shape"):
        flame_vertices(data, np.zeros(301))
    with pytest.raises(ValueError, match="expression"):
        flame_vertices(data, None, np.zeros(N_EXPR + 1))
    fm = FlameFaceModel(data, n_shape=20)
    with pytest.raises(ValueError):
        fm.identity(np.zeros(21))


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("kind", ["os.system", "eval"])
def test_forbidden_global_raises_without_running(tmp_path, model_dict, protocol, kind):
    sentinel = tmp_path / "pwned"
    if kind == "os.system":
        evil = _Evil(os.system, f"touch {sentinel}")
    else:
        evil = _Evil(eval, f"open({str(sentinel)!r}, 'w').close()")
    path = tmp_path / "evil.pkl"
    # The payload sits in front of the real data, as an attacker would place it.
    path.write_bytes(pickle.dumps({"a": evil, **model_dict}, protocol=protocol))
    with pytest.raises(FlameLoadError, match="forbidden class") as err:
        load_flame(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert ("system" if kind == "os.system" else "eval") in str(err.value)
    assert not sentinel.exists()


def test_other_numpy_functions_are_not_allowed(tmp_path):
    path = tmp_path / "np.pkl"
    path.write_bytes(pickle.dumps(_Evil(np.load, str(tmp_path / "x.npy")), protocol=2))
    with pytest.raises(FlameLoadError, match="forbidden class numpy.load"):
        load_flame(path)


@pytest.mark.parametrize("drop", ["weights", "shapedirs", "f", "kintree_table"])
def test_missing_key_is_named(tmp_path, model_dict, drop):
    d = {k: v for k, v in model_dict.items() if k != drop}
    path = write_npz(tmp_path / "m.npz", d)
    with pytest.raises(FlameLoadError, match=f"missing key '{drop}'"):
        load_flame(path)


@pytest.mark.parametrize(
    "key, bad",
    [
        ("shapedirs", lambda d: d["shapedirs"][:, :, 0]),
        ("shapedirs", lambda d: d["shapedirs"][:-1]),
        ("posedirs", lambda d: d["posedirs"][:, :, :35]),
        ("J_regressor", lambda d: d["J_regressor"].toarray()[:4]),
        ("weights", lambda d: d["weights"][:, :4]),
        ("v_template", lambda d: d["v_template"][:, :2]),
    ],
)
def test_wrong_shape_is_named(tmp_path, model_dict, key, bad):
    d = dict(model_dict)
    d[key] = bad(model_dict)
    path = write_npz(tmp_path / "m.npz", d, dense_regressor=key != "J_regressor")
    with pytest.raises(FlameLoadError, match=f"wrong shape for key '{key}'.*expected.*got") as err:
        load_flame(path)
    assert str(tuple(np.shape(d[key]))) in str(err.value)


def test_chumpy_without_array_names_the_key(tmp_path, model_dict, monkeypatch):
    path = tmp_path / "m.pkl"
    path.write_bytes(py2_pickle_bytes(model_dict, monkeypatch, ch_state={"terms": []}))
    with pytest.raises(FlameLoadError, match="'shapedirs'"):
        load_flame(path)


def test_unreadable_files(tmp_path, pkl_path, npz_path):
    with pytest.raises(FlameLoadError, match="not found"):
        load_flame(tmp_path / "nope.pkl")
    with pytest.raises(FlameLoadError, match="not a file"):
        load_flame(tmp_path)
    cases = {
        "truncated.pkl": pkl_path.read_bytes()[: 200_000],
        "truncated.npz": npz_path.read_bytes()[:5000],
        "garbage.pkl": np.random.default_rng(3).bytes(4096).replace(b"P", b"Q"),
        "text.pkl": b"hello, not a model\n",
        "empty.pkl": b"",
        "list.pkl": pickle.dumps([1, 2, 3], protocol=2),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(FlameLoadError) as err:
            load_flame(p)
        assert str(p) in str(err.value) and "\n" not in str(err.value), name


# --- the face model -----------------------------------------------------------------------
def test_is_a_face_model(face_model):
    assert isinstance(face_model, FaceModel)
    assert face_model.name == "flame" and face_model.n_shape == 20
    mesh = face_model.template()
    assert list(mesh.components) == ["head"]
    np.testing.assert_array_equal(mesh.components["head"], np.arange(len(mesh.vertices)))
    ident = face_model.identity(face_model.sample_shape(np.random.default_rng(0)))
    assert ident.shape == mesh.vertices.shape and ident.dtype == np.float32


def test_sample_shape(face_model):
    a = face_model.sample_shape(np.random.default_rng(5))
    b = face_model.sample_shape(np.random.default_rng(5))
    big = np.concatenate([face_model.sample_shape(np.random.default_rng(s)) for s in range(200)])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20,)
    assert np.abs(big).max() <= 2.5 and 0.85 < big.std() < 1.05


def test_landmarks(face_model, model_dict):
    lm = face_model.landmarks(face_model.template().vertices)
    assert set(LANDMARK_NAMES) <= set(lm)
    for name in LANDMARK_NAMES:
        assert lm[name].shape == (3,) and np.all(np.isfinite(lm[name])), name
    reg = model_dict["J_regressor"].toarray()
    offset = np.array([0.0, -LEFT_EYE[1], 0.0])
    want_left = (reg[3] @ model_dict["v_template"] + offset) * 1000
    np.testing.assert_allclose(lm["left_eye"], want_left, atol=1e-3)
    np.testing.assert_allclose(lm["left_eye"], EYES_MM, atol=1e-3)
    np.testing.assert_allclose(lm["right_eye"], EYES_MM * [-1, 1, 1], atol=1e-3)
    assert lm["eye_radius"] == pytest.approx(12.0, abs=1e-3)  # from the eyeball parts
    # The sphere's most forward midline point (y = 0 before re-centring).
    want_tip = [0.0, -LEFT_EYE[1] * 1000, HEAD_RADIUS * 1000]
    np.testing.assert_allclose(lm["nose_tip"], want_tip, atol=2.0)
    assert lm["mouth_left"][0] > 0 > lm["mouth_right"][0]
    assert lm["nose_tip"][1] > lm["mouth_center"][1] > lm["chin"][1]


def test_left_eye_is_the_one_at_plus_x(tmp_path, model_dict):
    d = dict(model_dict)
    reg = model_dict["J_regressor"].toarray()[[0, 1, 2, 4, 3]]  # joint 3 now at -x
    d["J_regressor"] = reg
    fm = FlameFaceModel(write_npz(tmp_path / "swapped.npz", d, dense_regressor=False))
    lm = fm.landmarks(fm.template().vertices)
    assert lm["left_eye"][0] == pytest.approx(32.0, abs=1e-3)


def test_regions(face_model):
    mesh = face_model.template()
    v = mesh.vertices
    for name in ("brows", "upper_lip", "lower_lip", "nose", "cheeks", "eyes", "forehead", "jaw"):
        idx = mesh.regions[name]
        assert idx.dtype == np.int32 and len(idx) > 0, name
    lm = face_model.landmarks(v)
    assert (v[mesh.regions["brows"], 1] > 0).all()
    assert (v[mesh.regions["upper_lip"], 1] >= lm["mouth_center"][1]).all()
    assert (v[mesh.regions["lower_lip"], 1] < lm["mouth_center"][1]).all()
    assert v[mesh.regions["forehead"], 1].min() > v[mesh.regions["nose"], 1].max()
    eyeballs = np.concatenate([mesh.regions["left_eyeball"], mesh.regions["right_eyeball"]])
    assert len(eyeballs) == 2 * EYEBALL_VERTS
    for name in ("brows", "eyes", "nose", "cheeks"):
        assert not np.isin(mesh.regions[name], eyeballs).any(), name


def test_eyelids(face_model):
    lids = face_model.eyelids()
    assert sorted((l.side, l.kind) for l in lids) == sorted(
        (s, k) for s in ("left", "right") for k in ("upper", "lower")
    )
    mesh = face_model.template()
    eyeballs = np.concatenate([mesh.regions["left_eyeball"], mesh.regions["right_eyeball"]])
    lm = face_model.landmarks(mesh.vertices)
    for lid in lids:
        assert isinstance(lid, Eyelid)
        assert len(lid.indices) > 0 and lid.indices.shape == lid.closure.shape
        assert np.all(np.isfinite(lid.closure)) and np.all(lid.closure >= 0), (lid.side, lid.kind)
        assert lid.closure.max() < np.pi / 2
        assert not np.isin(lid.indices, eyeballs).any()
        rel = mesh.vertices[lid.indices] - lm[f"{lid.side}_eye"]
        assert np.all(rel[:, 2] > 0)
        assert np.all(np.linalg.norm(rel, axis=1) < 12.0 + 6.0)
        assert np.all(rel[:, 1] > -1.0) if lid.kind == "upper" else np.all(rel[:, 1] <= -1.0)
    uppers = [l for l in lids if l.kind == "upper"]
    assert all(l.closure.max() > np.deg2rad(10) for l in uppers)  # margin goes below the equator


def test_eyelid_margin_closes_to_below_equator(face_model):
    # Rotating each upper-lid vertex down by its closure never leaves the margin above the
    # meeting elevation of -10 degrees.
    mesh = face_model.template()
    lm = face_model.landmarks(mesh.vertices)
    for lid in face_model.eyelids():
        if lid.kind != "upper":
            continue
        rel = mesh.vertices[lid.indices].astype(np.float64) - lm[f"{lid.side}_eye"]
        elev = np.arctan2(rel[:, 1], rel[:, 2])
        closed = elev - lid.closure
        assert closed.min() >= np.deg2rad(-10) - 1e-5  # nothing is pushed past the meeting line
        assert closed[np.argmax(lid.closure)] == pytest.approx(np.deg2rad(-10), abs=1e-5)


def test_eyelid_margins_on_eye_openings(open_eyed_model):
    # With holes where the eyeballs show (as in FLAME), the rim vertices are the margins:
    # in the middle of the eye both lids' rims close exactly to 10 deg below the equator.
    mesh = open_eyed_model.template()
    lm = open_eyed_model.landmarks(mesh.vertices)
    f = mesh.faces
    e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    edges, counts = np.unique(e, axis=0, return_counts=True)
    rim = np.unique(edges[counts == 1])
    for lid in open_eyed_model.eyelids():
        rel = mesh.vertices[lid.indices].astype(np.float64) - lm[f"{lid.side}_eye"]
        elev = np.arctan2(rel[:, 1], rel[:, 2])
        closed = elev - lid.closure if lid.kind == "upper" else elev + lid.closure
        central = np.isin(lid.indices, rim) & (np.abs(rel[:, 0]) < 3.0)
        assert central.sum() >= 1, (lid.side, lid.kind)
        np.testing.assert_allclose(closed[central], np.deg2rad(-10), atol=1e-5)
        assert np.all(lid.closure >= 0) and np.all(np.isfinite(lid.closure))
        if lid.kind == "upper":
            assert closed.min() >= np.deg2rad(-10) - 1e-5


def test_masks(tmp_path, npz_path, model_dict):
    n_v = len(model_dict["v_template"])
    nh = n_v - 2 * EYEBALL_VERTS
    masks = {
        "left_eyeball": np.arange(nh, nh + EYEBALL_VERTS),
        "right_eyeball": np.arange(nh + EYEBALL_VERTS, n_v),
        "forehead": np.arange(0, 40),
        "nose": np.array([5, 6, 7]),
        "lips": np.array([100, 101]),
    }
    mp = tmp_path / "FLAME_masks.pkl"
    mp.write_bytes(pickle.dumps(masks, protocol=2))
    fm = FlameFaceModel(npz_path, masks_path=mp)
    regions = fm.template().regions
    np.testing.assert_array_equal(regions["forehead"], np.arange(40))
    np.testing.assert_array_equal(regions["nose"], [5, 6, 7])
    np.testing.assert_array_equal(regions["lips"], [100, 101])
    assert fm.landmarks(fm.template().vertices)["eye_radius"] == pytest.approx(12.0, abs=1e-3)
    for lid in fm.eyelids():
        assert not np.isin(lid.indices, np.arange(nh, n_v)).any()

    bad = tmp_path / "bad_masks.pkl"
    bad.write_bytes(pickle.dumps({"nose": np.array([0, n_v])}, protocol=2))
    with pytest.raises(FlameLoadError, match="'nose'"):
        FlameFaceModel(npz_path, masks_path=bad)


def test_jaw_rotation_moves_only_jaw_weighted_vertices(npz_path, model_dict):
    data = load_flame(npz_path)
    rest = flame_vertices(data).astype(np.float64)
    opened = flame_vertices(data, jaw_rotation=0.2).astype(np.float64)
    w = model_dict["weights"][:, JAW_JOINT]
    moved = np.linalg.norm(opened - rest, axis=1) > 1e-7
    np.testing.assert_array_equal(moved, w > 0)
    # A fully jaw-weighted vertex rotates about the jaw joint; positive opens (moves down).
    joint = model_dict["J_regressor"].toarray()[JAW_JOINT] @ model_dict["v_template"]
    full = w == 1.0
    want = (rest[full] - joint) @ rodrigues_x(0.2).T + joint
    np.testing.assert_allclose(opened[full], want, atol=1e-6)
    half = np.flatnonzero(w == 0.5)
    rotated = (rest[half] - joint) @ rodrigues_x(0.2).T + joint
    np.testing.assert_allclose(opened[half], 0.5 * rest[half] + 0.5 * rotated, atol=1e-6)
    assert (opened[full, 1] < rest[full, 1]).all()


def test_jaw_rotation_applies_pose_correctives(tmp_path, model_dict):
    d = dict(model_dict)
    d["posedirs"] = np.random.default_rng(4).normal(0, 1e-3, model_dict["posedirs"].shape)
    data = load_flame(write_npz(tmp_path / "posed.npz", d))
    angle = 0.3
    feature = np.zeros(36)
    feature[9:18] = (rodrigues_x(angle) - np.eye(3)).ravel()  # joint 2 = second non-root joint
    still = model_dict["weights"][:, 1] == 1.0  # neck-only vertices: no rigid motion
    got = flame_vertices(data, jaw_rotation=angle)[still]
    want = model_dict["v_template"][still] + d["posedirs"][still] @ feature
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_flame_data_is_frozen(npz_path):
    data = load_flame(npz_path)
    assert isinstance(data, FlameData)
    with pytest.raises(Exception):
        data.v_template = None
