"""A differential-drive base in PyBullet, commanded as ros2_control's diff_drive_controller is.

A command is the base's forward speed and turn rate. As diff_drive_controller does, the sim turns it
into each wheel's speed, (v -+ w * separation / 2) / radius, and a velocity-controlled motor of
bounded torque drives each wheel towards it; the wheels roll on the ground with friction and a ball
caster slides behind them, so the base accelerates, slips and overshoots as a real one does. Without
a command for `command_timeout` seconds the wheels are stopped (diff_drive_controller's
cmd_vel_timeout). The odometry is the base's true pose and body-frame twist, as perfect wheel
odometry would report it on flat ground. Tipping over, or leaving the bounds, resets the base.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient

from ..params import ListOf, Param, positive
from ..robots.urdf import load_joints
from .base import BaseReadings
from .quadrotor import GRAVITY, rotation_matrix


def wheel_geometry(urdf_path: str | Path, joints: tuple[str, str]) -> tuple[float, float]:
    """The wheels' radius (their collision cylinder's) and separation (between the joints), m."""
    urdf = load_joints(urdf_path)
    left, right = (urdf[name] for name in joints)
    separation = float(np.linalg.norm(left.origin[:3, 3] - right.origin[:3, 3]))
    cylinder = ET.parse(urdf_path).getroot().find(f"link[@name='{left.child}']/collision/geometry/cylinder")
    if cylinder is None:
        raise ValueError(f"{left.child} in {urdf_path} needs a cylinder collision: the wheel")
    return float(cylinder.get("radius")), separation


class DiffDriveSim:
    """`command([v, w])`: forward speed (m/s) and turn rate (rad/s) of the base."""

    PARAMETERS = {
        "wheel_joints": Param(["wheel_left_joint", "wheel_right_joint"], "the left and the right wheel's joint"),
        "wheel_torque": Param(0.1, "largest torque of each wheel's motor, N m", positive),
        "wheel_friction": Param(1.0, "lateral friction of the wheels on the ground", positive),
        "command_timeout": Param(0.5, "seconds without a command before the wheels stop (cmd_vel_timeout)",
                                 positive),
        "start_pose": Param([0.0, 0.0, 0.0], "x, y (m) and heading (rad) the base starts and restarts at"),
        "bounds_low": Param(ListOf(float), "corner (x, y) of the area leaving which restarts the base, m"),
        "bounds_high": Param(ListOf(float), "opposite corner of that area, m"),
    }

    @classmethod
    def from_robot(cls, robot, time_step: float, gui: bool, **options) -> DiffDriveSim:
        return cls(robot.urdf_path, time_step, gui=gui, **options)

    def __init__(self, urdf_path: str | Path, time_step: float = 1.0 / 240.0, wheel_joints=("wheel_left_joint",
                 "wheel_right_joint"), wheel_torque: float = 0.1, wheel_friction: float = 1.0,
                 command_timeout: float = 0.5, start_pose=(0.0, 0.0, 0.0), bounds_low=(), bounds_high=(),
                 gui: bool = False):
        self.time_step, self.command_timeout, self.wheel_torque = time_step, command_timeout, wheel_torque
        self.radius, self.separation = wheel_geometry(urdf_path, tuple(wheel_joints))
        self.start_pose = np.asarray(start_pose, float)
        self.bounds = (np.asarray(bounds_low, float), np.asarray(bounds_high, float)) if len(bounds_low) else None
        self._steps = 0
        self.client = c = BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        c.setGravity(0, 0, -GRAVITY)
        c.setTimeStep(time_step)
        c.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.plane = c.loadURDF("plane.urdf")
        # A floor that gives a little (3 mm under the base), as tyres do: a rigid contact made the base
        # rock at a few hundred hertz on its wheels and caster.
        c.changeDynamics(self.plane, -1, contactStiffness=3000.0, contactDamping=50.0)
        self.body = c.loadURDF(str(urdf_path), [0, 0, 0], flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        joints = {c.getJointInfo(self.body, i)[1].decode(): i for i in range(c.getNumJoints(self.body))}
        self.wheels = [joints[name] for name in wheel_joints]
        for wheel in self.wheels:
            c.changeDynamics(self.body, wheel, lateralFriction=wheel_friction)
        # PyBullet places a body by its centre of mass; the odometry reports base_link's frame.
        self.com_offset = np.array(c.getDynamicsInfo(self.body, -1)[3])
        self.reset()

    @property
    def sim_time(self) -> float:
        return self._steps * self.time_step

    def reset(self) -> None:
        """At the start pose, at rest, wheels stopped."""
        x, y, heading = self.start_pose
        orientation = self.client.getQuaternionFromEuler([0, 0, heading])
        rotation = rotation_matrix(np.array(orientation))
        self.client.resetBasePositionAndOrientation(self.body, np.array([x, y, 0.0]) + rotation @ self.com_offset,
                                                    orientation)
        self.client.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0])
        for wheel in self.wheels:
            self.client.resetJointState(self.body, wheel, 0.0, 0.0)
        self._command = np.zeros(2)
        self._last_command = -math.inf

    def command(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float)
        if values.shape != (2,) or not np.all(np.isfinite(values)):
            raise ValueError(f"command must be 2 finite values (speed, turn rate), got {values}")
        self._command, self._last_command = values, self.sim_time

    def wheel_speeds(self) -> np.ndarray:
        """The left and right wheel speeds (rad/s) the command asks for; zero after the timeout."""
        if self.sim_time - self._last_command > self.command_timeout:
            return np.zeros(2)
        speed, turn = self._command
        half = turn * self.separation / 2
        return np.array([speed - half, speed + half]) / self.radius

    def step(self, steps: int = 1) -> str | None:
        for done in range(1, steps + 1):
            self.client.setJointMotorControlArray(self.body, self.wheels, pybullet.VELOCITY_CONTROL,
                                                  targetVelocities=self.wheel_speeds().tolist(),
                                                  forces=[self.wheel_torque] * 2)
            self.client.stepSimulation()
            self._steps += 1
            reason = self._ended()
            if reason:
                self._steps += steps - done
                self.reset()
                return reason
        return None

    def _ended(self) -> str | None:
        position, rotation = self._pose()
        if rotation[2, 2] < 0.5:
            return "tipped over"
        if self.bounds is not None and (np.any(position[:2] < self.bounds[0]) or np.any(position[:2] > self.bounds[1])):
            return f"left the bounds at {np.round(position[:2], 2).tolist()}"
        return None

    def _pose(self) -> tuple[np.ndarray, np.ndarray]:
        """base_link's position and rotation matrix."""
        com, quaternion = self.client.getBasePositionAndOrientation(self.body)
        rotation = rotation_matrix(np.array(quaternion))
        return np.array(com) - rotation @ self.com_offset, rotation

    def base_readings(self) -> BaseReadings:
        position, rotation = self._pose()
        _, quaternion = self.client.getBasePositionAndOrientation(self.body)
        linear, angular = (np.array(v) for v in self.client.getBaseVelocity(self.body))
        angular_body = rotation.T @ angular
        # The centre of mass's velocity, moved to base_link: v_link = v_com - w x (R com_offset).
        linear = linear - np.cross(angular, rotation @ self.com_offset)
        return BaseReadings(position=position, orientation=np.array(quaternion),
                            linear_velocity=rotation.T @ linear, angular_velocity=angular_body)

    def joint_readings(self) -> None:
        return None

    def close(self) -> None:
        self.client.disconnect()
