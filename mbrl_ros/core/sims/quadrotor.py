"""A Crazyflie-class quadrotor in PyBullet, driven by rotor commands or by attitude setpoints.

Two command interfaces, as real drones offer them:
- "rotors": four normalised rotor commands in [0, 1] (rotor speed = command * max_rpm), like PX4's
  ActuatorMotors in offboard mode. Without a command for `rotor_timeout` s the motors stop.
- "attitude": [roll_deg, pitch_deg, yaw_rate_deg_s, thrust], the Crazyflie's legacy setpoint
  (what the ROS 2 server's cmd_vel_legacy sends: roll = linear.y, pitch = -linear.x,
  yaw rate = angular.z, thrust = linear.z clamped to 0..60000). A simulated firmware turns it into
  rotor speeds at the physics rate, with the firmware's conventions and timeouts (see `Firmware`).

Every physics step each rotor's thrust kf * w^2 pushes its prop link along the link's z axis and the
rotors' drag torques, sum(-spin * km * w^2), turn the body about its z axis. Crashes (tilt past 90
degrees, a fast ground impact, leaving the bounds) reset the drone and are reported by `step`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient

from ..params import Param
from .base import BaseReadings

GRAVITY = 9.81
PWM_MAX = 65535.0  # motor duty cycle range of the Crazyflie firmware
THRUST_MAX = 60000.0  # largest legacy thrust setpoint (cmd_vel_legacy, the firmware's MAX_THRUST)
THRUST_MIN = 1000.0  # the firmware treats smaller thrust setpoints as 0 (motors off)
LEVEL_AFTER = 0.5  # s without a setpoint before the firmware levels out (COMMANDER_WDT_TIMEOUT_STABILIZE)
STOP_AFTER = 2.0  # s without a setpoint before it stops the motors (COMMANDER_WDT_TIMEOUT_SHUTDOWN)


@dataclass(frozen=True)
class QuadrotorParams:
    """A quadrotor's physical description, read from its URDF."""

    mass: float  # kg
    inertia: np.ndarray  # (3,) Ixx, Iyy, Izz, kg m^2
    arm: float  # m, centre to rotor
    kf: float  # N/rpm^2: rotor thrust = kf * w^2
    km: float  # N m/rpm^2: rotor drag torque = km * w^2
    thrust2weight: float  # all rotors at max_rpm against the weight
    pwm2rpm_scale: float  # motor map of the firmware: rpm = scale * pwm + const
    pwm2rpm_const: float
    rotor_links: tuple[str, ...]
    rotor_positions: np.ndarray  # (4, 3) in the body frame, m
    spin: np.ndarray  # (4,) +1 counter-clockwise seen from above, -1 clockwise

    @classmethod
    def from_urdf(cls, path: str | Path) -> QuadrotorParams:
        """Mass and inertia of `base_link`; coefficients from `<properties>`; rotors from the fixed
        joints to `prop*_link`, whose origin places the rotor and whose axis (+-z) is its spin."""
        root = ET.parse(path).getroot()
        properties, inertial = root.find("properties"), root.find("link[@name='base_link']/inertial")
        if properties is None or inertial is None:
            raise ValueError(f"{path}: needs a <properties> element and a base_link with an <inertial>")
        try:
            coefficients = {key: float(properties.attrib[key]) for key in
                            ("arm", "kf", "km", "thrust2weight", "pwm2rpm_scale", "pwm2rpm_const")}
        except KeyError as missing:
            raise ValueError(f"{path}: <properties> lacks {missing}") from None
        inertia = inertial.find("inertia")
        joints = sorted((j for j in root.iter("joint") if j.find("child").get("link").startswith("prop")),
                        key=lambda j: j.find("child").get("link"))
        if len(joints) != 4:
            raise ValueError(f"{path}: expected 4 joints to prop*_link, found {len(joints)}")
        return cls(
            mass=float(inertial.find("mass").get("value")),
            inertia=np.array([float(inertia.get(k)) for k in ("ixx", "iyy", "izz")]),
            rotor_links=tuple(j.find("child").get("link") for j in joints),
            rotor_positions=np.array([[float(v) for v in j.find("origin").get("xyz").split()] for j in joints]),
            spin=np.array([math.copysign(1.0, float(j.find("axis").get("xyz").split()[2])) for j in joints]),
            **coefficients,
        )

    @property
    def hover_rpm(self) -> float:
        return math.sqrt(self.mass * GRAVITY / (4 * self.kf))

    @property
    def max_rpm(self) -> float:
        return math.sqrt(self.thrust2weight * self.mass * GRAVITY / (4 * self.kf))

    @property
    def hover_command(self) -> float:
        """The normalised rotor command that hovers (rotors interface)."""
        return self.hover_rpm / self.max_rpm

    def pwm_to_rpm(self, pwm: np.ndarray) -> np.ndarray:
        """A motor at zero duty is off; otherwise the identified affine map."""
        pwm = np.asarray(pwm, float)
        return np.where(pwm > 0, self.pwm2rpm_scale * pwm + self.pwm2rpm_const, 0.0)

    def rpm_to_pwm(self, rpm: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(rpm, float) - self.pwm2rpm_const) / self.pwm2rpm_scale, 0.0, PWM_MAX)

    @property
    def hover_thrust(self) -> float:
        """The legacy thrust setpoint that hovers (attitude interface), about 38,800."""
        return float(self.rpm_to_pwm(self.hover_rpm))


