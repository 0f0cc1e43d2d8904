"""The valve-turning task: fingertip kinematics of the hand's tree, cost, goals and error."""

import math

import numpy as np
import pytest
import torch
from sensor_msgs.msg import JointState

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.tasks import BadGoal, make_task


@pytest.fixture(scope="module")
def hand():
    params = node_parameters(robot_config("hand"), "controller")
    spec = RobotSpec.from_params(params)
    return spec, make_task("turn_valve", spec, params)


def state_of(spec, readings):
    return spec.state.sources[0].features(JointState(name=readings.names, position=readings.position.tolist(),
                                                     velocity=readings.velocity.tolist()))


def test_fingertips_and_angle_match_the_simulated_hand(hand):
    spec, task = hand
    world = make_world("hand_valve", spec, node_parameters(robot_config("hand"), "sim"), 1 / 240)
    rng = np.random.default_rng(0)
    low, high = spec.workspace
    try:
        for _ in range(5):
            world.command(rng.uniform(low, high))
            world.step(60)
            state = state_of(spec, world.joint_readings())
            tips = task.fingertips(torch.as_tensor(state, dtype=torch.float64).float()).numpy()
            np.testing.assert_allclose(tips, world.fingertip_positions(), atol=1e-4)
            assert task.angle(state) == pytest.approx(math.remainder(world.valve_angle(), 2 * math.pi), abs=1e-6)
    finally:
        world.close()


def trajectories(spec, angles_per_plan):
    """Plans (N, H+1, S) at the hand's home posture with the valve at the given angles."""
    home = np.zeros(spec.state.dim)
    home[spec.position_columns] = np.mean(spec.workspace, axis=0)
    plans = np.repeat(home[None, None], len(angles_per_plan), 0).repeat(len(angles_per_plan[0]), 1)
    sin, cos = spec.state.columns("valve_joint.sin", "valve_joint.cos")
    plans[..., sin], plans[..., cos] = np.sin(angles_per_plan), np.cos(angles_per_plan)
    return torch.as_tensor(plans, dtype=torch.float32)


def test_turning_towards_the_goal_costs_less_the_shorter_way_round(hand):
    spec, task = hand
    goal = torch.tensor([3.0])
    plans = trajectories(spec, [np.linspace(2.0, 3.0, 8), np.full(8, 2.0), np.linspace(2.0, 1.0, 8),
                                np.linspace(-3.0, -2.9, 8)])
    actions = torch.zeros(4, 7, 16)
    costs = task.cost(plans, actions, goal).numpy()
    assert costs[0] < costs[1] < costs[2]
    assert costs[3] < costs[2], "-3.0 rad is 0.28 rad from 3.0 rad across the wrap"


def test_the_angle_costs_as_much_as_the_chord_to_the_goal_linear_near_it(hand):
    spec, task = hand
    errors = [0.0, 0.05, 0.5, math.pi]
    costs = task.angle_cost(trajectories(spec, [np.full(8, 1.0 + e) for e in errors])[:, 1:], torch.tensor([1.0]))
    np.testing.assert_allclose(costs.numpy(), [2 * math.sin(e / 2) for e in errors], atol=1e-5)
    assert costs[1] > 0.09 * costs[2], "0.05 rad off costs about a tenth of 0.5 rad off, not a hundredth"


def test_fingertips_far_above_the_spokes_cost_more(hand):
    spec, task = hand
    plans = trajectories(spec, [np.full(8, 0.0)] * 2)
    lifted = spec.state.columns("joint_5.position", "joint_6.position")
    plans[1, :, lifted] -= 0.8  # the middle finger straightens up and away
    costs = task.cost(plans, torch.zeros(2, 7, 16), torch.tensor([0.0]))
    assert costs[1] > costs[0] + 0.05


def test_goals_name_the_valve_joint(hand):
    _, task = hand
    assert task.goal(task.fill_goal(JointState(), np.array([1.25]))) == pytest.approx([1.25])
    with pytest.raises(BadGoal, match="valve_joint"):
        task.goal(JointState(name=["joint_0"], position=[1.0]))
    with pytest.raises(BadGoal, match="non-finite"):
        task.goal(JointState(name=["valve_joint"], position=[math.nan]))


def test_error_is_the_wrapped_angle(hand):
    spec, task = hand
    state = np.zeros(spec.state.dim)
    sin, cos = spec.state.columns("valve_joint.sin", "valve_joint.cos")
    state[sin], state[cos] = math.sin(3.1), math.cos(3.1)
    assert task.error(state, np.array([-3.1])) == pytest.approx(2 * math.pi - 6.2, abs=1e-6)
    assert task.error(state, np.array([3.1 + 4 * math.pi])) == pytest.approx(0.0, abs=1e-6)
