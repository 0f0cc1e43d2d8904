"""The fly-to task: its cost ranks predicted drone trajectories sensibly, and its goals."""

import math

import numpy as np
import pytest
import torch
from geometry_msgs.msg import PoseStamped

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.tasks import BadGoal
from mbrl_ros.core.tasks.fly_to import FlyToTask

H, DT = 15, 0.02
LEVEL = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # body x and body y columns of a level, unrotated drone


@pytest.fixture(scope="module")
def params():
    return node_parameters(robot_config("drone"), "controller")


@pytest.fixture(scope="module")
def task(params):
    return FlyToTask(RobotSpec.from_params(params), params)


def trajectory(task, start, velocity, rotation=LEVEL):
    """States (H+1, 15) of a drone moving from `start` at a constant world `velocity`; with a level
    rotation the body-frame velocity is the world one."""
    names = task.robot.state.names
    states = np.zeros((H + 1, len(names)), np.float32)
    t = np.arange(H + 1)[:, None] * DT
    states[:, task.position] = np.asarray(start) + t * np.asarray(velocity)
    states[:, task.body_x + task.body_y] = rotation
    states[:, task.velocity] = velocity
    return states


def costs(task, trajectories, goal, actions=None):
    states = torch.as_tensor(np.stack(trajectories))
    if actions is None:
        actions = torch.full((len(trajectories), H, 4), 0.5)
    return task.cost(states, actions, task.tensor(goal)).numpy()


def pose(x, y, z, frame="world"):
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
    return msg


def test_moving_toward_the_goal_costs_least(task):
    goal, start = [0.5, 0.0, 1.0], [0.0, 0.0, 1.0]
    toward, hover, away = costs(task, [trajectory(task, start, [0.5, 0.0, 0.0]), trajectory(task, start, [0.0] * 3),
                                       trajectory(task, start, [-0.5, 0.0, 0.0])], goal)
    assert toward < hover < away


def test_toward_the_goal_in_any_direction(task):
    start = np.array([0.0, 0.0, 1.0])
    for direction in np.eye(3):
        goal = start + 0.4 * direction
        toward, sideways = costs(task, [trajectory(task, start, 0.5 * direction),
                                        trajectory(task, start, 0.5 * np.roll(direction, 1))], goal)
        assert toward < sideways


def test_tilt_costs_more_than_level(task):
    goal, start = [0.5, 0.0, 1.0], [0.0, 0.0, 1.0]
    a = math.radians(30)
    rolled = [1.0, 0.0, 0.0, 0.0, math.cos(a), math.sin(a)]  # rolled 30 degrees about body x
    level, tilted = costs(task, [trajectory(task, start, [0.0] * 3), trajectory(task, start, [0.0] * 3, rolled)], goal)
    assert tilted > level
    # 1 - cos(tilt), weighted: a 30 degree tilt costs about 0.13 more at every step
    assert tilted - level == pytest.approx(task.params["tilt_weight"] * (1 - math.cos(a)), rel=1e-3)


def test_below_min_height_costs_much_more(task):
    min_height = task.params["min_height"]
    goal = [0.0, 0.0, min_height]
    above, below = costs(task, [trajectory(task, [0.0, 0.0, min_height + 0.05], [0.0] * 3),
                                trajectory(task, [0.0, 0.0, min_height - 0.05], [0.0] * 3)], goal)
    assert below > 10 * above  # both 5 cm from the goal; only one is in the ground


def test_jerky_commands_cost_more_than_smooth_ones(task):
    goal, start = [0.5, 0.0, 1.0], [0.0, 0.0, 1.0]
    states = [trajectory(task, start, [0.2, 0.0, 0.0])] * 2
    steps = torch.arange(H, dtype=torch.float32)[:, None].expand(H, 4)
    smooth = 0.5 + 0.01 * steps
    jerky = 0.5 + 0.1 * (-1) ** steps
    smooth_cost, jerky_cost = costs(task, states, goal, torch.stack([smooth, jerky]))
    assert jerky_cost > smooth_cost


def test_cost_is_one_per_trajectory(task):
    rng = np.random.default_rng(0)
    trajectories = [trajectory(task, rng.uniform(-1, 1, 3) + [0, 0, 1], rng.normal(0, 0.5, 3)) for _ in range(7)]
    result = costs(task, trajectories, [0.0, 0.0, 1.0])
    assert result.shape == (7,) and np.all(np.isfinite(result))


def test_goal_in_another_frame_is_refused(task):
    with pytest.raises(BadGoal, match="frame"):
        task.goal(pose(0.0, 0.0, 1.0, frame="map"))


def test_goal_with_nan_is_refused(task):
    with pytest.raises(BadGoal, match="non-finite"):
        task.goal(pose(0.0, math.nan, 1.0))


@pytest.mark.parametrize("frame", ["", "world"])
def test_goal_in_the_world_or_no_frame(task, frame):
    np.testing.assert_array_equal(task.goal(pose(0.1, -0.2, 1.3, frame=frame)), [0.1, -0.2, 1.3])


def test_fill_goal_then_goal_round_trips(task):
    msg = task.fill_goal(PoseStamped(), np.array([0.25, -0.5, 1.125]))
    assert msg.header.frame_id == "world"
    np.testing.assert_array_equal(task.goal(msg), [0.25, -0.5, 1.125])


def test_error_is_the_distance_to_the_goal(task):
    state = trajectory(task, [1.0, 2.0, 3.0], [0.3, 0.3, 0.3])[0]
    assert task.error(state, np.array([1.0, 5.0, 7.0])) == pytest.approx(5.0)  # a 3-4-5 triangle
    assert task.error(state, np.array([1.0, 2.0, 3.0])) == pytest.approx(0.0)


def test_random_goals_stay_in_the_goal_box(task, params):
    low, high = np.array(params["goal_low"]), np.array(params["goal_high"])
    rng = np.random.default_rng(0)
    goals = np.array([task.random_goal(rng) for _ in range(500)])
    assert goals.shape == (500, 3)
    assert np.all(goals >= low) and np.all(goals <= high)
    assert np.all(goals.max(0) - goals.min(0) > 0.8 * (high - low)), "spread over the whole box"


def test_without_a_goal_the_drone_holds_where_it_is(task):
    # Its safe command, motors off, would drop it: hovering in place is the goal until one arrives.
    state = trajectory(task, [0.3, -0.2, 1.1], [0.0, 0.0, 0.0])[0]
    held = task.hold_goal(state)
    assert held.tolist() == pytest.approx([0.3, -0.2, 1.1])
    state[task.position] = 0.0
    assert held.tolist() == pytest.approx([0.3, -0.2, 1.1]), "a copy, not a view of the state"
