"""Commands as short joint trajectories, for arms that ship a joint_trajectory_controller and no
forward command controller (Franka, Kinova).

Each control period the controller sends the command and the plan's next few as a trajectory
that ends at rest. A joint_trajectory_controller replaces its trajectory with each new one, so
while the controller runs the arm follows the plan; if the controller stops, the arm comes to rest
at the end of the last trajectory instead of holding a velocity forever, as a forward controller
would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAJECTORY_MODES = ("velocity", "position")


@dataclass(frozen=True)
class Trajectory:
    times: np.ndarray  # (K,) seconds from now
    positions: np.ndarray  # (K, joints)
    velocities: np.ndarray  # (K, joints); the last point's are zero


def follow(mode: str, positions: np.ndarray, commands: np.ndarray, dt: float) -> Trajectory:
    """The trajectory that carries out `commands` (K, joints), one per period `dt`, from the measured
    joint `positions`: velocity commands are integrated, position commands are the points."""
    if mode not in TRAJECTORY_MODES:
        raise ValueError(f"trajectories carry {TRAJECTORY_MODES} commands, not {mode}")
    commands = np.atleast_2d(np.asarray(commands, float))
    if mode == "velocity":
        points, velocities = positions + dt * np.cumsum(commands, axis=0), commands.copy()
    else:
        points = commands
        velocities = np.diff(np.vstack([positions, points]), axis=0) / dt
    velocities[-1] = 0.0
    return Trajectory(dt * np.arange(1, len(commands) + 1), points, velocities)


def stop_at(positions: np.ndarray, dt: float) -> Trajectory:
    """Stop where the joints are: the safe command as a trajectory."""
    return Trajectory(np.array([dt]), np.asarray(positions, float)[None], np.zeros((1, len(positions))))
