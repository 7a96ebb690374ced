"""Tests for generation.facs: AU table, PSPI, validation, parsing and exact sampling."""

from __future__ import annotations

import doctest
from collections import Counter

import numpy as np
import pytest

from generation import facs
from generation.facs import (
    ALL_AUS,
    AU_ORDER,
    DISTRACTOR_CODES,
    PAIN_CODES,
    AUValueError,
    array_to_aus,
    aus_to_array,
    canonical_au,
    intensity_to_letter,
    letter_to_intensity,
    parse_au_string,
    pspi,
    pspi_array,
    pspi_configurations,
    sample_aus_for_pspi,
    sample_distractors,
    sample_pspi_targets,
    validate_aus,
)


def test_doctests() -> None:
    result = doctest.testmod(facs)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- table


def test_au_table() -> None:
    assert PAIN_CODES == ("AU4", "AU6", "AU7", "AU9", "AU10", "AU43")
    assert DISTRACTOR_CODES == ("AU1", "AU2", "AU12", "AU15", "AU25", "AU26")
    assert AU_ORDER == PAIN_CODES + DISTRACTOR_CODES
    assert ALL_AUS["AU4"].name == "brow lowerer"
    assert ALL_AUS["AU43"].name == "eyes closed"
    assert ALL_AUS["AU12"].name == "lip corner puller"
    assert ALL_AUS["AU43"].max_intensity == 1
    assert all(ALL_AUS[c].max_intensity == 5 for c in AU_ORDER if c != "AU43")
    assert all(ALL_AUS[c].pain for c in PAIN_CODES)
    assert not any(ALL_AUS[c].pain for c in DISTRACTOR_CODES)
    assert all(ALL_AUS[c].code == f"AU{ALL_AUS[c].number}" for c in AU_ORDER)
    with pytest.raises(TypeError):
        ALL_AUS["AU99"] = ALL_AUS["AU4"]  # type: ignore[index]


def test_intensity_letters_round_trip() -> None:
    assert [intensity_to_letter(i) for i in range(6)] == ["-", "A", "B", "C", "D", "E"]
    for i in range(6):
        assert letter_to_intensity(intensity_to_letter(i)) == i
    assert letter_to_intensity("c") == 3
    with pytest.raises(AUValueError, match="letter"):
        letter_to_intensity("F")
    with pytest.raises(AUValueError, match="0 to 5"):
        intensity_to_letter(6)


# --------------------------------------------------------------------------- PSPI


@pytest.mark.parametrize(
    "aus, expected",
    [
        ({}, 0),
        ({"AU4": 3}, 3),
        ({"AU6": 2, "AU7": 4}, 4),  # max(2, 4)
        ({"AU6": 5, "AU7": 1}, 5),
        ({"AU9": 1, "AU10": 3}, 3),
        ({"AU43": 1}, 1),
        ({"AU4": 2, "AU6": 1, "AU7": 3, "AU9": 4, "AU10": 2, "AU43": 1}, 2 + 3 + 4 + 1),
        ({"AU4": 5, "AU6": 5, "AU7": 5, "AU9": 5, "AU10": 5, "AU43": 1}, 16),
        ({"AU4": 1, "AU12": 5, "AU26": 5}, 1),  # distractors do not count
        ({"au4": 2, "AU06": 3, "10": 1}, 6),  # names are canonicalised
        ({"AU4": 1.5, "AU6": 0.25, "AU7": 0.75, "AU43": 1}, 3.25),  # floats
    ],
)
def test_pspi_hand_computed(aus: dict, expected: float) -> None:
    assert pspi(aus) == pytest.approx(expected)


def test_pspi_rejects_unknown_name() -> None:
    with pytest.raises(AUValueError, match="unknown AU name"):
        pspi({"AU5": 3})


