"""A policy's check before it flies: long closed-loop rollouts through its model.

A distilled policy is trained on short rollouts (DAgger's), and its held-out label error says how
well it imitates the planner one step at a time, not what its own mistakes add up to: a drone
policy with a label error like its siblings' flew off and crashed. Driving the model with the
policy for as long as the robot would take to settle shows that before the robot does: each
rollout from a recorded state towards a goal must stay finite, never end an episode (the task's
crash), and end within a tolerance of its goal (the task's success threshold unless given: a
steady offset within it is what integral action on the goal takes away in flight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..planning.rollout import mean_step
from .policy import Policy


@dataclass
class PolicyCheck:
    """Rollouts `visited` (R, T+1, S) towards `goals` (R, G), their distance to the goal at each
    step `errors` (R, T+1) in the task's unit, and which ended an episode or stopped being finite."""

    visited: np.ndarray
    goals: np.ndarray
    errors: np.ndarray
    ended: np.ndarray  # (R,) bool
    threshold: float  # the farthest from its goal a rollout may end

    @property
    def final_errors(self) -> np.ndarray:
        return np.where(self.ended, np.inf, self.errors[:, -1])

    @property
    def failed(self) -> np.ndarray:
        return self.final_errors > self.threshold

    @property
    def passed(self) -> bool:
        return not self.failed.any()

    def summary(self) -> dict:
        return {"check_rollouts": len(self.goals), "check_failed": int(self.failed.sum()),
                "check_crashed": int(self.ended.sum()), "check_worst_error": float(self.final_errors.max())}

    def turning_points(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each failed rollout, the state where it came closest to its goal, and the goal:
        where what went wrong begins, for the planner to label from."""
        return [(self.visited[i, int(np.argmin(self.errors[i]))], self.goals[i]) for i in np.flatnonzero(self.failed)]


@torch.no_grad()
def check_policy(policy: Policy, model, task, starts: np.ndarray, goals: np.ndarray, steps: int,
                 tolerance: float = 0.0) -> PolicyCheck:
    """Drive the model's mean with the policy from each of `starts` (R, S) towards `goals` (R, G)
    for `steps` steps, all rollouts at once; a rollout passes ending within `tolerance` of its goal
    (0: the task's success threshold)."""
    states, goal_t = task.tensor(starts), task.tensor(goals)
    visited, ended = [states], torch.zeros(len(states), dtype=torch.bool, device=states.device)
    for _ in range(steps):
        following = mean_step(model, states, policy(states, task.goal_features(states, goal_t)))
        ended |= ~torch.isfinite(following).all(-1) | task.episode_ended(following)
        states = torch.where(ended[:, None], states, following)  # an ended rollout stays where it was
        visited.append(states)
    visited_np = torch.stack(visited, 1).cpu().numpy().astype(float)
    errors = np.array([[task.error(state, goal) for state in rollout] for rollout, goal in zip(visited_np, goals)])
    return PolicyCheck(visited_np, np.asarray(goals, float), errors, ended.cpu().numpy(),
                       float(tolerance or task.success_threshold))
