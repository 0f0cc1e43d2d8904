"""Exploration for a robot with no model yet, chosen per robot by the `exploration` parameter.

- waypoints: joints wander between random waypoints inside the robot's workspace box, with
  low-pass filtered noise, in any joint command mode.
- pilot: a drone flown by a safety pilot (a cascaded PID) between random waypoints, with
  low-pass filtered noise on its rotor or attitude commands.
- drive: a wheeled base driven by a go-to-pose controller between random poses, with low-pass
  filtered noise on its speed and turn rate.
"""

from __future__ import annotations

import numpy as np

from ..params import Param, Schema, read_parameters
from ..robots.robot import RobotSpec
from ..robots.state import (
    BASE_POSITION,
    BASE_RATES,
    BASE_VELOCITY,
    BASE_X_AXIS,
    BASE_Y_AXIS,
    matrix_to_quaternion,
    rotation_from_6d,
)
from ..sims.base import BaseReadings
from ..sims.pose_control import PoseController
from ..sims.quadrotor import QuadrotorParams
from ..sims.quadrotor_pid import CascadedPID


class SmoothNoise:
    """Low-pass filtered Gaussian noise of unit variance, one value per dimension."""

    def __init__(self, dim: int, rng: np.random.Generator, smoothing: float = 0.8):
        self.rng, self.smoothing, self.value = rng, smoothing, np.zeros(dim)

    def __call__(self) -> np.ndarray:
        s = self.smoothing
        self.value = s * self.value + (1 - s) * self.rng.standard_normal(self.value.shape)
        return self.value / np.sqrt((1 - s) / (1 + s))


class WaypointExplorer:
    """Commands that head for random waypoints inside the workspace joint box, with low-pass
    filtered noise. The box keeps the robot away from its limits; the noise makes the data rich in
    actions, not just in states. A new waypoint is drawn when the old one is reached or after
    `waypoint_seconds`."""

    PARAMETERS: Schema = {}

    def __init__(self, robot: RobotSpec, params: dict, dt: float, rng: np.random.Generator, gain: float = 1.5,
                 noise: float = 0.5, smoothing: float = 0.8, waypoint_seconds: float = 3.0):
        if robot.command_mode not in ("position", "velocity", "effort"):
            raise ValueError(f"waypoint exploration needs joint commands, not {robot.command_mode}")
        self.robot, self.dt, self.rng = robot, dt, rng
        self.box_low, self.box_high = robot.workspace
        self.gain, self.noise, self.unit_noise = gain, noise, SmoothNoise(robot.dof, rng, smoothing)
        self.waypoint_steps = max(1, int(waypoint_seconds / dt))
        self.low, self.high = robot.command_bounds
        self.positions = robot.position_columns
        self.velocities = robot.state.columns(*(f"{j}.velocity" for j in robot.joints))
        self.waypoint, self.steps = None, 0

    def __call__(self, state: np.ndarray) -> np.ndarray:
        q, qd = state[self.positions], state[self.velocities]
        if self.waypoint is None or self.steps >= self.waypoint_steps or np.abs(self.waypoint - q).max() < 0.05:
            self.waypoint, self.steps = self.rng.uniform(self.box_low, self.box_high), 0
        self.steps += 1
        half_range = (self.high - self.low) / 2
        unit_noise = self.unit_noise()
        error = self.waypoint - q
        mode = self.robot.command_mode
        if mode == "position":  # small steps around the current position, in rad or m
            command = q + np.clip(self.gain * error, -0.1, 0.1) + 0.05 * self.noise * unit_noise
        elif mode == "velocity":
            command = self.gain * error + self.noise * half_range * unit_noise
        else:
            command = half_range * (np.clip(self.gain * error - 0.2 * qd, -1, 1) + self.noise * unit_noise)
        return np.clip(command, self.low, self.high)


