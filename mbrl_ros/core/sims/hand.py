"""An Allegro-class hand turning a three-spoke valve (ROBEL D'Claw style), in PyBullet.

The hand (urdf/hand.urdf) is mounted palm down above the valve (urdf/valve.urdf), its fingers
curled so that the fingertips point down around the spokes. The fingers are position controlled,
as the Allegro's ros2_control position ForwardCommandController does: a command is the 16 joint
targets, in `joints` order, clipped to the URDF limits, and it holds until the next one. The valve
turns only when pushed; friction at its joint (a velocity motor with zero target and a small
maximum torque, plus the URDF's joint damping) keeps it where it is left. Its angle is reported
like a multi-turn encoder: unwrapped, continuous across +-pi.

World frame: z up, the valve's axis on the world z axis through `valve_position`; at valve angle 0
spoke 0 points along world +x. The hand's fingers reach forward along world +x, the index finger is
on the +y side, the thumb on the -x side of the valve.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet
from pybullet_utils.bullet_client import BulletClient

from ..params import ListOf, Param
from ..paths import find_shared_file
from .base import BaseReadings, JointReadings
from .camera import snapshot

HAND_JOINTS = tuple(f"joint_{i}" for i in range(16))  # Allegro order: index, middle, ring, thumb
FINGERTIPS = ("index_tip", "middle_tip", "ring_tip", "thumb_tip")
VALVE_JOINT = "valve_joint"

# Palm down (its normal, the palm's +x, points to world -z), fingers forward along world +x:
# a rotation of +90 degrees about world y. The palm origin (the knuckles' plane) sits 0.10 m above
# the spokes' mid-plane and 0.04 m behind the valve's axis, so that the valve's axis is where all
# four fingertips, the thumb's included, can reach the spokes.
DEFAULT_HAND_POSE = ((-0.04, 0.0, 0.166), (0.0, math.sqrt(0.5), 0.0, math.sqrt(0.5)))
DEFAULT_VALVE_POSITION = (0.0, 0.0, 0.0)

# Fingertip centres 0.03 m above the spokes' mid-plane (the tip spheres' undersides about 1.2 cm
# above the spokes' tops), 0.04 m from the valve's axis: middle finger over +x, index at +60 deg
# (towards +y), ring at -60 deg, thumb over -x. Allegro order (joint_0 .. joint_15).
DEFAULT_INITIAL_POSITIONS = (-0.2, 0.274, 1.031, 1.003,
                             0.0, 0.217, 0.83, 0.869,
                             0.2, 0.271, 1.039, 0.992,
                             1.238, 0.572, 1.004, 0.792)

# PyBullet POSITION_CONTROL gains (its motor constraint drives the joint velocity towards
# kp * (target - q) / dt + kd * (0 - qdot), with at most the URDF effort, at most the URDF velocity):
# a 0.4 rad step settles to within 1 degree in about 0.1 s, so 10-20 Hz commands are tracked.
POSITION_GAIN = 0.2
VELOCITY_GAIN = 1.0
CONTACT_FRICTION = 1.0  # lateral friction of fingertips and spokes (rubber on plastic)
VALVE_FRICTION = 0.03  # N m: the valve's static holding torque (velocity motor, target 0)


class HandWorld:
    """A PyBullet world with the 16-joint hand fixed in it, position controlled; the worlds of the
    hand's tasks add their object. `joints`: the 16 hand joints in command order (a permutation of
    joint_0 .. joint_15). `hand_pose`: (position, quaternion xyzw) of the palm's frame in the world.
    `initial_positions`: the hand's start pose in `joints` order (default: `default_pose`, in
    Allegro order)."""

    def __init__(self, hand_urdf: str, joints: list[str], time_step: float, hand_pose, default_pose,
                 initial_positions: np.ndarray | None = None, seed: int = 0, gui: bool = False,
                 position_gain: float = POSITION_GAIN, velocity_gain: float = VELOCITY_GAIN,
                 contact_friction: float = CONTACT_FRICTION):
        joints = list(joints)
        if sorted(joints) != sorted(HAND_JOINTS):
            raise ValueError(f"joints must be the 16 hand joints {list(HAND_JOINTS)} in some order, got {joints}")
        self.joints = joints
        self.time_step = float(time_step)
        self.sim_time = 0.0
        self.position_gain, self.velocity_gain = float(position_gain), float(velocity_gain)
        self.contact_friction = float(contact_friction)
        self._rng = np.random.default_rng(seed)

        c = self.client = BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        c.setGravity(0, 0, -9.81)
        c.setTimeStep(self.time_step)
        self.hand_position = np.asarray(hand_pose[0], float)
        self.hand_orientation = np.asarray(hand_pose[1], float)
        self.hand = c.loadURDF(str(hand_urdf), self.hand_position.tolist(), self.hand_orientation.tolist(),
                               useFixedBase=True, flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        info = {c.getJointInfo(self.hand, i)[1].decode(): c.getJointInfo(self.hand, i)
                for i in range(c.getNumJoints(self.hand))}
        links = {c.getJointInfo(self.hand, i)[12].decode(): i for i in range(c.getNumJoints(self.hand))}
        missing = [j for j in joints if j not in info] + [t for t in FINGERTIPS if t not in links]
        if missing:
            raise ValueError(f"{hand_urdf}: no joints or links named {missing}")
        self.indices = [info[j][0] for j in joints]
        self.lower = np.array([info[j][8] for j in joints])
        self.upper = np.array([info[j][9] for j in joints])
        self.effort_limit = np.array([info[j][10] for j in joints])
        self.velocity_limit = np.array([info[j][11] for j in joints])
        self.tip_indices = [links[t] for t in FINGERTIPS]
        for i in self.tip_indices:
            c.changeDynamics(self.hand, i, lateralFriction=contact_friction, spinningFriction=0.001,
                             rollingFriction=0.0)

        if initial_positions is None:
            allegro = dict(zip(HAND_JOINTS, default_pose))
            initial_positions = [allegro[j] for j in joints]
        initial = np.asarray(initial_positions, float)
        if initial.shape != (16,) or not np.all(np.isfinite(initial)):
            raise ValueError(f"initial_positions must be 16 finite values, got {initial_positions}")
        self.home = np.clip(initial, self.lower, self.upper)

    def command(self, values: np.ndarray) -> None:
        """16 joint position targets in `joints` order, clipped to the URDF limits."""
        values = np.asarray(values, float)
        if values.shape != (16,) or not np.all(np.isfinite(values)):
            raise ValueError(f"command must be 16 finite joint positions, got {values}")
        self._apply(np.clip(values, self.lower, self.upper))

    def step(self, steps: int = 1) -> str | None:
        """Advance the physics; where the task's object ended the episode, reset and say why."""
        for _ in range(steps):
            self.client.stepSimulation()
        self.sim_time += steps * self.time_step
        reason = self.episode_end()
        if reason:
            self.reset()
        return reason

    def episode_end(self) -> str | None:
        """Why the object's state ends the episode (it left the hand or its mount), or None."""
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def reset_hand(self) -> None:
        """The hand at its home pose, at rest, its motors holding it there."""
        for index, value in zip(self.indices, self.home):
            self.client.resetJointState(self.hand, index, float(value), 0.0)
        self._apply(self.home.copy())

    def hand_readings(self) -> JointReadings:
        states = self.client.getJointStates(self.hand, self.indices)
        return JointReadings(names=list(self.joints), position=np.array([s[0] for s in states]),
                             velocity=np.array([s[1] for s in states]), effort=np.array([s[3] for s in states]))

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client = None

    @property
    def target(self) -> np.ndarray:
        """The joint targets in force (after clipping), in `joints` order."""
        return self._target.copy()

    def fingertip_positions(self) -> np.ndarray:
        """(4, 3) world positions of index, middle, ring and thumb tip-sphere centres."""
        states = self.client.getLinkStates(self.hand, self.tip_indices, computeForwardKinematics=True)
        return np.array([s[4] for s in states])

    def _apply(self, target: np.ndarray) -> None:
        """Set the hand's position motors (they hold until changed)."""
        self._target = target
        c = self.client
        for index, value, force, speed in zip(self.indices, target, self.effort_limit, self.velocity_limit):
            c.setJointMotorControl2(self.hand, index, pybullet.POSITION_CONTROL, targetPosition=float(value),
                                    targetVelocity=0.0, force=float(force), positionGain=self.position_gain,
                                    velocityGain=self.velocity_gain, maxVelocity=float(speed))


