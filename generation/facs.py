"""FACS Action Units, the PSPI pain score, and seeded sampling of exact AU configurations.

Intensities follow FACS: 0 (absent) and A–E = 1–5; AU43 (eyes closed) is 0 or 1.
PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43, range 0–16.

>>> pspi({"AU4": 2, "AU6": 1, "AU7": 3, "AU10": 1, "AU43": 1})
7.0
>>> parse_au_string("au4=C, AU43=1")
{'AU4': 3.0, 'AU43': 1.0}
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

__all__ = [
    "ActionUnit",
    "AUValueError",
    "PAIN_AUS",
    "DISTRACTOR_AUS",
    "PAIN_CODES",
    "DISTRACTOR_CODES",
    "AU_ORDER",
    "ALL_AUS",
    "INTENSITY_LETTERS",
    "PSPI_MAX",
    "canonical_au",
    "letter_to_intensity",
    "intensity_to_letter",
    "pspi",
    "pspi_array",
    "validate_aus",
    "parse_au_string",
    "aus_to_array",
    "array_to_aus",
    "pspi_configurations",
    "sample_aus_for_pspi",
    "sample_pspi_targets",
    "sample_distractors",
]


class AUValueError(ValueError):
    """An AU name, intensity or PSPI target that cannot be used; the message says the fix."""


@dataclass(frozen=True)
class ActionUnit:
    """One FACS Action Unit.

    code: "AU4"; number: 4; name: FACS name ("brow lowerer");
    max_intensity: 5 (A–E), or 1 for AU43; pain: True for the six PSPI AUs.
    """

    code: str
    number: int
    name: str
    max_intensity: int
    pain: bool


def _au(number: int, name: str, pain: bool, max_intensity: int = 5) -> ActionUnit:
    return ActionUnit(f"AU{number}", number, name, max_intensity, pain)


PAIN_AUS: tuple[ActionUnit, ...] = (
    _au(4, "brow lowerer", True),
    _au(6, "cheek raiser", True),
    _au(7, "lid tightener", True),
    _au(9, "nose wrinkler", True),
    _au(10, "upper lip raiser", True),
    _au(43, "eyes closed", True, max_intensity=1),
)
DISTRACTOR_AUS: tuple[ActionUnit, ...] = (
    _au(1, "inner brow raiser", False),
    _au(2, "outer brow raiser", False),
    _au(12, "lip corner puller", False),
    _au(15, "lip corner depressor", False),
    _au(25, "lips part", False),
    _au(26, "jaw drop", False),
)
PAIN_CODES: tuple[str, ...] = tuple(au.code for au in PAIN_AUS)
DISTRACTOR_CODES: tuple[str, ...] = tuple(au.code for au in DISTRACTOR_AUS)
# Column order of every AU array: the six PSPI AUs first (pspi_array's order), then distractors.
AU_ORDER: tuple[str, ...] = PAIN_CODES + DISTRACTOR_CODES
ALL_AUS: Mapping[str, ActionUnit] = MappingProxyType(
    {au.code: au for au in PAIN_AUS + DISTRACTOR_AUS}
)
_BY_NUMBER: Mapping[int, ActionUnit] = MappingProxyType({au.number: au for au in ALL_AUS.values()})

INTENSITY_LETTERS: Mapping[int, str] = MappingProxyType(
    {0: "-", 1: "A", 2: "B", 3: "C", 4: "D", 5: "E"}
)
_LETTER_VALUES: Mapping[str, int] = MappingProxyType({v: k for k, v in INTENSITY_LETTERS.items()})

PSPI_MAX = 16  # 5 + 5 + 5 + 1

_NAME_RE = re.compile(r"(?:AU)?0*(\d+)", re.IGNORECASE)


# --------------------------------------------------------------------------- names & values


def canonical_au(name: object) -> str:
    """The canonical code ("AU4") for "AU4", "au4", "AU04", "4" or 4; AUValueError otherwise."""
    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        text = str(int(name))
    elif isinstance(name, str):
        text = name.strip()
    else:
        raise AUValueError(
            f"AU name {name!r} is a {type(name).__name__}, not a string; "
            f"use one of {', '.join(AU_ORDER)}"
        )
    match = _NAME_RE.fullmatch(text)
    if match and int(match.group(1)) in _BY_NUMBER:
        return _BY_NUMBER[int(match.group(1))].code
    close = difflib.get_close_matches(
        re.sub(r"[^0-9A-Z]", "", text.upper()), AU_ORDER, n=3, cutoff=0.6
    )
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise AUValueError(
        f"unknown AU name {name!r}; {hint}valid names (case-insensitive, e.g. AU4, au04, 4): "
        f"{', '.join(AU_ORDER)}"
    )


def letter_to_intensity(letter: str) -> int:
    """FACS letter to integer intensity: "-" -> 0, "A" -> 1, ..., "E" -> 5 (case-insensitive)."""
    key = letter.strip().upper() if isinstance(letter, str) else None
    if key not in _LETTER_VALUES:
        raise AUValueError(
            f"unknown FACS intensity letter {letter!r}; use one of - A B C D E (0 = '-')"
        )
    return _LETTER_VALUES[key]


def intensity_to_letter(value: int) -> str:
    """Integer intensity 0..5 to its FACS letter ("-", "A", ..., "E")."""
    valid = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not valid or value not in INTENSITY_LETTERS:
        raise AUValueError(f"intensity {value!r} has no FACS letter; use an integer from 0 to 5")
    return INTENSITY_LETTERS[int(value)]


def _check_value(code: str, value: object) -> float:
    au = ALL_AUS[code]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AUValueError(
            f"{code} intensity {value!r} is a {type(value).__name__}, not a number; "
            f"give a number from 0 to {au.max_intensity}"
        )
    x = float(value)
    if math.isnan(x):
        raise AUValueError(f"{code} intensity is NaN; give a number from 0 to {au.max_intensity}")
    if au.max_intensity == 1:
        if x not in (0.0, 1.0):
            raise AUValueError(
                f"{code} ({au.name}) intensity {value!r} is invalid; {code} must be 0 or 1"
            )
    elif not 0.0 <= x <= au.max_intensity:
        raise AUValueError(
            f"{code} ({au.name}) intensity {value!r} is out of range; "
            f"allowed range is 0 to {au.max_intensity}"
        )
    return x


def validate_aus(aus: Mapping[str, float], allow_distractors: bool = True) -> dict[str, float]:
    """Check AU names and intensities; return {canonical code: float} in AU_ORDER order.

    Names are matched case-insensitively ("AU4", "au4", "AU04", "4"); intensities must be
    numbers in 0..5 (AU43: 0 or 1). Raises AUValueError with a one-line message otherwise.
    """
    if not isinstance(aus, Mapping):
        raise AUValueError(
            f"AUs must be a mapping like {{'AU4': 2}}, got a {type(aus).__name__}"
        )
    out: dict[str, float] = {}
    for name, value in aus.items():
        code = canonical_au(name)
        if code in out:
            raise AUValueError(
                f"{code} is given twice (as {name!r} and earlier); give each AU once"
            )
        if not allow_distractors and not ALL_AUS[code].pain:
            raise AUValueError(
                f"{code} ({ALL_AUS[code].name}) is not a PSPI pain AU; "
                f"use only {', '.join(PAIN_CODES)} here"
            )
        out[code] = _check_value(code, value)
    return {code: out[code] for code in AU_ORDER if code in out}


def parse_au_string(text: str, allow_distractors: bool = True) -> dict[str, float]:
    """Parse "AU4=3,AU43=1" (values may be numbers or FACS letters A–E) into validated AUs.

    Items are separated by commas or semicolons; an empty string gives {}.
    """
    if not isinstance(text, str):
        raise AUValueError(
            f"AU string must be a str like 'AU4=3,AU43=1', got a {type(text).__name__}"
        )
    raw: dict[str, float] = {}
    seen: dict[str, str] = {}
    for item in re.split(r"[,;]", text):
        item = item.strip()
        if not item:
            continue
        if item.count("=") != 1:
            raise AUValueError(
                f"cannot parse {item!r}; write each AU as NAME=VALUE, e.g. 'AU4=3,AU43=1'"
            )
        name, value_text = (part.strip() for part in item.split("="))
        code = canonical_au(name)
        if code in seen:
            raise AUValueError(
                f"{code} is given twice ({seen[code]!r} and {item!r}); give each AU once"
            )
        seen[code] = item
        raw[code] = _parse_value(code, value_text)
    return validate_aus(raw, allow_distractors=allow_distractors)


def _parse_value(code: str, text: str) -> float:
    if len(text) == 1 and text.upper() in _LETTER_VALUES:
        return float(_LETTER_VALUES[text.upper()])
    try:
        return float(text)
    except ValueError:
        raise AUValueError(
            f"{code} intensity {text!r} is not a number; give 0 to "
            f"{ALL_AUS[code].max_intensity} or a FACS letter A–E"
        ) from None


# --------------------------------------------------------------------------- PSPI


def pspi(aus: Mapping[str, float]) -> float:
    """PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43; missing AUs count 0.

    AU names are matched like validate_aus; intensities are not range-checked.
    """
    v = {code: 0.0 for code in PAIN_CODES}
    for name, value in aus.items():
        code = canonical_au(name)
        if code in v:
            v[code] = float(value)
    return v["AU4"] + max(v["AU6"], v["AU7"]) + max(v["AU9"], v["AU10"]) + v["AU43"]


def pspi_array(a: np.ndarray) -> np.ndarray:
    """Vectorized PSPI. a: (N, 6) or (6,) intensities in PAIN_CODES order -> (N,) or ()."""
    a = np.asarray(a, dtype=np.float64)
    if a.shape[-1:] != (len(PAIN_CODES),) or a.ndim not in (1, 2):
        raise AUValueError(
            f"pspi_array expects shape (N, 6) or (6,) in order {', '.join(PAIN_CODES)}; "
            f"got shape {a.shape}"
        )
    au4, au6, au7, au9, au10, au43 = np.moveaxis(a, -1, 0)
    return au4 + np.maximum(au6, au7) + np.maximum(au9, au10) + au43


def aus_to_array(aus: Mapping[str, float], order: Iterable[str] = AU_ORDER) -> np.ndarray:
    """(len(order),) float32 intensities in ``order``; AUs not given are 0."""
    order = tuple(canonical_au(name) for name in order)
    values = validate_aus(aus)
    extra = sorted(set(values) - set(order), key=AU_ORDER.index)
    if extra:
        raise AUValueError(
            f"{', '.join(extra)} not in the array order {', '.join(order)}; add them to order"
        )
    return np.array([values.get(code, 0.0) for code in order], dtype=np.float32)


def array_to_aus(a: np.ndarray, order: Iterable[str] = AU_ORDER) -> dict[str, float]:
    """Inverse of aus_to_array: (len(order),) -> {code: float} (zeros kept)."""
    order = tuple(canonical_au(name) for name in order)
    a = np.asarray(a)
    if a.shape != (len(order),):
        raise AUValueError(
            f"expected shape ({len(order)},) for order {', '.join(order)}; got shape {a.shape}"
        )
    return {code: float(x) for code, x in zip(order, a)}


# --------------------------------------------------------------------------- sampling


@lru_cache(maxsize=1)
def pspi_configurations() -> tuple[np.ndarray, ...]:
    """All integer pain-AU configurations grouped by PSPI.

    Returns 17 read-only int64 arrays; entry t is (M_t, 6) in PAIN_CODES order, every row
    with PSPI t. Together they hold all 6**5 * 2 = 15552 configurations.
    """
    ranges = [range(au.max_intensity + 1) for au in PAIN_AUS]
    allc = np.array(list(product(*ranges)), dtype=np.int64)
    scores = pspi_array(allc).astype(np.int64)
    groups = []
    for t in range(PSPI_MAX + 1):
        g = allc[scores == t]
        g.setflags(write=False)
        groups.append(g)
    return tuple(groups)


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _as_int(value: object, what: str, hint: str) -> int:
    if isinstance(value, bool):
        raise AUValueError(f"{what} {value!r} is a bool; {hint}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    raise AUValueError(f"{what} {value!r} is not an integer; {hint}")


def sample_aus_for_pspi(target: int, rng: np.random.Generator) -> dict[str, int]:
    """Integer intensities of the six pain AUs whose PSPI is exactly ``target`` (0..16).

    Drawn uniformly among all integer configurations with that PSPI.
    """
    hint = f"PSPI targets are integers from 0 to {PSPI_MAX}"
    t = _as_int(target, "PSPI target", hint)
    if not 0 <= t <= PSPI_MAX:
        raise AUValueError(f"PSPI target {target!r} is impossible; {hint}")
    rng = _check_rng(rng)
    group = pspi_configurations()[t]
    row = group[rng.integers(len(group))]
    return {code: int(x) for code, x in zip(PAIN_CODES, row)}


def sample_pspi_targets(
    n: int, rng: np.random.Generator, low: int = 0, high: int = PSPI_MAX
) -> np.ndarray:
    """(n,) int64 PSPI targets over low..high (inclusive), balanced and shuffled.

    Every value appears n // k or n // k + 1 times (k = high - low + 1); which values get the
    extra one is drawn without replacement.
    """
    n = _as_int(n, "n", "give a count >= 0")
    if n < 0:
        raise AUValueError(f"n = {n} is negative; give a count >= 0")
    hint = f"use integers with 0 <= low <= high <= {PSPI_MAX}"
    low = _as_int(low, "low", hint)
    high = _as_int(high, "high", hint)
    if not 0 <= low <= high <= PSPI_MAX:
        raise AUValueError(f"PSPI range low={low}, high={high} is invalid; {hint}")
    rng = _check_rng(rng)
    values = np.arange(low, high + 1, dtype=np.int64)
    reps, rest = divmod(n, len(values))
    out = np.concatenate([np.tile(values, reps), rng.choice(values, size=rest, replace=False)])
    rng.shuffle(out)
    return out


def sample_distractors(
    rng: np.random.Generator,
    probability: float = 0.5,
    max_intensity: int = 3,
    names: Iterable[str] = DISTRACTOR_CODES,
) -> dict[str, int]:
    """{code: intensity} per distractor: 1..max_intensity with ``probability``, else 0.

    Only non-pain AUs are allowed, so the PSPI never changes.
    """
    codes = tuple(canonical_au(name) for name in names)
    pain = [c for c in codes if ALL_AUS[c].pain]
    if pain:
        raise AUValueError(
            f"{', '.join(pain)} would change PSPI; "
            f"distractors must be among {', '.join(DISTRACTOR_CODES)}"
        )
    if len(set(codes)) != len(codes):
        raise AUValueError(f"distractor names {list(codes)} repeat an AU; give each once")
    is_number = isinstance(probability, numbers.Real) and not isinstance(probability, bool)
    if not is_number or not 0.0 <= probability <= 1.0:
        raise AUValueError(f"probability {probability!r} is invalid; use a number from 0 to 1")
    m = _as_int(max_intensity, "max_intensity", "use an integer from 1 to 5")
    if not 1 <= m <= 5:
        raise AUValueError(
            f"max_intensity {max_intensity!r} is out of range; use an integer from 1 to 5"
        )
    rng = _check_rng(rng)
    active = rng.random(len(codes)) < probability
    levels = rng.integers(1, m + 1, size=len(codes))
    return {code: int(lv) if on else 0 for code, on, lv in zip(codes, active, levels)}
