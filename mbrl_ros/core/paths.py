"""Find the files this package ships (config/, urdf/, launch/) wherever it is installed."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PACKAGE = "mbrl_ros"


def share_directories() -> list[Path]:
    """Candidate share directories: a source checkout, a pip install, then an ament index."""
    candidates = [Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / PACKAGE]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # not in a ROS workspace, or the package is not installed there
        pass
    return candidates


def find_shared_file(name: str, folder: str) -> Path:
    """An absolute `name` as it is, else `folder/name` in the first share directory that has it."""
    path = Path(name).expanduser()
    if path.is_absolute() or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        return path.resolve()
    for share in share_directories():
        if (share / folder / name).exists():
            return share / folder / name
    searched = ", ".join(str(s / folder) for s in share_directories())
    raise FileNotFoundError(f"{name!r} not found in {searched}")


def robots() -> list[str]:
    """The robots there are configs for, by name: the YAML files in config/ with a controller."""
    return sorted({path.stem for share in share_directories() for path in (share / "config").glob("*.yaml")
                   if "controller" in (yaml.safe_load(path.read_text()) or {})})


def robot_config(robot: str) -> Path:
    """config/<robot>.yaml; an unknown robot's error names the robots there are."""
    try:
        return find_shared_file(f"{robot}.yaml", "config")
    except FileNotFoundError:
        raise FileNotFoundError(f"no robot named {robot!r}: the robots are {', '.join(robots())} "
                                "(config/<robot>.yaml)") from None
