"""Where a command may take the robot in the next control period.

The bounds of a command interface say how fast a robot may move; they do not say where it may go.
`MotionGuard` keeps the motion a command asks for inside the joint position limits less a margin,
and, given a map from what it watches to a point, keeps that point inside a box: an arm's end
effector above the table and away from a wall, a wheeled base inside its geofence. Where a command
takes the robot is the command interface's to say (`CommandInterface.moved`); the guard acts on
the interfaces that can say it, after the rate limits and before the bounds.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..robots.commands import CommandInterface

BOX_SHARES = np.linspace(0.0, 1.0, 17)  # the shares of a command tried when it would leave the box


class MotionGuard:
    """`interface`: the commands it cuts, which say where they take the robot. `lower`, `upper`:
    joint position limits (None: no joints to keep, a wheeled base); `margin`: how far inside them a
    joint may go. `max_acceleration` (per joint, may be inf): a velocity command towards a limit is
    cut to what can still stop before it, so a joint brakes instead of hitting it. `point` maps what
    the guard watches (n, k: joint positions, a base's pose) to points (n, d): an end effector's
    position, a base's x and y; `box` is (low, high) for those points: a command that would take
    the point further out of the box is scaled down to the largest share of it that does not."""

    def __init__(self, interface: CommandInterface, dt: float, lower: np.ndarray | None = None,
                 upper: np.ndarray | None = None, margin: float = 0.0, max_acceleration: np.ndarray | None = None,
                 point: Callable[[np.ndarray], np.ndarray] | None = None,
                 box: tuple[np.ndarray, np.ndarray] | None = None):
        if not interface.guarded:
            raise ValueError(f"the motion guard cannot tell where {interface.mode} commands take the robot")
        if not margin >= 0:
            raise ValueError(f"the position margin must be >= 0, got {margin}")
        self.low = self.high = None
        if lower is not None:
            self.low, self.high = np.asarray(lower, float) + margin, np.asarray(upper, float) - margin
            if np.any(self.low > self.high):
                raise ValueError(f"a position margin of {margin} leaves no room between some joints' limits")
        if (point is None) != (box is None):
            raise ValueError("a box needs both its corners and the map to the point kept in it")
        if box is not None and not np.all(np.asarray(box[0]) < np.asarray(box[1])):
            raise ValueError(f"the box's low corner {box[0]} must be below its high corner {box[1]}")
        self.interface, self.dt = interface, dt
        self.max_acceleration = (None if self.low is None or max_acceleration is None
                                 else np.asarray(max_acceleration, float))
        self.point, self.box = point, box

    def __call__(self, command: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The command, cut where it would break a limit; `positions`: what the guard watches, measured."""
        command = np.asarray(command, float)
        if self.low is not None:
            command = self._within_joint_limits(command, positions)
        if self.box is not None:
            command = self._within_box(command, positions)
        return command

    def _within_joint_limits(self, command: np.ndarray, q: np.ndarray) -> np.ndarray:
        if self.interface.mode == "position":
            return np.clip(command, self.low, self.high)
        return np.clip(command, -self._fastest(q - self.low), self._fastest(self.high - q))

    def _fastest(self, room: np.ndarray) -> np.ndarray:
        """The speed from which a joint still stops within `room` (none where there is none left)."""
        room = np.maximum(room, 0.0)
        if self.max_acceleration is None:
            return room / self.dt
        braking = np.full(room.shape, np.inf)
        limited = np.isfinite(self.max_acceleration)
        braking[limited] = np.sqrt(2.0 * self.max_acceleration[limited] * room[limited])
        return np.minimum(room / self.dt, braking)

    def _within_box(self, command: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Points along the way to where the command leads (linearly between here and there), each
        no further out of the box than here; else the share of the command that stays so."""
        step = self.interface.moved(q, command, self.dt) - q
        reached = self.point(q + BOX_SHARES[:, None] * step)
        low, high = self.box
        outside = np.linalg.norm(np.maximum(low - reached, 0.0) + np.maximum(reached - high, 0.0), axis=1)
        allowed = outside <= outside[0] + 1e-9
        if allowed.all():
            return command
        share = BOX_SHARES[np.argmin(allowed) - 1]  # the largest share before the first that goes further out
        return self.interface.toward(command, q, share)
