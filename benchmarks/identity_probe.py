"""What moves dlib's face recognizer on our faces: identity distances under render-level changes.

    python benchmarks/identity_probe.py [--identities 24] [--seed 11] [--size 256] [--photos DIR]

Renders each identity's frontal neutral face as the generator does (``sample_person``), then
again with one thing changed for every identity alike, and prints, per variant, the median,
95th percentile and share over 0.6 of the ResNet descriptor distance between identities
(``generation.facecheck``; dlib calls two faces the same person below 0.6):

- ``as generated``: each identity's own light rig and backdrop;
- ``one light rig``: every identity under the same lights (are distances lighting?);
- ``grey backdrop``: a flat mid-grey background;
- ``photo grain``: multiplicative sensor-like grain and blotches added to the image;
- ``double resolution``: rendered at twice ``--size`` (is it detail the chip lacks?);
- ``bald``: the identity's own shape with no hair (the reference for the shape rows below);
- ``shape x2``: the identity's shape vector doubled (twice the anthropometric spread), bald;
- ``eyes x2``, ``nose x2``, ``mouth x2``, ``outline x2``: only that group of the built-in
  head's parameters doubled (``SPREAD_GROUPS``), bald: which features' spread the recognizer
  reads.

A variant that changes the faces' look for everyone alike and still leaves them one person shows
that the recognizer does not read that property on these renders.

Then the same faces as the recognizer reads them, each aligned 150 px chip edited in the image:

- ``differences x2`` / ``x3``: every chip's difference from the identities' mean chip doubled or
  tripled (does a wider spread of the differences the faces already have set them apart?);
- ``photo exposure``: every chip's brightness and contrast set to a photograph's
  (``PHOTO_EXPOSURE``; our renders are darker and flatter: is that what the recognizer reads?);
- ``on the photos' mean`` (with ``--photos DIR``, your own photographs of different people, one
  face each; none ship with pain3d): every chip's difference from our mean chip added to the
  photographs' mean chip instead, i.e. the same differences on a photographic face. The
  photographs' own distances are printed first.

Then, with ``--photos``: the photographs' own distances, the same after blurring their chips
(a Gaussian of ``PHOTO_BLUR`` px on the 150 px chip: is it fine detail that tells real people
apart?), and our differences on the photographs' mean chip as they are and doubled. Last, which
scales of the photographic mean face do it (``PHOTO_SCALES``): our mean chip's content coarser
than a Gaussian of s px swapped for the photographs' (``coarser than s px``: regional colour and
shading at s = 12), or its content finer than that (``finer than s px``: the features' look);
then the band between the two scales alone, everywhere and in one region of the chip at a time
(``CHIP_REGIONS``): which features' look it is. And the other way round: the photographs'
differences from their mean face laid on our mean face (``photos' differences on our mean``: is
our face a canvas on which real differences still read as different people?), then only their
content finer than the coarse scale, everywhere and in one region at a time (``FINE_REGIONS``),
each beside our own faces' fine differences in that region (``our fine differences``): where
our faces vary less than real people's, in what the recognizer reads.

Last, how far one property moves the same face (``PROPERTY_CHANGES``): each identity rendered
twice, bald, under one light rig on a grey backdrop, with only that property set two ways (its
gender's shape, its age, its skin, its brows), and the median distance between the two. Next to
the distances between identities, it says how much of a real difference each property is to
the recognizer.

Needs ``pain3d[facecheck]``. ``--quick``: 4 identities at 128 px, four variants and one property
change (seconds).
"""

from __future__ import annotations

import dataclasses
import time
from itertools import combinations

import numpy as np
from scipy.ndimage import gaussian_filter

from generation.facecheck import CHIP_SIZE, SAME_PERSON, FaceChecker, largest
from generation.head import PARAM_INDEX
from generation.pipeline import GenerationConfig, Generator, Person, sample_person
from generation.render import Lights, MeshRenderer
from generation.texture import skin_colour, vertex_albedo
from geometry_swap import check_photos, face_arguments, photo_faces

