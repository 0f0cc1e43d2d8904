"""State sources and layout: joints by name, continuous joints as an angle with its sine and cosine,
odometry as position, 6D rotation and body-frame twist, and the rotation helpers."""

import math

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from sensor_msgs.msg import JointState

from mbrl_ros.core.robots.joint_state import BadState
from mbrl_ros.core.robots.state import (
    JOINT_STATE,
    ODOMETRY,
    JointStateSource,
    OdometrySource,
    StateLayout,
    matrix_to_quaternion,
    quaternion_to_matrix,
    rotation_from_6d,
)


def joint_state(names, position, velocity):
    return JointState(name=list(names), position=[float(p) for p in position], velocity=[float(v) for v in velocity])


def odometry(position=(0.0, 0.0, 0.0), quaternion=(0.0, 0.0, 0.0, 1.0), linear=(0.0, 0.0, 0.0),
             angular=(0.0, 0.0, 0.0)) -> Odometry:
    msg = Odometry()
    p, q, v, w = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist.linear, msg.twist.twist.angular
    p.x, p.y, p.z = map(float, position)
    q.x, q.y, q.z, q.w = map(float, quaternion)
    v.x, v.y, v.z = map(float, linear)
    w.x, w.y, w.z = map(float, angular)
    return msg


def random_quaternions(n, seed=0):
    q = np.random.default_rng(seed).standard_normal((n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def assert_rotation(r):
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-9)


# JointStateSource

def test_joints_read_by_name_in_any_order_ignoring_extras():
    source = JointStateSource("/joint_states", ["a", "b"])
    msg = joint_state(["gripper", "b", "a"], [9.0, 2.0, 1.0], [90.0, 20.0, 10.0])
    np.testing.assert_array_equal(source.features(msg), [1.0, 2.0, 10.0, 20.0])
    assert source.names == ["a.position", "b.position", "a.velocity", "b.velocity"]


def test_continuous_joint_becomes_its_angle_with_sine_and_cosine():
    source = JointStateSource("/joint_states", ["a", "valve"], continuous=["valve"])
    assert source.names == ["a.position", "valve.angle", "valve.sin", "valve.cos", "a.velocity", "valve.velocity"]
    assert source.angles == [("valve.angle", "valve.sin", "valve.cos")]
    assert source.invariant == ("valve.angle",), "the model sees the sine and cosine, not the angle"
    features = source.features(joint_state(["valve", "a"], [0.3, 1.5], [2.0, -1.0]))
    np.testing.assert_allclose(features, [1.5, 0.3, math.sin(0.3), math.cos(0.3), -1.0, 2.0])


def test_an_encoder_that_wraps_at_pi_gives_a_continuous_angle():
    source = JointStateSource("/joint_states", ["valve"], continuous=["valve"])
    angles = [source.features(joint_state(["valve"], [a], [1.0]))[0] for a in (3.0, 3.1, -3.1, -3.0, 3.1)]
    np.testing.assert_allclose(angles, [3.0, 3.1, 2 * math.pi - 3.1, 2 * math.pi - 3.0, 3.1], atol=1e-12)


def test_continuous_joint_does_not_see_the_wrap():
    source = JointStateSource("/joint_states", ["valve"], continuous=["valve"])
    once = source.features(joint_state(["valve"], [0.3], [1.0]))
    wrapped = source.features(joint_state(["valve"], [2 * math.pi + 0.3], [1.0]))
    np.testing.assert_allclose(wrapped, once, atol=1e-12)
    assert not np.allclose(source.features(joint_state(["valve"], [0.4], [1.0])), once)


def test_unknown_continuous_joint_is_refused():
    with pytest.raises(ValueError, match="valve"):
        JointStateSource("/joint_states", ["a"], continuous=["valve"])


# OdometrySource

def test_yaw_of_90_degrees_turns_body_x_to_world_y():
    s = math.sqrt(0.5)
    msg = odometry(position=(1.0, -2.0, 3.0), quaternion=(0.0, 0.0, s, s), linear=(0.4, 0.5, 0.6),
                   angular=(0.1, 0.2, 0.3))
    features = dict(zip(OdometrySource.names, OdometrySource("/odom").features(msg)))
    assert len(features) == 15
    body_x = [features[f"base.rot_{r}x"] for r in "xyz"]
    body_y = [features[f"base.rot_{r}y"] for r in "xyz"]
    np.testing.assert_allclose(body_x, [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(body_y, [-1.0, 0.0, 0.0], atol=1e-12)
    assert [features[f"base.{a}"] for a in "xyz"] == [1.0, -2.0, 3.0]
    # the twist is in the body frame already (REP 105): copied, not rotated
    assert [features[f"base.v{a}"] for a in "xyz"] == [0.4, 0.5, 0.6]
    assert [features[f"base.w{a}"] for a in "xyz"] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("quaternion", [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 2.0), (1.0, 1.0, 1.0, 1.0)])
def test_non_unit_quaternion_is_refused(quaternion):
    with pytest.raises(BadState, match="unit quaternion"):
        OdometrySource("/odom").features(odometry(quaternion=quaternion))


@pytest.mark.parametrize("field", ["position", "quaternion", "linear", "angular"])
def test_nan_in_odometry_is_refused(field):
    values = {"position": [0.0, 0.0, 1.0], "quaternion": [0.0, 0.0, 0.0, 1.0], "linear": [0.0] * 3,
              "angular": [0.0] * 3}
    values[field][1] = math.nan
    with pytest.raises(BadState):
        OdometrySource("/odom").features(odometry(**values))


def test_from_pose_equals_features_of_the_message():
    q = random_quaternions(1, seed=3)[0]
    args = ([0.1, 0.2, 0.3], q, [1.0, -1.0, 0.5], [0.3, 0.0, -0.2])
    np.testing.assert_array_equal(OdometrySource.from_pose(*args), OdometrySource("/odom").features(odometry(*args)))


def test_features_hold_the_rotation_matrix_columns():
    q = random_quaternions(1, seed=4)[0]
    features = OdometrySource.from_pose([0, 0, 0], q, [0, 0, 0], [0, 0, 0])
    r = quaternion_to_matrix(q)
    np.testing.assert_allclose(features[3:9], np.concatenate([r[:, 0], r[:, 1]]))


# StateLayout

def layout():
    return StateLayout([JointStateSource("/joint_states", ["a", "valve"], continuous=["valve"]),
                        OdometrySource("/odom")])


def test_columns_find_features_by_name_in_the_order_asked():
    state = layout()
    assert state.dim == 6 + 15
    assert state.columns("base.x", "a.position", "valve.cos") == [6, 0, 3]


def test_columns_name_a_missing_feature():
    with pytest.raises(KeyError, match="b.position"):
        layout().columns("a.position", "b.position")


def test_combine_puts_sources_in_their_order():
    state = layout()
    joints = np.arange(6.0)
    base = 10 + np.arange(15.0)
    combined = state.combine({"/odom": base, "/joint_states": joints})
    np.testing.assert_array_equal(combined, np.concatenate([joints, base]))
    np.testing.assert_array_equal(state.part(combined, "/odom"), base)
    reversed_order = StateLayout([OdometrySource("/odom"), JointStateSource("/joint_states", ["a"])])
    np.testing.assert_array_equal(reversed_order.combine({"/joint_states": np.zeros(2), "/odom": base})[:15], base)


def test_two_sources_on_one_topic_are_refused():
    with pytest.raises(ValueError, match="same topic"):
        StateLayout([JointStateSource("/state", ["a"]), OdometrySource("/state")])


def test_a_layout_needs_a_source():
    with pytest.raises(ValueError):
        StateLayout([])


def test_topic_for_a_message_type():
    state = layout()
    assert state.topic_for(ODOMETRY, "/default") == "/odom"
    assert state.topic_for(JOINT_STATE, "/default") == "/joint_states"
    assert StateLayout([OdometrySource("/odom")]).topic_for(JOINT_STATE, "/default") == "/default"
    assert state.topics == {"/joint_states": JOINT_STATE, "/odom": ODOMETRY}


# rotations

def test_quaternion_matrix_round_trip():
    for q in random_quaternions(200, seed=1):
        r = quaternion_to_matrix(q)
        assert_rotation(r)
        back = matrix_to_quaternion(r)
        assert back[3] >= 0
        assert np.linalg.norm(back) == pytest.approx(1.0)
        np.testing.assert_allclose(quaternion_to_matrix(back), r, atol=1e-9)
        np.testing.assert_allclose(back, q if q[3] >= 0 else -q, atol=1e-9)  # the same, up to sign


def test_quaternion_of_a_half_turn_about_a_skew_axis():
    axis = np.array([1.0, -1.0, 0.0]) / math.sqrt(2)
    r = quaternion_to_matrix(np.append(axis, 0.0))  # 180 degrees about the axis
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(r)), r, atol=1e-9)


