"""Model predictive control for reaching: plan over the learned ensemble, apply the first action."""

from __future__ import annotations

import time

import numpy as np
import torch

from .costs import ReachCost
from .ensemble import GaussianEnsemble
from .planner import CEMConfig, CEMPlanner
from .robot import RobotSpec
from .rollout import rollout


class ReachMPC:
    """CEM over a GaussianEnsemble with a forward-kinematics reach cost; ROS-free."""

    def __init__(self, spec: RobotSpec, model: GaussianEnsemble, config: CEMConfig = CEMConfig(),
                 device: str = "cpu", seed: int = 0, cost_weights: dict | None = None):
        self.spec, self.device = spec, device
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
        low, high = (as_tensor(b) for b in spec.command_bounds)
        self.fk = spec.forward_kinematics().to(device)
        self.cost = ReachCost(self.fk, as_tensor(spec.position_lower), as_tensor(spec.position_upper),
                              action_scale=torch.maximum(high.abs(), low.abs()), **(cost_weights or {}))
        generator = torch.Generator(device=device).manual_seed(seed)
        self.planner = CEMPlanner(low, high, config, generator=generator)
        self.model = model.to(device).eval()

    def set_model(self, model: GaussianEnsemble) -> None:
        self.model = model.to(self.device).eval()

    @torch.no_grad()
    def act(self, state: np.ndarray, goal: np.ndarray, deadline: float | None = None) -> tuple[np.ndarray, dict]:
        """The command to send now, with the plan's predicted end-effector path and statistics."""
        started = time.monotonic()
        state_t = torch.as_tensor(state, dtype=torch.float32, device=self.device)
        goal_t = torch.as_tensor(goal, dtype=torch.float32, device=self.device)
        model, cost = self.model, self.cost

        def evaluate(actions: torch.Tensor) -> torch.Tensor:
            return cost(rollout(model, state_t, actions), actions, goal_t)

        best, info = self.planner.plan(evaluate, deadline)
        members = model.members
        predicted = rollout(model, state_t, best.expand(members, -1, -1)).mean(0)
        info["predicted_ee"] = self.fk.position(predicted[:, : self.spec.dof]).cpu().numpy()
        info["latency"] = time.monotonic() - started
        return best[0].cpu().numpy().astype(float), info

    def reset(self) -> None:
        """Forget the warm start, for a new goal."""
        self.planner.reset()
