"""Smooth random exploration for a robot with no model yet: wander between random joint waypoints."""

from __future__ import annotations

import numpy as np

from ..robots.robot import RobotSpec


class WaypointExplorer:
    """Commands that head for random waypoints inside a joint box, with low-pass filtered noise.

    The box keeps the robot away from its limits; the noise makes the data rich in actions, not just
    in states. A new waypoint is drawn when the old one is reached or after `waypoint_seconds`.
    """

    def __init__(self, spec: RobotSpec, box_low: np.ndarray, box_high: np.ndarray, dt: float,
                 rng: np.random.Generator, gain: float = 1.5, noise: float = 0.5, smoothing: float = 0.8,
                 waypoint_seconds: float = 3.0):
        self.spec, self.box_low, self.box_high, self.dt, self.rng = spec, box_low, box_high, dt, rng
        self.gain, self.noise, self.smoothing = gain, noise, smoothing
        self.waypoint_steps = max(1, int(waypoint_seconds / dt))
        self.low, self.high = spec.command_bounds
        self.filtered = np.zeros(spec.dof)
        self.waypoint, self.steps = None, 0

    def __call__(self, state: np.ndarray) -> np.ndarray:
        q, qd = state[: self.spec.dof], state[self.spec.dof :]
        if self.waypoint is None or self.steps >= self.waypoint_steps or np.abs(self.waypoint - q).max() < 0.05:
            self.waypoint, self.steps = self.rng.uniform(self.box_low, self.box_high), 0
        self.steps += 1
        half_range = (self.high - self.low) / 2
        self.filtered = self.smoothing * self.filtered + (1 - self.smoothing) * self.rng.standard_normal(self.spec.dof)
        unit_noise = self.filtered / np.sqrt((1 - self.smoothing) / (1 + self.smoothing))  # unit variance
        error = self.waypoint - q
        if self.spec.command_mode == "position":  # small steps around the current position, in rad or m
            command = q + np.clip(self.gain * error, -0.1, 0.1) + 0.05 * self.noise * unit_noise
        elif self.spec.command_mode == "velocity":
            command = self.gain * error + self.noise * half_range * unit_noise
        else:
            command = half_range * (np.clip(self.gain * error - 0.2 * qd, -1, 1) + self.noise * unit_noise)
        return np.clip(command, self.low, self.high)
