"""Reaching: bring the end effector to a goal position. The cost over predicted trajectories, and
goals the robot can actually reach."""

from __future__ import annotations

import numpy as np
import torch

from ..params import Param
from ..robots.kinematics import ForwardKinematics
from ..robots.urdf import load_chain
from .task import PositionGoalTask


class ReachTask(PositionGoalTask):
    """Distance of the end effector to the goal along the plan (weighted to its end), small
    actions, rest at the end, and a steep penalty outside the robot's workspace joint box, where
    the model has no data."""

    PARAMETERS = {
        "ee_link": Param("", "link whose position is brought to the goal"),
        "base_frame": Param("world", "frame of goals and plans: the URDF's root link"),
        "action_weight": Param(0.01, "cost of commands, relative to their bounds"),
        "velocity_weight": Param(0.05, "cost of joint speed at the end of the plan"),
        "limit_weight": Param(10.0, "cost per radian outside the workspace joint box"),
    }

    def __init__(self, robot, params, device="cpu"):
        super().__init__(robot, params, device)
        if not self.params["ee_link"]:
            raise ValueError("the reach task needs `ee_link`")
        chain = load_chain(robot.urdf_path, self.params["ee_link"])
        self.fk = ForwardKinematics(chain, list(robot.joints)).to(device)
        self.frame = self.params["base_frame"]
        self.positions = robot.position_columns
        self.velocities = robot.state.columns(*(f"{j}.velocity" for j in robot.joints))
        self.box = robot.workspace
        self.lower, self.upper = (self.tensor(b) for b in self.box)
        low, high = robot.command_bounds
        self.action_scale = self.tensor(np.maximum(np.abs(low), np.abs(high)))

    def cost(self, states, actions, goal):
        p = self.params
        q = states[:, 1:, self.positions]
        distance = torch.linalg.vector_norm(self.fk.position(q) - goal, dim=-1)
        weights = torch.linspace(0.5, 1.5, distance.shape[1], device=q.device, dtype=q.dtype)
        outside = torch.relu(q - self.upper) + torch.relu(self.lower - q)
        final_speed = states[:, -1, self.velocities].square().sum(-1)
        return ((distance * weights).mean(1)
                + p["action_weight"] * (actions / self.action_scale).square().sum((1, 2)) / actions.shape[1]
                + p["velocity_weight"] * final_speed
                + p["limit_weight"] * outside.sum((1, 2)))

    def goal_features(self, states, goal):
        """The end effector's offset from the goal, its direction, and the goal."""
        goal = goal.expand(*states.shape[:-1], -1)
        offset = self.fk.position(states[..., self.positions]) - goal
        return torch.cat([offset, direction(offset), goal], -1)

    def achieved(self, state):
        """The end effector's position."""
        with torch.no_grad():
            return self.fk.position(self.tensor(state[self.positions])).cpu().numpy().astype(float)

    def plan_points(self, states):
        return self.fk.position(states[:, self.positions]).cpu().numpy()

    def random_goal(self, rng):
        return random_reachable_goal(self.fk, *self.box, rng)[1]


def direction(offset: torch.Tensor, softening: float = 0.01) -> torch.Tensor:
    """The unit vector along an offset (..., 3), shrinking to zero within about `softening` metres of
    it: what a policy needs to be precise near a goal, where the offset itself is a tiny input."""
    return offset / (torch.linalg.vector_norm(offset, dim=-1, keepdim=True) + softening)


def random_reachable_goal(fk: ForwardKinematics, low: np.ndarray, high: np.ndarray,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A joint configuration drawn from the box [low, high] and the end-effector position it gives."""
    q = rng.uniform(low, high)
    with torch.no_grad():
        position = fk.position(torch.as_tensor(q, dtype=fk.offsets.dtype, device=fk.offsets.device))
    return q, position.cpu().numpy().astype(float)
