"""How commands reach a robot: one class per command interface, in one registry.

An interface says what its values command, their message, their bounds, the command that is safe
to send and whether it holds the robot still, and where a command takes the robot in one period
(which the motion guard checks against the joint limits or a box). A new interface is one class
here, added to COMMAND_INTERFACES.

- position, velocity, effort: one value per joint in a std_msgs/Float64MultiArray, the
  convention of ros2_control's forward command controllers, bounded by the URDF;
- rotors: one normalised rotor command in [0, 1] per rotor, in a Float64MultiArray (the level of
  PX4's actuator motors);
- attitude: roll, pitch (degrees), yaw rate (degrees/s) and thrust (0-60000) in a
  geometry_msgs/Twist, in the field convention of the Crazyflie ROS 2 server's `cmd_vel_legacy`;
- base_velocity: a wheeled base's forward speed (m/s) and turn rate (rad/s) in a
  geometry_msgs/TwistStamped (ros2_control's diff_drive_controller on Jazzy), or a Twist (its
  `use_stamped_vel: false`, older set-ups).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..params import ListOf, Param

FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
BOUNDED_COMMAND_PARAMETERS = {  # for interfaces that no URDF bounds
    "command_low": Param(ListOf(float), "lower command bounds, one per command value"),
    "command_high": Param(ListOf(float), "upper command bounds, one per command value"),
    "safe_command": Param(ListOf(float), "command sent when in doubt, one per command value"),
}


class BadCommand(ValueError):
    """A command message that must not be used; the message says why."""


@dataclass(frozen=True, eq=False)
class CommandInterface:
    """Float64MultiArray commands, one value per name, bounded by the robot's parameters."""

    mode: ClassVar[str]
    msgtype: ClassVar[str] = FLOAT_ARRAY
    safe_holds_still: ClassVar[bool] = False  # the safe command stops the robot where it is
    guarded: ClassVar[str] = ""  # what the motion guard watches: "joints", "base" or nothing
    PARAMETERS: ClassVar[dict] = BOUNDED_COMMAND_PARAMETERS  # besides the robot's

    topic: str
    names: tuple[str, ...]  # what each value commands, in message order
    low: np.ndarray
    high: np.ndarray
    safe: np.ndarray | None  # sent when in doubt; None: hold the measured joint positions

    def __post_init__(self):
        if not (len(self.names) == len(self.low) == len(self.high)) or not self.names:
            raise ValueError(f"{self.mode} commands need bounds for each of {list(self.names)}")
        if np.any(self.low > self.high):
            raise ValueError(f"command bounds are empty: low {self.low} > high {self.high}")
        if self.safe is None and self.mode != "position":
            raise ValueError(f"{self.mode} commands need a safe command")
        if self.safe is not None and len(self.safe) != len(self.names):
            raise ValueError(f"the safe command needs a value for each of {list(self.names)}")

    @classmethod
    def from_params(cls, params: dict, joints) -> CommandInterface:
        """The interface a robot's parameters describe; `joints`: its actuated joints' URDF entries."""
        return cls(params["command_topic"], cls.NAMES, *(np.asarray(params[k], float) for k in
                                                        ("command_low", "command_high", "safe_command")))

    @property
    def dim(self) -> int:
        return len(self.names)

    def clamp(self, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.low, self.high)

    def vector(self, msg) -> np.ndarray:
        """The command values a message carries, or BadCommand."""
        values = self.values_in(msg)
        if values.shape != (self.dim,):
            raise BadCommand(f"{values.size} values for {self.dim} commands {list(self.names)}")
        if not np.all(np.isfinite(values)):
            raise BadCommand("non-finite values")
        return values

    def values_in(self, msg) -> np.ndarray:
        return np.asarray(msg.data, dtype=float)

    def fill(self, msg, values: np.ndarray):
        """Write command values into a message of `msgtype`, and return it."""
        msg.data = [float(v) for v in values]
        return msg

    def moved(self, positions: np.ndarray, command: np.ndarray, dt: float) -> np.ndarray:
        """Where `command` takes what the guard watches (`positions`, (..., n)) in `dt` seconds."""
        raise NotImplementedError(f"{self.mode} commands say nothing of where the robot goes")

    def toward(self, command: np.ndarray, positions: np.ndarray, share: float) -> np.ndarray:
        """The command that goes `share` of the way `command` goes from `positions`."""
        return share * command


class JointCommands(CommandInterface):
    """One value per joint; bounds from the URDF (a share of the velocity or effort limit)."""

    PARAMETERS: ClassVar[dict] = {}  # the robot's command_scale bounds them

    @classmethod
    def from_params(cls, params, joints):
        if not joints:
            raise ValueError(f"{cls.mode} commands need `joints`")
        scale = params["command_scale"]
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"command_scale must be in (0, 1], got {scale}")
        limit = np.array([getattr(j, cls.mode) for j in joints]) * scale
        return cls(params["command_topic"], tuple(j.name for j in joints), -limit, limit, np.zeros(len(joints)))


