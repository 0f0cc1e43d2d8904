"""Model predictive control: plan over the learned ensemble with the task's cost, apply the first action."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ..models.ensemble import GaussianEnsemble
from ..planning.planners import PlannerConfig, make_planner
from ..planning.rollout import mean_step, policy_rollout, rollout
from ..policies.policy import Policy, goal_policy
from ..policies.sac import SoftValue
from ..tasks.task import Task

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class MPC:
    """A sampling planner over a GaussianEnsemble with a task's cost; ROS-free.

    Actions stay in the command bounds [low, high]. `uncertainty_weight` > 0 adds the ensemble's
    disagreement along each candidate to its cost, which keeps plans where the model has data.
    `rollout_precision="bfloat16"` evaluates candidates with a bfloat16 copy of the model (states
    kept in float32; ts_inf propagation, no uncertainty cost); the chosen plan is checked in float32.
    `max_action_change` (per action) bounds the change from one step of a plan to the next, and from
    the command before the plan to its first step: the robot's rate limits, known to the planner.
    `settle_margin` > 0: the robot holds still when the plan is predicted to save less than this much
    cost over holding (see `settle`). `hold_tolerance` > 0: the robot holds still once the task's
    error is within it, until the error is twice as large (see `within_goal`). With a `policy`
    (set_policy), the planner also samples around the policy's own rollout through the model
    (PlannerConfig.proposal_share of its candidates).
    With a terminal value (set_terminal_value: an actor-critic's value), each candidate's cost is
    lowered by weight x the value of where it ends: what lies beyond the horizon.
    A deadline is for the whole of `act`: the planner stops early enough to leave the check of the
    chosen plan (its path, disagreement and settling) the time it has been taking.
    """

    CHECK_SMOOTHING = 0.2  # weight of the newest check's time in the time left for it

    def __init__(self, task: Task, low: np.ndarray, high: np.ndarray, model: GaussianEnsemble,
                 config: PlannerConfig = PlannerConfig(), planner: str = "cem", propagation: str = "ts_inf",
                 uncertainty_weight: float = 0.0, device: str = "cpu", seed: int = 0,
                 rollout_precision: str = "float32", max_action_change: np.ndarray | None = None,
                 settle_margin: float = 0.0, hold_tolerance: float = 0.0):
        self.task, self.device = task, device
        self.propagation, self.uncertainty_weight = propagation, uncertainty_weight
        self.precision = self.check_precision(rollout_precision)
        self.settle_margin, self.hold_tolerance, self.at_goal = settle_margin, hold_tolerance, False
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.planner = make_planner(planner, task.tensor(low), task.tensor(high), config, self.generator)
        if max_action_change is not None:
            self.planner.max_step = task.tensor(max_action_change)
        self.policy, self.terminal_value, self.terminal_weight = None, None, 0.0
        self.checking = 0.0  # s the check after a plan takes, smoothed: the planner's deadline leaves it that
        self.set_model(model)

    def check_precision(self, precision: str) -> str:
        if precision not in PRECISIONS:
            raise ValueError(f"rollout_precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if precision != "float32" and (self.propagation != "ts_inf" or self.uncertainty_weight > 0):
            raise ValueError("reduced-precision rollouts need ts_inf propagation and no uncertainty cost")
        return precision

    def set_precision(self, precision: str) -> None:
        """Evaluate candidates in this precision from the next plan."""
        self.precision = self.check_precision(precision)
        self.set_model(self.model)

    def set_planner_config(self, config: PlannerConfig) -> None:
        """Plan with these settings (a size fitted to the machine) from the next plan; same horizon."""
        self.planner.config = config

    @property
    def holds(self) -> bool:
        """Whether `act` may hold the robot still, and so needs the `hold` command."""
        return self.settle_margin > 0 or self.hold_tolerance > 0

    def set_policy(self, policy: Policy | None) -> None:
        """Sample around this policy's proposals from now on; None: no proposals."""
        self.policy = None if policy is None else goal_policy(policy.to(self.device).eval(), self.task)

    def set_terminal_value(self, value: SoftValue | None, weight: float) -> None:
        """Plan with `weight` x `value` of each candidate's last state subtracted from its cost."""
        self.terminal_value = None if value is None else value.to(self.device).eval()
        self.terminal_weight = weight

    def beyond_horizon(self, final: torch.Tensor, goal: torch.Tensor) -> torch.Tensor | float:
        """The cost of what follows the plans' last states (N, S): minus the weighted value, or 0."""
        if self.terminal_value is None:
            return 0.0
        return -self.terminal_weight * self.terminal_value(final, self.task.goal_features(final, goal))

    def set_model(self, model: GaussianEnsemble) -> None:
        """Plan with `model`; plans start from the mean command it was trained on (a drone's hover)."""
        self.model = model.to(self.device).eval()
        self.planner.nominal = self.planner.within_bounds(model.input_mean[model.state_dim:].to(self.planner.low))
        self.planning_model = self.model
        if self.precision != "float32":
            self.planning_model = copy.deepcopy(self.model).to(PRECISIONS[self.precision])

    @torch.no_grad()
    def act(self, state: np.ndarray, goal: np.ndarray, deadline: float | None = None,
            in_flight: np.ndarray | None = None, previous: np.ndarray | None = None,
            hold: np.ndarray | None = None, lead: float = 1.0) -> tuple[np.ndarray, dict]:
        """The command to send now, with the plan's points for display and statistics.

        `in_flight`: the command acting while this one is planned. Planning then starts from the
        state it is predicted to lead to `lead` of a step later (a share, interpolated), when this
        command will act: without that, a plan that takes most of a control period is a step late on
        a fast robot such as a drone, and a command that lands half a period after the state it was
        planned from acts on a state the plan never saw.
        `previous`: the last command sent, which the plan's first step may differ from by at most
        `max_action_change` (with `in_flight`, that one). `hold`: the command that keeps the robot
        still, for settling and at the goal. At the goal the plan is still made, so that its warm
        start is fresh when the robot moves again and the plan statistics stay comparable."""
        started = time.monotonic()
        state_t, goal_t = self.task.tensor(state), self.task.tensor(goal)
        before = in_flight if in_flight is not None else previous
        self.planner.previous = None if before is None else self.task.tensor(before)
        if in_flight is not None:
            state_t = torch.lerp(state_t, mean_step(self.model, state_t, self.task.tensor(in_flight)), lead)
        if self.policy is not None:
            self.planner.proposal = self.planner.clamp(
                policy_rollout(self.model, self.policy, state_t, goal_t, self.planner.config.horizon))
        model, cost = self.planning_model, self.task.cost
        propagation, weight = self.propagation, self.uncertainty_weight

        def evaluate(actions: torch.Tensor) -> torch.Tensor:
            if weight > 0:
                states, disagreement = rollout(model, state_t, actions, propagation, generator=self.generator,
                                               with_disagreement=True)
                costs = cost(states, actions, goal_t) + weight * disagreement.sum(1)
            else:
                states = rollout(model, state_t, actions, propagation, generator=self.generator)
                costs = cost(states, actions, goal_t)
            return costs + self.beyond_horizon(states[:, -1], goal_t)

        plan, info = self.planner.plan(evaluate, None if deadline is None else deadline - self.checking)
        planned = time.monotonic()
        # The check: the chosen plan through the ensemble's mean, for its path and the members'
        # disagreement along it; where the robot may settle, holding still is checked beside it.
        candidates, info["settled"] = plan[None], False
        if hold is not None and self.holds:
            holding = self.planner.clamp(self.task.tensor(hold).expand_as(plan))
            if self.hold_tolerance > 0 and self.within_goal(state, goal):
                candidates, info["settled"] = holding[None], True
            elif self.settle_margin > 0:
                candidates = torch.stack([plan, holding])
        predicted, disagreement = rollout(self.model, state_t, candidates, "expectation", with_disagreement=True)
        chosen = self.settle(candidates, predicted, goal_t) if len(candidates) == 2 else 0
        info["settled"] = info["settled"] or chosen == 1
        info["plan_points"] = self.task.plan_points(predicted[chosen])
        info["disagreement"] = float(disagreement[chosen].mean())
        info["actions"] = candidates[chosen].cpu().numpy().astype(float)
        self.checking += self.CHECK_SMOOTHING * (time.monotonic() - planned - self.checking)
        info["latency"] = time.monotonic() - started
        return info["actions"][0], info

    def settle(self, candidates: torch.Tensor, predicted: torch.Tensor, goal: torch.Tensor) -> int:
        """1 (holding still, reached within the rate limits) where the model predicts the plan (0)
        saves less than `settle_margin` of cost over holding, else 0. A sampled plan always promises
        some small gain; chasing each such gain, based on a model's error of a few millimetres, keeps
        a robot at its goal moving. Compared by the ensemble's mean prediction, with no sampling noise."""
        costs = self.task.cost(predicted, candidates, goal)
        return int(float(costs[1]) <= float(costs[0]) + self.settle_margin)

    def within_goal(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Whether the robot is at the goal: once the task's error is within `hold_tolerance`, until
        it is more than twice that. Without the gap, a robot holding at the edge of the tolerance
        would start and stop with every small disturbance."""
        error = self.task.error(state, goal)
        self.at_goal = error <= self.hold_tolerance * (2.0 if self.at_goal else 1.0)
        return self.at_goal

    def reset(self) -> None:
        """Forget the warm start and being at the goal, for a new goal."""
        self.planner.reset()
        self.at_goal = False
