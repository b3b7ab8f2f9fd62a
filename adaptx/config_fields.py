"""Config fields that check their own value as it is read, for every section of the experiment config.

Their own module so that the sections other modules own (adaptx.compositions: fusion, combine) are
declared with the same helpers as adaptx.config's, without importing it.
"""

from __future__ import annotations

import math
from dataclasses import field

from .safe_yaml import shown


def checked(problem, **field_args):
    """A dataclass field with its own constraint, checked as the value is read (_check_type) so that `validate`
    keeps only the rules relating several fields: the given value (each item of a list; null never) must pass
    `problem(value)`, which returns None when it is fine, else the error message."""
    return field(metadata={"problem": problem}, **field_args)


def one_of(choices, note: str = "", **field_args):
    """A field whose value is one of `choices` (a tuple, or a mapping of choice -> what it means)."""
    described = choices if isinstance(choices, dict) else dict.fromkeys(choices, "")
    allowed = ", ".join(f"{c} ({d})" if d else c for c, d in described.items()) + note
    return checked(lambda v: None if v in described else f"{shown(v)}; allowed: {allowed}", **field_args)


def at_least(low: int, note: str = "", **field_args):
    """A whole-number field >= low; `note` says what null means where null is allowed."""
    return checked(lambda v: None if v >= low else f"must be >= {low}{note}, got {v}", **field_args)


def in_range(interval: str, **field_args):
    """A finite number in a half-open interval written "[low, high)" or "(low, high)"; high may be inf."""
    low, high = (float(end) for end in interval[1:-1].split(","))
    low_inclusive = interval[0] == "["

    def problem(v):
        if math.isfinite(v) and (v >= low if low_inclusive else v > low) and v < high:
            return None
        if high == math.inf:
            return f"must be a finite number {'>=' if low_inclusive else '>'} {low:g}, got {v}"
        return f"must be in {'[' if low_inclusive else '('}{low:g}, {high:g}), got {v}"
    return checked(problem, **field_args)