@dataclass(frozen=True, eq=False)
class PositionCommands(JointCommands):
    mode = "position"
    safe_holds_still, guarded = True, "joints"

    @classmethod
    def from_params(cls, params, joints):
        if not joints:
            raise ValueError("position commands need `joints`")
        return cls(params["command_topic"], tuple(j.name for j in joints), np.array([j.lower for j in joints]),
                   np.array([j.upper for j in joints]), None)

    def moved(self, positions, command, dt):
        return np.broadcast_to(command, np.shape(positions))

    def toward(self, command, positions, share):
        return positions + share * (command - positions)


@dataclass(frozen=True, eq=False)
class VelocityCommands(JointCommands):
    mode = "velocity"
    safe_holds_still, guarded = True, "joints"

    def moved(self, positions, command, dt):
        return positions + command * dt


@dataclass(frozen=True, eq=False)
class EffortCommands(JointCommands):
    mode = "effort"


@dataclass(frozen=True, eq=False)
class RotorCommands(CommandInterface):
    mode = "rotors"
    NAMES = ("rotor0", "rotor1", "rotor2", "rotor3")


# cmd_vel_legacy: roll = linear.y, pitch = -linear.x, yaw rate = angular.z, thrust = linear.z.
ATTITUDE_FIELDS = {"roll_deg": ("linear", "y", 1.0), "pitch_deg": ("linear", "x", -1.0),
                   "yaw_rate_deg_s": ("angular", "z", 1.0), "thrust": ("linear", "z", 1.0)}


@dataclass(frozen=True, eq=False)
class AttitudeCommands(CommandInterface):
    mode = "attitude"
    msgtype = TWIST
    NAMES = tuple(ATTITUDE_FIELDS)
    FIELDS = ATTITUDE_FIELDS

    def twist(self, msg):
        return msg

    def values_in(self, msg):
        twist = self.twist(msg)
        return np.array([sign * getattr(getattr(twist, part), axis) for part, axis, sign in self.FIELDS.values()],
                        float)

    def fill(self, msg, values):
        twist = self.twist(msg)
        for value, (part, axis, sign) in zip(values, self.FIELDS.values()):
            setattr(getattr(twist, part), axis, float(sign * value))
        return msg


@dataclass(frozen=True, eq=False)
class BaseVelocityCommands(AttitudeCommands):
    """A differential-drive base's forward speed and turn rate. The guard watches the base's pose:
    x, y and its heading's cosine and sine (the state's base.x, base.y, base.rot_xx, base.rot_yx)."""

    mode = "base_velocity"
    NAMES = ("linear_x", "angular_z")
    FIELDS = {"linear_x": ("linear", "x", 1.0), "angular_z": ("angular", "z", 1.0)}
    safe_holds_still, guarded = True, "base"
    PARAMETERS: ClassVar[dict] = BOUNDED_COMMAND_PARAMETERS | {
        "twist_stamped": Param(True, "geometry_msgs/TwistStamped commands (diff_drive_controller on Jazzy); false: "
                               "Twist (use_stamped_vel: false)")}
    stamped: bool = True

    @classmethod
    def from_params(cls, params, joints):
        base = super().from_params(params, joints)
        return cls(base.topic, base.names, base.low, base.high, base.safe, params["twist_stamped"])

    @property
    def msgtype(self) -> str:
        return TWIST_STAMPED if self.stamped else TWIST

    def twist(self, msg):
        return msg.twist if self.stamped else msg

    def moved(self, positions, command, dt):
        """The pose after `dt` at this speed and turn rate (an arc, integrated at its middle heading)."""
        x, y, cos, sin = np.moveaxis(np.asarray(positions, float), -1, 0)
        heading = np.arctan2(sin, cos) + 0.5 * command[1] * dt
        distance = command[0] * dt
        turned = heading + 0.5 * command[1] * dt
        return np.stack([x + distance * np.cos(heading), y + distance * np.sin(heading), np.cos(turned),
                         np.sin(turned)], axis=-1)


COMMAND_INTERFACES: dict[str, type[CommandInterface]] = {
    cls.mode: cls for cls in (PositionCommands, VelocityCommands, EffortCommands, RotorCommands, AttitudeCommands,
                              BaseVelocityCommands)}
MODES = tuple(COMMAND_INTERFACES)


def command_interface(mode: str) -> type[CommandInterface]:
    if mode not in COMMAND_INTERFACES:
        raise ValueError(f"command_mode must be one of {list(MODES)}, got {mode!r}")
    return COMMAND_INTERFACES[mode]
