"""Command rate limits: acceleration and jerk from a joint_limits YAML bound consecutive commands."""

import numpy as np
import pytest

from mbrl_ros.core.control.limits import CommandLimiter, RateLimits, load_rate_limits
from mbrl_ros.core.paths import find_shared_file

DT = 0.05


def test_a_velocity_command_changes_at_most_the_acceleration_limit_per_period():
    limiter = CommandLimiter(RateLimits(np.array([10.0, 2.0]), np.array([np.inf, np.inf])), DT)
    limiter.sent(np.zeros(2), safe=True)
    limited = limiter(np.array([1.5, -1.5]))
    np.testing.assert_allclose(limited, [0.5, -0.1])
    limiter.sent(limited)
    np.testing.assert_allclose(limiter(np.array([0.6, -0.1])), [0.6, -0.1])  # within the limits: unchanged


def test_jerk_bounds_the_change_of_the_change():
    limiter = CommandLimiter(RateLimits(np.array([np.inf]), np.array([40.0])), DT)  # 0.1 per period squared
    limiter.sent(np.zeros(1), safe=True)
    limiter.sent(np.array([0.5]))  # changing by +0.5 per period
    np.testing.assert_allclose(limiter(np.array([0.0])), [0.9])  # it cannot stop changing at once


def test_the_commands_after_a_safe_stop_ramp_from_it():
    limiter = CommandLimiter(RateLimits(np.array([10.0]), np.array([40.0])), DT)
    limiter.sent(np.array([0.5]))
    limiter.sent(np.array([0.0]), safe=True)  # a stop is never limited, and its jump is not carried on
    np.testing.assert_allclose(limiter(np.array([0.3])), [0.3])


def test_the_first_command_is_not_limited():
    limiter = CommandLimiter(RateLimits(np.array([1.0]), np.array([1.0])), DT)
    np.testing.assert_allclose(limiter(np.array([2.0])), [2.0])


def test_the_arm_config_reads_frankas_limits():
    joints = tuple(f"panda_joint{i}" for i in range(1, 8))
    velocity = load_rate_limits(find_shared_file("arm_joint_limits.yaml", "config"), joints, "velocity")
    np.testing.assert_allclose(velocity.max_change, [15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
    np.testing.assert_allclose(velocity.max_change_rate[:2], [7500.0, 3750.0])
    position = load_rate_limits(find_shared_file("arm_joint_limits.yaml", "config"), joints, "position")
    np.testing.assert_allclose(position.max_change[:2], [2.175, 2.175])


def test_a_joint_the_file_leaves_out_is_unlimited_and_bad_files_say_why(tmp_path):
    path = tmp_path / "limits.yaml"
    path.write_text("joint_limits:\n  a: {has_acceleration_limits: true, max_acceleration: 3.0}\n")
    limits = load_rate_limits(path, ("a", "b"), "velocity")
    assert limits.max_change.tolist() == [3.0, np.inf] and np.isinf(limits.max_change_rate).all()
    path.write_text("joint_limits:\n  a: {has_acceleration_limits: true, max_acceleration: -1.0}\n")
    with pytest.raises(ValueError, match="must be positive"):
        load_rate_limits(path, ("a",), "velocity")
    path.write_text("not: limits\n")
    with pytest.raises(ValueError, match="no `joint_limits`"):
        load_rate_limits(path, ("a",), "velocity")
    with pytest.raises(ValueError, match="not effort"):
        load_rate_limits(path, ("a",), "effort")
