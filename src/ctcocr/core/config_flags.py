"""Command-line flags derived from the config dataclasses, so that no option is written twice.

Each field becomes `--field-name` with the field's type, default and `help` metadata;
`from_args` builds the dataclass back from the parsed namespace.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def add_fields(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: frozenset[str] = frozenset(),
    rename: dict[str, str] | None = None,
    types: dict[str, Callable[[str], Any]] | None = None,
) -> None:
    """Add one flag per field of dataclass `cls`; the parsed default is None (= field default).

    `types` maps a field to the function that parses its flag, where the field's type alone
    does not say how (e.g. a range '4-6', or a file to read).
    """
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + (rename or {}).get(field.name, field.name).replace("_", "-")
        kind = _strip_optional(hints[field.name])
        help_text = field.metadata.get("help", "")
        default = field.default if field.default is not dataclasses.MISSING else None
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_text = f"{help_text} (default: {shown})" if shown is not None else help_text
        kwargs: dict[str, Any] = {"dest": field.name, "default": None, "help": help_text}
        if field.metadata.get("metavar"):
            kwargs["metavar"] = field.metadata["metavar"]
        if types and field.name in types:
            kwargs["type"] = types[field.name]
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is Literal:
            kwargs["choices"] = typing.get_args(kind)
            kwargs["type"] = type(typing.get_args(kind)[0])
        elif typing.get_origin(kind) is tuple:
            kwargs["type"] = _int_tuple
            kwargs["metavar"] = "N,N,..."
        else:
            kwargs["type"] = kind
        group.add_argument(flag, **kwargs)


def from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """The dataclass with every flag the user gave; the other fields keep their defaults."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if getattr(args, f.name, None) is not None
    }
    return cls(**{**given, **overrides})


def given_fields(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of dataclass `cls` whose flags the user gave."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }


def _strip_optional(kind: Any) -> Any:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return options[0] if len(options) == 1 else kind
    return kind


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give integers separated by commas") from None


def parse_range(text: str) -> tuple[int, int]:
    """'4-6' -> (4, 6); '5' -> (5, 5)."""
    low, _, high = text.partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a length like 5 or 4-6") from None
    return pair


def parse_size(text: str) -> tuple[int, int]:
    """'128x64' -> (128, 64): width x height."""
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size like 128x64 (WxH)") from None
