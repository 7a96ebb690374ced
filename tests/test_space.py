"""The Gradio Space (spaces/app.py): its functions, its API through gradio_client, and its UI in
a real headless Chromium driven by Playwright.

Needs: gradio, gradio_client, playwright (pip) and Debian's chromium (apt) at /usr/bin/chromium
(or $PAIN3D_CHROMIUM). The browser test fails, never skips, when they are missing, unless
PAIN3D_SKIP_BROWSER=1 says so explicitly. Screenshots go to a temporary folder and are copied to
outputs/space_*.png.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import socket
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Keep Gradio's upload/output cache in one folder this test run owns and removes.
import atexit  # noqa: E402
import tempfile  # noqa: E402

_GRADIO_TMP = tempfile.mkdtemp(prefix="pain3d-gradio-")
os.environ["GRADIO_TEMP_DIR"] = _GRADIO_TMP
os.environ["TMPDIR"] = _GRADIO_TMP  # the app's and the client's temporary files too
tempfile.tempdir = _GRADIO_TMP
atexit.register(shutil.rmtree, _GRADIO_TMP, True)

import gradio  # noqa: E402,F401  (missing: an import error, never a silent skip)
from gradio_client import Client, handle_file

from generation.facs import pspi

ROOT = Path(__file__).resolve().parents[1]
APP_PATH = ROOT / "spaces" / "app.py"
EXAMPLES = ROOT / "spaces" / "examples"
CHROMIUM = os.environ.get("PAIN3D_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SLIDERS = dict(au4=3, au6=2, au7=1, au9=0, au10=4, au43=True)
GEN_ARGS = (3, 2, 1, 0, 4, True, 0, 0, 0, 0, 0, 0, "young", "woman", "Black", 7, 256)

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:gradio.helpers"),  # gr.Warning outside a request
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),  # gradio 6.31 queue on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]


def _load_app_module():
    spec = importlib.util.spec_from_file_location("pain3d_space_app", APP_PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tiny_model(path: Path, **kwargs) -> Path:
    import torch

    from vitpain_hf import ViTPainConfig, ViTPainModel, make_image_processor

    torch.manual_seed(0)
    cfg = ViTPainConfig.from_preset("tiny", image_size=64, **kwargs)
    ViTPainModel(cfg).save_pretrained(path)
    make_image_processor(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return _load_app_module()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _tiny_model(tmp_path_factory.mktemp("vitpain-tiny"))


@pytest.fixture(scope="module")
def app(space, model_dir):
    return space.App(str(model_dir))


@pytest.fixture(scope="module")
def server(space, model_dir):
    """The full demo, as `python spaces/app.py` builds it, with the model given by $PAIN3D_MODEL."""
    old = os.environ.get(space.MODEL_ENV)
    os.environ[space.MODEL_ENV] = str(model_dir)
    try:
        demo = space.build_demo()
    finally:
        if old is None:
            os.environ.pop(space.MODEL_ENV, None)
        else:
            os.environ[space.MODEL_ENV] = old
    assert demo.pain3d_app.assessor.model is not None, demo.pain3d_app.model_info
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                allowed_paths=[str(EXAMPLES)])
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


def _images(tmp: Path) -> dict[str, Path]:
    """Awkward but valid uploads, plus broken ones."""
    face = Image.open(EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg").convert("RGB")
    out = {}
    out["gray"] = tmp / "gray.png"
    face.convert("L").save(out["gray"])
    out["rgba"] = tmp / "rgba.png"
    rgba = face.convert("RGBA")
    rgba.putalpha(Image.new("L", face.size, 200))
    rgba.save(out["rgba"])
    out["i16"] = tmp / "i16.png"
    Image.fromarray((np.asarray(face.convert("L"), np.uint16) * 257)).save(out["i16"])
    out["huge"] = tmp / "huge.jpg"
    face.resize((3000, 3000), Image.Resampling.BILINEAR).save(out["huge"], quality=80)
    out["text"] = tmp / "notes.png"  # a text file with an image name
    out["text"].write_text("this is not an image\n")
    out["empty"] = tmp / "empty.jpg"
    out["empty"].write_bytes(b"")
    out["truncated"] = tmp / "truncated.jpg"
    buf = io.BytesIO()
    face.save(buf, format="JPEG")
    out["truncated"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    out["tiny"] = tmp / "tiny.png"
    face.resize((12, 12)).save(out["tiny"])
    out["bomb"] = tmp / "bomb.png"  # a valid PNG header claiming 30000 x 30000 pixels
    out["bomb"].write_bytes(_png_header(30000, 30000))
    out["big_png"] = tmp / "big.png"  # 90 MP claimed: over the app's limit, under PIL's bomb check
    out["big_png"].write_bytes(_png_header(10000, 9000))
    return out


def _png_header(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------- functions


def test_pspi_formula_matches_facs(space):
    assert space.pspi_formula({"AU4": 3, "AU6": 2, "AU7": 1, "AU9": 0, "AU10": 4, "AU43": 1}) == (
        "PSPI = 3 + max(2, 1) + max(0, 4) + 1 = 10"
    )
    rng = np.random.default_rng(0)
    for _ in range(50):
        aus = {k: int(rng.integers(0, 6)) for k in ("AU4", "AU6", "AU7", "AU9", "AU10")}
        aus["AU43"] = int(rng.integers(0, 2))
        text = space.pspi_formula(aus)
        assert text.endswith(f"= {int(pspi(aus))}")


def test_the_space_draws_the_generators_face(space):
    """A seed is the same face in the Space as in a generated dataset: the Space's neutral
    renders of seed 5 with identity 0's demographics are byte for byte the generator's (colour,
    lights, backdrop and the eyes' gloss alike), and its AU-posed render is the generator's pain frame."""
    from generation.pipeline import GenerationConfig, Generator

    cfg = GenerationConfig(identities=1, expressions=1, views=space.VIEWS, size=128, seed=5,
                           fixed_aus={"AU10": 4}, distractor_probability=0.0)
    gen = Generator(cfg)
    frames = gen.identity(0).frames
    factory = space.FaceFactory()
    ident = factory.identity(5, gen.demographics[0], 128)
    pain = space.pose_sample(factory, {"AU10": 4}, {}, gen.demographics[0], 5, 128).pain_images
    for j in range(len(space.VIEWS)):
        assert np.array_equal(ident.neutral_images[j], frames[j].image), j
        assert np.array_equal(pain[j], frames[len(space.VIEWS) + j].image), j


def test_slider_change_reposes_a_cached_identity_quickly(app):
    first = app.generate(*GEN_ARGS)
    builds = app.factory.builds
    times = []
    for au4 in (0, 1, 2, 3, 4, 5, 2):
        t = time.perf_counter()
        md, neutral, pain, heat, labels = app.generate(au4, *GEN_ARGS[1:])
        times.append(time.perf_counter() - t)
        assert f"PSPI = {au4} + max(2, 1) + max(0, 4) + 1 = {au4 + 7}" in md
        assert labels["pspi"] == au4 + 7
    assert app.factory.builds == builds, "a slider change rebuilt the identity"
    assert np.array_equal(neutral, first[1]), "the neutral renders must not change with the AUs"
    assert pain.shape == (256, 3 * 256 + 2 * 4, 3) and heat.shape == pain.shape
    assert float(np.median(times)) < 0.5, times  # ~25 ms on one core; generous for loaded CI
    # a different identity is a cache miss, then a hit
    app.generate(*GEN_ARGS[:-2], 8, 256)
    assert app.factory.builds == builds + 1
    app.generate(*GEN_ARGS[:-2], 8, 256)
    assert app.factory.builds == builds + 1


def test_distractors_move_the_face_but_not_pspi(app):
    base = app.generate(0, 0, 0, 0, 0, False, 0, 0, 0, 0, 0, 0, "elderly", "man", "White", 3, 128)
    smile = app.generate(0, 0, 0, 0, 0, False, 0, 0, 4, 0, 2, 0, "elderly", "man", "White", 3, 128)
    assert base[4]["pspi"] == smile[4]["pspi"] == 0
    assert smile[4]["distractor_aus"] == {"AU12": 4.0, "AU25": 2.0}
    assert not np.array_equal(base[2], smile[2])
    assert max(smile[4]["max_heat_per_view"]) > 0.1 and max(base[4]["max_heat_per_view"]) == 0


def test_uploads_are_decoded_or_refused_with_a_message(space, tmp_path):
    imgs = _images(tmp_path)
    for name in ("gray", "rgba", "i16", "huge"):
        img, notes = space.load_upload(str(imgs[name]))
        assert img.mode == "RGB" and max(img.size) <= space.MAX_SIDE, name
    assert max(Image.open(imgs["huge"]).size) == 3000
    assert space.load_upload(str(imgs["huge"]))[0].size == (1024, 1024)
    assert "transparency flattened onto white" in space.load_upload(str(imgs["rgba"]))[1]
    i16 = np.asarray(space.load_upload(str(imgs["i16"]))[0])
    assert i16.max() > 200 and i16.std() > 10  # rescaled, not clipped to white
    expected = {
        "text": "not an image", "empty": "empty", "truncated": "damaged or truncated",
        "tiny": "at least", "bomb": "too large", "big_png": "too large",
    }
    for name, words in expected.items():
        with pytest.raises(space.UploadError, match=words):
            space.load_upload(str(imgs[name]))
    with pytest.raises(space.UploadError, match="Upload a face"):
        space.load_upload(None)
    # arrays and PIL images (direct Python use)
    assert space.load_upload(np.zeros((64, 64), np.uint16))[0].mode == "RGB"
    assert space.load_upload(Image.new("CMYK", (64, 64)))[0].mode == "RGB"


def test_face_crop_matches_the_generator_framing(space, app):
    img = Image.open(EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg").convert("RGB")
    boxes = app.assessor.cropper.detect(img)
    assert len(boxes) == 1
    crop = space.FaceCropper.crop(img, boxes[0])
    assert abs(crop.size[0] - 256) < 40  # the detector box is ~0.6 of a generated frame
    # the same face, 3x smaller inside a large canvas, is found and cropped to the same framing
    canvas = Image.new("RGB", (900, 700), (40, 90, 60))
    canvas.paste(img.resize((96, 96)), (600, 80))
    (l, t, r, b), = app.assessor.cropper.detect(canvas)
    assert 590 < l < r < 700 and 70 < t < b < 180


def test_assess_function(app, tmp_path):
    status, face, plot, summary, gallery, details = app.assess(str(EXAMPLES / "pspi16_seed5_young_man_black.jpg"))
    assert "Face found" in status
    assert abs(sum(details["pspi_probs"]) - 1) < 1e-4 and len(details["pspi_probs"]) == 17
    assert 0 <= details["expected_pspi"] <= 16 and "Expected PSPI" in summary
    assert list(details["au_intensities"]) == ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"]
    assert len(gallery) == 6 and gallery[0][0].shape == (256, 256, 3)
    assert list(plot["PSPI"]) == [str(k) for k in range(17)]
    status = app.assess(str(EXAMPLES / "no_face.jpg"))[0]
    assert "No face was found" in status
    status, face, *_ , details = app.assess(str(EXAMPLES / "no_face.jpg"), None, True)  # whole image
    assert "Face found" in status and abs(sum(details["pspi_probs"]) - 1) < 1e-4
    # the plain model ignores a reference, and says so
    details = app.assess(str(EXAMPLES / "pspi16_seed5_young_man_black.jpg"),
                         str(EXAMPLES / "neutral_seed5_young_man_black.jpg"))[-1]
    assert any("does not use a neutral reference" in n for n in details["notes"])


def test_reference_variant_uses_the_neutral_upload(space, tmp_path):
    model_dir = _tiny_model(tmp_path / "ref", use_reference=True)
    app = space.App(str(model_dir))
    assert app.assessor.model.config.use_reference
    pain = str(EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg")
    with_ref = app.assess(pain, str(EXAMPLES / "neutral_seed3_young_woman_east-asian.jpg"))[-1]
    without = app.assess(pain)[-1]
    assert abs(sum(with_ref["pspi_probs"]) - 1) < 1e-4
    assert any("own reference" in n for n in without["notes"])
    assert with_ref["pspi_probs"] != without["pspi_probs"]
    assert "Reference image" in app.assess(pain, str(EXAMPLES / "no_face.jpg"))[0]


def test_missing_or_broken_model_keeps_the_app_usable(space, tmp_path, monkeypatch):
    monkeypatch.delenv(space.MODEL_ENV, raising=False)
    monkeypatch.setattr(space, "DEFAULT_MODEL_DIR", tmp_path / "not-built")
    model, info = space.load_model(None)
    assert model is None and space.BUILD_MODEL_COMMAND in info and "--model" in info
    monkeypatch.setenv(space.MODEL_ENV, str(tmp_path / "nowhere"))
    model, info = space.load_model(None)
    assert model is None and "no such model folder" in info and space.BUILD_MODEL_COMMAND in info
    model, info = space.load_model("someone/not-a-cached-repo")  # HF_HUB_OFFLINE: not downloadable
    assert model is None and "Could not load" in info
    monkeypatch.delenv(space.MODEL_ENV)
    app = space.App()
    status, face, *_ = app.assess(str(EXAMPLES / "pspi05_seed11_elderly_man_white.jpg"))
    assert space.BUILD_MODEL_COMMAND in status and face is not None  # the crop is still shown
    assert "PSPI = 3 + max(2, 1) + max(0, 4) + 1 = 10" in app.generate(*GEN_ARGS)[0]


# ------------------------------------------------------------------------------- gradio_client


def test_client_generate(client):
    md, neutral, pain, heat, labels = client.predict(*GEN_ARGS, api_name="/generate")
    assert "PSPI = 3 + max(2, 1) + max(0, 4) + 1 = 10" in md
    assert labels["pspi"] == 10 and labels["aus"]["AU43"] == 1
    for path in (neutral, pain, heat):
        assert Image.open(path).size == (3 * 256 + 8, 256)
    md = client.predict(5, 0, 4, 5, 1, False, 0, 0, 0, 0, 0, 0, "elderly", "man", "Latino", 2, 128, api_name="/generate")[0]
    assert "PSPI = 5 + max(0, 4) + max(5, 1) + 0 = 14" in md


def test_client_download_zip(client, space, app):
    path = client.predict(*GEN_ARGS, api_name="/download")
    assert isinstance(path, str) and os.path.isfile(path), path  # a file the client received, not a server path
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        sample = json.loads(zf.read(next(n for n in names if n.endswith("sample.json"))))
        pain_json = json.loads(zf.read(next(n for n in names if n.endswith("_e01_v1.json"))))
        glbs = {n.rsplit("_", 1)[-1]: zf.read(n) for n in names if n.endswith(".glb")}
    assert sample["pspi"] == 10 and sample["pspi_formula"].endswith("= 10")
    assert pain_json["pspi"] == 10 and pain_json["aus"]["AU10"] == 4 and pain_json["ethnicity"] == "Black"
    assert sum(n.endswith(".jpg") for n in names) == 6  # neutral + pain, three views
    assert sum(n.endswith("_heatmap.png") for n in names) == 3
    # the neutral and the pain mesh, as the renders show them
    from generation.mesh_asset import read_asset

    assert sorted(glbs) == ["e00.glb", "e01.glb"]
    s = _sample(space, app, GEN_ARGS)
    pain, neutral = read_asset(glbs["e01.glb"], "glb"), read_asset(glbs["e00.glb"], "glb")
    np.testing.assert_array_equal(pain.vertices, s.posed)
    np.testing.assert_array_equal(neutral.vertices, s.identity.neutral)
    assert pain.metadata["pspi"] == 10 and neutral.metadata["pspi"] == 0 and pain.metadata["aus"]["AU43"] == 1.0


def _sample(space, app, args):
    """The Sample the app renders for these controls (its posed mesh and heat per vertex)."""
    pain, dis, demo, seed, size, _ = space._parse_controls(list(args))
    return space.render_sample(app.factory, pain, dis, demo, seed, size)


NAMES = ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43", "AU1", "AU2", "AU12", "AU15", "AU25", "AU26",
         "age_group", "gender", "ethnicity", "seed", "size"]


def test_client_api_is_named_and_typed_as_accepted(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/generate", "/download", "/mesh"):
        params = api[name]["parameters"]
        want = NAMES + (["colors"] if name == "/mesh" else [])
        assert [p["parameter_name"] for p in params] == want, name
        assert all(p["parameter_has_default"] for p in params)
    types = {p["parameter_name"]: p["type"] for p in api["/generate"]["parameters"]}
    assert all(types[c]["type"] == "integer" for c in NAMES[:12] if c != "AU43") and types["AU43"]["type"] == "boolean"
    assert types["size"] == {"enum": ["128", "192", "256", "384"], "title": "Radio", "type": "string"}
    assert types["seed"]["type"] == "integer"
    # by keyword, with the size as advertised (a string) and as an integer
    for size in ("128", 128):
        md, neutral, *_, labels = client.predict(AU4=5, AU10=4, AU43=True, ethnicity="Black", seed=7, size=size, api_name="/generate")
        assert "PSPI = 5 + max(2, 2) + max(0, 4) + 1 = 12" in md and labels["pspi"] == 12
        assert isinstance(labels["pspi"], int) and labels["size"] == 128
        assert Image.open(neutral).size == (3 * 128 + 8, 128)
    # AUs are whole numbers in range; PSPI labels stay integers
    for value, words in ((2.5, "must be a whole number from 0 to 5"), (6, "allowed range is 0 to 5"), ("x", "must be a number")):
        md = client.predict(AU4=value, api_name="/generate")[0]
        assert "Cannot render" in md and words in md and "PSPI 7.5" not in md, (value, md)


def test_client_mesh_follows_the_sliders(client, space, app, monkeypatch):
    import trimesh

    # When the server's pacer lets each answer go (the client's clock would add the varying
    # time gradio takes to send each file: two answers 1.5 s apart arrived 1.45 s apart).
    released = []
    wait = space.Pacer.wait

    def recorded(self, session):
        waited = wait(self, session)
        released.append(time.monotonic())
        return waited

    monkeypatch.setattr(space.Pacer, "wait", recorded)
    albedo = client.predict(*GEN_ARGS, api_name="/mesh")
    heat = client.predict(*GEN_ARGS, "heatmap", api_name="/mesh")
    calm = client.predict(0, 0, 0, 0, 0, False, *GEN_ARGS[6:], api_name="/mesh")
    # one session's GLBs are paced (the 3D viewer aborts a load when the next GLB arrives)
    assert len(released) == 3
    assert min(np.diff(released)) > space.MESH_GAP_S - 0.02, np.diff(released)
    scenes = [trimesh.load(p, process=False) for p in (albedo, heat, calm)]
    assert sorted(scenes[0].geometry) == sorted(["head", "left_eyeball", "left_upper_lid", "left_lower_lid",
                                                 "right_eyeball", "right_upper_lid", "right_lower_lid"])
    assert scenes[0].metadata["pspi"] == 10 and scenes[2].metadata["pspi"] == 0
    s = _sample(space, app, GEN_ARGS)
    n = s.identity.parts[0].stop
    head = [sc.geometry["head"] for sc in scenes]
    np.testing.assert_array_equal(np.asarray(head[0].vertices, np.float32), s.posed[:n])
    from generation.mesh_asset import albedo_uint8

    np.testing.assert_array_equal(head[0].visual.vertex_colors[:, :3], albedo_uint8(s.identity.colors)[:n])
    moved = s.heat[:n] > 0.2
    assert moved.sum() > 50 and (s.heat[:n] == 0).sum() > 1000
    diff = np.abs(head[1].visual.vertex_colors[:, :3].astype(int) - head[0].visual.vertex_colors[:, :3]).sum(1)
    assert (diff[moved] > 30).mean() > 0.9 and (diff[s.heat[:n] == 0] == 0).all()  # heat colours where the skin moved
    assert not np.array_equal(head[2].vertices, head[0].vertices)  # the AUs pose the mesh
    assert client.predict(*GEN_ARGS, "rainbow", api_name="/mesh") is None


def test_pacer_spaces_each_sessions_answers(space):
    now = [10.0]
    slept = []

    def sleep(s):
        slept.append(round(s, 6))
        now[0] += s

    pacer = space.Pacer(1.5, clock=lambda: now[0], sleep=sleep, max_sessions=2)
    assert pacer.wait("a") == 0  # a first answer goes at once
    now[0] += 0.25
    assert pacer.wait("a") == pytest.approx(1.25)  # 1.5 s after the first
    assert now[0] == pytest.approx(11.5)
    assert pacer.wait("b") == 0  # another session does not wait for a's
    now[0] += 2.0  # a's next slot (13.0) has passed
    assert pacer.wait("a") == 0
    assert pacer.wait("c") == 0  # a third session: the oldest (b) is forgotten
    assert list(pacer._next) == ["a", "c"]
    assert slept == [1.25]


def test_client_assess(client, tmp_path):
    status, face, plot, summary, gallery, details = client.predict(
        handle_file(str(EXAMPLES / "pspi12_seed3_young_woman_east-asian.jpg")), None, False, api_name="/assess")
    assert "Face found" in status and "Expected PSPI" in summary
    assert abs(sum(details["pspi_probs"]) - 1) < 1e-4
    assert len(gallery) == 6
    imgs = _images(tmp_path)
    for name in ("gray", "rgba", "i16", "huge"):
        details = client.predict(handle_file(str(imgs[name])), None, False, api_name="/assess")[-1]
        assert abs(sum(details["pspi_probs"]) - 1) < 1e-4, name
    for name, words in (("text", "not an image"), ("truncated", "damaged"), ("empty", "empty"), ("bomb", "too large")):
        status = client.predict(handle_file(str(imgs[name])), None, False, api_name="/assess")[0]
        assert words in status, (name, status)
    status = client.predict(handle_file(str(EXAMPLES / "no_face.jpg")), None, False, api_name="/assess")[0]
    assert "No face was found" in status


def test_concurrent_users_are_queued_not_dropped(client):
    """20 requests in parallel: 14 renders and 6 assessments, all served."""
    jobs = [client.submit(i % 6, 2, 1, 0, 4, False, 0, 0, 0, 0, 0, 0, "young", "man", "White", i % 3, 192,
                          api_name="/generate") for i in range(14)]
    jobs += [client.submit(handle_file(str(EXAMPLES / "pspi05_seed11_elderly_man_white.jpg")), None, False,
                           api_name="/assess") for _ in range(6)]
    assert len(jobs) == 20
    results = [j.result(timeout=120) for j in jobs]
    for i, r in enumerate(results[:14]):
        assert f"= {i % 6 + 2 + 4}" in r[0]
    for r in results[14:]:
        assert abs(sum(r[-1]["pspi_probs"]) - 1) < 1e-4


# index in GEN_ARGS, value -> words of the message ("Cannot render" = refused; else rendered with a note)
BAD_CONTROLS = {
    "AU non-numeric": (0, "abc", "AU4 must be a number from 0 to 5"),
    "AU above range": (0, 7, "allowed range is 0 to 5"),
    "AU not whole": (1, 2.5, "AU6 must be a whole number from 0 to 5"),
    "AU below range": (3, -1, "allowed range is 0 to 5"),
    "AU not finite": (4, "inf", "AU10 must be a number from 0 to 5"),
    "AU43 not 0/1": (5, 7, "AU43 (eyes closed) must be 0 or 1"),
    "distractor above range": (6, 9, "allowed range is 0 to 5"),
    "age group unknown": (12, "ancient", "Age group must be one of"),
    "gender not text": (13, 5, "Gender must be one of"),
    "ethnicity a dict": (14, {"a": 1}, "Ethnicity must be one of"),
    "seed non-numeric": (15, "abc", "is not a number; using 0"),
    "seed too large": (15, 1e300, "seed must be 0..2147483647"),
    "seed negative": (15, -5, "seed must be 0..2147483647"),
    "size non-numeric": (16, "abc", "is not one of (128, 192, 256, 384)"),
    "size infinite": (16, "inf", "is not one of (128, 192, 256, 384)"),
    "size unsupported": (16, 10**9, "is not one of (128, 192, 256, 384)"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTROLS))
def test_bad_controls_get_a_message(app, case, monkeypatch):
    """Each bad value: a message for the user (a refusal, or a note saying what was used)."""
    import gradio as gr

    i, value, words = BAD_CONTROLS[case]
    said = []
    monkeypatch.setattr(gr, "Warning", lambda m, *a, **k: said.append(m))
    monkeypatch.setattr(gr, "Info", lambda m, *a, **k: said.append(m))
    args = list(GEN_ARGS)
    args[i] = value
    md = app.generate(*args)[0]
    assert any(words in m for m in said), (said, md)
    refused = "Cannot render" in md
    assert refused == (words not in ("is not a number; using 0",) and not words.startswith(("seed", "is not one of"))), md
    if refused:
        assert words in md and app.download(*args) is None


@pytest.mark.parametrize("case", ["AU non-numeric", "AU above range", "AU not whole", "seed non-numeric", "size infinite", "gender not text"])
def test_bad_controls_through_the_api(client, case, capfd):
    """Through the HTTP API as well: a message in the answer, no traceback on the server."""
    i, value, words = BAD_CONTROLS[case]
    args = list(GEN_ARGS)
    args[i] = value
    capfd.readouterr()
    md = client.predict(*args, api_name="/generate")[0]
    assert ("Cannot render" in md and words in md) or "PSPI" in md, md
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err


# ------------------------------------------------------------------------------- browser


def _browser_or_fail():
    if os.environ.get("PAIN3D_SKIP_BROWSER"):
        pytest.skip("PAIN3D_SKIP_BROWSER is set")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright for Python: pip install playwright "
                    "(no browser download: it drives Debian's chromium)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y chromium "
                    "(or set PAIN3D_CHROMIUM; PAIN3D_SKIP_BROWSER=1 skips it explicitly)")
    return sync_playwright


def _text_contains(page, selector: str, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([sel, txt]) => { const e = document.querySelector(sel); return !!e && e.innerText.includes(txt); }",
        arg=[selector, text], timeout=timeout)


def _not_blank(im: np.ndarray) -> bool:
    """A rendered head, not an empty canvas: many colours, and skin tones, not one flat fill."""
    return len(np.unique(im.reshape(-1, 3), axis=0)) > 500 and float(im.std()) > 10


def _head_change(im: np.ndarray, before: np.ndarray) -> int:
    """How many pixels differ from ``before`` by more than 16 levels in some channel: the head
    fills a few per cent of the canvas, so a new expression hardly moves the whole canvas's
    mean (closing the eyes, lowering the brows and wrinkling the nose change ~1,500 pixels)."""
    if im.shape != before.shape:
        return im.shape[0] * im.shape[1]
    return int((np.abs(im.astype(int) - before).max(-1) > 16).sum())


def _changed(im: np.ndarray, before: np.ndarray) -> bool:
    return _head_change(im, before) >= 300


def _canvas_when(page, selector: str, ok, timeout_s: float = 30.0, shots: Path | None = None) -> np.ndarray:
    """The element's pixels (a screenshot) once ``ok(pixels)`` holds; fails after ``timeout_s``
    (saving the last screenshot under ``shots``, to look at)."""
    end = time.time() + timeout_s
    while True:
        im = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB"))
        if ok(im):
            return im
        if time.time() >= end and shots is not None:
            Image.fromarray(im).save(shots / "canvas_timeout.png")
        assert time.time() < end, f"{selector} did not render as expected within {timeout_s} s"
        page.wait_for_timeout(300)


def test_browser_slider_and_upload(server, tmp_path):
    sync_playwright = _browser_or_fail()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            console = []  # the page's errors and warnings, for the failure messages
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: console.append(f"page error: {e}"))
            page.goto(server)
            # the page loads with the default sliders (PSPI 8)
            _text_contains(page, "#pspi", "PSPI = 3 + max(2, 2) + max(0, 3) + 0 = 8")
            pain_src = page.locator("#pain img").get_attribute("src")
            heat_src = page.locator("#heat img").get_attribute("src")
            head_before = _canvas_when(page, "#head3d canvas", _not_blank)
            page.screenshot(path=str(shots / "generate_before.png"), full_page=True)

            # type into AU4's number box, then move AU9 with the keyboard on its range slider
            box = page.locator("#au4 input[type=number]")
            t0 = time.perf_counter()
            box.fill("5")
            box.press("Enter")
            _text_contains(page, "#pspi", "PSPI = 5 + max(2, 2) + max(0, 3) + 0 = 10")
            page.wait_for_function("src => document.querySelector('#pain img').src !== src", arg=pain_src)
            browser_latency = time.perf_counter() - t0
            page.locator("#au9 input[type=range]").focus()
            for _ in range(4):
                page.keyboard.press("ArrowRight")
            page.locator("#au43 input[type=checkbox]").check()
            _text_contains(page, "#pspi", "PSPI = 5 + max(2, 2) + max(4, 3) + 1 = 12")
            page.wait_for_function("src => document.querySelector('#heat img').src !== src", arg=heat_src)
            assert page.locator("#au9 input[type=number]").input_value() == "4"
            # the 3D view follows the sliders: eyes closed, nose wrinkled, brows down
            Image.fromarray(head_before).save(shots / "head3d_before.png")
            diffs = []

            def moved(im):
                diffs.append(_head_change(im, head_before))
                return _not_blank(im) and _changed(im, head_before)

            try:
                # gradio 6.31's Model3D (Babylon viewer) aborts a GLB still loading when the next
                # one arrives ("AbortError: New model is being loaded before previous model finished
                # loading") and now and then stays blank (waiting 90 s did not bring it back): the
                # app paces each session's GLBs (Pacer). The console is in the failure message.
                head_after = _canvas_when(page, "#head3d canvas", moved, shots=shots)
            except AssertionError:
                raise AssertionError(f"3D view unchanged: pixels changed {diffs[:3]} ... "
                                     f"{diffs[-3:]} (screenshots in {shots}); page console: {console[-8:]}")
            print(f"3D view: {diffs[-1]} pixels changed")
            Image.fromarray(head_after).save(shots / "head3d.png")
            # the download button produces the zip
            page.locator("#download-btn").click()
            _text_contains(page, "#download-file", ".zip")
            page.wait_for_timeout(300)
            page.screenshot(path=str(shots / "generate_after.png"), full_page=True)
            assert browser_latency < 5, browser_latency

            # Assess: upload a generated face and see a prediction
            page.get_by_role("tab", name="Assess").click()
            page.locator("#assess-input input[type=file]").set_input_files(
                str(EXAMPLES / "pspi16_seed5_young_man_black.jpg"))
            _text_contains(page, "#assess-summary", "Expected PSPI")
            _text_contains(page, "#assess-status", "Face found")
            page.wait_for_selector("#assess-face img")
            page.wait_for_selector("#assess-attention img")
            page.wait_for_selector("#assess-bars canvas, #assess-bars svg")
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "assess.png"), full_page=True)

            # a face-less image gets a friendly message, not an error
            page.locator("#assess-input button[aria-label='Remove Image']").click()
            page.locator("#assess-input input[type=file]").set_input_files(str(EXAMPLES / "no_face.jpg"))
            _text_contains(page, "#assess-status", "No face was found")
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "assess_no_face.png"), full_page=True)
            # so does a file that is not an image at all
            bad = tmp_path / "not_an_image.png"
            bad.write_text("plain text, not pixels\n")
            page.locator("#assess-input button[aria-label='Remove Image']").click()
            page.locator("#assess-input input[type=file]").set_input_files(str(bad))
            _text_contains(page, "#assess-status", "not an image")
            page.screenshot(path=str(shots / "assess_not_an_image.png"), full_page=True)
        finally:
            browser.close()
    out = ROOT / "outputs"
    out.mkdir(exist_ok=True)
    for name in ("generate_after", "head3d", "assess", "assess_no_face", "assess_not_an_image"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
        shutil.copy(shots / f"{name}.png", out / f"space_{name}.png")
    print(f"\nbrowser: slider change -> new PSPI text and images in {browser_latency * 1000:.0f} ms; "
          f"screenshots in {shots} and outputs/space_*.png")
