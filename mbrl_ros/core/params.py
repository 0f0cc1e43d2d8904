"""Parameters: each component's schema (name, default, description, check), which its node declares
and the offline tools, the demo and the benchmarks read from the same params files, so that every
reader gets the same default; and ROS 2 parameter files (`node: ros__parameters: ...`) read
without ROS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def node_parameters(params_file: str | Path, node_name: str) -> dict[str, Any]:
    """The parameters a node named `node_name` gets from a params file: `/**` first, then its own."""
    document = yaml.safe_load(Path(params_file).read_text()) or {}
    merged: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}"):
        merged.update((document.get(key) or {}).get("ros__parameters", {}))
    return merged


def configured_policy(params_file: str | Path, given: str | None = None) -> str:
    """What the controller does with a policy (its `policy` parameter): `given`, else the params
    file's, else off. Unless it is off, a policy_trainer runs beside the controller."""
    return given or node_parameters(params_file, "controller").get("policy", "off")


class ListOf(list):
    """An empty list default that says what its elements must be: `ListOf(float)`."""

    def __init__(self, element: type):
        super().__init__()
        self.element = element


class ParameterError(ValueError):
    """A parameter of the wrong type or outside its accepted range: the node does not start."""


Check = Callable[[Any], "str | None"]  # what is wrong with a value, or None


def positive(value) -> str | None:
    return None if value > 0 else "must be > 0"


def non_negative(value) -> str | None:
    return None if value >= 0 else "must be >= 0"


def one_of(*choices) -> Check:
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


def in_range(low, high) -> Check:
    return lambda value: None if low <= value <= high else f"must be in [{low}, {high}]"


def length(n: int) -> Check:
    return lambda value: None if len(value) == n else f"needs {n} values, one per joint"


@dataclass(frozen=True)
class Param:
    default: Any  # its type is the parameter's type; ListOf(type) for an empty list
    description: str
    check: Check | None = None


Schema = dict[str, Param]  # name -> Param


def checked(name: str, value, param: Param):
    """`value` as `param` takes it: whole numbers are accepted where a float is expected (`rate: 20`
    as well as `rate: 20.0`); another type, or a value the check refuses, raises ParameterError."""
    default = param.default
    expected = _element_type(default) if isinstance(default, list) else type(default)
    value = [_widen(v, expected) for v in value] if isinstance(value, list) else _widen(value, expected)
    if not _same_type(value, default):
        kind = f"a list of {expected.__name__}" if isinstance(default, list) else expected.__name__
        raise ParameterError(f"parameter '{name}' = {value!r} must be {kind} ({param.description})")
    problem = param.check(value) if param.check else None
    if problem:
        raise ParameterError(f"parameter '{name}' = {value!r} {problem} ({param.description})")
    return value


def read_parameters(schema: Schema, given: dict) -> dict:
    """The schema's parameters from `given` (a params file's, say), with their defaults where it has
    none: what a node declaring `schema` would get."""
    return {name: checked(name, given.get(name, param.default), param) for name, param in schema.items()}


def _element_type(default: list) -> type | None:
    return default.element if isinstance(default, ListOf) else type(default[0]) if default else None


def _widen(value, expected):
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _same_type(value, default) -> bool:
    if isinstance(default, list):
        element = _element_type(default)
        return isinstance(value, list) and (element is None or all(type(v) is element for v in value))
    return type(value) is type(default)
