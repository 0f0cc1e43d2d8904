"""The scripted valve gait, the hand demo's yardstick: in the real PyBullet world it turns the valve
to goals within ROBEL's 0.1 rad, both ways, one finger pushing one spoke at a time."""

from __future__ import annotations

import numpy as np

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims import baseline


def test_the_gait_turns_the_valve_to_goals_both_ways():
    config = robot_config("hand")
    robot = RobotSpec.from_params(node_parameters(config, "controller"))
    sim = node_parameters(config, "sim")
    goals = [np.array([a]) for a in (1.2, -0.4, 2.6)]  # turns of -1.6 and +3.0 rad after the first
    figures = baseline("valve_gait")(robot, sim, goals, goal_seconds=10.0, hold_seconds=0.0, rate=10.0)
    finals = np.array(figures["goal_final_errors"])
    assert finals.shape == (3,)
    assert np.all(finals < 0.1), f"final errors {finals} rad"
