"""Command interfaces (message conventions, checks, bounds) and the robot spec built from YAML."""

import math

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped
from std_msgs.msg import Float64MultiArray

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.commands import (
    FLOAT_ARRAY,
    TWIST,
    TWIST_STAMPED,
    BadCommand,
    BaseVelocityCommands,
    RotorCommands,
    command_interface,
)
from mbrl_ros.core.robots.robot import RobotSpec

ATTITUDE_NAMES = ("roll_deg", "pitch_deg", "yaw_rate_deg_s", "thrust")
ROTOR_NAMES = RotorCommands.NAMES


def interface(mode, topic, names, low, high, safe):
    return command_interface(mode)(topic, names, low, high, safe)


def attitude():
    return interface("attitude", "/cmd_vel_legacy", ATTITUDE_NAMES, np.array([-30.0, -30.0, -200.0, 0.0]),
                     np.array([30.0, 30.0, 200.0, 60000.0]), np.zeros(4))


def rotors():
    return interface("rotors", "/rotors", ROTOR_NAMES, np.zeros(4), np.ones(4), np.zeros(4))


def base(stamped: bool = True) -> BaseVelocityCommands:
    return BaseVelocityCommands("/diff_drive_controller/cmd_vel", BaseVelocityCommands.NAMES,
                                np.array([-0.22, -2.84]), np.array([0.22, 2.84]), np.zeros(2), stamped)


@pytest.fixture(scope="module")
def drone_params():
    return node_parameters(robot_config("drone"), "controller")


# CommandInterface

def test_attitude_fills_a_twist_as_cmd_vel_legacy():
    command = attitude()
    assert command.msgtype == TWIST
    msg = command.fill(Twist(), np.array([5.0, -3.0, 20.0, 40000.0]))
    assert msg.linear.y == 5.0  # roll
    assert msg.linear.x == 3.0  # pitch, sign flipped
    assert msg.angular.z == 20.0  # yaw rate
    assert msg.linear.z == 40000.0  # thrust
    assert (msg.angular.x, msg.angular.y) == (0.0, 0.0)
    np.testing.assert_array_equal(command.vector(msg), [5.0, -3.0, 20.0, 40000.0])


def test_attitude_reads_a_twist_written_by_hand():
    msg = Twist()
    msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.z = -10.0, 2.0, 30000.0, -45.0
    np.testing.assert_array_equal(attitude().vector(msg), [2.0, 10.0, -45.0, 30000.0])


def test_rotors_round_trip_a_float_array():
    command = rotors()
    assert command.msgtype == FLOAT_ARRAY
    values = np.array([0.1, 0.25, 0.5, 0.9])
    msg = command.fill(Float64MultiArray(), values)
    assert list(msg.data) == [0.1, 0.25, 0.5, 0.9]
    np.testing.assert_array_equal(command.vector(msg), values)


@pytest.mark.parametrize("data, reason", [([0.5] * 3, "3 values for 4"), ([0.5] * 5, "5 values for 4"),
                                          ([0.5, math.nan, 0.5, 0.5], "non-finite"),
                                          ([0.5, 0.5, math.inf, 0.5], "non-finite")])
def test_bad_rotor_commands_say_why(data, reason):
    with pytest.raises(BadCommand, match=reason):
        rotors().vector(Float64MultiArray(data=data))


def test_nan_in_a_twist_is_a_bad_command():
    msg = attitude().fill(Twist(), np.array([0.0, 0.0, 0.0, 30000.0]))
    msg.angular.z = math.nan
    with pytest.raises(BadCommand, match="non-finite"):
        attitude().vector(msg)


@pytest.mark.parametrize("mode, names, low, high, safe, reason", [
    ("rotors", ROTOR_NAMES, [0, 0, 1, 0], [1, 1, 0.5, 1], [0] * 4, "empty"),
    ("rotors", ROTOR_NAMES, [0] * 3, [1] * 4, [0] * 4, "bounds"),
    ("rotors", ROTOR_NAMES[:3], [0] * 4, [1] * 4, [0] * 4, "bounds"),
    ("rotors", (), [], [], [], "bounds"),
    ("thrust_vectoring", ROTOR_NAMES, [0] * 4, [1] * 4, [0] * 4, "command_mode"),
    ("rotors", ROTOR_NAMES, [0] * 4, [1] * 4, None, "safe command"),
    ("velocity", ("j1",), [-1], [1], None, "safe command"),
])
def test_bad_interfaces_are_refused(mode, names, low, high, safe, reason):
    with pytest.raises(ValueError, match=reason):
        interface(mode, "/t", names, np.array(low, float), np.array(high, float),
                  None if safe is None else np.array(safe, float))


def test_position_commands_need_no_safe_command():
    assert interface("position", "/t", ("j1",), np.array([-1.0]), np.array([1.0]), None).safe is None


