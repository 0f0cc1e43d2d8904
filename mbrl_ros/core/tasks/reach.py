"""Reaching: bring the end effector to a goal position. The cost over predicted trajectories, and
goals the robot can actually reach."""

from __future__ import annotations

import numpy as np
import torch

from ..robots.kinematics import ForwardKinematics


class ReachCost:
    """Bring the end effector to a goal position: distance along the plan (weighted to its end),
    small actions, rest at the end, and a steep penalty outside the joint box [lower, upper]."""

    def __init__(self, fk: ForwardKinematics, lower: torch.Tensor, upper: torch.Tensor,
                 action_weight: float = 0.01, velocity_weight: float = 0.05, limit_weight: float = 10.0,
                 action_scale: torch.Tensor | None = None):
        self.fk, self.dof = fk, lower.shape[0]
        self.lower, self.upper = lower, upper
        self.action_weight, self.velocity_weight, self.limit_weight = action_weight, velocity_weight, limit_weight
        self.action_scale = torch.ones_like(lower) if action_scale is None else action_scale

    def __call__(self, states: torch.Tensor, actions: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Costs (N,) of states (N, H+1, S) reached by actions (N, H, A)."""
        q = states[:, 1:, : self.dof]
        distance = torch.linalg.vector_norm(self.fk.position(q) - goal, dim=-1)
        weights = torch.linspace(0.5, 1.5, distance.shape[1], device=q.device, dtype=q.dtype)
        outside = torch.relu(q - self.upper) + torch.relu(self.lower - q)
        final_speed = states[:, -1, self.dof :].square().sum(-1)
        return ((distance * weights).mean(1)
                + self.action_weight * (actions / self.action_scale).square().sum((1, 2)) / actions.shape[1]
                + self.velocity_weight * final_speed
                + self.limit_weight * outside.sum((1, 2)))

def joint_box(center, span, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """The box center +- span, cut to the joint limits."""
    center, span = np.asarray(center, float), np.asarray(span, float)
    return np.maximum(center - span, lower), np.minimum(center + span, upper)


def random_reachable_goal(fk: ForwardKinematics, low: np.ndarray, high: np.ndarray,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A joint configuration drawn from the box [low, high] and the end-effector position it gives."""
    q = rng.uniform(low, high)
    with torch.no_grad():
        position = fk.position(torch.as_tensor(q, dtype=torch.float64)).numpy()
    return q, position
