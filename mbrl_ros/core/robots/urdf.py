"""Read the kinematic chain of a URDF: joint origins, axes and limits, from a base to a tip link."""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..files import write_atomically


@dataclass(frozen=True)
class UrdfJoint:
    name: str
    type: str  # revolute, continuous, prismatic or fixed
    parent: str
    child: str
    origin: np.ndarray  # 4x4 transform parent -> joint frame
    axis: np.ndarray  # unit vector in the joint frame
    lower: float
    upper: float
    velocity: float
    effort: float

    @property
    def actuated(self) -> bool:
        return self.type != "fixed"


def _floats(text: str | None, default: str) -> list[float]:
    return [float(v) for v in (text or default).split()]


def rpy_xyz_to_matrix(rpy: list[float], xyz: list[float]) -> np.ndarray:
    roll, pitch, yaw = rpy
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch),
                              math.sin(pitch), math.cos(yaw), math.sin(yaw))
    transform = np.eye(4)
    transform[:3, :3] = [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]
    transform[:3, 3] = xyz
    return transform


def _parse_joint(element: ET.Element) -> UrdfJoint:
    origin = element.find("origin")
    axis = element.find("axis")
    limit = element.find("limit")
    joint_type = element.get("type")
    if joint_type not in ("revolute", "continuous", "prismatic", "fixed"):
        raise ValueError(f"joint {element.get('name')!r}: unsupported type {joint_type!r}")
    axis_vector = np.array(_floats(axis.get("xyz") if axis is not None else None, "1 0 0"))
    if joint_type != "fixed":
        axis_vector = axis_vector / np.linalg.norm(axis_vector)
    unlimited = joint_type == "continuous" or limit is None
    return UrdfJoint(
        name=element.get("name"),
        type=joint_type,
        parent=element.find("parent").get("link"),
        child=element.find("child").get("link"),
        origin=rpy_xyz_to_matrix(
            _floats(origin.get("rpy") if origin is not None else None, "0 0 0"),
            _floats(origin.get("xyz") if origin is not None else None, "0 0 0"),
        ),
        axis=axis_vector,
        lower=-math.inf if unlimited else float(limit.get("lower", "0")),
        upper=math.inf if unlimited else float(limit.get("upper", "0")),
        velocity=float(limit.get("velocity", "inf")) if limit is not None else math.inf,
        effort=float(limit.get("effort", "inf")) if limit is not None else math.inf,
    )


@dataclass(frozen=True)
class UrdfChain:
    robot_name: str
    base_link: str
    tip_link: str
    joints: tuple[UrdfJoint, ...]  # from base to tip, fixed joints included

    @property
    def actuated(self) -> tuple[UrdfJoint, ...]:
        return tuple(j for j in self.joints if j.actuated)

    def joint(self, name: str) -> UrdfJoint:
        for j in self.joints:
            if j.name == name:
                return j
        raise KeyError(f"joint {name!r} is not on the chain {self.base_link} -> {self.tip_link}")


def load_chain(urdf_path: str | Path, tip_link: str) -> UrdfChain:
    """The chain of joints from the URDF's root link to `tip_link`."""
    root = ET.parse(urdf_path).getroot()
    by_child = {j.child: j for j in map(_parse_joint, root.iter("joint"))}
    if tip_link not in by_child and tip_link not in {link.get("name") for link in root.iter("link")}:
        raise ValueError(f"{urdf_path}: no link named {tip_link!r}")
    chain, link = [], tip_link
    while link in by_child:
        chain.append(by_child[link])
        link = by_child[link].parent
    return UrdfChain(root.get("name"), link, tip_link, tuple(reversed(chain)))


@lru_cache(maxsize=16)
def _joints_of(urdf_path: str) -> dict[str, UrdfJoint]:
    return {j.name: j for j in map(_parse_joint, ET.parse(urdf_path).getroot().iter("joint"))}


def load_joints(urdf_path: str | Path) -> dict[str, UrdfJoint]:
    """Every joint of the URDF by name (a tree, not only one chain)."""
    return dict(_joints_of(str(urdf_path)))


def store_description(xml: str, directory: str | Path = "~/.ros/mbrl_ros/robot_descriptions") -> Path:
    """Keep a URDF given as text (a `robot_description` parameter) as a file named by its content's
    hash, so that everything that reads URDF files reads it; ValueError if it is no URDF."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise ValueError(f"robot_description is not XML: {error}") from error
    if root.tag != "robot":
        raise ValueError(f"robot_description is not a URDF: its root element is <{root.tag}>, not <robot>")
    path = Path(directory).expanduser() / f"{hashlib.sha256(xml.encode()).hexdigest()[:16]}.urdf"
    return path if path.exists() else write_atomically(path, lambda stream: stream.write(xml.encode()))