def test_rotation_from_perturbed_6d_is_orthonormal_and_right_handed():
    rng = np.random.default_rng(2)
    for q in random_quaternions(50, seed=5):
        r = quaternion_to_matrix(q)
        columns = np.concatenate([r[:, 0], r[:, 1]]) + rng.normal(0, 0.02, 6)
        rebuilt = rotation_from_6d(columns)
        assert_rotation(rebuilt)
        np.testing.assert_allclose(rebuilt[:, 0], columns[:3] / np.linalg.norm(columns[:3]))  # x is kept
        assert np.abs(rebuilt - r).max() < 0.15  # near the rotation it was perturbed from


def stamped(names, position, velocity, seconds):
    msg = joint_state(names, position, velocity)
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(seconds), int(round((seconds % 1) * 1e9))
    return msg


def test_a_nan_velocity_is_estimated_from_positions_when_asked():
    # joint_state_broadcaster fills an interface the hardware lacks with NaN.
    source = JointStateSource("/joint_states", ["a", "b"], velocity_from_positions=True)
    with pytest.raises(BadState, match="waiting for a second message"):
        source.features(stamped(["b", "a"], [0.0, 1.0], [0.5, math.nan], 10.0))
    features = source.features(stamped(["b", "a"], [0.1, 1.02], [0.5, math.nan], 10.01))
    np.testing.assert_allclose(features, [1.02, 0.1, 2.0, 0.5])  # a estimated, b as reported
    assert source.estimated == {"a"}


