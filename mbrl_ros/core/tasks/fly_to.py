"""Fly a floating-base robot (a drone) to a goal position and hold it there."""

from __future__ import annotations

import numpy as np
import torch

from ..params import ListOf
from .task import Task, fill_pose_goal, pose_goal_position

POSITION = ("base.x", "base.y", "base.z")
BODY_X = ("base.rot_xx", "base.rot_yx", "base.rot_zx")  # the body axes in the world: the rotation's columns
BODY_Y = ("base.rot_xy", "base.rot_yy", "base.rot_zy")
VELOCITY = ("base.vx", "base.vy", "base.vz")
RATES = ("base.wx", "base.wy", "base.wz")


class FlyToTask(Task):
    """Distance to the goal along the plan (weighted to its end), speed, tilt, heading away from
    the goal frame's x axis, body rates, and changes between consecutive commands; a steep cost
    below `min_height`, where the ground is."""

    PARAMETERS = {
        "goal_frame": ("world", "frame of goals and plans: the odometry's frame"),
        "success_distance": (0.05, "distance to the goal that counts as reached, m"),
        "goal_low": (ListOf(float), "corner of the box random goals are drawn from (demo, tests), m"),
        "goal_high": (ListOf(float), "opposite corner of that box, m"),
        "min_height": (0.1, "height below which plans are penalised, m"),
        "velocity_weight": (0.1, "cost of speed, per (m/s)^2"),
        "tilt_weight": (1.0, "cost of tilt: 1 - cos(tilt)"),
        "heading_weight": (0.2, "cost of heading away from the goal frame's x axis: 1 - cos(yaw)"),
        "rate_weight": (0.01, "cost of body rates, per (rad/s)^2"),
        "smoothness_weight": (0.1, "cost of changes between consecutive commands, relative to their bounds"),
    }
    unit = "m"

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        layout = robot.state
        self.position, self.body_x, self.body_y = (layout.columns(*c) for c in (POSITION, BODY_X, BODY_Y))
        self.velocity, self.rates = layout.columns(*VELOCITY), layout.columns(*RATES)
        self.frame, self.success_threshold = self.params["goal_frame"], self.params["success_distance"]
        low, high = robot.command_bounds
        self.action_range = self.tensor(high - low)
        self.goal_box = [np.asarray(self.params[k], float) for k in ("goal_low", "goal_high")]

    def goal(self, msg) -> np.ndarray:
        return pose_goal_position(msg, self.frame)

    def fill_goal(self, msg, goal):
        return fill_pose_goal(msg, goal, self.frame)

    def cost(self, states, actions, goal):
        p = self.params
        future = states[:, 1:]
        distance = torch.linalg.vector_norm(future[..., self.position] - goal, dim=-1)
        weights = torch.linspace(0.5, 1.5, distance.shape[1], device=states.device, dtype=states.dtype)
        body_x, body_y = future[..., self.body_x], future[..., self.body_y]
        up = body_x[..., 0] * body_y[..., 1] - body_x[..., 1] * body_y[..., 0]  # z of body z in the world
        below = torch.relu(p["min_height"] - future[..., self.position[2]])
        changes = torch.diff(actions, dim=1) / self.action_range
        per_step = (distance * weights + p["velocity_weight"] * future[..., self.velocity].square().sum(-1)
                    + p["tilt_weight"] * (1 - up) + p["heading_weight"] * (1 - body_x[..., 0])
                    + p["rate_weight"] * future[..., self.rates].square().sum(-1) + 100.0 * below)
        return per_step.mean(1) + p["smoothness_weight"] * changes.square().sum((1, 2))

    def error(self, state, goal):
        return float(np.linalg.norm(state[self.position] - goal))

    def plan_points(self, states):
        return states[:, self.position].cpu().numpy()

    def random_goal(self, rng):
        if any(b.shape != (3,) for b in self.goal_box):
            raise ValueError("random goals need `goal_low` and `goal_high`, three values each")
        return rng.uniform(*self.goal_box)
