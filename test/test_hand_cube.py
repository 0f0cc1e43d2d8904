"""The hand's stretch task: a free cube on the palm, its pose from motion capture, turned to a goal
yaw. The world in PyBullet, the pose as a state source, the task's goal and cost, and the sim and
controller over DDS."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from geometry_msgs.msg import PoseStamped
from probe import Probe
from std_msgs.msg import Float64MultiArray

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.joint_state import BadState
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.robots.state import PoseSource
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.tasks import BadGoal, make_task
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import COMMAND_QOS, STATE_QOS

CONFIG = robot_config("hand_cube")
PARAMS = node_parameters(CONFIG, "controller")
STEPS_PER_COMMAND = 24  # 10 Hz commands at the 240 Hz physics rate


@pytest.fixture(scope="module")
def spec() -> RobotSpec:
    return RobotSpec.from_params(PARAMS)


@pytest.fixture(scope="module")
def world(spec):
    world = make_world("hand_cube", spec, node_parameters(CONFIG, "sim"), 1.0 / 240.0)
    yield world
    world.close()


def pose(position, yaw: float) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = "world"
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
    return msg


def test_a_pose_gives_position_and_the_rotations_first_two_columns():
    features = PoseSource("/mocap/cube/pose").features(pose((0.1, 0.2, 0.3), math.pi / 2))
    np.testing.assert_allclose(features, [0.1, 0.2, 0.3, 0, 1, 0, -1, 0, 0], atol=1e-9)


@pytest.mark.parametrize("orientation", [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, float("nan"))])
def test_a_pose_without_a_unit_quaternion_is_refused(orientation):
    msg = pose((0.0, 0.0, 0.0), 0.0)
    q = msg.pose.orientation
    q.x, q.y, q.z, q.w = orientation
    with pytest.raises(BadState):
        PoseSource("/mocap/cube/pose").features(msg)


def test_the_cube_rests_on_the_palm_and_its_pose_is_reported(world, spec):
    world.reset(0.5)
    assert world.step(240) is None
    readings = world.base_readings()
    home = make_task("reorient_cube", spec, PARAMS).params["cube_home"]
    assert np.linalg.norm(readings.position - home) < 0.02, "the cube rests where the task expects it"
    assert np.linalg.norm(readings.linear_velocity) < 0.01 and np.linalg.norm(readings.orientation) == \
        pytest.approx(1.0)
    assert world.joint_readings().names == list(PARAMS["joints"]), "the hand's joints only: the cube is a pose"


def test_fingers_turn_the_cube_and_a_dropped_cube_ends_the_episode(world, spec):
    world.reset(0.0)
    world.step(240)
    rng = np.random.default_rng(0)
    low, high = spec.planning_bounds
    yaws = []
    for _ in range(100):
        world.command(rng.uniform(low, high))
        world.step(STEPS_PER_COMMAND)
        rotation = np.array(world.client.getMatrixFromQuaternion(world.base_readings().orientation)).reshape(3, 3)
        yaws.append(math.atan2(rotation[1, 0], rotation[0, 0]))
    assert np.ptp(np.unwrap(yaws)) > 0.2, "random finger motions turn the cube"
    world.client.resetBasePositionAndOrientation(world.cube, [0.3, 0.0, -0.2], [0, 0, 0, 1])
    reason = world.step(1)
    assert reason is not None and reason.startswith("cube dropped")
    assert np.linalg.norm(world.cube_position() - world.start) < 1e-6, "back on the palm"


def test_goal_yaw_round_trips_and_a_goal_in_another_frame_is_refused(spec):
    task = make_task("reorient_cube", spec, PARAMS)
    for yaw in (-3.0, -0.5, 0.0, 1.2, 3.1):
        assert task.goal(task.fill_goal(PoseStamped(), np.array([yaw])))[0] == pytest.approx(yaw, abs=1e-9)
    bad = pose((0, 0, 0), 0.0)
    bad.header.frame_id = "palm"
    with pytest.raises(BadGoal, match="world"):
        task.goal(bad)
    bad.header.frame_id, bad.pose.orientation.w = "world", 0.0
    with pytest.raises(BadGoal, match="quaternion"):
        task.goal(bad)


def test_the_cost_prefers_the_goal_yaw_and_a_cube_kept_in_the_hand(spec):
    task = make_task("reorient_cube", spec, PARAMS)
    home = np.array(task.params["cube_home"])

    def trajectory(yaw: float, position) -> torch.Tensor:
        state = np.zeros(spec.state_dim)
        state[-9:] = PoseSource("/mocap/cube/pose").features(pose(position, yaw))
        return torch.tensor(state, dtype=torch.float32).expand(1, 8, -1)

    actions = torch.zeros(1, 7, 16)
    goal = torch.tensor([1.0])
    at_goal, away = task.cost(trajectory(1.0, home), actions, goal), task.cost(trajectory(-1.0, home), actions, goal)
    dropped = task.cost(trajectory(1.0, home + [0.0, 0.0, -0.1]), actions, goal)
    assert float(at_goal) < 1e-6 < float(away) and float(dropped) > float(away)
    state = trajectory(1.0 + 2 * math.pi - 0.05, home)[0, 0].numpy()
    assert task.error(state, np.array([1.0])) == pytest.approx(0.05, abs=1e-5), "wrapped"


@pytest.mark.timeout(90)
def test_hand_cube_through_ros_reports_the_cube_as_motion_capture_does(ros, tmp_path):
    probe = Probe("cube_watcher")
    poses, commands = [], []
    probe.create_subscription(PoseStamped, PARAMS["object_pose_topic"], poses.append, STATE_QOS)
    probe.create_subscription(Float64MultiArray, "/hand_position_controller/commands",
                              lambda m: commands.append(time.monotonic()), COMMAND_QOS)
    with Stack(CONFIG, {}, nodes=("sim", "controller"), log_dir=tmp_path / "logs") as stack:
        probe.spin_until(lambda: len(commands) > 20, 30, "position commands", stack)
        started, count = time.monotonic(), len(poses)
        probe.spin_for(2.0)
        rate = (len(poses) - count) / (time.monotonic() - started)
        assert stack.dead() == {}
    probe.destroy_node()
    assert poses[-1].header.frame_id == "world"
    assert 40 <= rate <= 70, f"the cube's pose at the sim's 60 Hz, got {rate:.0f} Hz"
    recent = [t for t in commands if t > commands[-1] - 2.0]
    assert 15 <= len(recent) <= 25, "commands at the 10 Hz control rate"
