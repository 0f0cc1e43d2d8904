"""Integral action on the goal, for offset-free tracking.

A learned model has small biases: the drone's may overestimate its thrust by a few per cent, and
the plans (and the policy distilled from them) then hover a steady 2 cm below the goal, perfectly
still. Offset-free MPC removes such an offset by estimating it as a disturbance and shifting the
target the controller is given (Muske and Badgwell 2002; Pannocchia and Rawlings 2003); the same
integral action as a PID's I term. Here the shift is the integral of the offset itself: while the
robot is within `radius` of the goal, the goal the planner and the policy are given moves away from
where the robot is, at `gain` per second times the offset, at most `limit` from the true goal. Far
from the goal nothing accumulates, so the approach does not wind it up; a new goal starts afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GoalIntegralSettings:
    gain: float  # 1/s
    radius: float  # the task's unit: integrate only this close to the goal
    limit: float  # the largest shift of the goal


class GoalIntegral:
    def __init__(self, settings: GoalIntegralSettings):
        self.settings = settings
        self.goal: np.ndarray | None = None  # the true goal the shift belongs to
        self.shift: np.ndarray | None = None

    def corrected(self, goal: np.ndarray, achieved: np.ndarray, period: float) -> np.ndarray:
        """The goal to pursue for the true `goal`, where the robot's `achieved` is what the goal sets
        (its position), after one more control period (s) of integration."""
        if self.goal is None or not np.array_equal(goal, self.goal):
            self.goal, self.shift = goal, np.zeros_like(goal, dtype=float)
        offset = goal - achieved
        if np.linalg.norm(offset) <= self.settings.radius:
            self.shift = self.shift + self.settings.gain * period * offset
            size = np.linalg.norm(self.shift)
            if size > self.settings.limit:
                self.shift *= self.settings.limit / size
        return goal + self.shift

    @property
    def size(self) -> float:
        """How far the goal is shifted now."""
        return 0.0 if self.shift is None else float(np.linalg.norm(self.shift))
