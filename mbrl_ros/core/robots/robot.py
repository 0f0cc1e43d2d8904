"""What the stack needs to know about a robot, from its YAML parameters and its URDF."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..paths import find_shared_file
from .kinematics import ForwardKinematics
from .urdf import UrdfChain, load_chain

COMMAND_MODES = ("position", "velocity", "effort")


@dataclass(frozen=True)
class RobotSpec:
    joints: tuple[str, ...]  # command and state order
    urdf: str
    ee_link: str
    command_mode: str
    command_scale: float = 1.0  # share of the URDF's velocity or effort limit the controller may use

    def __post_init__(self):
        if self.command_mode not in COMMAND_MODES:
            raise ValueError(f"command_mode must be one of {COMMAND_MODES}, got {self.command_mode!r}")
        if not self.joints:
            raise ValueError("joints must name at least one joint")
        if not 0.0 < self.command_scale <= 1.0:
            raise ValueError(f"command_scale must be in (0, 1], got {self.command_scale}")

    @classmethod
    def from_params(cls, params: dict) -> "RobotSpec":
        return cls(
            joints=tuple(params["joints"]),
            urdf=params["urdf"],
            ee_link=params["ee_link"],
            command_mode=params["command_mode"],
            command_scale=float(params.get("command_scale", 1.0)),
        )

    @cached_property
    def urdf_path(self) -> str:
        return str(find_shared_file(self.urdf, "urdf"))

    @cached_property
    def chain(self) -> UrdfChain:
        chain = load_chain(self.urdf_path, self.ee_link)
        missing = set(self.joints) - {j.name for j in chain.actuated}
        if missing:
            raise ValueError(f"joints {sorted(missing)} are not on the chain to {self.ee_link} in {self.urdf}")
        return chain

    @property
    def dof(self) -> int:
        return len(self.joints)

    @property
    def state_dim(self) -> int:
        """Joint positions then joint velocities, in `joints` order."""
        return 2 * self.dof

    def _limits(self, attribute: str) -> np.ndarray:
        return np.array([getattr(self.chain.joint(n), attribute) for n in self.joints])

    @property
    def position_lower(self) -> np.ndarray:
        return self._limits("lower")

    @property
    def position_upper(self) -> np.ndarray:
        return self._limits("upper")

    @property
    def command_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The box a command must lie in, by command mode."""
        if self.command_mode == "position":
            return self.position_lower, self.position_upper
        limit = self._limits("velocity" if self.command_mode == "velocity" else "effort") * self.command_scale
        return -limit, limit

    def safe_command(self, positions: np.ndarray | None) -> np.ndarray:
        """What to send when in doubt: hold still (zero velocity or effort, or the current position)."""
        if self.command_mode == "position":
            if positions is None:
                raise ValueError("a position-controlled robot needs its current positions to hold")
            return np.clip(positions, self.position_lower, self.position_upper)
        return np.zeros(self.dof)

    def forward_kinematics(self) -> ForwardKinematics:
        return ForwardKinematics(self.chain, list(self.joints))
