"""ROS 2 parameter files (`node: ros__parameters: ...`) read without ROS, for the offline tools."""

from __future__ import annotations

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


class ListOf(list):
    """An empty list default that says what its elements must be: `ListOf(float)`."""

    def __init__(self, element: type):
        super().__init__()
        self.element = element
