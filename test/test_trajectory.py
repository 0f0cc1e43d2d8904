"""Commands as short joint trajectories that end at rest."""

import numpy as np
import pytest

from mbrl_ros.core.control.trajectory import follow, stop_at

DT = 0.05


def test_velocity_commands_are_integrated_into_points_and_the_last_is_at_rest():
    start = np.array([0.0, 1.0])
    commands = np.array([[1.0, 0.0], [1.0, -2.0], [0.5, 0.0]])
    trajectory = follow("velocity", start, commands, DT)
    np.testing.assert_allclose(trajectory.times, [0.05, 0.10, 0.15])
    np.testing.assert_allclose(trajectory.positions, [[0.05, 1.0], [0.10, 0.9], [0.125, 0.9]])
    np.testing.assert_allclose(trajectory.velocities, [[1.0, 0.0], [1.0, -2.0], [0.0, 0.0]])
    assert commands[-1, 0] == 0.5, "the commands given are not changed"


def test_position_commands_are_the_points_with_their_velocities():
    trajectory = follow("position", np.zeros(1), np.array([[0.1], [0.3]]), DT)
    np.testing.assert_allclose(trajectory.positions, [[0.1], [0.3]])
    np.testing.assert_allclose(trajectory.velocities, [[2.0], [0.0]])


def test_hold_stops_where_the_joints_are():
    trajectory = stop_at(np.array([0.2, -0.4]), DT)
    np.testing.assert_allclose(trajectory.positions, [[0.2, -0.4]])
    np.testing.assert_allclose(trajectory.velocities, [[0.0, 0.0]])
    np.testing.assert_allclose(trajectory.times, [DT])


def test_only_joint_commands_make_trajectories():
    with pytest.raises(ValueError, match="not rotors"):
        follow("rotors", np.zeros(4), np.zeros((1, 4)), DT)
