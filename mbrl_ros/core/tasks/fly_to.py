"""Fly a floating-base robot (a drone) to a goal position and hold it there."""

from __future__ import annotations

import numpy as np
import torch

from ..params import ListOf, Param
from ..robots.state import (
    BASE_POSITION,
    BASE_RATES,
    BASE_VELOCITY,
    BASE_X_AXIS,
    BASE_Y_AXIS,
)
from .reach import direction
from .task import PositionGoalTask

GROUND_HEIGHT = 0.03  # m: a drone's base this low is on the ground


class FlyToTask(PositionGoalTask):
    """Distance to the goal along the plan (weighted to its end); velocity away from an approach
    velocity that points at the goal and slows down near it, so that a short horizon still sees
    the way there; tilt, heading away from the goal frame's x axis, body rates, and changes between
    consecutive commands; a steep cost below `min_height`, where the ground is."""

    PARAMETERS = {
        "goal_frame": Param("world", "frame of goals and plans: the odometry's frame"),
        "success_distance": Param(0.05, "distance to the goal that counts as reached, m"),
        "goal_low": Param(ListOf(float), "corner of the box random goals are drawn from (demo, tests), m"),
        "goal_high": Param(ListOf(float), "opposite corner of that box, m"),
        "min_height": Param(0.1, "height below which plans are penalised, m"),
        "velocity_weight": Param(0.5, "cost of velocity away from the approach velocity, per (m/s)^2"),
        "approach_gain": Param(2.0, "approach velocity per metre from the goal, 1/s"),
        "approach_speed": Param(1.0, "fastest approach velocity, m/s"),
        "tilt_weight": Param(1.0, "cost of tilt: 1 - cos(tilt)"),
        "heading_weight": Param(0.2, "cost of heading away from the goal frame's x axis: 1 - cos(yaw)"),
        "rate_weight": Param(0.01, "cost of body rates, per (rad/s)^2"),
        "smoothness_weight": Param(0.1, "cost of changes between consecutive commands, relative to their bounds"),
    }
    unit = "m"

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        layout = robot.state
        self.position, self.body_x, self.body_y, self.velocity, self.rates = (
            layout.columns(*c) for c in (BASE_POSITION, BASE_X_AXIS, BASE_Y_AXIS, BASE_VELOCITY, BASE_RATES))
        self.frame, self.success_threshold = self.params["goal_frame"], self.params["success_distance"]
        low, high = robot.command_bounds
        self.action_range = self.tensor(high - low)
        self.goal_box = [np.asarray(self.params[k], float) for k in ("goal_low", "goal_high")]

    def cost(self, states, actions, goal):
        p = self.params
        future = states[:, 1:]
        distance = torch.linalg.vector_norm(future[..., self.position] - goal, dim=-1)
        weights = torch.linspace(0.5, 1.5, distance.shape[1], device=states.device, dtype=states.dtype)
        body_x, body_y = future[..., self.body_x], future[..., self.body_y]
        body_z = torch.linalg.cross(body_x, body_y)
        body_velocity = future[..., self.velocity]
        velocity = (body_x * body_velocity[..., :1] + body_y * body_velocity[..., 1:2]
                    + body_z * body_velocity[..., 2:])  # in the world frame
        approach = (goal - future[..., self.position]) * p["approach_gain"]
        approach = approach * torch.clamp(p["approach_speed"] / torch.linalg.vector_norm(approach, dim=-1,
                                                                                         keepdim=True).clamp_min(1e-6),
                                          max=1.0)
        below = torch.relu(p["min_height"] - future[..., self.position[2]])
        changes = torch.diff(actions, dim=1) / self.action_range
        per_step = (distance * weights + p["velocity_weight"] * (velocity - approach).square().sum(-1)
                    + p["tilt_weight"] * (1 - body_z[..., 2]) + p["heading_weight"] * (1 - body_x[..., 0])
                    + p["rate_weight"] * future[..., self.rates].square().sum(-1) + 100.0 * below)
        return per_step.mean(1) + p["smoothness_weight"] * changes.square().sum((1, 2))

    def achieved(self, state):
        return np.asarray(state[self.position], float)

    def episode_ended(self, states):
        """Tilted past 90 degrees, or down on the ground: where the sim restarts a crashed drone."""
        body_z = torch.linalg.cross(states[..., self.body_x], states[..., self.body_y])
        return (body_z[..., 2] < 0) | (states[..., self.position[2]] < GROUND_HEIGHT)

    def goal_features(self, states, goal):
        """The drone's offset from the goal and its direction: flying is the same everywhere."""
        offset = states[..., self.position] - goal
        return torch.cat([offset, direction(offset)], -1)

    def plan_points(self, states):
        return states[:, self.position].cpu().numpy()

    def hold_goal(self, state):
        """Hover where the drone is: its safe command, motors off, would drop it."""
        return np.asarray(state[self.position], float).copy()

    def random_goal(self, rng):
        if any(b.shape != (3,) for b in self.goal_box):
            raise ValueError("random goals need `goal_low` and `goal_high`, three values each")
        return rng.uniform(*self.goal_box)
