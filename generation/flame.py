"""FLAME as a face model: load a user-supplied model file safely and evaluate it.

FLAME (Li et al. 2017) is distributed under a research licence, so the model file is never
shipped: the user points ``--flame-path`` at ``generic_model.pkl`` (FLAME 2020/2023) or at an
``.npz`` with the same keys. The pickle was written by Python 2 with chumpy and scipy objects
inside; it is read with a restricted unpickler that admits only an explicit allowlist (numpy
array reconstruction, scipy sparse matrices, chumpy arrays) and maps the scipy and chumpy
classes to inert holders, so neither chumpy nor scipy is imported and no other code can run.

Layout: the math is pure functions (``blend_shapes``, ``flame_vertices``, ``lbs``) over a
frozen ``FlameData``; ``FlameFaceModel`` is a thin holder that adapts FLAME to the
``FaceModel`` protocol (millimetres, eye-centred, landmarks, regions, eyelids).

FLAME's axes match ``Mesh``'s (+y up, +z out of the face, right-handed), so +x is the
subject's left in both; FLAME names joint 3 the left eye and it lies at +x. The face model
does not rely on the numbering: of joints 3 and 4, the one with the larger x is "left_eye".
"""

from __future__ import annotations

import importlib
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .face_model import Eyelid
from .mesh import Mesh, vertex_normals

__all__ = [
    "FlameLoadError",
    "FlameData",
    "load_flame",
    "load_flame_masks",
    "blend_shapes",
    "rodrigues_x",
    "lbs",
    "flame_vertices",
    "FlameFaceModel",
    "N_SHAPE_COMPONENTS",
    "N_JOINTS",
    "N_POSE_BASIS",
    "JAW_JOINT",
    "EYE_JOINTS",
]

# --- FLAME layout -------------------------------------------------------------------------
N_SHAPE_COMPONENTS = 300  # identity components at the front of shapedirs; expression follows
N_JOINTS = 5  # global, neck, jaw, left eye, right eye
N_POSE_BASIS = 9 * (N_JOINTS - 1)  # posedirs: (R - I) of every non-root joint, flattened
JAW_JOINT = 2
EYE_JOINTS = (3, 4)
METRES_TO_MM = 1000.0
REQUIRED_KEYS = (
    "v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table",
)

# --- face-model defaults ------------------------------------------------------------------
DEFAULT_N_SHAPE = 50  # identity components exposed as the FaceModel shape vector
SHAPE_PRIOR_STD = 1.0  # FLAME betas are in units of standard deviations
SHAPE_CLIP_STD = 2.5
DEFAULT_EYE_RADIUS_MM = 12.0  # used when the eyeballs cannot be identified
EYEBALL_CENTRE_TOL_MM = 6.0  # a separate mesh part this close to an eye joint is an eyeball

# Landmark proportions. IOD = distance between the eye centres; h = vertical drop from the
# eye centres to the nose tip (adult averages: IOD ~63 mm, h ~45 mm, stomion ~27 mm and
# menton ~70 mm below the nose tip, mouth ~50 mm wide).
NOSE_BAND_IOD = 0.15  # nose tip: most forward vertex with |x - mid| < band ...
NOSE_TIP_Y_RANGE_IOD = (-1.0, -0.15)  # ... and eye_y + range * IOD
NOSE_ROOT_Y_RANGE_IOD = (-0.1, 0.35)  # nose root: deepest midline surface point in this span
MOUTH_BELOW_NOSE_H = 0.6
MOUTH_HALF_WIDTH_IOD = 0.4
CHIN_BELOW_NOSE_H = 1.5
SURFACE_PROBE_IOD = 0.06  # radius (in x, y) for "front surface at (x, y)" queries

# Eyelids (angles about the eye's +x axis; elevation 0 = straight ahead, positive = up).
LID_REACH_MM = 6.0  # lid vertices lie within eye_radius + reach of the eye centre
LID_SPLIT_MM = 1.0  # upper lid: y > eye_y - split; lower lid: the rest
EYEBALL_MARGIN_MM = 0.5  # without known eyeballs, skip vertices within eye_radius + margin
CLOSED_ELEVATION = np.deg2rad(-10.0)  # where the lids meet when the eye is closed
LID_WINDOW_SPACINGS = 1.5  # without an eye opening, the margin is the lowest vertex within
LID_WINDOW_MIN_MM = 1.0  # ... this many vertex spacings (at least this many mm) along x
MARGIN_TOL = np.deg2rad(1.0)  # vertices this close to the lowest in their window are margin
FRONT_NORMAL_Z = 0.2  # regions take vertices whose normal points forward at least this much


class FlameLoadError(ValueError):
    """A FLAME model or mask file is missing, unreadable, unsafe or malformed."""


