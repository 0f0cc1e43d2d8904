"""A PyBullet world with one fixed-base robot, driven by position, velocity or effort commands."""

from __future__ import annotations

import numpy as np
import pybullet
from pybullet_utils.bullet_client import BulletClient

from ..params import ListOf, Param
from ..robots.robot import RobotSpec
from .base import JointReadings


class RobotSim:
    """One robot in its own PyBullet client. Commands are in `spec.joints` order.

    A command holds until the next one, like ros2_control's forward command controllers. When
    commands stop for `command_timeout` seconds of simulated time, the joints lock where they are
    (`hold()`), as a robot's driver would.
    """

    PARAMETERS = {
        "initial_positions": Param(ListOf(float), "joint positions at start and after a reset, in `joints` order "
                              "(default: zeros)"),
        "command_timeout": Param(0.5, "seconds without a command before the joints hold where they are"),
    }

    @classmethod
    def from_robot(cls, robot: RobotSpec, time_step: float, gui: bool, **options) -> "RobotSim":
        return cls(robot, time_step, gui, **options)

    def __init__(self, spec: RobotSpec, time_step: float = 1.0 / 240.0, gui: bool = False,
                 initial_positions: np.ndarray | None = None, command_timeout: float = 0.5):
        self.spec, self.command_timeout = spec, command_timeout
        self.time_step = time_step
        self.client = BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        self.client.setGravity(0, 0, -9.81)
        self.client.setTimeStep(time_step)
        self.robot = self.client.loadURDF(spec.urdf_path, useFixedBase=True,
                                          flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        by_name = {self.client.getJointInfo(self.robot, i)[1].decode(): i
                   for i in range(self.client.getNumJoints(self.robot))}
        missing = [j for j in spec.joints if j not in by_name]
        if missing:
            raise ValueError(f"{spec.urdf}: no joints named {missing}")
        self.indices = [by_name[j] for j in spec.joints]
        self.effort_limit = np.array([self.client.getJointInfo(self.robot, i)[10] for i in self.indices])
        self.home = np.asarray(initial_positions if initial_positions is not None and len(initial_positions)
                               else np.zeros(spec.dof), float)
        if self.home.shape != (spec.dof,):
            raise ValueError(f"'initial_positions' needs {spec.dof} values, one per joint")
        self.sim_time, self.last_command_time = 0.0, -np.inf
        self.reset(self.home)

    def reset(self, positions: np.ndarray | None = None) -> None:
        """Teleport to `positions` (default: home) at rest, and hold there."""
        positions = self.home if positions is None else np.asarray(positions, float)
        for index, value in zip(self.indices, positions):
            self.client.resetJointState(self.robot, index, float(value), 0.0)
        self.hold()

    def hold(self) -> None:
        """Lock every joint at its current position with the motors' full effort."""
        self._mode, self._command = "hold", self.state()[: self.spec.dof]

    def command(self, values: np.ndarray) -> None:
        values = np.asarray(values, float)
        if values.shape != (self.spec.dof,) or not np.all(np.isfinite(values)):
            raise ValueError(f"command must be {self.spec.dof} finite values, got {values}")
        self._mode, self._command = self.spec.command_mode, self.spec.command.clamp(values)
        self.last_command_time = self.sim_time

    def _apply(self) -> None:
        c, robot, joints = self.client, self.robot, self.indices
        if self._mode in ("hold", "position"):
            c.setJointMotorControlArray(robot, joints, pybullet.POSITION_CONTROL,
                                        targetPositions=self._command, forces=self.effort_limit)
        elif self._mode == "velocity":
            c.setJointMotorControlArray(robot, joints, pybullet.VELOCITY_CONTROL,
                                        targetVelocities=self._command, forces=self.effort_limit)
        else:  # effort: the velocity motors must be off, and TORQUE_CONTROL lasts one step
            c.setJointMotorControlArray(robot, joints, pybullet.VELOCITY_CONTROL,
                                        targetVelocities=np.zeros(len(joints)), forces=np.zeros(len(joints)))
            c.setJointMotorControlArray(robot, joints, pybullet.TORQUE_CONTROL, forces=self._command)

    def step(self, steps: int = 1) -> None:
        if self._mode != "hold" and self.sim_time - self.last_command_time > self.command_timeout:
            self.hold()
        for _ in range(steps):
            self._apply()
            self.client.stepSimulation()
        self.sim_time += steps * self.time_step

    def state(self) -> np.ndarray:
        """[positions, velocities] in `spec.joints` order."""
        states = self.client.getJointStates(self.robot, self.indices)
        return np.array([s[0] for s in states] + [s[1] for s in states])

    def joint_readings(self) -> JointReadings:
        states = self.client.getJointStates(self.robot, self.indices)
        position, velocity, _, effort = (np.array(column) for column in zip(*states))
        return JointReadings(list(self.spec.joints), position, velocity, effort)

    def base_readings(self) -> None:
        return None

    def link_position(self, link_name: str) -> np.ndarray:
        for i in range(self.client.getNumJoints(self.robot)):
            if self.client.getJointInfo(self.robot, i)[12].decode() == link_name:
                return np.array(self.client.getLinkState(self.robot, i, computeForwardKinematics=True)[4])
        raise KeyError(link_name)

    def close(self) -> None:
        self.client.disconnect()
