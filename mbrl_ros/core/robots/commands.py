"""How commands reach a robot: mode, topic, message, bounds and the command that is safe to send.

- position, velocity, effort: one value per joint in a std_msgs/Float64MultiArray, the
  convention of ros2_control's forward command controllers;
- rotors: one normalised rotor command in [0, 1] per rotor, in a Float64MultiArray (the level of
  PX4's actuator motors);
- attitude: roll, pitch (degrees), yaw rate (degrees/s) and thrust (0-60000) in a
  geometry_msgs/Twist, in the field convention of the Crazyflie ROS 2 server's `cmd_vel_legacy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

JOINT_MODES = ("position", "velocity", "effort")
MODES = (*JOINT_MODES, "rotors", "attitude")
FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
TWIST = "geometry_msgs/msg/Twist"
# cmd_vel_legacy: roll = linear.y, pitch = -linear.x, yaw rate = angular.z, thrust = linear.z.
ATTITUDE_FIELDS = {"roll_deg": ("linear", "y", 1.0), "pitch_deg": ("linear", "x", -1.0),
                   "yaw_rate_deg_s": ("angular", "z", 1.0), "thrust": ("linear", "z", 1.0)}
ROTOR_NAMES = ("rotor0", "rotor1", "rotor2", "rotor3")


class BadCommand(ValueError):
    """A command message that must not be used; the message says why."""


@dataclass(frozen=True, eq=False)
class CommandInterface:
    mode: str
    topic: str
    names: tuple[str, ...]  # what each value commands, in message order
    low: np.ndarray
    high: np.ndarray
    safe: np.ndarray | None  # sent when in doubt; None: hold the measured joint positions

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"command_mode must be one of {list(MODES)}, got {self.mode!r}")
        if not (len(self.names) == len(self.low) == len(self.high)) or not self.names:
            raise ValueError(f"{self.mode} commands need bounds for each of {list(self.names)}")
        if np.any(self.low > self.high):
            raise ValueError(f"command bounds are empty: low {self.low} > high {self.high}")
        if self.safe is None and self.mode != "position":
            raise ValueError(f"{self.mode} commands need a safe command")

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def safe_holds_still(self) -> bool:
        """Whether the safe command stops the robot where it is: the measured positions, or zero joint
        velocity; not zero effort (gravity) or motors off (a fall)."""
        return self.mode in ("position", "velocity")

    @property
    def msgtype(self) -> str:
        return TWIST if self.mode == "attitude" else FLOAT_ARRAY

    def clamp(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.low, self.high)

    def vector(self, msg) -> np.ndarray:
        """The command values a message carries, or BadCommand."""
        if self.msgtype == TWIST:
            values = np.array([sign * getattr(getattr(msg, part), axis)
                               for part, axis, sign in ATTITUDE_FIELDS.values()], float)
        else:
            values = np.asarray(msg.data, dtype=float)
        if values.shape != (self.dim,):
            raise BadCommand(f"{values.size} values for {self.dim} commands {list(self.names)}")
        if not np.all(np.isfinite(values)):
            raise BadCommand("non-finite values")
        return values

    def fill(self, msg, values: np.ndarray):
        """Write command values into a message of `msgtype`, and return it."""
        if self.msgtype == TWIST:
            for value, (part, axis, sign) in zip(values, ATTITUDE_FIELDS.values()):
                setattr(getattr(msg, part), axis, float(sign * value))
        else:
            msg.data = [float(v) for v in values]
        return msg
