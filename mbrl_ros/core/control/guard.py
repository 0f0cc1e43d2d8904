"""Where a joint command may take the robot in the next control period.

The bounds of a command interface say how fast a joint may move; they do not say where it may go.
`MotionGuard` keeps the motion a command asks for inside the joint position limits less a margin,
and, given forward kinematics, keeps the end effector inside a box (above the table, away from a
wall). It acts on velocity and position commands, after the rate limits and before the bounds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

GUARDED_MODES = ("velocity", "position")
BOX_SHARES = np.linspace(0.0, 1.0, 17)  # the shares of a command tried when it would leave the box


class MotionGuard:
    """`lower`, `upper`: joint position limits; `margin`: how far inside them a joint may go.
    `max_acceleration` (per joint, may be inf): a velocity command towards a limit is cut to what
    can still stop before it, so a joint brakes instead of hitting it. `end_effector` maps joint
    positions (n, dof) to end-effector positions (n, 3); `box` is (low, high) for those positions:
    a command that would take the end effector further out of the box is scaled down to the
    largest share of it that does not."""

    def __init__(self, mode: str, lower: np.ndarray, upper: np.ndarray, margin: float, dt: float,
                 max_acceleration: np.ndarray | None = None,
                 end_effector: Callable[[np.ndarray], np.ndarray] | None = None,
                 box: tuple[np.ndarray, np.ndarray] | None = None):
        if mode not in GUARDED_MODES:
            raise ValueError(f"the motion guard acts on {GUARDED_MODES} commands, not {mode}")
        if not margin >= 0:
            raise ValueError(f"the position margin must be >= 0, got {margin}")
        self.low, self.high = np.asarray(lower, float) + margin, np.asarray(upper, float) - margin
        if np.any(self.low > self.high):
            raise ValueError(f"a position margin of {margin} leaves no room between some joints' limits")
        if (end_effector is None) != (box is None):
            raise ValueError("an end-effector box needs both the box and the end effector's kinematics")
        if box is not None and not np.all(np.asarray(box[0]) < np.asarray(box[1])):
            raise ValueError(f"the end-effector box's low corner {box[0]} must be below its high corner {box[1]}")
        self.mode, self.dt = mode, dt
        self.max_acceleration = (np.full(len(self.low), np.inf) if max_acceleration is None
                                 else np.asarray(max_acceleration, float))
        self.end_effector, self.box = end_effector, box

    def __call__(self, command: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The command, cut where it would break a limit; `positions` are the measured joint positions."""
        command = self._within_joint_limits(np.asarray(command, float), positions)
        if self.box is not None:
            command = self._within_box(command, positions)
        return command

    def _within_joint_limits(self, command: np.ndarray, q: np.ndarray) -> np.ndarray:
        if self.mode == "position":
            return np.clip(command, self.low, self.high)
        return np.clip(command, -self._fastest(q - self.low), self._fastest(self.high - q))

    def _fastest(self, room: np.ndarray) -> np.ndarray:
        """The speed from which a joint still stops within `room` (none where there is none left)."""
        room = np.maximum(room, 0.0)
        braking = np.full(room.shape, np.inf)
        limited = np.isfinite(self.max_acceleration)
        braking[limited] = np.sqrt(2.0 * self.max_acceleration[limited] * room[limited])
        return np.minimum(room / self.dt, braking)

    def _within_box(self, command: np.ndarray, q: np.ndarray) -> np.ndarray:
        step = command * self.dt if self.mode == "velocity" else command - q
        reached = self.end_effector(q + BOX_SHARES[:, None] * step)
        low, high = self.box
        outside = np.linalg.norm(np.maximum(low - reached, 0.0) + np.maximum(reached - high, 0.0), axis=1)
        allowed = outside <= outside[0] + 1e-9
        if allowed.all():
            return command
        share = BOX_SHARES[np.argmin(allowed) - 1]  # the largest share before the first that goes further out
        return command * share if self.mode == "velocity" else q + share * step
