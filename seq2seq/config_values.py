"""Validation of one config value against its declared type and range (used by seq2seq.config)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any, Literal

from seq2seq.errors import UserError


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def allowed_kinds(annotation: Any) -> tuple[list[Any], bool]:
    """(base types or a Literal's choices, optional?) of a field annotation."""
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        optional = type(None) in args
        annotation = next(a for a in args if a is not type(None))
    return [annotation], optional


def show_choice(choice: Any) -> str:
    """A Literal's choice as YAML writes it: true and false for booleans (train.tensorboard: auto | true | false)."""
    return str(choice).lower() if isinstance(choice, bool) else str(choice)


def check_value(where: str, key: str, value: Any, fld: dataclasses.Field, annotation: Any) -> Any:
    """The value converted to the key's type, or a UserError that says what is allowed."""
    (kind,), optional = allowed_kinds(annotation)
    if value is None:
        if optional:
            return None
        raise UserError(f"{where}: {key} must not be empty (null); default is {fld.default!r}")
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if not any(value == choice and type(value) is type(choice) for choice in choices):  # 1 is not true
            raise UserError(f"{where}: {key} must be one of {', '.join(map(show_choice, choices))}; got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: {key} must be true or false; got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: {key} must be an integer; got {value!r}")
    elif kind is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # PyYAML reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: {key} must be a number; got {value!r}")
        value = float(value)
        if not math.isfinite(value):  # NaN passes every comparison, so no range check catches it
            raise UserError(f"{where}: {key} must be a finite number; got {value!r}")
    elif kind is list:
        if not isinstance(value, list):
            raise UserError(f"{where}: {key} must be a list; got {value!r}")
        return value
    elif kind is str:
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"{where}: {key} must be a non-empty string; got {value!r}")
        return value
    low, high = fld.metadata.get("low"), fld.metadata.get("high")
    too_low = low is not None and (value <= low if fld.metadata.get("low_open") else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "" if low is None else (f"> {low}" if fld.metadata.get("low_open") else f">= {low}")
        hi = "" if high is None else f"<= {high}"
        allowed = " and ".join(p for p in (lo, hi) if p)
        raise UserError(f"{where}: {key} must be {allowed}; got {value!r}")
    return value


def suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else f" (valid keys: {', '.join(valid)})"