def _pspi_loop(a: np.ndarray) -> np.ndarray:
    out = []
    for row in a:
        au4, au6, au7, au9, au10, au43 = (float(x) for x in row)
        total = au4
        total += au6 if au6 > au7 else au7
        total += au9 if au9 > au10 else au10
        out.append(total + au43)
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_pspi_array_matches_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 5, size=(200, 6))
    a[:, 5] = rng.integers(0, 2, size=200)
    np.testing.assert_allclose(pspi_array(a), _pspi_loop(a))
    ints = rng.integers(0, 6, size=(200, 6))
    np.testing.assert_array_equal(pspi_array(ints), _pspi_loop(ints))
    # and agrees with the mapping version
    for row in ints[:20]:
        assert pspi(dict(zip(PAIN_CODES, row.tolist()))) == pspi_array(row)


def test_pspi_array_shape_error() -> None:
    with pytest.raises(AUValueError, match=r"got shape \(3, 5\)"):
        pspi_array(np.zeros((3, 5)))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ["AU4", "au4", "AU04", "4", " Au4 ", 4])
def test_canonical_names_accepted(name: object) -> None:
    assert canonical_au(name) == "AU4"
    assert validate_aus({name: 2}) == {"AU4": 2.0}


@pytest.mark.parametrize("name", ["AU-4", "AU5", "brow", "AU4x", "", "AU 4 6"])
def test_unknown_names_rejected(name: str) -> None:
    with pytest.raises(AUValueError) as err:
        validate_aus({name: 1})
    msg = str(err.value)
    assert "unknown AU name" in msg and repr(name) in msg
    assert "AU43" in msg and "AU26" in msg  # lists valid names
    assert "\n" not in msg


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(AUValueError, match="did you mean AU4"):
        validate_aus({"AU-4": 1})


def test_validate_returns_canonical_au_order() -> None:
    out = validate_aus({"AU43": 1, "au12": 2, "AU4": np.float32(1.5), "6": np.int64(3)})
    assert list(out) == ["AU4", "AU6", "AU43", "AU12"]
    assert out == {"AU4": 1.5, "AU6": 3.0, "AU43": 1.0, "AU12": 2.0}
    assert all(type(v) is float for v in out.values())


@pytest.mark.parametrize(
    "aus, pattern",
    [
        ({"AU4": 6}, r"AU4 .*out of range; allowed range is 0 to 5"),
        ({"AU4": -0.5}, r"AU4 .*out of range"),
        ({"AU12": 5.01}, r"AU12 .*out of range"),
        ({"AU43": 0.5}, r"AU43 must be 0 or 1"),
        ({"AU43": 2}, r"AU43 must be 0 or 1"),
        ({"AU6": float("nan")}, r"AU6 intensity is NaN"),
        ({"AU6": "3"}, r"AU6 intensity '3' is a str, not a number"),
        ({"AU6": None}, r"not a number"),
        ({"AU6": True}, r"not a number"),
        ({"AU4": 1, "au04": 2}, r"AU4 is given twice"),
    ],
)
def test_invalid_intensities(aus: dict, pattern: str) -> None:
    with pytest.raises(AUValueError, match=pattern):
        validate_aus(aus)


def test_validate_boundaries_accepted() -> None:
    assert validate_aus({"AU4": 0, "AU6": 5, "AU43": 1, "AU26": 5.0}) == {
        "AU4": 0.0, "AU6": 5.0, "AU43": 1.0, "AU26": 5.0
    }


def test_validate_disallow_distractors() -> None:
    assert validate_aus({"AU4": 2}, allow_distractors=False) == {"AU4": 2.0}
    with pytest.raises(AUValueError, match="AU12 .*not a PSPI pain AU"):
        validate_aus({"AU4": 2, "AU12": 1}, allow_distractors=False)


def test_au_value_error_is_value_error() -> None:
    assert issubclass(AUValueError, ValueError)


# --------------------------------------------------------------------------- parsing