ONE_RIG = Lights(
    directions=((0.3, 0.4, 0.85), (-0.6, 0.1, 0.8)),
    colors=((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    diffuse=(0.75, 0.3),
    ambient=0.23,
    specular=0.1,
)


# The built-in head's parameters (generation.head.SHAPE_PARAMETERS) by feature, for the
# "<group> x2" variants.
SPREAD_GROUPS = {
    "eyes": ("eye_spacing", "eye_height", "eye_size", "eye_width", "canthal_tilt", "eye_depth", "brow_ridge"),
    "nose": ("nose_length", "nose_protrusion", "nose_width", "nose_bridge", "nose_tip", "nose_hump"),
    "mouth": ("mouth_width", "upper_lip", "lower_lip", "mouth_protrusion", "philtrum"),
    "outline": ("head_width", "head_height", "head_depth", "face_length", "jaw_width", "chin_width",
                "chin_protrusion", "chin_height", "cheekbone_prominence", "cheek_fullness"),
}
BALD = ("bald", "shape x2", *(f"{group} x2" for group in SPREAD_GROUPS))


def shape_scale(variant: str, n_shape: int) -> np.ndarray:
    """Per-entry factor on the shape vector for a bald ``variant`` (1 = the identity's own)."""
    scale = np.ones(n_shape)
    if variant == "shape x2":
        scale[:] = 2.0
    elif variant != "bald":
        for name in SPREAD_GROUPS[variant.split()[0]]:
            scale[PARAM_INDEX[name]] = 2.0
    return scale


PHOTO_BLUR = 4.0  # px on the 150 px chip: about 6 mm of a face
# Mean and standard deviation of the luminance over a chip's central 90 px (brows to mouth), as
# in the six photographs of the README's rows (mean over them); our renders' are about 93 and 27.
PHOTO_EXPOSURE = (143.0, 39.0)
CENTRE = slice(30, 120)
PHOTO_SCALES = (12.0, 3.0)  # px on the 150 px chip: about 18 and 4.5 mm of a face
# Regions of the aligned 150 px chip (rows, columns; edges softened by 4 px), where dlib's
# alignment puts the features.
CHIP_REGIONS = {
    "brows": ((22, 45), (15, 135)),
    "eyes": ((40, 72), (15, 135)),
    "nose": ((55, 100), (52, 98)),
    "mouth": ((95, 132), (35, 115)),
}
FINE_REGIONS = {**CHIP_REGIONS, "inner face": ((22, 132), (15, 135))}


def region_mask(rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """(CHIP_SIZE, CHIP_SIZE, 1) soft mask of a box of the chip."""
    m = np.zeros((CHIP_SIZE, CHIP_SIZE))
    m[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return gaussian_filter(m, 4.0)[..., None]


def smooth(chip: np.ndarray, px: float) -> np.ndarray:
    """A (..., rows, columns, 3) chip or stack of chips, each blurred by a Gaussian of ``px``
    pixels: its content coarser than that."""
    return gaussian_filter(chip, (0,) * (chip.ndim - 3) + (px, px, 0))


def band(chip: np.ndarray) -> np.ndarray:
    """A chip's content between the two ``PHOTO_SCALES`` (a difference of Gaussians)."""
    coarse, fine = PHOTO_SCALES
    return smooth(chip, fine) - smooth(chip, coarse)


def exposed(chip_images: np.ndarray, mean: float = PHOTO_EXPOSURE[0], std: float = PHOTO_EXPOSURE[1]) -> np.ndarray:
    """Chips with the luminance of their centre shifted and scaled to ``mean`` and ``std``."""
    lum = chip_images[:, CENTRE, CENTRE].mean(axis=-1)
    m, s = lum.mean(axis=(1, 2)), lum.std(axis=(1, 2))
    return (chip_images - m[:, None, None, None]) * (std / s)[:, None, None, None] + mean


# One property of a face set two ways, all else the same: per render, (changes to the shape's
# controls: age, gender, ethnicity; changes to the appearance, with "skin" a Monk step).
PROPERTY_CHANGES: dict[str, tuple[tuple[dict, dict], tuple[dict, dict]]] = {
    "gender's shape": (({"gender": -1.0}, {}), ({"gender": 1.0}, {})),
    "age 0.1 vs 0.95": (({"age": 0.1}, {"wrinkles": 0.0}), ({"age": 0.95}, {"wrinkles": 1.0})),
    "skin Monk 2 vs 9": (({}, {"skin": 2.0}), ({}, {"skin": 9.0})),
    "population's shape": (({"ethnicity": "White"}, {}), ({"ethnicity": "Black"}, {})),
    "brow arch 0 vs 5 mm": (({}, {"brow_arch": 0.0}), ({}, {"brow_arch": 5.0})),
    "brows 3 vs 8 mm thick": (({}, {"brow_thickness": 3.0}), ({}, {"brow_thickness": 8.0})),
}


def own_shape(gen: Generator, seed: int, i: int) -> np.ndarray:
    """Identity ``i``'s shape vector, drawn again as ``sample_person`` draws it."""
    rng = np.random.default_rng([seed, i])
    gen.demographics[i].sample_age(rng)  # the draw sample_person makes before the shape
    return gen.model.sample_shape(rng)


def changed_face(gen: Generator, seed: int, i: int, person: Person, shape_change: dict, look_change: dict) -> np.ndarray:
    """Identity ``i``'s frontal face, bald, under ``ONE_RIG`` on grey, with its shape's controls
    (age, gender, ethnicity) and appearance fields replaced as given."""
    demo = gen.demographics[i]
    shape = own_shape(gen, seed, i)
    controls = {"age": person.age, "gender": demo.gender_value, "ethnicity": demo.ethnicity, **shape_change}
    bare = gen.model.identity(shape, **controls)
    look = dict(look_change)
    if "skin" in look:
        look["skin_rgb"] = tuple(float(c) for c in skin_colour(look.pop("skin")))
    app = dataclasses.replace(person.appearance, **look)
    colors = vertex_albedo(gen.template.with_vertices(bare), gen.model.landmarks(bare), app)
    size = gen.config.size
    return MeshRenderer(lights=ONE_RIG)((bare, gen.template.faces), gen.cameras[0], vertex_colors=colors,
                                        vertex_gloss=person.gloss, background=np.full((size, size, 3), 128, np.uint8)).rgb


def property_distances(gen: Generator, seed: int, people_: list[Person], name: str, checker: FaceChecker) -> np.ndarray:
    """Per identity, the distance between its two renders under ``PROPERTY_CHANGES[name]``."""
    out = []
    for i, person in enumerate(people_):
        pair = chips([changed_face(gen, seed, i, person, *change) for change in PROPERTY_CHANGES[name]], checker)
        if len(pair) == 2:
            out.append(chip_distances(pair, checker)[0])
    return np.array(out)


def grain(image: np.ndarray, seed: int) -> np.ndarray:
    """Image-space grain (fine) and blotches (coarse), about 6 % and 5 % of the intensity."""
    rng = np.random.default_rng(seed)
    fine = gaussian_filter(rng.normal(size=image.shape[:2]), 0.8)
    coarse = gaussian_filter(rng.normal(size=image.shape[:2]), 6.0)
    gain = 1 + 0.06 * fine / fine.std() + 0.05 * coarse / coarse.std()
    return np.clip(image * gain[..., None], 0, 255).astype(np.uint8)


def people(gen: Generator, seed: int, size: int) -> list[Person]:
    """Every identity as the generator draws it, with its backdrop at ``size``."""
    return [sample_person(gen.model, gen.template, demo, size, np.random.default_rng([seed, i]))
            for i, demo in enumerate(gen.demographics)]


def faces(gen: Generator, seed: int, variant: str, drawn: dict[int, list[Person]]) -> list[np.ndarray]:
    """The frontal neutral image of every identity under ``variant``; ``drawn`` caches
    ``people`` per image size, so the variants share one draw of the identities."""
    size = gen.config.size * (2 if variant == "double resolution" else 1)
    camera = dataclasses.replace(gen.cameras[0], image_size=(size, size))
    if size not in drawn:
        drawn[size] = people(gen, seed, size)
    out = []
    for i, (demo, person) in enumerate(zip(gen.demographics, drawn[size])):
        mesh, colors = person.neutral, person.colors
        if variant in BALD:
            shape = own_shape(gen, seed, i) * shape_scale(variant, gen.model.n_shape)
            bare = gen.model.identity(shape, age=person.age, gender=demo.gender_value, ethnicity=demo.ethnicity)
            mesh = bare  # bald: the hair layer is fitted to the sampled shape, not to this one
            colors = vertex_albedo(gen.template.with_vertices(bare), gen.model.landmarks(bare), person.appearance)
        lights = ONE_RIG if variant == "one light rig" else person.lights
        bg = np.full((size, size, 3), 128, np.uint8) if variant == "grey backdrop" else person.background
        image = MeshRenderer(lights=lights)((mesh, gen.template.faces), camera, vertex_colors=colors,
                                            vertex_gloss=person.gloss, background=bg).rgb
        out.append(grain(image, i) if variant == "photo grain" else image)
    return out


def chips(images: list[np.ndarray], checker: FaceChecker) -> np.ndarray:
    """(N, 150, 150, 3) float aligned chips of the faces found in ``images``."""
    out = []
    for im in images:
        boxes = checker.detect(im)
        if boxes:
            out.append(checker.chip(im, largest(boxes)))
    return np.array(out, dtype=np.float64)


def chip_distances(chip_images: np.ndarray, checker: FaceChecker) -> np.ndarray:
    """Pairwise descriptor distances of aligned chips (float, clipped to 0..255)."""
    desc = [checker.chip_descriptor(np.clip(np.rint(c), 0, 255).astype(np.uint8)) for c in chip_images]
    return np.array([float(np.linalg.norm(a - b)) for a, b in combinations(desc, 2)])


def row(variant: str, found: int, d: np.ndarray, seconds: float) -> str:
    if d.size == 0:
        return f"{variant:<40} {found:>6}   (fewer than two faces found: no distances)"
    return (f"{variant:<40} {found:>6} {np.median(d):>7.3f} {np.percentile(d, 95):>7.3f} "
            f"{(d > SAME_PERSON).mean():>9.1%} {seconds:>6.1f}s")


def main() -> None:
    ap = face_arguments(__doc__, 24, "4 identities at 128 px, four variants")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    check_photos(args.photos)
    variants = ["as generated", "one light rig", "grey backdrop", "photo grain", "double resolution", *BALD]
    edits = [2.0, 3.0]
    properties = list(PROPERTY_CHANGES)
    if args.quick:
        args.identities, args.size, variants, edits = 4, 128, [*variants[:2], "eyes x2"], edits[:1]
        properties = properties[:1]
    gen = Generator(GenerationConfig(identities=args.identities, expressions=0, views=(0.0,), size=args.size, seed=args.seed))
    checker = FaceChecker(recognizer=True)
    print(f"{args.identities} identities, frontal neutral, {args.size} px, seed {args.seed}")
    print(f"{'variant':<40} {'found':>6} {'median':>7} {'p95':>7} {'over ' + str(SAME_PERSON):>9} {'time':>7}")
    drawn: dict[int, list[Person]] = {}
    ours = np.empty(0)
    for variant in variants:
        t = time.perf_counter()
        found = chips(faces(gen, args.seed, variant, drawn), checker)
        print(row(variant, len(found), chip_distances(found, checker), time.perf_counter() - t))
        if variant == "as generated":
            ours = found  # the chip-level variants below edit these
    if len(ours) < 2:
        raise SystemExit("error: fewer than two rendered faces found; nothing to edit")
    mean = ours.mean(axis=0)
    for k in edits:
        t = time.perf_counter()
        print(row(f"differences x{k:g}", len(ours), chip_distances(mean + k * (ours - mean), checker), time.perf_counter() - t))
    t = time.perf_counter()
    print(row("photo exposure", len(ours), chip_distances(exposed(ours), checker), time.perf_counter() - t))
    if args.photos:
        photos = chips(photo_faces(args.photos), checker)
        if len(photos) < 2:
            raise SystemExit(f"error: fewer than two faces found in {args.photos}; give photographs of different people")
        t = time.perf_counter()
        print(row("photographs", len(photos), chip_distances(photos, checker), time.perf_counter() - t))
        t = time.perf_counter()
        blurred = smooth(photos, PHOTO_BLUR)
        print(row(f"photos blurred {PHOTO_BLUR:g}px", len(photos), chip_distances(blurred, checker), time.perf_counter() - t))
        photo_mean = photos.mean(axis=0)
        for k in (1.0, 2.0):
            t = time.perf_counter()
            d = chip_distances(photo_mean + k * (ours - mean), checker)
            print(row("on the photos' mean" + ("" if k == 1 else f" x{k:g}"), len(ours), d, time.perf_counter() - t))
        gap = photo_mean - mean  # the filters are linear: swapping a part of the mean adds that part of the gap
        for s in PHOTO_SCALES:
            for name, part in (("coarser", smooth(gap, s)), ("finer", gap - smooth(gap, s))):
                t = time.perf_counter()
                d = chip_distances(ours + part, checker)
                print(row(f"photos' mean, {name} than {s:g} px", len(ours), d, time.perf_counter() - t))
        swap = band(gap)
        for region, mask in [("everywhere", 1.0), *((k, region_mask(*box)) for k, box in CHIP_REGIONS.items())]:
            t = time.perf_counter()
            d = chip_distances(ours + mask * swap, checker)
            print(row(f"photos' mean, {PHOTO_SCALES[1]:g}-{PHOTO_SCALES[0]:g} px, {region}", len(ours), d, time.perf_counter() - t))
        # The other way round: the photographs' differences on our mean face, all of them, then
        # only their content finer than the coarse scale in one region at a time; beside them
        # our own differences, edited alike. Is it our face or our faces' variation that falls short?
        diffs = {"photos'": photos - photo_mean, "our": ours - mean}
        coarse = {who: smooth(d, PHOTO_SCALES[0]) for who, d in diffs.items()}
        fine = {who: diffs[who] - coarse[who] for who in diffs}
        t = time.perf_counter()
        print(row("photos' differences on our mean", len(photos), chip_distances(mean + diffs["photos'"], checker), time.perf_counter() - t))
        t = time.perf_counter()
        print(row("photos' coarse differences on our mean", len(photos), chip_distances(mean + coarse["photos'"], checker), time.perf_counter() - t))
        for region, mask in [("everywhere", 1.0), *((k, region_mask(*box)) for k, box in FINE_REGIONS.items())]:
            for who, part in fine.items():
                t = time.perf_counter()
                d = chip_distances(mean + mask * part, checker)
                print(row(f"{who} fine differences, {region}", len(part), d, time.perf_counter() - t))
    print(f"same face, one property changed (bald, one light rig, grey backdrop): {'median':>7} {'max':>7}")
    for name in properties:
        t = time.perf_counter()
        d = property_distances(gen, args.seed, drawn[args.size], name, checker)
        print(f"  {name:<24} {np.median(d):>7.3f} {d.max():>7.3f} {time.perf_counter() - t:>6.1f}s" if d.size else f"  {name:<24} (no faces found)")


if __name__ == "__main__":
    main()
