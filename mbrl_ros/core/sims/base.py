"""What every simulated world reports, so that one sim node can publish any of them.

A world is stepped at the physics rate and read between steps. It reports its joints (for
/joint_states: the robot's and an object's, such as a valve's encoder), its floating base (for
/odom), or both. A world that ends an episode by itself (a crash, a dropped object) resets itself
and says why, so the sim node can announce the reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class JointReadings:
    """What a joint_state_broadcaster would publish: names and, in the same order, the values."""

    names: list[str]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray

    @property
    def name(self) -> list[str]:
        """The JointState's field: a state source reads readings as it reads a message."""
        return self.names


@dataclass
class BaseReadings:
    """A floating base as nav_msgs/Odometry carries it (REP 105): pose in the world frame, twist
    in the body frame."""

    position: np.ndarray  # (3,) world frame, m
    orientation: np.ndarray  # (4,) quaternion x, y, z, w: body to world
    linear_velocity: np.ndarray  # (3,) body frame, m/s
    angular_velocity: np.ndarray  # (3,) body frame, rad/s


class World(Protocol):
    time_step: float  # physics step, s
    sim_time: float  # s since start

    def command(self, values: np.ndarray) -> None:
        """Apply a command (interface-specific vector). Raises ValueError for a wrong length or
        non-finite values; the previous command then stays."""

    def step(self, steps: int = 1) -> str | None:
        """Advance `steps` physics steps. Returns why the episode ended if the world had to reset
        itself during them (for example 'crash: tilted past 90 degrees'), else None."""

    def reset(self) -> None:
        """Back to the start state, at rest."""

    def joint_readings(self) -> JointReadings | None: ...

    def base_readings(self) -> BaseReadings | None: ...

    def close(self) -> None: ...
