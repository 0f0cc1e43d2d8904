"""The hand palm up with a free cube on its palm: in-hand reorientation to a goal yaw, in PyBullet.

The stretch task of the hand: the fingers turn the cube about the palm's normal (world z) without
dropping it. The cube is the world's floating body; the sim node publishes its pose as a
motion-capture system would (geometry_msgs/PoseStamped, `object_pose_topic`). A cube that falls
below the palm or slides off it ends the episode: it is put back on the palm at a random yaw and
the hand goes home.

World frame: z up; the palm's face (its +x) points up, the fingers reach along world -x, the
index finger is on the +y side. The palm's top face is at z = 0.0111 m, the finger bases at x = 0.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet

from ..params import ListOf, Param
from .base import BaseReadings, JointReadings
from .camera import snapshot
from .hand import HandWorld

PALM_UP_POSE = ((0.0, 0.0, 0.0), (0.0, -math.sqrt(0.5), 0.0, math.sqrt(0.5)))
PALM_TOP = 0.0111  # m: the palm's face, in the world, with the hand at PALM_UP_POSE
# Fingers curled over the cube's edge nearest them, the thumb over its +y side (Allegro order).
CUBE_HAND_POSE = (0.0, 1.0, 1.0, 0.8,
                  0.0, 1.0, 1.0, 0.8,
                  0.0, 1.0, 1.0, 0.8,
                  1.3, 0.2, 0.8, 0.8)


class HandCubeSim(HandWorld):
    """The hand-and-cube world; implements `sims.base.World`. `cube_size` (m) and `cube_mass` (kg):
    the cube; it starts on the palm at `cube_start` (x, y of its centre, m) with a random yaw.
    `drop_distance`: how far (m) the cube's centre may move from its start before the episode ends."""

    PARAMETERS = {
        "cube_size": Param(0.05, "edge of the cube, m"),
        "cube_mass": Param(0.05, "mass of the cube, kg"),
        "cube_start": Param([0.035, 0.0], "x, y of the cube's centre on the palm at a reset, m"),
        "drop_distance": Param(0.06, "how far the cube may move from its start before it counts as dropped, m"),
        "initial_positions": Param(ListOf(float), "hand joint positions at start and after a reset, in `joints` "
                              "order (default: fingers curled over the cube's edge)"),
        "seed": Param(0, "random seed of the cube's yaw after a reset"),
    }

    @classmethod
    def from_robot(cls, robot, time_step: float, gui: bool, initial_positions, **options):
        return cls(robot.urdf_path, list(robot.joints), time_step,
                   initial_positions=np.asarray(initial_positions, float) if len(initial_positions) else None,
                   gui=gui, **options)

    def __init__(self, hand_urdf: str, joints: list[str], time_step: float = 1.0 / 240.0, cube_size: float = 0.05,
                 cube_mass: float = 0.05, cube_start=(0.035, 0.0), drop_distance: float = 0.06, **hand_options):
        if not (0.01 <= cube_size <= 0.1 and cube_mass > 0 and drop_distance > 0):
            raise ValueError(f"cube_size must be in [0.01, 0.1] m and cube_mass and drop_distance positive, got "
                             f"{cube_size}, {cube_mass}, {drop_distance}")
        if len(cube_start) != 2:
            raise ValueError(f"cube_start must be the x, y of the cube's centre, got {cube_start}")
        super().__init__(hand_urdf, joints, time_step, PALM_UP_POSE, CUBE_HAND_POSE, **hand_options)
        c = self.client
        half = [cube_size / 2] * 3
        self.cube = c.createMultiBody(cube_mass, c.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half),
                                      c.createVisualShape(pybullet.GEOM_BOX, halfExtents=half,
                                                          rgbaColor=[0.9, 0.5, 0.1, 1]))
        c.changeDynamics(self.cube, -1, lateralFriction=self.contact_friction)
        self.start = np.array([*cube_start, PALM_TOP + cube_size / 2 + 0.001])
        self.drop_distance = float(drop_distance)
        self.reset()

    def episode_end(self) -> str | None:
        moved = np.linalg.norm(self.cube_position() - self.start)
        return f"cube dropped: {moved * 100:.1f} cm from where it started" if moved > self.drop_distance else None

    def reset(self, yaw: float | None = None) -> None:
        """Hand home, cube on the palm at `yaw` (default: uniform in [-pi, pi) from the seeded rng), at rest."""
        if yaw is None:
            yaw = float(self._rng.uniform(-math.pi, math.pi))
        self.reset_hand()
        orientation = self.client.getQuaternionFromEuler([0.0, 0.0, yaw])
        self.client.resetBasePositionAndOrientation(self.cube, self.start.tolist(), orientation)
        self.client.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0])

    def joint_readings(self) -> JointReadings:
        return self.hand_readings()

    def base_readings(self) -> BaseReadings:
        """The cube: pose in the world, twist in its own frame."""
        position, orientation = self.client.getBasePositionAndOrientation(self.cube)
        linear, angular = self.client.getBaseVelocity(self.cube)
        to_world = np.array(self.client.getMatrixFromQuaternion(orientation)).reshape(3, 3)
        return BaseReadings(np.array(position), np.array(orientation), to_world.T @ linear, to_world.T @ angular)

    def cube_position(self) -> np.ndarray:
        return np.array(self.client.getBasePositionAndOrientation(self.cube)[0])

    def render(self, width: int = 320, height: int = 240) -> np.ndarray:
        """(height, width, 3) uint8 RGB image of the hand and the cube (TinyRenderer, no GUI)."""
        return snapshot(self.client, self.start, self.start + [0.2, -0.25, 0.15], width, height)
