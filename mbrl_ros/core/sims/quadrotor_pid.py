"""A cascaded PID position controller for the quadrotor: the baseline, and the safety pilot that
collects data before a model exists.

Its structure follows gym-pybullet-drones' DSLPIDControl: a position PID gives the thrust vector
the drone needs; the thrust vector and the goal yaw give the desired attitude; an attitude PD gives
body torques, and a mixer turns collective thrust and torques into rotor speeds. It knows the
drone's mass, inertia and rotor coefficients (`QuadrotorParams`). For the attitude interface it
stops at the desired attitude and thrust: the drone's firmware closes the inner loop.
"""

from __future__ import annotations

import math

import numpy as np

from .base import BaseReadings
from .quadrotor import (
    GRAVITY,
    QuadrotorParams,
    euler_zyx,
    rotation_matrix,
    wrap_degrees,
)


def vee(matrix: np.ndarray) -> np.ndarray:
    return np.array([matrix[2, 1], matrix[0, 2], matrix[1, 0]])


class CascadedPID:
    """Position gains are per axis (x, y, z) in accelerations: m/s^2 per m, per m s and per m/s; the
    integral grows only within `integration_radius` (m) of the goal, so that flights between goals
    do not wind it up. The attitude gains of the rotors interface are in rad/s^2 per rad and per
    rad/s (roll, pitch, yaw). Tuned for 48 Hz control with commands held between ticks."""

    def __init__(self, params: QuadrotorParams, kp=(5.0, 5.0, 8.0), ki=(0.3, 0.3, 1.0), kd=(3.5, 3.5, 5.0),
                 integral_limit=(0.5, 0.5, 0.5), integration_radius: float = 0.05, max_tilt_deg: float = 30.0,
                 attitude_kp=(300.0, 300.0, 100.0), attitude_kd=(35.0, 35.0, 20.0), yaw_gain: float = 2.0):
        self.params = params
        self.kp, self.ki, self.kd, self.integral_limit = (np.asarray(g, float) for g in (kp, ki, kd, integral_limit))
        self.integration_radius = integration_radius
        self.max_tilt = math.radians(max_tilt_deg)
        self.attitude_kp, self.attitude_kd = np.asarray(attitude_kp, float), np.asarray(attitude_kd, float)
        self.yaw_gain = yaw_gain  # 1/s: yaw rate per yaw error (attitude interface)
        x, y = params.rotor_positions[:, 0], params.rotor_positions[:, 1]
        # [collective thrust, body torques] = allocation @ rotor thrusts
        self.allocation_inverse = np.linalg.inv(np.vstack([np.ones(4), y, -x, -params.spin * params.km / params.kf]))
        self.reset()

    def reset(self) -> None:
        self.integral = np.zeros(3)

    def _thrust_vector(self, readings: BaseReadings, goal_position, dt: float) -> np.ndarray:
        """The force (N, world frame) that the rotors should produce."""
        rotation = rotation_matrix(readings.orientation)
        error = np.asarray(goal_position, float) - readings.position
        # integrate only near the goal, so that a long flight does not wind the integral up
        near = np.abs(error) < self.integration_radius
        self.integral = np.clip(self.integral + near * error * dt, -self.integral_limit, self.integral_limit)
        acceleration = self.kp * error + self.ki * self.integral - self.kd * (rotation @ readings.linear_velocity)
        # keep the tilt below max_tilt and the thrust between 20 % of the weight and the rotors' limit
        acceleration[2] = np.clip(acceleration[2], -0.8 * GRAVITY, (0.9 * self.params.thrust2weight - 1) * GRAVITY)
        horizontal = np.linalg.norm(acceleration[:2])
        limit = (acceleration[2] + GRAVITY) * math.tan(self.max_tilt)
        if horizontal > limit:
            acceleration[:2] *= limit / horizontal
        return self.params.mass * (acceleration + [0.0, 0.0, GRAVITY])

    @staticmethod
    def _desired_rotation(force: np.ndarray, yaw: float) -> np.ndarray:
        """Body z along the force, body x as near the heading `yaw` as that allows."""
        z = force / np.linalg.norm(force)
        y = np.cross(z, [math.cos(yaw), math.sin(yaw), 0.0])
        y /= np.linalg.norm(y)
        return np.column_stack([np.cross(y, z), y, z])

    def rotor_command(self, readings: BaseReadings, goal_position, goal_yaw: float = 0.0, *, dt: float) -> np.ndarray:
        """Normalised rotor commands in [0, 1] for the rotors interface; `dt` is the control period."""
        force = self._thrust_vector(readings, goal_position, dt)
        rotation = rotation_matrix(readings.orientation)
        desired = self._desired_rotation(force, goal_yaw)
        attitude_error = 0.5 * vee(desired.T @ rotation - rotation.T @ desired)
        angular_acceleration = -self.attitude_kp * attitude_error - self.attitude_kd * readings.angular_velocity
        torques = self.params.inertia * angular_acceleration
        thrusts = self.allocation_inverse @ np.concatenate([[force @ rotation[:, 2]], torques])
        rpm = np.sqrt(np.clip(thrusts, 0.0, None) / self.params.kf)
        return np.clip(rpm / self.params.max_rpm, 0.0, 1.0)

    def attitude_command(self, readings: BaseReadings, goal_position, goal_yaw: float = 0.0, *,
                         dt: float) -> np.ndarray:
        """[roll_deg, pitch_deg, yaw_rate_deg_s, thrust] for the attitude interface, in the
        Crazyflie's legacy conventions (pitch positive nose up, thrust in duty-cycle units)."""
        force = self._thrust_vector(readings, goal_position, dt)
        rotation = rotation_matrix(readings.orientation)
        yaw = euler_zyx(rotation)[2]
        roll, pitch, _ = np.degrees(euler_zyx(self._desired_rotation(force, yaw)))
        yaw_rate = self.yaw_gain * wrap_degrees(math.degrees(goal_yaw - yaw))
        rpm = math.sqrt(max(force @ rotation[:, 2], 0.0) / (4 * self.params.kf))
        return np.array([roll, -pitch, yaw_rate, float(self.params.rpm_to_pwm(rpm))])


