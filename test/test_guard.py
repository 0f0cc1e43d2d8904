"""The motion guard: joint position limits with a margin, braking towards them, an end-effector box."""

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.guard import MotionGuard
from mbrl_ros.core.robots.commands import COMMAND_INTERFACES
from mbrl_ros.core.robots.kinematics import ForwardKinematics
from mbrl_ros.core.robots.urdf import load_chain

DT = 0.05


def joints(mode: str, count: int = 1):
    """A joint command interface of `count` joints, bounded by +-10."""
    return COMMAND_INTERFACES[mode]("/commands", tuple(f"joint{i}" for i in range(count)), np.full(count, -10.0),
                                    np.full(count, 10.0), None if mode == "position" else np.zeros(count))


def cartesian(q: np.ndarray) -> np.ndarray:
    """A Cartesian robot: its end effector is where its three prismatic joints put it."""
    return q


def test_a_joint_driven_at_a_limit_brakes_and_stops_at_the_margin():
    guard = MotionGuard(joints("velocity"), lower=[-1.0], upper=[1.0], margin=0.1, dt=DT, max_acceleration=[10.0])
    q, sent = np.array([0.0]), []
    for _ in range(60):
        command = guard(np.array([2.0]), q)
        sent.append(command[0])
        q = q + command * DT
        assert q[0] <= 0.9 + 1e-9, "never past the limit less the margin"
    assert q[0] > 0.899, "it gets there"
    speeds = np.array(sent)
    braking = np.diff(speeds)[np.diff(speeds) < 0]
    assert braking.min() > -10.0 * DT * 2.5, "it brakes over several periods, not in one"
    assert guard(np.array([-2.0]), q)[0] == -2.0, "moving away from the limit is not cut"


def test_a_joint_past_the_margin_may_move_back_but_not_further_out():
    guard = MotionGuard(joints("velocity"), lower=[-1.0], upper=[1.0], margin=0.1, dt=DT)
    assert guard(np.array([0.5]), np.array([0.95]))[0] == 0.0
    assert guard(np.array([-0.5]), np.array([0.95]))[0] == -0.5


def test_position_targets_are_clipped_to_the_limits_less_the_margin():
    guard = MotionGuard(joints("position", 2), lower=[-1.0, 0.0], upper=[1.0, 2.0], margin=0.2, dt=DT)
    np.testing.assert_allclose(guard(np.array([1.5, -3.0]), np.zeros(2)), [0.8, 0.2])
    np.testing.assert_allclose(guard(np.array([0.3, 1.0]), np.zeros(2)), [0.3, 1.0])


@pytest.fixture
def boxed():
    limits = np.full(3, 10.0)
    return MotionGuard(joints("velocity", 3), DT, -limits, limits, 0.0, point=cartesian,
                       box=(np.array([-1.0, -1.0, 0.1]), np.array([1.0, 1.0, 2.0])))


def test_a_command_that_would_leave_the_box_is_cut_to_stop_at_its_wall(boxed):
    q = np.array([0.0, 0.0, 0.2])
    command = boxed(np.array([1.0, 0.0, -4.0]), q)  # z would reach 0.0, under the box's 0.1
    reached = q + command * DT
    assert 0.1 - 1e-9 <= reached[2] < 0.1 + 0.2 / 16, "stops at the wall, to a sixteenth of the step"
    np.testing.assert_allclose(command / np.linalg.norm(command), np.array([1.0, 0, -4.0]) / np.sqrt(17),
                               err_msg="the same direction, slower")


def test_commands_inside_the_box_or_back_into_it_are_not_touched(boxed):
    np.testing.assert_array_equal(boxed(np.array([1.0, 1.0, -1.0]), np.array([0.0, 0.0, 1.0])), [1.0, 1.0, -1.0])
    np.testing.assert_array_equal(boxed(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 0.0])), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(boxed(np.array([0.0, 0.0, -1.0]), np.array([0.0, 0.0, 0.0])), [0.0, 0.0, 0.0])


def test_the_panda_stays_above_its_table(arm, arm_params):
    fk = ForwardKinematics(load_chain(arm.urdf_path, arm_params["ee_link"]), list(arm.joints)).double()
    tip = lambda q: fk.position(torch.as_tensor(q)).numpy()  # noqa: E731
    table = 0.3
    guard = MotionGuard(arm.command, DT, arm.position_lower, arm.position_upper, 0.05, point=tip,
                        box=(np.array([-1.0, -1.0, table]), np.array([1.0, 1.0, 1.5])))
    q = np.array(arm_params["workspace_center"])
    down = np.array([0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0])  # shoulder and elbow forward: the hand goes down
    heights = []
    for _ in range(100):
        q = q + guard(down, q) * DT
        heights.append(tip(q)[2])
    assert heights[0] > heights[-1] and min(heights) >= table - 1e-6
    assert heights[-1] < table + 0.01, "it goes down to the table and stops there"


@pytest.mark.parametrize("arguments, message", [
    (dict(interface=joints("effort")), "cannot tell where effort commands"),
    (dict(margin=-0.1), "margin must be"),
    (dict(margin=1.5), "leaves no room"),
    (dict(box=(np.zeros(3), np.ones(3))), "needs both"),
    (dict(point=cartesian, box=(np.ones(3), np.zeros(3))), "below its high corner"),
])
def test_bad_settings_are_refused_with_a_reason(arguments, message):
    settings = dict(interface=joints("velocity"), lower=[-1.0], upper=[1.0], margin=0.1, dt=DT) | arguments
    with pytest.raises(ValueError, match=message):
        MotionGuard(**settings)


def test_a_base_driving_at_its_geofence_stops_there_and_may_turn_and_drive_away():
    from mbrl_ros.core.robots.commands import BaseVelocityCommands

    base = BaseVelocityCommands("/cmd_vel", BaseVelocityCommands.NAMES, np.array([-0.22, -2.84]),
                                np.array([0.22, 2.84]), np.zeros(2))
    fence = MotionGuard(base, DT, point=lambda pose: pose[..., :2], box=(np.array([-1.0, -1.0]), np.array([1.0, 1.0])))
    pose = np.array([0.5, 0.0, 1.0, 0.0])  # facing +x, the fence 0.5 m ahead
    for _ in range(100):
        pose = base.moved(pose, fence(np.array([0.22, 0.3]), pose), DT)
        assert np.all(np.abs(pose[:2]) <= 1.0 + 1e-9), "never out of the fence"
    assert np.max(np.abs(pose[:2])) > 0.99, "it gets to the fence"
    np.testing.assert_allclose(fence(np.array([-0.2, 0.0]), pose), [-0.2, 0.0], err_msg="backing away passes")
    np.testing.assert_allclose(fence(np.array([0.0, 2.0]), pose), [0.0, 2.0], err_msg="turning on the spot passes")