class HandValveSim(HandWorld):
    """The hand-and-valve world; implements `sims.base.World`.

    `valve_friction`: the torque (N m) the valve joint resists turning with. `initial_positions`
    default: fingertips just above the spokes. `seed` seeds the random valve angle of `reset()`.
    """

    PARAMETERS = {
        "valve_urdf": Param("valve.urdf", "the valve's description: a path, or a file in the package's urdf/"),
        "valve_friction": Param(VALVE_FRICTION, "torque the valve resists turning with, N m"),
        "initial_positions": Param(ListOf(float), "hand joint positions at start and after a reset, in `joints` "
                              "order (default: fingertips just above the spokes)"),
        "seed": Param(0, "random seed of the valve angle after a reset"),
    }

    @classmethod
    def from_robot(cls, robot, time_step: float, gui: bool, valve_urdf: str, initial_positions, **options):
        return cls(robot.urdf_path, str(find_shared_file(valve_urdf, "urdf")), list(robot.joints), time_step,
                   initial_positions=np.asarray(initial_positions, float) if len(initial_positions) else None,
                   gui=gui, **options)

    def __init__(self, hand_urdf: str, valve_urdf: str, joints: list[str], time_step: float = 1.0 / 240.0,
                 hand_pose=DEFAULT_HAND_POSE, valve_position=DEFAULT_VALVE_POSITION,
                 valve_friction: float = VALVE_FRICTION, **hand_options):
        if not valve_friction >= 0.0:
            raise ValueError(f"valve_friction must be >= 0 N m, got {valve_friction}")
        super().__init__(hand_urdf, joints, time_step, hand_pose, DEFAULT_INITIAL_POSITIONS, **hand_options)
        self.valve_friction = float(valve_friction)
        c = self.client
        self.valve = c.loadURDF(str(valve_urdf), list(valve_position), [0, 0, 0, 1], useFixedBase=True,
                                flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        valve_joints = {c.getJointInfo(self.valve, i)[1].decode(): i for i in range(c.getNumJoints(self.valve))}
        if VALVE_JOINT not in valve_joints:
            raise ValueError(f"{valve_urdf}: no joint named {VALVE_JOINT!r}")
        self.valve_index = valve_joints[VALVE_JOINT]
        c.changeDynamics(self.valve, self.valve_index, lateralFriction=self.contact_friction)
        self._valve_home = self._valve_axis_point()
        self.reset()

    # -- World protocol ---------------------------------------------------------------------------
    def episode_end(self) -> str | None:
        drift = np.linalg.norm(self._valve_axis_point() - self._valve_home)
        return f"valve left its mount: its axis moved {drift * 1000:.1f} mm" if drift > 0.005 else None

    def reset(self, valve_angle: float | None = None) -> None:
        """Hand to its initial pose, valve to `valve_angle` (default: uniform in [-pi, pi) from the
        seeded rng), everything at rest."""
        if valve_angle is None:
            valve_angle = float(self._rng.uniform(-math.pi, math.pi))
        if not math.isfinite(valve_angle):
            raise ValueError(f"valve_angle must be finite, got {valve_angle}")
        c = self.client
        c.resetJointState(self.valve, self.valve_index, float(valve_angle), 0.0)
        c.setJointMotorControl2(self.valve, self.valve_index, pybullet.VELOCITY_CONTROL, targetVelocity=0.0,
                                force=self.valve_friction)
        self.reset_hand()

    def joint_readings(self) -> JointReadings:
        """The 16 hand joints in `joints` order, then `valve_joint` (multi-turn angle)."""
        hand = self.hand_readings()
        valve = self.client.getJointState(self.valve, self.valve_index)
        # PyBullet keeps a continuous joint's angle unwrapped (it integrates the joint velocity).
        return JointReadings(names=hand.names + [VALVE_JOINT], position=np.append(hand.position, valve[0]),
                             velocity=np.append(hand.velocity, valve[1]), effort=np.append(hand.effort, valve[3]))

    def base_readings(self) -> BaseReadings | None:
        return None

    # -- extras -----------------------------------------------------------------------------------
    def valve_angle(self) -> float:
        return float(self.client.getJointState(self.valve, self.valve_index)[0])

    def render(self, width: int = 320, height: int = 240) -> np.ndarray:
        """(height, width, 3) uint8 RGB image of the hand and the valve (TinyRenderer, no GUI)."""
        target = self._valve_home + np.array([0.0, 0.0, 0.04])
        return snapshot(self.client, target, target + [0.19, -0.28, 0.10], width, height)

    # -- internals --------------------------------------------------------------------------------
    def _valve_axis_point(self) -> np.ndarray:
        return np.array(self.client.getLinkState(self.valve, self.valve_index, computeForwardKinematics=True)[4])
