"""Model predictive control for reaching: plan over the learned ensemble, apply the first action."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ..models.ensemble import GaussianEnsemble
from ..planning.planners import PlannerConfig, make_planner
from ..planning.rollout import rollout
from ..robots.robot import RobotSpec
from ..tasks.reach import ReachCost

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class ReachMPC:
    """A sampling planner over a GaussianEnsemble with a forward-kinematics reach cost; ROS-free.

    Plans are kept inside the joint box [joint_low, joint_high] (default: the URDF limits) by a
    steep cost outside it: pass the box the robot explored, where the model has data, or plans
    drift over many goals into postures it never saw. `uncertainty_weight` > 0 adds the ensemble's
    disagreement along each candidate to its cost, a softer way to the same end.
    `rollout_precision="bfloat16"` evaluates candidates with a bfloat16 copy of the model (states
    kept in float32; ts_inf propagation, no uncertainty cost); the chosen plan is checked in float32.
    """

    def __init__(self, spec: RobotSpec, model: GaussianEnsemble, config: PlannerConfig = PlannerConfig(),
                 planner: str = "cem", propagation: str = "ts_inf", uncertainty_weight: float = 0.0,
                 device: str = "cpu", seed: int = 0, cost_weights: dict | None = None,
                 joint_low: np.ndarray | None = None, joint_high: np.ndarray | None = None,
                 rollout_precision: str = "float32"):
        if rollout_precision not in PRECISIONS:
            raise ValueError(f"rollout_precision must be one of {sorted(PRECISIONS)}, got {rollout_precision!r}")
        if rollout_precision != "float32" and (propagation != "ts_inf" or uncertainty_weight > 0):
            raise ValueError("reduced-precision rollouts need ts_inf propagation and no uncertainty cost")
        self.spec, self.device, self.rollout_dtype = spec, device, PRECISIONS[rollout_precision]
        self.propagation, self.uncertainty_weight = propagation, uncertainty_weight
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
        low, high = (as_tensor(b) for b in spec.command_bounds)
        self.fk = spec.forward_kinematics().to(device)
        joint_low = spec.position_lower if joint_low is None else np.maximum(joint_low, spec.position_lower)
        joint_high = spec.position_upper if joint_high is None else np.minimum(joint_high, spec.position_upper)
        self.cost = ReachCost(self.fk, as_tensor(joint_low), as_tensor(joint_high),
                              action_scale=torch.maximum(high.abs(), low.abs()), **(cost_weights or {}))
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.planner = make_planner(planner, low, high, config, self.generator)
        self.set_model(model)

    def set_model(self, model: GaussianEnsemble) -> None:
        self.model = model.to(self.device).eval()
        self.planning_model = self.model
        if self.rollout_dtype != torch.float32:
            self.planning_model = copy.deepcopy(self.model).to(self.rollout_dtype)

    @torch.no_grad()
    def act(self, state: np.ndarray, goal: np.ndarray, deadline: float | None = None) -> tuple[np.ndarray, dict]:
        """The command to send now, with the plan's predicted end-effector path and statistics."""
        started = time.monotonic()
        state_t = torch.as_tensor(state, dtype=torch.float32, device=self.device)
        goal_t = torch.as_tensor(goal, dtype=torch.float32, device=self.device)
        model, cost, propagation, weight = self.planning_model, self.cost, self.propagation, self.uncertainty_weight

        def evaluate(actions: torch.Tensor) -> torch.Tensor:
            if weight > 0:
                states, disagreement = rollout(model, state_t, actions, propagation, generator=self.generator,
                                               with_disagreement=True)
                return cost(states, actions, goal_t) + weight * disagreement.sum(1)
            return cost(rollout(model, state_t, actions, propagation, generator=self.generator), actions, goal_t)

        plan, info = self.planner.plan(evaluate, deadline)
        predicted, disagreement = rollout(self.model, state_t, plan[None], "expectation", with_disagreement=True)
        info["predicted_ee"] = self.fk.position(predicted[0, :, : self.spec.dof]).cpu().numpy()
        info["disagreement"] = float(disagreement.mean())
        info["latency"] = time.monotonic() - started
        return plan[0].cpu().numpy().astype(float), info

    def reset(self) -> None:
        """Forget the warm start, for a new goal."""
        self.planner.reset()