def test_a_base_is_commanded_with_a_twist_stamped_or_a_twist():
    stamped = base()
    assert stamped.msgtype == TWIST_STAMPED and stamped.safe_holds_still
    msg = stamped.fill(TwistStamped(), np.array([0.2, -1.5]))
    assert (msg.twist.linear.x, msg.twist.angular.z, msg.twist.linear.y) == (0.2, -1.5, 0.0)
    np.testing.assert_array_equal(stamped.vector(msg), [0.2, -1.5])
    plain = base(stamped=False)
    assert plain.msgtype == TWIST
    np.testing.assert_array_equal(plain.vector(plain.fill(Twist(), np.array([0.1, 0.5]))), [0.1, 0.5])


def test_a_base_moves_along_its_heading_and_turns():
    pose = np.array([1.0, 2.0, 0.0, 1.0])  # facing +y
    np.testing.assert_allclose(base().moved(pose, np.array([0.2, 0.0]), 0.5), [1.0, 2.1, 0.0, 1.0], atol=1e-12)
    turned = base().moved(pose, np.array([0.0, np.pi]), 0.5)  # a quarter turn on the spot, to -x
    np.testing.assert_allclose(turned, [1.0, 2.0, -1.0, 0.0], atol=1e-12)
    arc = base().moved(np.array([0.0, 0.0, 1.0, 0.0]), np.array([0.1, 1.0]), 0.1)
    assert arc[1] == pytest.approx(0.0005, rel=1e-2) and arc[0] == pytest.approx(0.01, rel=1e-2), "an arc to the left"


def test_clamp_cuts_to_the_bounds_per_command():
    command = attitude()
    np.testing.assert_array_equal(command.clamp(np.array([45.0, -10.0, -500.0, 70000.0])),
                                  [30.0, -10.0, -200.0, 60000.0])


# RobotSpec

def test_drone_spec_from_yaml(drone_params):
    spec = RobotSpec.from_params(drone_params)
    assert spec.joints == () and spec.dof == 0
    assert spec.command_mode == "rotors"
    assert spec.command.topic == "/rotor_controller/commands" and spec.command.msgtype == FLOAT_ARRAY
    assert spec.command.names == ROTOR_NAMES
    np.testing.assert_array_equal(spec.safe_command(None), np.zeros(4))
    assert spec.state_dim == 15
    assert spec.state.names[:3] == ["base.x", "base.y", "base.z"]
    assert spec.state.topics == {"/odom": "nav_msgs/msg/Odometry"}
    signature = spec.model_signature()
    assert signature["ignored_inputs"] == ["base.x", "base.y", "base.z"]
    assert signature["state"] == spec.state.names and signature["command_mode"] == "rotors"


def test_arm_safe_command_is_zero_velocity(arm):
    assert arm.command_mode == "velocity"
    safe = arm.safe_command(None)
    np.testing.assert_array_equal(safe, np.zeros(arm.dof))
    safe[:] = 1.0  # a copy, not the interface's own
    np.testing.assert_array_equal(arm.safe_command(None), np.zeros(arm.dof))
    assert arm.model_signature()["ignored_inputs"] == []


def test_position_mode_holds_the_measured_positions(arm_params):
    spec = RobotSpec.from_params({**arm_params, "command_mode": "position"})
    assert spec.command.safe is None
    assert spec.safe_command(None) is None
    lower, upper = spec.position_lower, spec.position_upper
    positions = (lower + upper) / 2 + 0.1
    velocities = np.linspace(-1, 1, spec.dof)
    state = np.concatenate([positions, velocities])
    np.testing.assert_allclose(spec.safe_command(state), positions)
    state[0] = upper[0] + 0.5  # measured past the limit: the command stays inside it
    assert spec.safe_command(state)[0] == upper[0]


def test_workspace_center_of_wrong_length_is_refused(arm_params):
    with pytest.raises(ValueError, match="workspace_center"):
        RobotSpec.from_params({**arm_params, "workspace_center": arm_params["workspace_center"][:-1]})


def test_position_commands_are_planned_inside_the_workspace_box_velocity_commands_in_their_bounds(arm_params):
    span = np.array(arm_params["workspace_span"])
    span[0] = 0.0  # a joint the robot is not to move
    position = RobotSpec.from_params({**arm_params, "command_mode": "position", "workspace_span": span.tolist()})
    low, high = position.planning_bounds
    np.testing.assert_allclose(low, position.workspace[0])
    np.testing.assert_allclose(high, position.workspace[1])
    assert low[0] == high[0] == arm_params["workspace_center"][0]
    velocity = RobotSpec.from_params(arm_params)
    for planned, bound in zip(velocity.planning_bounds, velocity.command_bounds):
        np.testing.assert_array_equal(planned, bound)
