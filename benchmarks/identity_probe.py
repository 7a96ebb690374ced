"""What moves dlib's face recognizer on our faces: identity distances under render-level changes.

    python benchmarks/identity_probe.py [--identities 24] [--seed 11] [--size 256]

Renders each identity's frontal neutral face as the generator does (``sample_person``), then
again with one thing changed for every identity alike, and prints, per variant, the median,
95th percentile and share over 0.6 of the ResNet descriptor distance between identities
(``generation.facecheck``; dlib calls two faces the same person below 0.6):

- ``as generated``: each identity's own light rig and backdrop;
- ``one light rig``: every identity under the same lights (are distances lighting?);
- ``grey backdrop``: a flat mid-grey background;
- ``photo grain``: multiplicative sensor-like grain and blotches added to the image;
- ``double resolution``: rendered at twice ``--size`` (is it detail the chip lacks?);
- ``shape x2``: the identity's shape vector doubled (twice the anthropometric spread).

A variant that changes the faces' look for everyone alike and still leaves them one person shows
that the recognizer does not read that property on these renders. Needs ``pain3d[facecheck]``.
``--quick``: 4 identities at 128 px, two variants (seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from itertools import combinations

import numpy as np

from generation.facecheck import SAME_PERSON, FaceChecker, largest
from generation.pipeline import GenerationConfig, Generator, Person, sample_person
from generation.render import Lights, MeshRenderer
from generation.texture import vertex_albedo

ONE_RIG = Lights(
    directions=((0.3, 0.4, 0.85), (-0.6, 0.1, 0.8)),
    colors=((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    diffuse=(0.75, 0.3),
    ambient=0.23,
    specular=0.1,
)


def grain(image: np.ndarray, seed: int) -> np.ndarray:
    """Image-space grain (fine) and blotches (coarse), about 6 % and 5 % of the intensity."""
    from scipy.ndimage import gaussian_filter

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
        if variant == "shape x2":
            rng = np.random.default_rng([seed, i])
            demo.sample_age(rng)  # the draws sample_person makes before the shape: the same shape, doubled
            bare = gen.model.identity(2 * gen.model.sample_shape(rng), age=person.age, gender=demo.gender_value,
                                      ethnicity=demo.ethnicity)
            mesh = bare  # bald: the hair layer is fitted to the sampled shape, not to this one
            colors = vertex_albedo(gen.template.with_vertices(bare), gen.model.landmarks(bare), person.appearance)
        lights = ONE_RIG if variant == "one light rig" else person.lights
        bg = np.full((size, size, 3), 128, np.uint8) if variant == "grey backdrop" else person.background
        image = MeshRenderer(lights=lights)((mesh, gen.template.faces), camera, vertex_colors=colors, background=bg).rgb
        out.append(grain(image, i) if variant == "photo grain" else image)
    return out


def distances(images: list[np.ndarray], checker: FaceChecker) -> tuple[np.ndarray, int]:
    """Pairwise descriptor distances of the faces found, and how many were found."""
    desc = []
    for im in images:
        boxes = checker.detect(im)
        if boxes:
            desc.append(checker.descriptor(im, largest(boxes)))
    return np.array([float(np.linalg.norm(a - b)) for a, b in combinations(desc, 2)]), len(desc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=24)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="4 identities at 128 px, two variants")
    args = ap.parse_args()
    variants = ["as generated", "one light rig", "grey backdrop", "photo grain", "double resolution", "shape x2"]
    if args.quick:
        args.identities, args.size, variants = 4, 128, variants[:2]
    gen = Generator(GenerationConfig(identities=args.identities, expressions=0, views=(0.0,), size=args.size, seed=args.seed))
    checker = FaceChecker(recognizer=True)
    print(f"{args.identities} identities, frontal neutral, {args.size} px, seed {args.seed}")
    print(f"{'variant':<20} {'found':>6} {'median':>7} {'p95':>7} {'over ' + str(SAME_PERSON):>9} {'time':>7}")
    drawn: dict[int, list[Person]] = {}
    for variant in variants:
        t = time.perf_counter()
        d, found = distances(faces(gen, args.seed, variant, drawn), checker)
        if d.size == 0:
            print(f"{variant:<20} {found:>6}   (fewer than two faces found: no distances)")
            continue
        print(f"{variant:<20} {found:>6} {np.median(d):>7.3f} {np.percentile(d, 95):>7.3f} "
              f"{(d > SAME_PERSON).mean():>9.1%} {time.perf_counter() - t:>6.1f}s")


if __name__ == "__main__":
    main()
