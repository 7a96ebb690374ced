"""Are the built-in head's spreads those of real adults? Landmark distances over many identities.

    python benchmarks/anthropometry.py [--identities 480] [--seed 11]

Draws the identities ``pain3d generate --seed`` draws (demographics, then age and shape
vector from each identity's own stream, ``default_rng([seed, i])``), bald, and measures each
mesh's distances between its own landmarks, in mm: pupillary distance (the eye centres),
mouth width (the lip corners), nasion to pogonion (nose root to chin), nose root to tip, nose
tip to the lip line and the lip line to the chin, and the upper and lower vermilion heights the
lip paint and the rig use (``face_model.vermilion_heights``: the red of the lips, lip line to
border; published adult means are about 8 and 9-10 mm). It prints each distance's mean and
its spread within each gender (coefficient of variation, SD / mean) beside published adult
spreads where we have them, so a shape prior that is too narrow, or too wide, shows.

Published spreads (within one sex and population, adults), rounded: pupillary distance SD
3.8 mm of 63.4 (6.0 %; Dodgson 2004, 3,976 adults); Farkas (1994), North American White young
adults, coefficients of variation of about 5-6 % for face height (n-gn, which ends below our
pogonion), about 6-7 % for mouth width (ch-ch) and the nose's length. Our landmarks are the
mesh's own (``BuiltinHead.landmarks``), close to but not the anthropometric points, so compare
spreads, not means. Our identities mix five age bands and six populations in each gender, so
their spreads should be at or somewhat above these, not below and not far above.

``--quick``: 48 identities.
"""

from __future__ import annotations

import argparse

import numpy as np

from generation.demographics import balanced_demographics
from generation.face_model import vermilion_heights
from generation.head import BuiltinHead

# name -> (landmark a, landmark b, published within-sex CV in % or None)
DISTANCES = {
    "pupillary distance": ("left_eye", "right_eye", 6.0),
    "mouth width": ("mouth_left", "mouth_right", 6.5),
    "nasion to pogonion": ("nose_root", "chin", 5.5),
    "nose root to tip": ("nose_root", "nose_tip", 6.5),
    "nose tip to lip line": ("nose_tip", "mouth_center", None),
    "lip line to chin": ("mouth_center", "chin", None),
}
VERMILION = ("upper vermilion", "lower vermilion")  # (upper, lower) of vermilion_heights


def measure(identities: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """{gender: {distance name: (n,) mm}} for ``identities`` balanced identities."""
    head = BuiltinHead()
    out: dict[str, dict[str, list[float]]] = {}
    for i, demo in enumerate(balanced_demographics(identities, seed)):
        rng = np.random.default_rng([seed, i])  # the generator's stream: age, then the shape
        age = demo.sample_age(rng)
        shape = head.sample_shape(rng)
        lm = head.landmarks(head.identity(shape, age=age, gender=demo.gender_value, ethnicity=demo.ethnicity))
        row = out.setdefault(demo.gender, {k: [] for k in (*DISTANCES, *VERMILION)})
        for name, (a, b, _) in DISTANCES.items():
            row[name].append(float(np.linalg.norm(np.asarray(lm[a], float) - np.asarray(lm[b], float))))
        for name, height in zip(VERMILION, vermilion_heights(lm)):
            row[name].append(height)
    return {g: {k: np.asarray(v) for k, v in rows.items()} for g, rows in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--identities", type=int, default=480)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--quick", action="store_true", help="48 identities")
    args = ap.parse_args(argv)
    n = 48 if args.quick else args.identities
    print(f"{n} identities, seed {args.seed}")
    data = measure(n, args.seed)
    genders = sorted(data)
    print(f"{'distance':<24}" + "".join(f"{g + ' mean':>12}{g + ' CV':>10}" for g in genders) + f"{'published CV':>14}")
    for name, norm in [*((k, v[2]) for k, v in DISTANCES.items()), *((k, None) for k in VERMILION)]:
        cells = ""
        for g in genders:
            d = data[g][name]
            cells += f"{d.mean():>12.1f}{100 * d.std(ddof=1) / d.mean():>9.1f}%"
        print(f"{name:<24}{cells}{(f'{norm:.1f}%' if norm else '-'):>14}")


if __name__ == "__main__":
    main()