def test_parse_au_string() -> None:
    assert parse_au_string("AU4=3,AU43=1") == {"AU4": 3.0, "AU43": 1.0}
    assert parse_au_string(" au06 = 2.5 ; 10=E, AU12=a ") == {"AU6": 2.5, "AU10": 5.0, "AU12": 1.0}
    assert parse_au_string("AU4=-") == {"AU4": 0.0}
    assert parse_au_string("") == {}
    assert parse_au_string("AU4=1e0") == {"AU4": 1.0}


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("AU4", r"NAME=VALUE"),
        ("AU4=1=2", r"NAME=VALUE"),
        ("AU99=1", r"unknown AU name 'AU99'"),
        ("AU4=x", r"AU4 intensity 'x' is not a number"),
        ("AU4=7", r"allowed range is 0 to 5"),
        ("AU43=0.5", r"AU43 must be 0 or 1"),
        ("AU4=nan", r"NaN"),
        ("AU4=1,au4=2", r"AU4 is given twice"),
    ],
)
def test_parse_au_string_errors(text: str, pattern: str) -> None:
    with pytest.raises(AUValueError, match=pattern):
        parse_au_string(text)


def test_parse_au_string_pain_only() -> None:
    with pytest.raises(AUValueError, match="not a PSPI pain AU"):
        parse_au_string("AU4=1,AU26=2", allow_distractors=False)


# --------------------------------------------------------------------------- arrays


def test_array_round_trip() -> None:
    aus = {"AU4": 2.0, "AU43": 1.0, "AU25": 3.0}
    a = aus_to_array(aus)
    assert a.shape == (len(AU_ORDER),) and a.dtype == np.float32
    assert a[AU_ORDER.index("AU4")] == 2 and a[AU_ORDER.index("AU25")] == 3
    assert a.sum() == 6
    back = array_to_aus(a)
    assert list(back) == list(AU_ORDER)
    assert {k: v for k, v in back.items() if v} == aus
    pain = aus_to_array(aus={"AU10": 4}, order=PAIN_CODES)
    np.testing.assert_array_equal(pain, [0, 0, 0, 0, 4, 0])


def test_array_errors() -> None:
    with pytest.raises(AUValueError, match="not in the array order"):
        aus_to_array({"AU12": 1}, order=PAIN_CODES)
    with pytest.raises(AUValueError, match=r"got shape \(5,\)"):
        array_to_aus(np.zeros(5), order=PAIN_CODES)


# --------------------------------------------------------------------------- sampling


def test_configuration_table_is_complete_and_exact() -> None:
    groups = pspi_configurations()
    assert len(groups) == 17
    assert sum(len(g) for g in groups) == 6**5 * 2
    rows = np.concatenate(groups)
    assert len({tuple(r) for r in rows.tolist()}) == 6**5 * 2  # no duplicates
    for t, g in enumerate(groups):
        assert len(g) > 0
        np.testing.assert_array_equal(_pspi_loop(g), t)
        assert not g.flags.writeable
    assert len(groups[0]) == 1 and len(groups[16]) == 121
    assert pspi_configurations() is groups  # cached


def test_every_target_reachable_and_exact() -> None:
    for seed in range(40):
        rng = np.random.default_rng(seed)
        for target in range(17):
            aus = sample_aus_for_pspi(target, rng)
            assert list(aus) == list(PAIN_CODES)
            assert all(type(v) is int for v in aus.values())
            assert pspi(aus) == target
            assert validate_aus(aus, allow_distractors=False)  # intensities legal
            assert aus["AU43"] in (0, 1)


def test_sampling_is_varied_and_uniform() -> None:
    rng = np.random.default_rng(123)
    draws = [tuple(sample_aus_for_pspi(8, rng).values()) for _ in range(3000)]
    counts = Counter(draws)
    n_configs = len(pspi_configurations()[8])  # 1686
    assert len(counts) > 1000  # uniform over 1686 configs -> ~1400 distinct in 3000 draws
    assert max(counts.values()) < 12  # no decomposition dominates
    # AU43 open/closed both common at mid PSPI
    closed = sum(d[5] for d in draws) / len(draws)
    expected = len([r for r in pspi_configurations()[8] if r[5] == 1]) / n_configs
    assert abs(closed - expected) < 0.05


