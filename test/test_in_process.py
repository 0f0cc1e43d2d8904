"""The robots run in process by the controller's own loop, built from their configs: what the
benchmarks measure is what the node runs, safety chain included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.in_process import InProcessRobot
from mbrl_ros.core.control.limits import load_rate_limits
from mbrl_ros.core.control.loop import Mode
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.paths import find_shared_file


@pytest.fixture
def robot(request):
    robot = InProcessRobot(*request.param)
    yield robot
    robot.close()


@pytest.mark.parametrize("robot", [("arm",), ("drone",), ("hand",)], indirect=True, ids=lambda p: p[0])
def test_each_robot_explores_in_process_and_yields_transitions_at_the_control_rate(robot):
    data = robot.run(2.0)
    assert len(data) == round(2.0 / robot.dt) and robot.loop.mode is Mode.EXPLORING
    assert np.all(np.isfinite(data.next_states)) and np.abs(data.next_states - data.states).max() > 1e-3, "it moves"
    low, high = robot.spec.command_bounds
    assert np.all((data.actions >= low - 1e-9) & (data.actions <= high + 1e-9))


@pytest.mark.parametrize("robot", [("arm",)], indirect=True, ids=["arm"])
def test_the_arms_commands_keep_the_configs_rate_limits_in_process_too(robot):
    limits = load_rate_limits(find_shared_file(robot.params["joint_limits_file"], "config"), robot.spec.joints,
                              "velocity")
    commands = robot.run(3.0).actions
    assert np.abs(commands).max() > 0.1
    assert np.all(np.abs(np.diff(commands, axis=0)) <= limits.max_change * robot.dt + 1e-9)


@pytest.mark.parametrize("robot", [("arm", {"population": 32, "iterations": 1})], indirect=True, ids=["arm"])
def test_with_a_model_and_a_goal_it_plans_through_the_same_loop(robot):
    torch.manual_seed(0)
    learner = DynamicsLearner(robot.spec.model_signature(), robot.dt, ModelConfig(2, 16, 1), TrainConfig())
    robot.loop.use_model(learner.model)
    robot.loop.set_goal(np.array([0.4, 0.0, 0.4]))
    robot.run(0.5)
    assert robot.loop.mode in (Mode.PURSUING, Mode.SETTLED)
    assert len(robot.loop.latencies) == round(0.5 / robot.dt), "a plan every period, timed"
    assert robot.loop.missed_deadlines == 0


@pytest.mark.parametrize("robot", [("drone", {}, {"bounds_high": [2.0, 2.0, 1.02]})], indirect=True, ids=["drone"])
def test_a_crash_ends_the_episode_the_world_restarts_and_the_loop_is_told(robot):
    data = robot.run(5.0)
    assert robot.episode_ends and robot.episode_ends[0].startswith("crash")
    assert len(data) == round(5.0 / robot.dt) - len(robot.episode_ends), "no transition across a restart"
    assert robot.loop.episode_ended.is_set(), "the next plan starts afresh"
    assert robot.state()[2] < 1.02 and robot.loop.mode is Mode.EXPLORING


def test_a_latency_lets_the_world_run_on_the_old_command_before_the_new_one_acts():
    moved = {}
    for latency in (0.0, 0.025):  # half the arm's 50 ms period
        robot = InProcessRobot("arm", latency=latency)
        start = robot.state()
        robot.tick()  # from rest, the explorer's first command
        moved[latency] = np.abs(robot.state() - start)[:7].sum()
        assert robot.command is not None and robot.sent is None
        robot.close()
    assert moved[0.0] > 0 and 0.3 < moved[0.025] / moved[0.0] < 0.7
