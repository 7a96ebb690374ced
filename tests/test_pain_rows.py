"""Pain expressions add information: none copies the neutral face (issue 15).

Default PSPI targets are 1-16; with distractors 0-16, a PSPI 0 target being a distractor-only
expression; an expression that would move nothing gets a distractor AU.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from generation.facs import DISTRACTOR_CODES, PAIN_CODES, pspi
from generation.pipeline import GenerationConfig, Generator, ensure_movement


def plan(cfg: GenerationConfig) -> list[tuple[dict, dict]]:
    """Every pain expression's (pain AUs, distractor AUs), drawn as Generator.identity draws them
    (no rendering: the same stream, up to the expressions)."""
    from generation.pipeline import sample_person

    gen = Generator(cfg)
    out = []
    for i in range(cfg.identities):
        rng = np.random.default_rng([cfg.seed, i])
        sample_person(gen.model, gen.template, gen.demographics[i], cfg.size, rng)
        out += gen.expression_aus(i, rng)[1:]
    return out


def test_default_range():
    assert GenerationConfig().pspi_range == (1, 16)
    assert GenerationConfig(distractor_probability=0.3).pspi_range == (0, 16)
    assert GenerationConfig(pspi_range=(0, 4)).pspi_range == (0, 4)


def test_default_targets_are_1_to_16_and_balanced():
    cfg = GenerationConfig(identities=16, expressions=4, size=32, seed=2)
    targets = Generator(cfg).pspi_targets.ravel()
    assert Counter(targets.tolist()) == {p: 4 for p in range(1, 17)}  # 64 targets over 16 levels


def test_no_expression_copies_the_neutral_face():
    # PSPI 0 targets only: every expression must still move the face, through one distractor AU
    for cfg in (GenerationConfig(identities=3, expressions=3, size=32, seed=1, pspi_range=(0, 0)),
                GenerationConfig(identities=6, expressions=3, size=32, seed=1, distractor_probability=0.05)):
        expressions = plan(cfg)
        for pain, dis in expressions:
            assert set(dis) <= set(DISTRACTOR_CODES)
            assert any(pain.values()) or any(dis.values()), (pain, dis)
        zero = [(pain, dis) for pain, dis in expressions if pspi(pain) == 0]
        assert zero, "the plan should hold PSPI 0 targets"
        for pain, dis in zero:
            assert all(pain[c] == 0 for c in PAIN_CODES)
            assert 1 <= max(dis.values()) <= 3


def test_ensure_movement():
    rng = np.random.default_rng(0)
    zero = {c: 0 for c in PAIN_CODES}
    assert ensure_movement({**zero, "AU4": 1}, {}, rng) == {}
    assert ensure_movement(zero, {"AU12": 2}, rng) == {"AU12": 2}
    moved = ensure_movement(zero, {c: 0 for c in DISTRACTOR_CODES}, rng)
    active = {c: v for c, v in moved.items() if v}
    assert len(active) == 1 and set(active) <= set(DISTRACTOR_CODES) and 1 <= next(iter(active.values())) <= 3


def test_distractor_only_frame_differs_from_neutral():
    cfg = GenerationConfig(identities=1, expressions=1, views=(0.0,), size=48, seed=5, pspi_range=(0, 0))
    res = Generator(cfg).identity(0)
    neutral, pain = res.frames[0], res.frames[1]
    assert pain.pspi == 0 and any(pain.distractor_aus.values())
    assert not np.array_equal(neutral.image, pain.image)
    assert not np.array_equal(res.meshes[0], res.meshes[1])


def test_fixed_aus_that_move_nothing_are_refused():
    with pytest.raises(ValueError, match="copy the neutral face"):
        GenerationConfig(fixed_aus={"AU4": 0})
    GenerationConfig(fixed_aus={"AU12": 2})  # a distractor alone moves the face