def baseline(robot, sim_params: dict, goals, goal_seconds: float, hold_seconds: float, rate: float) -> dict:
    """The PID on the robot's quadrotor world (from the sim's parameters): the demo's yardstick."""
    from . import make_world

    world = make_world("quadrotor", robot, sim_params, sim_params.get("time_step", 1.0 / 240.0))
    try:
        return fly_goals(world, CascadedPID(world.params), goals, goal_seconds, goals[-1], hold_seconds, rate,
                         settle_seconds=goal_seconds)
    finally:
        world.close()


def fly_goals(sim, pid: CascadedPID, goals, goal_seconds: float, hold_goal, hold_seconds: float,
              rate: float, settle_seconds: float = 2.0) -> dict:
    """The PID flies to each goal in turn for `goal_seconds`, then holds `hold_goal` for
    `hold_seconds` after `settle_seconds`: the final error at each goal and the hold's RMS error (m),
    the same figures the demo measures for the learned controller."""
    substeps = max(1, round(1.0 / (rate * sim.time_step)))
    dt = substeps * sim.time_step
    law = pid.rotor_command if sim.interface == "rotors" else pid.attitude_command
    crashes = []

    def fly(goal, seconds: float) -> np.ndarray:
        errors = []
        for _ in range(round(seconds / dt)):
            readings = sim.base_readings()
            errors.append(np.linalg.norm(readings.position - goal))
            sim.command(law(readings, goal, dt=dt))
            ended = sim.step(substeps)
            if ended:
                crashes.append(ended)
        return np.array(errors)

    finals = [float(fly(np.asarray(goal, float), goal_seconds)[-1]) for goal in goals]
    hold = fly(np.asarray(hold_goal, float), settle_seconds + hold_seconds)[round(settle_seconds / dt):]
    return {"goal_final_errors": finals, "hold_rms_m": float(np.sqrt(np.mean(hold ** 2))),
            "hold_max_m": float(hold.max()), "crashes": crashes, "rate_hz": 1.0 / dt}