def test_a_velocity_field_left_empty_is_estimated_too():
    source = JointStateSource("/joint_states", ["a"], velocity_from_positions=True)
    with pytest.raises(BadState):
        source.features(stamped(["a"], [0.0], [], 1.0))
    np.testing.assert_allclose(source.features(stamped(["a"], [-0.05], [], 1.1)), [-0.05, -0.5])


def test_estimation_restarts_after_a_gap_or_a_stamp_that_goes_back():
    source = JointStateSource("/joint_states", ["a"], velocity_from_positions=True, max_gap=0.5)
    with pytest.raises(BadState):
        source.features(stamped(["a"], [0.0], [math.nan], 1.0))
    with pytest.raises(BadState):
        source.features(stamped(["a"], [1.0], [math.nan], 2.0))  # 1 s later: too long ago to difference
    with pytest.raises(BadState):
        source.features(stamped(["a"], [1.0], [math.nan], 1.9))  # back in time


def test_without_estimation_a_nan_velocity_is_still_refused():
    source = JointStateSource("/joint_states", ["a"])
    with pytest.raises(BadState, match="non-finite"):
        source.features(stamped(["a"], [0.0], [math.nan], 1.0))
    assert source.estimated == set()


def test_a_nan_position_is_refused_even_when_velocities_are_estimated():
    source = JointStateSource("/joint_states", ["a"], velocity_from_positions=True)
    with pytest.raises(BadState, match="non-finite"):
        source.features(stamped(["a"], [math.nan], [0.0], 1.0))