def rotation_matrix(quaternion: np.ndarray) -> np.ndarray:
    """Body-to-world rotation of a quaternion (x, y, z, w)."""
    x, y, z, w = quaternion
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def euler_zyx(rotation: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (rad) with rotation = Rz(yaw) Ry(pitch) Rx(roll)."""
    return np.array([math.atan2(rotation[2, 1], rotation[2, 2]),
                     -math.asin(np.clip(rotation[2, 0], -1.0, 1.0)),
                     math.atan2(rotation[1, 0], rotation[0, 0])])


def wrap_degrees(angle):
    return (angle + 180.0) % 360.0 - 180.0


class PID:
    """Per-axis PID like the firmware's pid.c: clamped integral, derivative of the error."""

    def __init__(self, kp, ki, kd, integral_limit):
        self.kp, self.ki, self.kd, self.limit = (np.asarray(g, float) for g in (kp, ki, kd, integral_limit))
        self.reset()

    def reset(self) -> None:
        self.integral = np.zeros_like(self.kp)
        self.previous = None

    def __call__(self, error: np.ndarray, dt: float) -> np.ndarray:
        self.integral = np.clip(self.integral + error * dt, -self.limit, self.limit)
        derivative = 0.0 if self.previous is None else (error - self.previous) / dt
        self.previous = error
        return self.kp * error + self.ki * self.integral + self.kd * derivative


class Firmware:
    """The Crazyflie's PID attitude controller (controller_pid.c) on a legacy setpoint.

    Angle PI(D) -> body-rate PI -> X mixer in duty-cycle units -> rotor speeds by the motor map, at
    the physics rate. Firmware conventions: angles in degrees, roll positive right side down, pitch
    positive nose up (the legacy sign), yaw counter-clockwise; the yaw rate setpoint moves a yaw
    angle setpoint. Gains are the firmware's defaults (platform_defaults_cf2.h) except the rate D
    term (2.5 there), which needs the real motors' lag and a 500 Hz loop: with instant motors at
    240 Hz it is unstable, so it is left out. A zero thrust stops the motors and clears the PIDs.
    """

    def __init__(self, params: QuadrotorParams):
        self.params = params
        self.angle = PID(kp=[6.0, 6.0, 6.0], ki=[3.0, 3.0, 1.0], kd=[0.0, 0.0, 0.35],
                         integral_limit=[20.0, 20.0, 360.0])
        self.rate = PID(kp=[250.0, 250.0, 120.0], ki=[500.0, 500.0, 16.7], kd=[0.0, 0.0, 0.0],
                        integral_limit=[33.3, 33.3, 166.7])
        x, y = params.rotor_positions[:, 0], params.rotor_positions[:, 1]
        # roll: the left rotors (y > 0) push harder; pitch: the front ones (x > 0); yaw
        # counter-clockwise: the clockwise rotors (spin -1), whose drag turns the body the other way.
        self.mixer = np.column_stack([0.5 * np.sign(y), 0.5 * np.sign(x), -params.spin])
        self.reset()

    def reset(self) -> None:
        self.angle.reset()
        self.rate.reset()
        self.yaw_setpoint = None

    def rpm(self, setpoint: np.ndarray, rotation: np.ndarray, body_rates: np.ndarray, dt: float) -> np.ndarray:
        """Rotor speeds for a [roll_deg, pitch_deg, yaw_rate_deg_s, thrust] setpoint."""
        if setpoint[3] < THRUST_MIN:
            self.reset()
            return np.zeros(4)
        roll, pitch, yaw = np.degrees(euler_zyx(rotation))
        if self.yaw_setpoint is None:
            self.yaw_setpoint = yaw
        self.yaw_setpoint = wrap_degrees(self.yaw_setpoint + setpoint[2] * dt)
        error = np.array([setpoint[0] - roll, setpoint[1] + pitch, wrap_degrees(self.yaw_setpoint - yaw)])
        rate_setpoint = self.angle(error, dt)
        rates = np.degrees(body_rates) * [1.0, -1.0, 1.0]  # legacy pitch sign
        torques = np.clip(self.rate(rate_setpoint - rates, dt), -32767, 32767)
        return self.params.pwm_to_rpm(np.clip(setpoint[3] + self.mixer @ torques, 0.0, PWM_MAX))


class QuadrotorSim:
    """A quadrotor over a ground plane, implementing the World protocol of `base.py`.

    `reset` puts it at the start pose, level, at rest, with the motors stopped, and holds it there
    (as on a launch pad, or in a hand) until the next command. A crash during `step` resets the
    drone, skips the rest of that call's steps (the clock still advances by all of them) and returns
    the reason.
    """

    PARAMETERS = {
        "start_position": Param([0.0, 0.0, 1.0], "where the drone starts and restarts after a crash, m"),
        "bounds_low": Param([-2.0, -2.0, 0.0], "corner of the box that leaving is a crash, m"),
        "bounds_high": Param([2.0, 2.0, 2.5], "opposite corner of that box, m"),
        "crash_speed": Param(1.0, "touching the ground faster than this is a crash, m/s"),
        "rotor_timeout": Param(0.5, "rotors interface: seconds without a command before the motors stop"),
        "motor_time_constant": Param(0.0, "first-order lag of the rotor speeds, s (0: instant)"),
        "start_jitter": Param(0.0, "each restart is up to this far from start_position along each axis, m"),
        "seed": Param(0, "random seed of the restarts"),
    }

    @classmethod
    def from_robot(cls, robot, time_step: float, gui: bool, bounds_low, bounds_high, **options) -> "QuadrotorSim":
        """The sim of a robot whose URDF describes a quadrotor, commanded as its command_mode says."""
        return cls(robot.urdf_path, robot.command_mode, time_step, bounds=(bounds_low, bounds_high), gui=gui,
                   **options)

    def __init__(self, urdf_path: str | Path, interface: str = "rotors", time_step: float = 1.0 / 240.0,
                 start_position=(0.0, 0.0, 1.0), bounds=((-2.0, -2.0, 0.0), (2.0, 2.0, 2.5)), gui: bool = False,
                 seed: int = 0, start_jitter: float = 0.0, motor_time_constant: float = 0.0,
                 rotor_timeout: float = 0.5, crash_speed: float = 1.0, ground_height: float = 0.03):
        """`start_jitter` (m): each reset starts up to this far from `start_position` along each
        axis, drawn from `seed`. `motor_time_constant` (s): first-order lag of the rotor speeds,
        0 for instant. `crash_speed` (m/s): touching the ground (a contact, or the base below
        `ground_height`) faster than this is a crash; slower is a landing."""
        if interface not in ("rotors", "attitude"):
            raise ValueError(f"interface must be 'rotors' or 'attitude', got {interface!r}")
        self.params = QuadrotorParams.from_urdf(urdf_path)
        self.interface = interface
        self.time_step = time_step
        self.start_position = np.asarray(start_position, float)
        self.bounds = np.asarray(bounds, float)
        self.start_jitter = start_jitter
        self.rotor_timeout = rotor_timeout
        self.crash_speed = crash_speed
        self.ground_height = ground_height
        self._rng = np.random.default_rng(seed)
        self._motor_gain = 1.0 if motor_time_constant <= 0 else 1.0 - math.exp(-time_step / motor_time_constant)
        self._steps = 0
        self.firmware = Firmware(self.params) if interface == "attitude" else None

        self.client = c = BulletClient(connection_mode=pybullet.GUI if gui else pybullet.DIRECT)
        c.setGravity(0, 0, -GRAVITY)
        c.setTimeStep(time_step)
        c.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.plane = c.loadURDF("plane.urdf")
        self.body = c.loadURDF(str(urdf_path), self.start_position, flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        c.changeDynamics(self.body, -1, linearDamping=0.0, angularDamping=0.0)  # no drag is modelled
        links = {c.getJointInfo(self.body, i)[12].decode(): i for i in range(c.getNumJoints(self.body))}
        self.rotor_link_indices = [links[name] for name in self.params.rotor_links]
        self.reset()

    @property
    def sim_time(self) -> float:
        return self._steps * self.time_step

    @property
    def rotor_speeds(self) -> np.ndarray:
        """Current rotor speeds, rpm."""
        return self._rpm.copy()

    def reset(self, position=None) -> None:
        """To `position` (default: the start position, jittered), level and at rest, motors off, and
        held there, as on a launch pad or in a hand, until the next command."""
        if position is None:
            position = self.start_position + self._rng.uniform(-1, 1, 3) * self.start_jitter
        self.client.resetBasePositionAndOrientation(self.body, np.asarray(position, float), [0, 0, 0, 1])
        self.client.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0])
        self._rpm = np.zeros(4)
        self._command = np.zeros(4)
        self._last_command = -math.inf
        self._held = True
        if self.firmware is not None:
            self.firmware.reset()

    def command(self, values: np.ndarray) -> None:
        """rotors: 4 commands, clipped into [0, 1]. attitude: [roll_deg, pitch_deg,
        yaw_rate_deg_s, thrust], thrust clipped into [0, 60000]."""
        values = np.asarray(values, dtype=float)
        if values.shape != (4,) or not np.all(np.isfinite(values)):
            raise ValueError(f"command must be 4 finite values, got {values}")
        if self.interface == "rotors":
            self._command = np.clip(values, 0.0, 1.0)
        else:
            self._command = np.append(values[:3], np.clip(values[3], 0.0, THRUST_MAX))
        self._last_command = self.sim_time
        self._held = False

    def step(self, steps: int = 1) -> str | None:
        if self._held:
            self._steps += steps
            return None
        for done in range(1, steps + 1):
            _, _, rotation, velocity, angular = self._state()
            target = self._target_rpm(rotation, rotation.T @ angular)
            self._rpm += self._motor_gain * (np.clip(target, 0.0, self.params.max_rpm) - self._rpm)
            square = self._rpm**2
            for link, thrust in zip(self.rotor_link_indices, self.params.kf * square):
                self.client.applyExternalForce(self.body, link, [0, 0, thrust], [0, 0, 0], pybullet.LINK_FRAME)
            drag = -float(self.params.spin @ square) * self.params.km
            self.client.applyExternalTorque(self.body, -1, [0, 0, drag], pybullet.LINK_FRAME)
            self.client.stepSimulation()
            self._steps += 1
            reason = self._crash(float(np.linalg.norm(velocity)))
            if reason:
                self._steps += steps - done
                self.reset()
                return reason
        return None

    def _target_rpm(self, rotation: np.ndarray, body_rates: np.ndarray) -> np.ndarray:
        age = self.sim_time - self._last_command
        if self.interface == "rotors":
            return self._command * self.params.max_rpm if age <= self.rotor_timeout else np.zeros(4)
        setpoint = self._command.copy()
        if age > STOP_AFTER:
            setpoint[:] = 0.0
        elif age > LEVEL_AFTER:
            setpoint[:3] = 0.0
        return self.firmware.rpm(setpoint, rotation, body_rates, self.time_step)

    def _crash(self, speed_before: float) -> str | None:
        position, _, rotation, velocity, _ = self._state()
        if rotation[2, 2] < 0:
            return "crash: tilted past 90 degrees"
        if np.any(position < self.bounds[0]) or np.any(position > self.bounds[1]):
            return f"crash: left the bounds at {np.round(position, 2).tolist()}"
        speed = max(speed_before, float(np.linalg.norm(velocity)))
        if speed > self.crash_speed and (position[2] < self.ground_height
                                         or self.client.getContactPoints(self.body, self.plane)):
            return f"crash: hit the ground at {speed:.1f} m/s"
        return None

    def _state(self):
        """Position, quaternion (x, y, z, w), rotation, and world-frame linear and angular velocity."""
        position, quaternion = self.client.getBasePositionAndOrientation(self.body)
        linear, angular = self.client.getBaseVelocity(self.body)
        quaternion = np.array(quaternion)
        return np.array(position), quaternion, rotation_matrix(quaternion), np.array(linear), np.array(angular)

    def base_readings(self) -> BaseReadings:
        position, quaternion, rotation, linear, angular = self._state()
        return BaseReadings(position=position, orientation=quaternion,
                            linear_velocity=rotation.T @ linear, angular_velocity=rotation.T @ angular)

    def joint_readings(self) -> None:
        return None

    def close(self) -> None:
        self.client.disconnect()
