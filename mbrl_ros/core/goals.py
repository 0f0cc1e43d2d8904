"""Reach goals that the robot can actually reach: forward kinematics of random joint configurations."""

from __future__ import annotations

import numpy as np
import torch

from .kinematics import ForwardKinematics


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
