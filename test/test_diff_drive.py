"""The wheeled base, in process: its sim drives as diff_drive_controller would, its task reads and
scores goal poses, its exploration stays inside the geofence, the go-to-pose baseline reaches its
goals, and the controller's loop learns to reach goal poses from scratch."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.in_process import InProcessRobot
from mbrl_ros.core.control.loop import Mode
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.sims.pose_control import PoseController, base_pose, baseline
from mbrl_ros.core.tasks import BadGoal, make_task

CONFIG = robot_config("diff_drive")


@pytest.fixture(scope="module")
def params():
    return node_parameters(CONFIG, "controller")


@pytest.fixture(scope="module")
def base(params) -> RobotSpec:
    return RobotSpec.from_params(params)


def pose_stamped() -> SimpleNamespace:
    """A PoseStamped's fields, as a bag record has them: the task reads and writes only fields
    (the ROS message itself is tested with the node; this module stays free of ROS)."""
    return SimpleNamespace(header=SimpleNamespace(frame_id=""),
                           pose=SimpleNamespace(position=SimpleNamespace(x=0.0, y=0.0, z=0.0),
                                                orientation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=1.0)))


@pytest.fixture
def world(base):
    world = make_world("diff_drive", base, node_parameters(CONFIG, "sim"), 1.0 / 240.0)
    yield world
    world.close()


def drive(world, command, seconds: float) -> None:
    for _ in range(round(seconds * 240)):
        world.command(np.asarray(command, float))
        world.step()


def test_the_base_drives_turns_and_stops_when_commands_stop(world):
    drive(world, [0.2, 0.0], 2.0)
    readings = world.base_readings()
    assert readings.position[0] == pytest.approx(0.4, abs=0.02) and abs(readings.position[1]) < 0.01
    assert readings.linear_velocity[0] == pytest.approx(0.2, abs=0.02), "the twist is in the body frame"
    drive(world, [0.0, 1.0], 1.0)
    assert base_pose(world.base_readings())[2] == pytest.approx(1.0, abs=0.05), "turned on the spot"
    assert base_pose(world.base_readings())[0] == pytest.approx(0.4, abs=0.02)
    world.command(np.array([0.2, 0.0]))
    world.step(round(1.0 * 240))  # no new command for 1 s: past the timeout the wheels stop
    assert np.abs(world.base_readings().linear_velocity).max() < 0.01
    with pytest.raises(ValueError, match="2 finite values"):
        world.command(np.array([0.1, np.nan]))


def test_goal_poses_are_read_scored_and_refused_in_another_frame(base, params):
    task = make_task("drive_to", base, params)
    goal = np.array([0.5, -0.2, 2.0])
    msg = task.fill_goal(pose_stamped(), goal)
    np.testing.assert_allclose(task.goal(msg), goal, atol=1e-9)
    msg.header.frame_id = "map"
    with pytest.raises(BadGoal, match="'odom'"):
        task.goal(msg)
    state = np.zeros(base.state_dim)
    state[base.guarded_columns] = [0.52, -0.2, np.cos(2.05), np.sin(2.05)]
    distance, angle = task.errors(state, goal)
    assert distance == pytest.approx(0.02) and angle == pytest.approx(0.05)
    assert task.error(state, goal) == pytest.approx(0.5), "the larger share of the tolerances (5 cm, 0.1 rad)"


def test_the_cost_prefers_plans_that_end_at_the_goal_facing_its_heading(base, params):
    task = make_task("drive_to", base, params)
    goal = task.tensor([0.0, 0.0, 0.0])

    def ending(x: float, heading: float) -> torch.Tensor:
        states = torch.zeros(1, 4, base.state_dim)
        states[..., base.guarded_columns[0]] = x
        states[..., base.guarded_columns[2]], states[..., base.guarded_columns[3]] = np.cos(heading), np.sin(heading)
        return task.cost(states, torch.zeros(1, 3, 2), goal)

    assert ending(0.0, 0.0) < min(ending(0.05, 0.0), ending(0.0, 0.1)), "at the goal, facing its heading"
    assert ending(0.3, 1.0) == pytest.approx(ending(0.3, 0.0), abs=1e-6), "far from it the heading is free"
    assert ending(0.0, 1.0) > ending(0.0, 0.1)
    fleeing = torch.zeros(1, 4, base.state_dim)  # from the goal, 10 cm away, the heading still 1 rad off
    fleeing[:, 1:, base.guarded_columns[0]] = 0.1
    fleeing[..., base.guarded_columns[2]], fleeing[..., base.guarded_columns[3]] = np.cos(1.0), np.sin(1.0)
    assert task.cost(fleeing, torch.zeros(1, 3, 2), goal) > ending(0.0, 1.0), "leaving does not escape the heading"


def test_random_goals_are_each_one_step_from_the_last_inside_the_goal_area(base, params):
    task = make_task("drive_to", base, params)
    rng = np.random.default_rng(0)
    goals = np.array([task.random_goal(rng) for _ in range(20)])
    steps = np.linalg.norm(np.diff(np.vstack([[0.0, 0.0], goals[:, :2]]), axis=0), axis=1)
    np.testing.assert_allclose(steps, params["goal_step"])
    assert np.all(np.abs(goals[:, :2]) <= 1.0) and np.ptp(goals[:, 2]) > 3.0


def test_the_go_to_pose_baseline_reaches_goal_poses(base, params):
    task = make_task("drive_to", base, params)
    rng = np.random.default_rng(3)
    goals = [task.random_goal(rng) for _ in range(3)]
    figures = baseline(base, node_parameters(CONFIG, "sim"), goals, 12.0, 0.0, params["control_rate"])
    assert max(figures["goal_final_errors"]) <= task.success_threshold
    with pytest.raises(ValueError, match="converges"):
        PoseController(0.2, 2.0, k_rho=1.0, k_alpha=0.5)


def test_exploration_drives_around_and_never_leaves_the_geofence():
    robot = InProcessRobot("diff_drive")
    try:
        data = robot.run(60.0)
        xy = data.states[:, robot.spec.guarded_columns[:2]]
        low, high = robot.params["geofence_low"], robot.params["geofence_high"]
        assert np.all(xy >= np.array(low) - 0.02) and np.all(xy <= np.array(high) + 0.02)
        assert np.ptp(xy, axis=0).min() > 0.8, "it covers the area"
        assert robot.loop.mode is Mode.EXPLORING and not robot.episode_ends
    finally:
        robot.close()


def test_the_loop_learns_to_drive_to_goal_poses_from_scratch():
    """Three minutes of exploration (the config's max_transitions), an ensemble trained as the trainer trains it, then the
    controller's own loop drives to three goal poses 1 m apart."""
    torch.manual_seed(0)
    robot = InProcessRobot("diff_drive")
    try:
        data = robot.run(180.0)
        learner = robot.learner()
        learner.train(data)
        robot.loop.use_model(learner.model)
        task, rng = robot.loop.task, np.random.default_rng(1)
        errors = []
        for _ in range(3):
            goal = task.random_goal(rng)
            robot.loop.set_goal(goal)
            robot.run(12.0)
            errors.append(task.error(robot.state(), goal))
        assert max(errors) <= task.success_threshold, errors
        assert robot.loop.mode is Mode.SETTLED, "stopped at the last goal"
    finally:
        robot.close()