# --- restricted unpickling ----------------------------------------------------------------
class _Holder:
    """Inert stand-in for a foreign class: keeps constructor args and pickled state only."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots dict)
            merged = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        self.state = state if isinstance(state, dict) else {"state": state}


class _ChumpyHolder(_Holder):
    """chumpy.ch.Ch and chumpy.reordering.*: the array is state['x'] (or state['a'])."""


class _SparseHolder(_Holder):
    """scipy.sparse csc/csr/coo matrix or array: dense-ified from its pickled state."""

    fmt = ""


class _CscHolder(_SparseHolder):
    fmt = "csc"


class _CsrHolder(_SparseHolder):
    fmt = "csr"


class _CooHolder(_SparseHolder):
    fmt = "coo"


def _safe_codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Python 3 writes bytes into protocol <3 pickles as _codecs.encode(str, "latin1").
    if str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return str(obj).encode("latin1", errors)


def _safe_reconstructor(cls, base, state):
    # copyreg._reconstructor for protocol 0/1 pickles, restricted to plain-object bases.
    if base is not object:
        raise pickle.UnpicklingError("copyreg._reconstructor with a non-object base is not allowed")
    return object.__new__(cls)


def _numpy_attr(submodule: str, name: str):
    """numpy.core.X / numpy._core.X under either numpy 1.x or 2.x, without the numpy.core
    deprecation shim."""

    def resolve():
        for mod in (f"numpy._core.{submodule}", f"numpy.core.{submodule}"):
            try:
                return getattr(importlib.import_module(mod), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"numpy has no {submodule}.{name}")

    return resolve


_NUMPY_CORE = {
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
}
_ALLOWED: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _safe_codecs_encode,
    ("copy_reg", "_reconstructor"): lambda: _safe_reconstructor,
    ("copyreg", "_reconstructor"): lambda: _safe_reconstructor,
    ("__builtin__", "object"): lambda: object,
    ("builtins", "object"): lambda: object,
    ("__builtin__", "set"): lambda: set,
    ("builtins", "set"): lambda: set,
    ("__builtin__", "frozenset"): lambda: frozenset,
    ("builtins", "frozenset"): lambda: frozenset,
    ("chumpy", "Ch"): lambda: _ChumpyHolder,
    ("chumpy.ch", "Ch"): lambda: _ChumpyHolder,
}
for _pkg in ("numpy.core", "numpy._core"):
    for _sub, _name in _NUMPY_CORE:
        _ALLOWED[(f"{_pkg}.{_sub}", _name)] = _numpy_attr(_sub, _name)
# scipy moved the sparse classes from scipy.sparse.csc (<1.8, what FLAME's pickle names) to
# scipy.sparse._csc; *_array classes exist since 1.8.
for _fmt, _holder in (("csc", _CscHolder), ("csr", _CsrHolder), ("coo", _CooHolder)):
    for _mod in (f"scipy.sparse.{_fmt}", f"scipy.sparse._{_fmt}", "scipy.sparse"):
        for _kind in ("matrix", "array"):
            _ALLOWED[(_mod, f"{_fmt}_{_kind}")] = (lambda h=_holder: h)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allowlisted globals; anything else raises FlameLoadError
    before it is imported or called."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str):
        resolver = _ALLOWED.get((module, name))
        if resolver is not None:
            return resolver()
        if module == "chumpy.reordering":
            return _ChumpyHolder
        raise FlameLoadError(
            f"{self._source}: forbidden class {module}.{name} in pickle (only numpy arrays, "
            "scipy sparse matrices and chumpy arrays are allowed)"
        )


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


def _restricted_load(fileobj, source: str):
    try:
        return _RestrictedUnpickler(fileobj, source).load()
    except FlameLoadError:
        raise
    except Exception as e:  # any malformed stream: EOFError, UnpicklingError, ValueError, ...
        raise FlameLoadError(f"{source}: not a readable pickle ({_one_line(e)})") from None


def _read_npz(path: Path) -> dict:
    source = str(path)
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for member in zf.namelist():
                if not member.endswith(".npy"):
                    continue
                with zf.open(member) as f:
                    data = io.BytesIO(f.read())
                version = np.lib.format.read_magic(data)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(data)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(data)
                if dtype.hasobject:
                    # np.save pickles object arrays (e.g. a sparse J_regressor): same allowlist.
                    arr = _restricted_load(data, f"{source}[{member}]")
                else:
                    data.seek(0)
                    arr = np.lib.format.read_array(data, allow_pickle=False)
                out[member[: -len(".npy")]] = arr
    except FlameLoadError:
        raise
    except Exception as e:
        raise FlameLoadError(f"{source}: not a readable npz ({_one_line(e)})") from None
    return out


def _read_model_dict(path) -> tuple[Path, dict]:
    path = Path(path)
    if not path.exists():
        raise FlameLoadError(f"{path}: file not found")
    if not path.is_file():
        raise FlameLoadError(f"{path}: not a file")
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith(b"PK"):
            obj = None
        else:
            f.seek(0)
            obj = _restricted_load(f, str(path))
    if obj is None:
        obj = _read_npz(path)
    if not isinstance(obj, dict):
        raise FlameLoadError(f"{path}: expected a dict of arrays, got {type(obj).__name__}")
    return path, obj


# --- dense arrays from pickled values -----------------------------------------------------
def _sparse_to_dense(h: _SparseHolder, where: str) -> np.ndarray:
    s = getattr(h, "state", {})
    shape = s.get("_shape", s.get("shape"))
    try:
        shape = tuple(int(n) for n in shape)
        data = np.asarray(s["data"], dtype=np.float64)
        dense = np.zeros(shape, dtype=np.float64)
        if h.fmt in ("csc", "csr"):
            indices = np.asarray(s["indices"], dtype=np.int64)
            indptr = np.asarray(s["indptr"], dtype=np.int64)
            outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            rows, cols = (indices, outer) if h.fmt == "csc" else (outer, indices)
        else:
            coords = s.get("coords")
            rows, cols = (coords[0], coords[1]) if coords is not None else (s["row"], s["col"])
            rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        np.add.at(dense, (rows, cols), data)
    except Exception as e:
        raise FlameLoadError(
            f"{where}: unreadable {h.fmt} sparse matrix ({_one_line(e)})"
        ) from None
    return dense


def _to_array(value, where: str, depth: int = 0) -> np.ndarray:
    if depth > 8:
        raise FlameLoadError(f"{where}: nested too deeply to find an array")
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.ndim == 0:
        value = value.item()
    if isinstance(value, _ChumpyHolder):
        s = getattr(value, "state", {})
        inner = s.get("x", s.get("a"))
        if inner is None:
            raise FlameLoadError(f"{where}: chumpy object without an array (no 'x' or 'a')")
        return _to_array(inner, where, depth + 1)
    if isinstance(value, _SparseHolder):
        return _sparse_to_dense(value, where)
    if isinstance(value, _Holder):
        raise FlameLoadError(f"{where}: holds an object without a usable array")
    try:
        arr = np.asarray(value)
    except Exception as e:
        raise FlameLoadError(f"{where}: not an array ({_one_line(e)})") from None
    if arr.dtype.hasobject:
        raise FlameLoadError(f"{where}: not a numeric array (dtype object)")
    return arr


def _to_str(value, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bytes):
        return value.decode("latin1")
    return str(np.asarray(value).item()) if isinstance(value, np.ndarray) else str(value)


# --- model data ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FlameData:
    """The arrays of one FLAME model, in its own units (metres).

    v_template: (V, 3) float32 mean head.
    faces: (F, 3) int32 triangles (FLAME's ``f``).
    shapedirs: (V, 3, K) float32; the first N_SHAPE_COMPONENTS are identity, the rest
        (K - 300, 100 in FLAME 2020/2023) expression.
    posedirs: (V, 3, 36) float32 pose correctives, weighted by (R_j - I) of joints 1..4.
    J_regressor: (5, V) float32 dense; joints = J_regressor @ vertices.
    weights: (V, 5) float32 skinning weights.
    parents: (5,) int64 parent joint of each joint (-1 for the root).
    bs_style, bs_type: FLAME's metadata strings ("lbs", "lrotmin").
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    bs_style: str = "lbs"
    bs_type: str = "lrotmin"

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_expression(self) -> int:
        return int(self.shapedirs.shape[2]) - N_SHAPE_COMPONENTS


def _check_shape(source: str, key: str, arr: np.ndarray, expected: tuple) -> None:
    """``expected`` holds ints or None (any size)."""
    ok = arr.ndim == len(expected)
    ok = ok and all(e is None or e == n for e, n in zip(expected, arr.shape))
    if not ok:
        exp = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise FlameLoadError(
            f"{source}: wrong shape for key {key!r}: expected {exp}, got {arr.shape}"
        )


def load_flame(path) -> FlameData:
    """Read ``generic_model.pkl`` (FLAME 2020/2023) or an ``.npz`` with the same keys.

    Raises FlameLoadError (one line naming the file and the problem) for a missing or
    unreadable file, a forbidden class in the pickle, a missing key or a wrongly shaped array.
    """
    path, raw = _read_model_dict(path)
    src = str(path)
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise FlameLoadError(f"{src}: missing key {key!r}")
    arr = {key: _to_array(raw[key], f"{src}: key {key!r}") for key in REQUIRED_KEYS}

    _check_shape(src, "v_template", arr["v_template"], (None, 3))
    n_v = arr["v_template"].shape[0]
    _check_shape(src, "f", arr["f"], (None, 3))
    _check_shape(src, "shapedirs", arr["shapedirs"], (n_v, 3, None))
    if arr["shapedirs"].shape[2] < N_SHAPE_COMPONENTS:
        raise FlameLoadError(
            f"{src}: wrong shape for key 'shapedirs': expected ({n_v}, 3, >={N_SHAPE_COMPONENTS}), "
            f"got {arr['shapedirs'].shape}"
        )
    _check_shape(src, "posedirs", arr["posedirs"], (n_v, 3, N_POSE_BASIS))
    _check_shape(src, "J_regressor", arr["J_regressor"], (N_JOINTS, n_v))
    _check_shape(src, "weights", arr["weights"], (n_v, N_JOINTS))
    _check_shape(src, "kintree_table", arr["kintree_table"], (2, N_JOINTS))

    faces = arr["f"]
    if not np.issubdtype(faces.dtype, np.integer) and not np.all(np.mod(faces, 1) == 0):
        raise FlameLoadError(f"{src}: key 'f' must hold integer vertex indices")
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= n_v):
        raise FlameLoadError(f"{src}: key 'f' indexes vertices outside 0..{n_v - 1}")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.all(np.isfinite(arr[key].astype(np.float64))):
            raise FlameLoadError(f"{src}: key {key!r} holds non-finite values")

    # FLAME stores the root's parent as uint32 max; the smplx convention is -1.
    parents = arr["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, N_JOINTS)):
        raise FlameLoadError(f"{src}: key 'kintree_table' must list each joint after its parent")

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return FlameData(
        v_template=f32(arr["v_template"]),
        faces=np.ascontiguousarray(faces, dtype=np.int32),
        shapedirs=f32(arr["shapedirs"]),
        posedirs=f32(arr["posedirs"]),
        J_regressor=f32(arr["J_regressor"]),
        weights=f32(arr["weights"]),
        parents=parents,
        bs_style=_to_str(raw.get("bs_style"), "lbs"),
        bs_type=_to_str(raw.get("bs_type"), "lrotmin"),
    )


def load_flame_masks(path, n_vertices: int) -> dict[str, np.ndarray]:
    """Read ``FLAME_masks.pkl`` (or an .npz): region name -> (K,) int32 vertex indices."""
    path, raw = _read_model_dict(path)
    out = {}
    for key, value in raw.items():
        idx = _to_array(value, f"{path}: key {key!r}")
        if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
            raise FlameLoadError(
                f"{path}: wrong shape for key {key!r}: expected 1-D integer indices, "
                f"got {idx.shape} {idx.dtype}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
            raise FlameLoadError(
                f"{path}: key {key!r} indexes vertices outside 0..{n_vertices - 1}"
            )
        out[str(key)] = np.unique(idx).astype(np.int32)
    return out


# --- pure functions -----------------------------------------------------------------------
def blend_shapes(betas: np.ndarray, shapedirs: np.ndarray) -> np.ndarray:
    """Per-vertex displacements.

    betas: (B, K) coefficients; shapedirs: (V, 3, K) -> (B, V, 3).
    """
    return np.einsum("bk,vck->bvc", betas, shapedirs)


def rodrigues_x(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about +x (positive turns +y towards +z)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def lbs(
    v_shaped: np.ndarray,
    joints: np.ndarray,
    parents: np.ndarray,
    weights: np.ndarray,
    posedirs: np.ndarray,
    rotations: np.ndarray,
) -> np.ndarray:
    """Linear blend skinning with pose correctives (smplx's ``lbs`` for one sample).

    v_shaped: (V, 3) rest vertices; joints: (J, 3) rest joints; parents: (J,) (-1 = root);
    weights: (V, J); posedirs: (V, 3, 9 (J - 1)); rotations: (J, 3, 3) local joint rotations.
    Returns (V, 3) posed vertices.
    """
    n_j = len(parents)
    eye3 = np.eye(3)
    pose_feature = (rotations[1:] - eye3).reshape(-1)  # (9 (J - 1),)
    v_posed = v_shaped + posedirs @ pose_feature  # (V, 3)

    world = np.zeros((n_j, 4, 4))
    for j in range(n_j):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if parents[j] >= 0 else 0.0)
        world[j] = local if parents[j] < 0 else world[parents[j]] @ local
    # Remove the rest-pose joint position so each transform maps rest points to posed ones.
    rel = world.copy()
    rel[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)

    blended = np.einsum("vj,jab->vab", weights, rel)  # (V, 4, 4)
    return np.einsum("vab,vb->va", blended[:, :3, :3], v_posed) + blended[:, :3, 3]


def _padded(values, n_max: int, what: str) -> np.ndarray:
    v = np.zeros(n_max)
    if values is None:
        return v
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(a) > n_max:
        raise ValueError(f"{what} has {len(a)} components, the model has {n_max}")
    v[: len(a)] = a
    return v


def flame_vertices(
    data: FlameData,
    shape: np.ndarray | None = None,
    expression: np.ndarray | None = None,
    jaw_rotation: float = 0.0,
) -> np.ndarray:
    """(V, 3) float32 vertices in metres (FLAME's frame).

    shape: (<=300,) identity coefficients, expression: (<=K-300,) expression coefficients;
    shorter vectors are zero-padded, longer ones raise ValueError. jaw_rotation: radians about
    +x at the jaw joint (positive opens the mouth), applied by linear blend skinning with
    FLAME's weights and kinematic tree; FLAME's pose correctives (posedirs) are applied too.
    """
    coeffs = np.concatenate(
        [
            _padded(shape, N_SHAPE_COMPONENTS, "shape"),
            _padded(expression, data.n_expression, "expression"),
        ]
    )
    v = data.v_template.astype(np.float64) + blend_shapes(coeffs[None], data.shapedirs)[0]
    if jaw_rotation:
        rotations = np.tile(np.eye(3), (N_JOINTS, 1, 1))
        rotations[JAW_JOINT] = rodrigues_x(float(jaw_rotation))
        joints = data.J_regressor.astype(np.float64) @ v
        v = lbs(v, joints, data.parents, data.weights, data.posedirs, rotations)
    return v.astype(np.float32)


# --- mesh helpers -------------------------------------------------------------------------
def _connected_components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) label per vertex: the smallest vertex index of its connected component."""
    label = np.arange(n_vertices)
    if not len(faces):
        return label
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    while True:
        m = np.minimum(label[edges[:, 0]], label[edges[:, 1]])
        new = label.copy()
        np.minimum.at(new, edges[:, 0], m)
        np.minimum.at(new, edges[:, 1], m)
        new = new[new]  # pointer jumping: follow labels to their own labels
        if np.array_equal(new, label):
            return label
        label = new


def _boundary_vertices(faces: np.ndarray) -> np.ndarray:
    """Indices of vertices on an edge used by only one face (the rim of a hole)."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    return np.unique(uniq[counts == 1])


def _front_z(vertices: np.ndarray, usable: np.ndarray, x: float, y: float, radius: float) -> float:
    """z of the front surface at (x, y): the largest z among usable vertices within ``radius``
    in (x, y), or among the 8 nearest in (x, y) when none is that close."""
    pts = vertices[usable]
    d = np.hypot(pts[:, 0] - x, pts[:, 1] - y)
    near = d < radius
    if not near.any():
        near = np.argsort(d)[:8]
    return float(pts[near, 2].max())


def _smooth_falloff(t: np.ndarray) -> np.ndarray:
    """1 at t <= 0, 0 at t >= 1, cosine in between."""
    return 0.5 * (1.0 + np.cos(np.pi * np.clip(t, 0.0, 1.0)))


# --- the face model -----------------------------------------------------------------------
class FlameFaceModel:
    """FLAME behind the ``FaceModel`` protocol: millimetres, eye-centred (x = y = 0 at the
    midpoint of the eye joints of the mean head; the same translation for every identity).

    n_shape: how many of FLAME's 300 identity components form the shape vector.
    masks_path: optional ``FLAME_masks.pkl``; its regions are added to the template's
        (replacing geometric ones of the same name) and its eyeballs are used.
    ``identity`` ignores age and gender (FLAME has no such controls).
    """

    name = "flame"

    def __init__(self, path, n_shape: int = DEFAULT_N_SHAPE, masks_path=None):
        if not 0 < int(n_shape) <= N_SHAPE_COMPONENTS:
            raise ValueError(f"n_shape must be in 1..{N_SHAPE_COMPONENTS}, got {n_shape}")
        self.data = load_flame(path) if not isinstance(path, FlameData) else path
        self.n_shape = int(n_shape)
        self.masks = load_flame_masks(masks_path, self.data.n_vertices) if masks_path else {}

        rest = flame_vertices(self.data).astype(np.float64) * METRES_TO_MM
        eyes = self.data.J_regressor[list(EYE_JOINTS)].astype(np.float64) @ rest
        self.offset_mm = np.array([-eyes[:, 0].mean(), -eyes[:, 1].mean(), 0.0])
        self._left_joint, self._right_joint = (
            EYE_JOINTS if eyes[0, 0] >= eyes[1, 0] else EYE_JOINTS[::-1]
        )
        self._eyeballs = self._find_eyeballs(rest + self.offset_mm)
        not_eyeball = np.ones(self.data.n_vertices, dtype=bool)
        for idx in self._eyeballs.values():
            not_eyeball[idx] = False
        self._not_eyeball = not_eyeball
        self._template: Mesh | None = None
        self._eyelids: list[Eyelid] | None = None

    # -- geometry in the model's millimetre frame --
    def vertices(self, shape=None, expression=None, jaw_rotation: float = 0.0) -> np.ndarray:
        """(V, 3) float32 millimetres; see ``flame_vertices`` for the arguments."""
        v = flame_vertices(self.data, shape, expression, jaw_rotation).astype(np.float64)
        return (v * METRES_TO_MM + self.offset_mm).astype(np.float32)

    def identity(
        self, shape: np.ndarray, age: float = 0.0, gender: float = 0.0, ethnicity: str | None = None
    ) -> np.ndarray:
        """(V, 3) float32 neutral vertices for ``shape`` (<= n_shape,); age, gender, ethnicity ignored."""
        shape = np.asarray(shape, dtype=np.float64).reshape(-1)
        if len(shape) > self.n_shape:
            raise ValueError(f"shape has {len(shape)} components, n_shape is {self.n_shape}")
        return self.vertices(shape)

    def sample_shape(self, rng: np.random.Generator) -> np.ndarray:
        """(n_shape,) standard-normal betas (times SHAPE_PRIOR_STD), clipped at +-2.5 std."""
        z = rng.normal(0.0, SHAPE_PRIOR_STD, self.n_shape)
        return np.clip(z, -SHAPE_CLIP_STD, SHAPE_CLIP_STD)

    def _find_eyeballs(self, verts: np.ndarray) -> dict[str, np.ndarray]:
        """side -> eyeball vertex indices: from the masks, else the separate mesh parts whose
        centroid lies near an eye joint; empty when neither finds them."""
        if "left_eyeball" in self.masks and "right_eyeball" in self.masks:
            a, b = self.masks["left_eyeball"], self.masks["right_eyeball"]
            # Label by position, like the eye joints.
            if len(a) and len(b) and verts[a, 0].mean() < verts[b, 0].mean():
                a, b = b, a
            return {"left": a, "right": b}
        centres = {
            "left": self.data.J_regressor[self._left_joint] @ verts,
            "right": self.data.J_regressor[self._right_joint] @ verts,
        }
        labels = _connected_components(self.data.faces, len(verts))
        uniq, counts = np.unique(labels, return_counts=True)
        largest = uniq[np.argmax(counts)]
        found = {"left": [], "right": []}
        for lab, cnt in zip(uniq, counts):
            if lab == largest or cnt < 4:
                continue
            idx = np.flatnonzero(labels == lab)
            c = verts[idx].mean(axis=0)
            for side, centre in centres.items():
                if np.linalg.norm(c - centre) < EYEBALL_CENTRE_TOL_MM:
                    found[side].append(idx)
        if not (found["left"] and found["right"]):
            return {}
        return {s: np.concatenate(found[s]).astype(np.int32) for s in found}

    def landmarks(self, vertices: np.ndarray) -> dict[str, np.ndarray]:
        """Named (3,) points in millimetres for ``vertices`` (V, 3) in this model's frame.

        Eye centres: the J_regressor eye joints. eye_radius: mean distance of the eyeball
        vertices from their centre, or DEFAULT_EYE_RADIUS_MM when the eyeballs are unknown.
        nose_tip: most forward vertex in a midline band below the eyes. The rest are front
        surface points at documented proportions of IOD (eye distance) and h (eye-to-nose-tip
        drop): nose_root the deepest midline point between eye level and a little above;
        mouth h*0.6 below the nose tip, corners +-0.4 IOD; chin h*1.5 below the nose tip.
        """
        v = np.asarray(vertices, dtype=np.float64)
        reg = self.data.J_regressor
        left, right = reg[self._left_joint] @ v, reg[self._right_joint] @ v
        mid = 0.5 * (left + right)
        iod = max(float(np.linalg.norm(left - right)), 1e-6)
        usable = self._not_eyeball

        x, y, z = v[:, 0], v[:, 1], v[:, 2]
        band = usable & (np.abs(x - mid[0]) < NOSE_BAND_IOD * iod)
        lo, hi = NOSE_TIP_Y_RANGE_IOD
        in_range = band & (y > mid[1] + lo * iod) & (y < mid[1] + hi * iod)
        cand = np.flatnonzero(in_range if in_range.any() else band if band.any() else usable)
        nose_tip = v[cand[np.argmax(z[cand])]]
        h = max(mid[1] - nose_tip[1], 0.3 * iod)

        probe = SURFACE_PROBE_IOD * iod

        def surface(px: float, py: float) -> np.ndarray:
            return np.array([px, py, _front_z(v, usable, px, py, probe)])

        ys = mid[1] + np.linspace(*NOSE_ROOT_Y_RANGE_IOD, 10) * iod
        roots = [surface(mid[0], yy) for yy in ys]
        nose_root = min(roots, key=lambda p: p[2])
        mouth_y = nose_tip[1] - MOUTH_BELOW_NOSE_H * h
        half = MOUTH_HALF_WIDTH_IOD * iod

        out = {
            "left_eye": left,
            "right_eye": right,
            "nose_root": nose_root,
            "nose_tip": nose_tip.copy(),
            "mouth_center": surface(mid[0], mouth_y),
            "mouth_left": surface(mid[0] + half, mouth_y),
            "mouth_right": surface(mid[0] - half, mouth_y),
            "chin": surface(mid[0], nose_tip[1] - CHIN_BELOW_NOSE_H * h),
        }
        out = {k: np.asarray(p, dtype=np.float32) for k, p in out.items()}
        if self._eyeballs:
            r = [np.linalg.norm(v[self._eyeballs[s]] - c, axis=1).mean() for s, c in
                 (("left", left), ("right", right))]
            out["eye_radius"] = float(np.mean(r))
        else:
            out["eye_radius"] = DEFAULT_EYE_RADIUS_MM
        return out

    def template(self) -> Mesh:
        """The mean head (shape 0) with geometric regions (plus the masks' regions) and one
        component, "head", covering every vertex (FLAME's eyeballs included)."""
        if self._template is None:
            verts = self.vertices()
            regions = self._geometric_regions(verts)
            regions.update(self.masks)
            for side, idx in self._eyeballs.items():
                regions[f"{side}_eyeball"] = idx
            self._template = Mesh(
                verts,
                self.data.faces,
                regions=regions,
                components={"head": np.arange(len(verts), dtype=np.int32)},
            )
        return self._template

    def _geometric_regions(self, verts: np.ndarray) -> dict[str, np.ndarray]:
        """Regions from positions relative to the landmarks on front-facing, non-eyeball skin.
        Bounds are in units of IOD horizontally (u = |x - mid| / IOD) and millimetres
        relative to eye level, nose tip, mouth and chin vertically."""
        lm = self.landmarks(verts)
        le, re = lm["left_eye"].astype(np.float64), lm["right_eye"].astype(np.float64)
        mid = 0.5 * (le + re)
        iod = float(np.linalg.norm(le - re))
        nose_y, mouth_y, chin_y = lm["nose_tip"][1], lm["mouth_center"][1], lm["chin"][1]
        h = max(mid[1] - nose_y, 0.3 * iod)

        normals = vertex_normals(verts, self.data.faces)
        skin = self._not_eyeball & (normals[:, 2] > FRONT_NORMAL_Z)
        x, y = verts[:, 0].astype(np.float64), verts[:, 1].astype(np.float64)
        u = np.abs(x - mid[0]) / iod
        dy = y - mid[1]
        subnasale = nose_y - 0.15 * h
        lip_h = 0.3 * (nose_y - mouth_y)  # lower lip height, ~ a third of nose-to-mouth

        def sel(mask: np.ndarray) -> np.ndarray:
            return np.flatnonzero(skin & mask).astype(np.int32)

        near_eye = np.minimum(
            np.hypot(x - le[0], y - le[1]), np.hypot(x - re[0], y - re[1])
        ) < 0.4 * iod
        upper_lip = (u < 1.1 * MOUTH_HALF_WIDTH_IOD) & (y >= mouth_y) & (y < subnasale)
        lower_lip = (u < MOUTH_HALF_WIDTH_IOD) & (y < mouth_y) & (y >= mouth_y - lip_h)
        regions = {
            "forehead": sel((u < 0.9) & (dy > 0.45 * iod) & (dy < 1.3 * iod)),
            "brows": sel((u > 0.1) & (u < 0.85) & (dy > 0.18 * iod) & (dy <= 0.45 * iod)),
            "glabella": sel((u < 0.2) & (dy > 0.0) & (dy <= 0.35 * iod)),
            "eyes": sel(near_eye),
            "nose": sel((u < 0.3) & (y > subnasale) & (dy < -0.1 * iod)),
            "cheeks": sel((u >= 0.3) & (u < 1.0) & (y > mouth_y) & (dy < -0.3 * iod)),
            "upper_lip": sel(upper_lip),
            "lower_lip": sel(lower_lip),
            "mouth": sel(upper_lip | lower_lip),
            "chin": sel((u < 0.45) & (y < mouth_y - lip_h) & (y > chin_y - 0.2 * h)),
            "jaw": np.flatnonzero(self.data.weights[:, JAW_JOINT] > 0.5).astype(np.int32),
        }
        return regions

    def eyelids(self) -> list[Eyelid]:
        """Left/right x upper/lower lids of the mean head.

        Lid vertices: within eye_radius + 6 mm of the eye centre, in front of it, not eyeball
        (the eyeballs when known, else anything within eye_radius + 0.5 mm); upper above
        eye_y - 1 mm, lower the rest. Elevation is the angle about the eye's x axis (0 straight
        ahead, positive up). Margin vertices: lid vertices on the eye opening (mesh boundary)
        or, on a mesh without one, the lowest (upper lid) / highest (lower lid) vertices in a
        window along x of about 1.5 vertex spacings. The lids meet at 10 deg below the equator,
        or at the lower margin where that is higher (the corners), so an upper margin vertex
        closes by (its elevation - meeting elevation) and a lower one by the converse. Every
        other lid vertex takes its nearest margin vertex's angle times a cosine taper from 1
        at the margin to 0 at the outer edge of the selection.
        """
        if self._eyelids is None:
            verts = self.template().vertices.astype(np.float64)
            lm = self.landmarks(verts)
            boundary = np.zeros(len(verts), dtype=bool)
            boundary[_boundary_vertices(self.data.faces)] = True
            lids = []
            for side in ("left", "right"):
                lids.extend(
                    self._eyelids_for(verts, boundary, side, lm[f"{side}_eye"], lm["eye_radius"])
                )
            self._eyelids = lids
        return list(self._eyelids)

    def _eyelids_for(self, verts, boundary, side, centre, eye_radius) -> list[Eyelid]:
        rel = verts - np.asarray(centre, dtype=np.float64)
        dist = np.linalg.norm(rel, axis=1)
        reach = eye_radius + LID_REACH_MM
        cand = (dist < reach) & (rel[:, 2] > 0.0) & self._not_eyeball
        if not self._eyeballs:
            cand &= dist > eye_radius + EYEBALL_MARGIN_MM
        lids = {
            "upper": np.flatnonzero(cand & (rel[:, 1] > -LID_SPLIT_MM)),
            "lower": np.flatnonzero(cand & (rel[:, 1] <= -LID_SPLIT_MM)),
        }
        elev = np.arctan2(rel[:, 1], rel[:, 2])
        x = rel[:, 0]

        idx_all = np.flatnonzero(cand)
        window = LID_WINDOW_MIN_MM
        if len(idx_all) > 1:
            d = np.linalg.norm(verts[idx_all][:, None] - verts[idx_all][None], axis=2)
            np.fill_diagonal(d, np.inf)
            window = max(window, LID_WINDOW_SPACINGS * float(np.median(d.min(axis=1))))

        def margin(idx: np.ndarray, kind: str) -> np.ndarray:
            """Margin vertices (indices into verts) of one lid."""
            if not len(idx):
                return idx
            on_edge = idx[boundary[idx]]
            if len(on_edge) >= 2:
                return on_edge
            sign = 1.0 if kind == "upper" else -1.0  # compare -elevation for the lower lid
            e = sign * elev[idx]
            near = np.abs(x[idx][:, None] - x[idx][None]) < window
            lowest = np.where(near, e[None], np.inf).min(axis=1)
            return idx[e <= lowest + MARGIN_TOL]

        margins = {k: margin(idx, k) for k, idx in lids.items()}

        def curve(m: np.ndarray, pick) -> np.ndarray | None:
            """The margin's elevation along x (pick among equal x), at every vertex's x."""
            if not len(m):
                return None
            xs = np.unique(x[m])
            vals = np.array([pick(elev[m][x[m] == v]) for v in xs])
            return np.interp(x, xs, vals)

        up, low = curve(margins["upper"], np.min), curve(margins["lower"], np.max)
        meet = np.full(len(verts), CLOSED_ELEVATION)
        if low is not None:
            meet = np.maximum(meet, low)
        if up is not None:
            meet = np.minimum(meet, up)

        out = []
        for kind in ("upper", "lower"):
            idx, m = lids[kind], margins[kind]
            if not len(idx):
                out.append(Eyelid(side, kind, np.zeros(0, np.int32), np.zeros(0, np.float32)))
                continue
            amp = elev[m] - meet[m] if kind == "upper" else meet[m] - elev[m]
            amp = np.maximum(amp, 0.0)
            d = np.linalg.norm(verts[idx][:, None] - verts[m][None], axis=2)  # (K, M)
            nearest = d.argmin(axis=1)
            d_margin = d[np.arange(len(idx)), nearest]
            d_edge = np.maximum(reach - dist[idx], 0.0)
            t = d_margin / np.maximum(d_margin + d_edge, 1e-9)
            # Never past the meeting line (where the margin curve falls, e.g. at the corners,
            # a vertex can sit below its nearest margin vertex).
            room = elev[idx] - meet[idx] if kind == "upper" else meet[idx] - elev[idx]
            closure = np.minimum(amp[nearest] * _smooth_falloff(t), np.maximum(room, 0.0))
            out.append(Eyelid(side, kind, idx.astype(np.int32), closure.astype(np.float32)))
        return out