def test_sampling_deterministic_with_seed() -> None:
    a = [sample_aus_for_pspi(t, np.random.default_rng(7)) for t in range(17)]
    b = [sample_aus_for_pspi(t, np.random.default_rng(7)) for t in range(17)]
    assert a == b
    c = [sample_aus_for_pspi(8, np.random.default_rng(s)) for s in range(10)]
    assert len({tuple(x.values()) for x in c}) > 1


@pytest.mark.parametrize("target", [-1, 17, 100, 2.5, "3", None, True])
def test_impossible_targets(target: object) -> None:
    with pytest.raises(AUValueError) as err:
        sample_aus_for_pspi(target, np.random.default_rng(0))  # type: ignore[arg-type]
    assert "0 to 16" in str(err.value) and repr(target) in str(err.value)


def test_integral_float_target_accepted() -> None:
    assert pspi(sample_aus_for_pspi(np.int64(5), np.random.default_rng(0))) == 5
    assert pspi(sample_aus_for_pspi(5.0, np.random.default_rng(0))) == 5


def test_sampling_requires_generator() -> None:
    with pytest.raises(TypeError, match="Generator"):
        sample_aus_for_pspi(3, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 1, 5, 16, 17, 18, 50, 1000])
def test_pspi_targets_balanced(n: int) -> None:
    t = sample_pspi_targets(n, np.random.default_rng(n))
    assert t.shape == (n,) and t.dtype == np.int64
    assert t.min(initial=0) >= 0 and t.max(initial=16) <= 16
    counts = np.bincount(t, minlength=17)
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_pspi_targets_range_and_shuffle() -> None:
    t = sample_pspi_targets(40, np.random.default_rng(1), low=3, high=6)
    assert set(t.tolist()) == {3, 4, 5, 6}
    assert all(v == 10 for v in Counter(t.tolist()).values())
    assert not np.all(np.diff(t) >= 0)  # shuffled, not sorted blocks
    again = sample_pspi_targets(40, np.random.default_rng(1), low=3, high=6)
    np.testing.assert_array_equal(t, again)


def test_pspi_targets_remainder_varies_with_seed() -> None:
    extras = {tuple(sorted(sample_pspi_targets(5, np.random.default_rng(s)).tolist())) for s in range(20)}
    assert len(extras) > 1


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(n=-1), "negative"),
        (dict(n=2.5), "not an integer"),
        (dict(n=3, low=5, high=4), "low=5, high=4 is invalid"),
        (dict(n=3, low=-1), "invalid"),
        (dict(n=3, high=17), "invalid"),
    ],
)
def test_pspi_targets_errors(kwargs: dict, pattern: str) -> None:
    with pytest.raises(AUValueError, match=pattern):
        sample_pspi_targets(rng=np.random.default_rng(0), **kwargs)


def test_distractors() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_distractors(rng, probability=0.3, max_intensity=2) for _ in range(2000)]
    assert all(list(d) == list(DISTRACTOR_CODES) for d in draws)
    values = np.array([list(d.values()) for d in draws])
    assert set(np.unique(values).tolist()) == {0, 1, 2}
    assert abs((values > 0).mean() - 0.3) < 0.03
    for d in draws[:50]:
        pain = sample_aus_for_pspi(7, rng)
        assert pspi({**pain, **d}) == 7
    assert all(v == 0 for v in sample_distractors(rng, probability=0.0).values())
    assert all(1 <= v <= 5 for v in sample_distractors(rng, probability=1.0, max_intensity=5).values())
    only = sample_distractors(rng, probability=1.0, names=["au12", "26"])
    assert list(only) == ["AU12", "AU26"]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(names=["AU4"]), "would change PSPI"),
        (dict(names=["AU99"]), "unknown AU name"),
        (dict(names=["AU12", "au12"]), "repeat"),
        (dict(probability=1.5), "probability"),
        (dict(max_intensity=0), "max_intensity"),
        (dict(max_intensity=6), "max_intensity"),
    ],
)
def test_distractor_errors(kwargs: dict, pattern: str) -> None:
    with pytest.raises(AUValueError, match=pattern):
        sample_distractors(np.random.default_rng(0), **kwargs)

