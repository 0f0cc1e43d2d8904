"""Drive a wheeled base to a goal pose (x, y, heading) on the ground, and stop there.

The goal is a PoseStamped in the odometry's frame: its position's x and y, and the heading (yaw) of
its orientation. A goal is reached when the base is within `success_distance` of it and within
`success_angle` of its heading; `error` says how far, as a share of those tolerances (the larger
of the two), so that 1 is the edge of success.
"""

from __future__ import annotations

import numpy as np
import torch

from ..params import ListOf, Param, positive
from ..robots.state import BASE_POSITION, BASE_VELOCITY, BASE_X_AXIS
from .task import POSE_STAMPED, BadGoal, Task


def yaw(x: float, y: float, z: float, w: float) -> float:
    """The yaw of a quaternion (x, y, z, w)."""
    return float(np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)))


def wrapped(angle):
    """An angle (or array, or tensor) in (-pi, pi]."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


class DriveToTask(Task):
    """Distance to the goal along the plan (weighted to its end) and forward speed near it; the
    heading's distance from the goal's, weighted from nothing at the plan's start to most at its
    end, counted as far as the base is within about `heading_radius` of the goal now; changes
    between consecutive commands.
    A differential drive cannot move sideways: a few centimetres beside the goal it must turn away
    from the goal's heading, drive, and turn back. A heading cost felt from afar, or early in a
    plan, makes that manoeuvre cost more than stopping beside the goal (the base then stops there,
    aligned); weighted to the plan's end it is the manoeuvre's result that counts, while a turn
    still pays off sooner rather than later. Whether the heading counts depends on where the base
    is now, not on where a plan ends: plans that end a few centimetres away would otherwise escape
    it (and a model's small error made them look so)."""

    PARAMETERS = {
        "goal_frame": Param("odom", "frame of goals and plans: the odometry's frame"),
        "success_distance": Param(0.05, "distance to the goal that counts as reached, m", positive),
        "success_angle": Param(0.1, "heading error that counts as reached, rad", positive),
        "goal_low": Param(ListOf(float), "corner (x, y) of the area random goals are drawn from (demo, tests), m"),
        "goal_high": Param(ListOf(float), "opposite corner of that area, m"),
        "goal_step": Param(1.0, "random goals: each this far from the one before (the first from the origin), m",
                           positive),
        "heading_weight": Param(0.5, "cost of the chord of the heading from the goal's, near the goal"),
        "heading_radius": Param(0.03, "distance from the goal within which that heading counts, and speed "
                                "costs (their weight falls as exp(-(distance / radius)^2)), m", positive),
        "speed_weight": Param(1.0, "cost of forward speed near the goal, per (m/s)^2 (turning on the spot is "
                              "free: the base must turn there)"),
        "smoothness_weight": Param(0.02, "cost of changes between consecutive commands, relative to their bounds"),
    }
    goal_msgtype = POSE_STAMPED
    unit = "of the tolerance"
    success_threshold = 1.0

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        layout = robot.state
        self.position = layout.columns(*BASE_POSITION[:2])
        self.cos, self.sin = layout.columns(*BASE_X_AXIS[:2])  # the body's x axis in the world: its heading
        self.speed = layout.columns(BASE_VELOCITY[0])[0]
        self.frame = self.params["goal_frame"]
        low, high = robot.command_bounds
        self.command_range = self.tensor(high - low)
        self.goal_area = [np.asarray(self.params[k], float) for k in ("goal_low", "goal_high")]
        self.last_random_goal = np.zeros(2)

    def goal(self, msg) -> np.ndarray:
        if msg.header.frame_id not in ("", self.frame):
            raise BadGoal(f"goal in frame '{msg.header.frame_id}': goals must be in '{self.frame}'")
        q = msg.pose.orientation
        goal = np.array([msg.pose.position.x, msg.pose.position.y, yaw(q.x, q.y, q.z, q.w)], float)
        if not np.all(np.isfinite(goal)):
            raise BadGoal("goal with a non-finite pose")
        return goal

    def fill_goal(self, msg, goal):
        msg.header.frame_id = self.frame
        msg.pose.position.x, msg.pose.position.y = float(goal[0]), float(goal[1])
        msg.pose.orientation.z, msg.pose.orientation.w = float(np.sin(goal[2] / 2)), float(np.cos(goal[2] / 2))
        return msg

    def cost(self, states, actions, goal):
        p = self.params
        future = states[:, 1:]
        distance = torch.linalg.vector_norm(future[..., self.position] - goal[..., :2], dim=-1)
        weights = torch.linspace(0.5, 1.5, distance.shape[1], device=states.device, dtype=states.dtype)
        near = torch.exp(-(distance / p["heading_radius"]).square())
        start = torch.linalg.vector_norm(states[:, 0, self.position] - goal[..., :2], dim=-1)
        heading_counts = torch.exp(-(start / p["heading_radius"]).square())
        heading = torch.atan2(future[..., self.sin], future[..., self.cos])
        chord = 2 * torch.sin(wrapped(heading - goal[..., 2]).abs() / 2)
        rising = torch.linspace(0.0, 2.0, chord.shape[1], device=states.device, dtype=states.dtype)
        changes = torch.diff(actions, dim=1) / self.command_range
        per_step = distance + near * p["speed_weight"] * future[..., self.speed].square()
        return ((per_step * weights).mean(1) + p["heading_weight"] * heading_counts * (chord * rising).mean(1)
                + p["smoothness_weight"] * changes.square().sum((1, 2)))

    def errors(self, state: np.ndarray, goal: np.ndarray) -> tuple[float, float]:
        """Distance (m) and heading error (rad) from the goal."""
        heading = np.arctan2(state[self.sin], state[self.cos])
        return float(np.linalg.norm(state[self.position] - goal[:2])), float(abs(wrapped(heading - goal[2])))

    def error(self, state, goal):
        distance, angle = self.errors(state, goal)
        return max(distance / self.params["success_distance"], angle / self.params["success_angle"])

    def describe(self, error: float) -> str:
        return f"{error:.2f} x ({self.params['success_distance'] * 100:.0f} cm, {self.params['success_angle']:g} rad)"

    def goal_features(self, states, goal):
        """The goal in the base's own frame: its offset ahead and to the left, and the heading to turn
        by (cosine, sine). Driving is the same everywhere."""
        cos, sin = states[..., self.cos], states[..., self.sin]
        offset = goal[..., :2] - states[..., self.position]
        ahead = cos * offset[..., 0] + sin * offset[..., 1]
        left = -sin * offset[..., 0] + cos * offset[..., 1]
        turn = goal[..., 2] - torch.atan2(sin, cos)
        return torch.stack([ahead, left, torch.cos(turn), torch.sin(turn)], -1)

    def plan_points(self, states):
        points = states[:, self.position].cpu().numpy()
        return np.concatenate([points, np.zeros((len(points), 1))], 1)

    def hold_goal(self, state):
        """Stay where the base is: the safe command, zero velocity, does that."""
        return None

    def random_goal(self, rng):
        """A pose `goal_step` from the last one drawn (the first from the origin), inside the goal
        area, facing any way: a demo's goals are then each that far from where the base was sent."""
        if any(b.shape != (2,) for b in self.goal_area):
            raise ValueError("random goals need `goal_low` and `goal_high`, two values each")
        for _ in range(1000):
            angle = rng.uniform(-np.pi, np.pi)
            position = self.last_random_goal + self.params["goal_step"] * np.array([np.cos(angle), np.sin(angle)])
            if np.all(position >= self.goal_area[0]) and np.all(position <= self.goal_area[1]):
                self.last_random_goal = position
                return np.array([*position, rng.uniform(-np.pi, np.pi)])
        raise ValueError(f"no goal {self.params['goal_step']} m from {self.last_random_goal} inside the goal area")
