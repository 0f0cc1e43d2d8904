"""Integral action on the goal: it removes the steady offset a biased model leaves, integrates only
near the goal, stays within its limit, and starts afresh with each goal; tasks whose goals are not
positions refuse it by name."""

from __future__ import annotations

import numpy as np
import pytest

from mbrl_ros.core.control.goal_integral import GoalIntegral, GoalIntegralSettings
from mbrl_ros.core.control.parameters import goal_integral
from mbrl_ros.core.params import ParameterError, node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.tasks import make_task

PERIOD = 0.02


def settle(integral: GoalIntegral | None, goal: np.ndarray, seconds: float, bias: np.ndarray) -> np.ndarray:
    """A robot whose controller brings it to the goal it is given, less a steady `bias` (a model's
    thrust error, say), with a 0.2 s time constant; where it is after `seconds`."""
    position = goal - np.array([0.0, 0.0, 0.02])
    for _ in range(round(seconds / PERIOD)):
        target = goal if integral is None else integral.corrected(goal, position, PERIOD)
        position = position + PERIOD / 0.2 * (target - bias - position)
    return position


def test_a_steady_offset_is_integrated_away():
    goal, bias = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.015])
    without = np.linalg.norm(settle(None, goal, 20.0, bias) - goal)
    integral = GoalIntegral(GoalIntegralSettings(gain=0.5, radius=0.03, limit=0.03))
    with_integral = np.linalg.norm(settle(integral, goal, 20.0, bias) - goal)
    assert without == pytest.approx(0.015, rel=1e-3)
    assert with_integral < 0.0005
    np.testing.assert_allclose(integral.shift, bias, atol=0.0005)


def test_it_integrates_only_near_the_goal_and_within_its_limit():
    integral = GoalIntegral(GoalIntegralSettings(gain=1.0, radius=0.03, limit=0.01))
    goal = np.zeros(3)
    for _ in range(100):
        integral.corrected(goal, np.array([0.05, 0.0, 0.0]), PERIOD)
    assert integral.size == 0.0, "5 cm away, outside the radius"
    for _ in range(100):
        corrected = integral.corrected(goal, np.array([0.02, 0.0, 0.0]), PERIOD)
    assert integral.size == pytest.approx(0.01)
    np.testing.assert_allclose(corrected, [-0.01, 0.0, 0.0])
    integral.corrected(np.ones(3), np.ones(3), PERIOD)
    assert integral.size == 0.0, "a new goal starts afresh"


def test_only_tasks_whose_goals_are_positions_take_it(arm, arm_params):
    values = {"goal_integral_gain": 0.5, "goal_integral_radius": 0.03, "goal_integral_limit": 0.03}
    reach = make_task("reach", arm, arm_params, "cpu")
    assert isinstance(goal_integral(arm, reach, values | {"task": "reach"}), GoalIntegral)
    assert goal_integral(arm, reach, values | {"goal_integral_gain": 0.0}) is None, "0: off"
    hand_params = node_parameters(robot_config("hand"), "controller")
    hand = RobotSpec.from_params(hand_params)
    valve = make_task(hand_params["task"], hand, hand_params, "cpu")
    with pytest.raises(ParameterError, match="'goal_integral_gain': the turn_valve task's goals are not positions"):
        goal_integral(hand, valve, values | {"task": hand_params["task"]})
