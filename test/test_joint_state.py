import math

import numpy as np
import pytest

from mbrl_ros.core.robots.joint_state import BadJointState, state_vector

JOINTS = ["j1", "j2"]


def test_reordered_names_and_extra_joints():
    state = state_vector(["gripper", "j2", "j1"], [9.0, 2.0, 1.0], [9.0, 20.0, 10.0], JOINTS)
    np.testing.assert_array_equal(state, [1.0, 2.0, 10.0, 20.0])


@pytest.mark.parametrize("names, position, velocity, reason", [
    (["j1"], [1.0], [1.0], "missing joints"),
    (["j1", "j2"], [1.0, math.nan], [0.0, 0.0], "non-finite"),
    (["j1", "j2"], [1.0, 2.0], [0.0, math.inf], "non-finite"),
    (["j1", "j2"], [1.0], [0.0, 0.0], "1 position values for 2 names"),
    (["j1", "j2"], [1.0, 2.0], [0.0, 0.0, 0.0], "3 velocity values"),
    (["j1", "j2"], [1.0, 2.0], [], "no velocity"),
    (["j1", "j1"], [1.0, 2.0], [0.0, 0.0], "twice"),
])
def test_bad_joint_states_say_why(names, position, velocity, reason):
    with pytest.raises(BadJointState, match=reason):
        state_vector(names, position, velocity, JOINTS)