class PilotExplorer:
    """A safety pilot for a drone with no model yet. A cascaded PID that knows the drone's mass and
    coefficients (from its URDF: the learned model and the planner never see them) flies between
    random waypoints in a box, and smooth noise on its commands makes the data rich in actions. The
    noise fades as the drone tilts towards `pilot_max_tilt`, so that the pilot can always recover.
    With rotor commands it closes the attitude loop at the control rate through ROS: it flies with
    the state a control period late, and crashes with two periods of delay (a stalled process)."""

    PARAMETERS = {
        "pilot_center": Param([0.0, 0.0, 1.0], "centre of the box the pilot flies in, m"),
        "pilot_span": Param([0.5, 0.5, 0.3], "half-width of that box, m"),
        "pilot_noise": Param(0.1, "noise on each command, as a share of its range"),
        "pilot_smoothing": Param(0.8, "low-pass filter of that noise per control step: 0 white, towards 1 slower"),
        "pilot_max_tilt": Param(45.0, "tilt at which the noise has faded out, degrees"),
        "waypoint_seconds": Param(2.0, "seconds before the pilot heads for a new waypoint"),
    }

    def __init__(self, robot: RobotSpec, params: dict, dt: float, rng: np.random.Generator):
        if robot.command_mode not in ("rotors", "attitude"):
            raise ValueError(f"the pilot flies rotor or attitude commands, not {robot.command_mode}")
        self.robot, self.dt, self.rng = robot, dt, rng
        self.pid = CascadedPID(QuadrotorParams.from_urdf(robot.urdf_path))
        self.fly = self.pid.rotor_command if robot.command_mode == "rotors" else self.pid.attitude_command
        center, span = np.asarray(params["pilot_center"], float), np.asarray(params["pilot_span"], float)
        self.box = (center - span, center + span)
        self.noise = params["pilot_noise"] * (robot.command.high - robot.command.low)
        self.unit_noise = SmoothNoise(robot.command.dim, rng, params["pilot_smoothing"])
        self.waypoint_steps = max(1, int(params["waypoint_seconds"] / dt))
        self.min_up = np.cos(np.radians(params["pilot_max_tilt"]))
        columns = robot.state.columns
        self.columns = [columns(*c) for c in (BASE_POSITION, BASE_X_AXIS + BASE_Y_AXIS, BASE_VELOCITY, BASE_RATES)]
        self.waypoint, self.steps = None, 0

    def __call__(self, state: np.ndarray) -> np.ndarray:
        if self.waypoint is None or self.steps >= self.waypoint_steps:
            self.waypoint, self.steps = self.rng.uniform(*self.box), 0
        self.steps += 1
        position, rotation, velocity, rates = (state[c] for c in self.columns)
        attitude = rotation_from_6d(rotation)
        readings = BaseReadings(position, matrix_to_quaternion(attitude), velocity, rates)
        share = np.clip((attitude[2, 2] - self.min_up) / (1.0 - self.min_up), 0.0, 1.0)
        command = self.fly(readings, self.waypoint, dt=self.dt) + share * self.noise * self.unit_noise()
        return self.robot.command.clamp(command)


class DriveExplorer:
    """A wheeled base driven between random poses in a box by the go-to-pose controller, with
    smooth noise on its commands: the data holds starts, stops, turns on the spot and arcs."""

    PARAMETERS = {
        "drive_center": Param([0.0, 0.0], "centre (x, y) of the area the base drives in, m"),
        "drive_span": Param([0.8, 0.8], "half-width of that area, m"),
        "drive_noise": Param(0.3, "noise on each command, as a share of its range"),
        "drive_smoothing": Param(0.8, "low-pass filter of that noise per control step: 0 white, towards 1 slower"),
        "waypoint_seconds": Param(6.0, "seconds before the base heads for a new pose"),
    }

    def __init__(self, robot: RobotSpec, params: dict, dt: float, rng: np.random.Generator):
        if robot.command.guarded != "base":
            raise ValueError(f"drive exploration needs base_velocity commands, not {robot.command_mode}")
        self.robot, self.rng = robot, rng
        self.controller = PoseController(*robot.command.high)
        center, span = np.asarray(params["drive_center"], float), np.asarray(params["drive_span"], float)
        self.box = (center - span, center + span)
        self.noise = params["drive_noise"] * (robot.command.high - robot.command.low)
        self.unit_noise = SmoothNoise(robot.command.dim, rng, params["drive_smoothing"])
        self.waypoint_steps = max(1, int(params["waypoint_seconds"] / dt))
        self.pose = robot.guarded_columns  # x, y, heading's cosine and sine
        self.waypoint, self.steps = None, 0

    def __call__(self, state: np.ndarray) -> np.ndarray:
        x, y, cos, sin = state[self.pose]
        pose = np.array([x, y, np.arctan2(sin, cos)])
        if self.waypoint is None or self.steps >= self.waypoint_steps:
            self.waypoint = np.append(self.rng.uniform(*self.box), self.rng.uniform(-np.pi, np.pi))
            self.steps = 0
        self.steps += 1
        return self.robot.command.clamp(self.controller(pose, self.waypoint) + self.noise * self.unit_noise())


EXPLORERS = {"waypoints": WaypointExplorer, "pilot": PilotExplorer, "drive": DriveExplorer}


def make_explorer(name: str, robot: RobotSpec, params: dict, dt: float, rng: np.random.Generator):
    if name not in EXPLORERS:
        raise ValueError(f"exploration must be one of {sorted(EXPLORERS)}, got {name!r}")
    explorer = EXPLORERS[name]
    return explorer(robot, read_parameters(explorer.PARAMETERS, params), dt, rng)
