"""The simulated Crazyflie: parameters from its URDF, rotor physics, both command interfaces with
their timeouts, crashes, body-frame readings, and the cascaded PID baseline."""

import math

import numpy as np
import pytest

from mbrl_ros.core.paths import find_shared_file
from mbrl_ros.core.sims.quadrotor import QuadrotorParams, QuadrotorSim, euler_zyx, rotation_matrix
from mbrl_ros.core.sims.quadrotor_pid import CascadedPID

URDF = find_shared_file("quadrotor.urdf", "urdf")
PARAMS = QuadrotorParams.from_urdf(URDF)
HOVER = np.full(4, PARAMS.hover_command)


@pytest.fixture
def make_sim():
    sims = []

    def make(**kwargs):
        sims.append(QuadrotorSim(URDF, **kwargs))
        return sims[-1]

    yield make
    for sim in sims:
        sim.close()


def run(sim, values, seconds):
    """Command `values` at every physics step for `seconds`; the first crash reason, if any."""
    for _ in range(round(seconds / sim.time_step)):
        sim.command(values)
        reason = sim.step()
        if reason:
            return reason
    return None


def degrees(sim):
    return np.degrees(euler_zyx(rotation_matrix(sim.base_readings().orientation)))


def world_velocity(sim):
    readings = sim.base_readings()
    return rotation_matrix(readings.orientation) @ readings.linear_velocity


def test_params_are_the_published_crazyflie_values():
    p = PARAMS
    assert (p.mass, p.arm, p.kf, p.km, p.thrust2weight) == (0.027, 0.0397, 3.16e-10, 7.94e-12, 2.25)
    np.testing.assert_allclose(p.inertia, [1.4e-5, 1.4e-5, 2.17e-5])
    np.testing.assert_allclose(np.linalg.norm(p.rotor_positions[:, :2], axis=1), p.arm, rtol=1e-3)
    np.testing.assert_array_equal(p.spin, [1, -1, 1, -1])
    assert p.hover_rpm == pytest.approx(14_500, rel=0.02)
    assert p.max_rpm == pytest.approx(p.hover_rpm * 1.5)
    assert 36_000 < p.hover_thrust < 43_000


def test_hover_command_holds_altitude(make_sim):
    sim = make_sim()
    assert run(sim, HOVER, 0.5) is None
    readings = sim.base_readings()
    assert abs(world_velocity(sim)[2]) / 0.5 < 0.01  # mean vertical acceleration, m/s^2
    assert abs(readings.position[2] - 1.0) < 1e-3
    np.testing.assert_allclose(sim.rotor_speeds, PARAMS.hover_rpm)


def test_rotor_imbalance_rolls_pitches_and_yaws_the_expected_way(make_sim):
    sim = make_sim()
    # rotors: 0 front right, 1 back right, 2 back left, 3 front left; 0 and 2 spin counter-clockwise
    run(sim, HOVER * [1.0, 1.0, 1.02, 1.02], 0.2)  # left side pushes harder: right side goes down
    assert degrees(sim)[0] > 2 and sim.base_readings().angular_velocity[0] > 0
    assert world_velocity(sim)[1] < 0  # so it slides to the right (-y)
    sim.reset()
    run(sim, HOVER * [1.02, 1.0, 1.0, 1.02], 0.2)  # front pushes harder: nose up
    assert degrees(sim)[1] < -2 and world_velocity(sim)[0] < 0
    sim.reset()
    run(sim, HOVER * [1.02, 0.98, 1.02, 0.98], 0.3)  # counter-clockwise rotors faster: body turns clockwise
    assert degrees(sim)[2] < -2 and sim.base_readings().angular_velocity[2] < 0
    assert np.all(np.abs(degrees(sim)[:2]) < 0.1)


def test_rotor_commands_are_clipped_and_bad_ones_rejected(make_sim):
    sim = make_sim()
    sim.command([1.5, -0.2, 0.5, 0.7])
    sim.step()
    expected = np.array([1.0, 0.0, 0.5, 0.7]) * PARAMS.max_rpm
    np.testing.assert_allclose(sim.rotor_speeds, expected)
    for bad in ([0.5, 0.5, 0.5], [0.5, np.nan, 0.5, 0.5], [np.inf, 0.5, 0.5, 0.5], np.ones((2, 4))):
        with pytest.raises(ValueError):
            sim.command(bad)
    sim.step()
    np.testing.assert_allclose(sim.rotor_speeds, expected)  # the last good command stays


def assert_reset(sim):
    readings = sim.base_readings()
    np.testing.assert_allclose(readings.position, sim.start_position)
    np.testing.assert_allclose(readings.orientation, [0, 0, 0, 1])
    np.testing.assert_allclose(readings.linear_velocity, 0, atol=1e-12)
    np.testing.assert_array_equal(sim.rotor_speeds, 0)


def test_crashes_reset_the_drone_and_say_why(make_sim):
    sim = make_sim()
    assert "tilted" in run(sim, [0.0, 0.0, 1.0, 1.0], 1.0)  # the left side alone: it flips
    assert_reset(sim)
    assert "hit the ground" in run(sim, [0.0] * 4, 1.0)  # motors off: it falls 1 m
    assert_reset(sim)
    assert "bounds" in run(sim, [1.0] * 4, 1.0)  # full power: out through the 2.5 m ceiling
    assert_reset(sim)


def test_a_gentle_landing_is_not_a_crash(make_sim):
    sim = make_sim()
    sim.reset(position=(0.0, 0.0, 0.3))
    descend = HOVER * math.sqrt((9.81 - 0.5) / 9.81)  # settles at 0.5 m/s^2, about 0.5 m/s at touch-down
    assert run(sim, descend, 2.0) is None
    readings = sim.base_readings()
    assert readings.position[2] < 0.02 and np.linalg.norm(readings.linear_velocity) < 0.01
    assert sim.client.getContactPoints(sim.body, sim.plane)


def test_velocities_are_reported_in_the_body_frame(make_sim):
    sim = make_sim()
    yawed = [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]  # 90 degrees counter-clockwise
    sim.client.resetBasePositionAndOrientation(sim.body, [0, 0, 1], yawed)
    sim.client.resetBaseVelocity(sim.body, [1.0, 0.0, 0.5], [0.3, 0.0, 0.2])
    readings = sim.base_readings()
    # body x points along world y, so world x is body -y
    np.testing.assert_allclose(readings.linear_velocity, [0.0, -1.0, 0.5], atol=1e-9)
    np.testing.assert_allclose(readings.angular_velocity, [0.0, -0.3, 0.2], atol=1e-9)
    assert sim.joint_readings() is None


def test_rotors_interface_stops_the_motors_without_commands(make_sim):
    sim = make_sim(rotor_timeout=0.5)
    sim.command(HOVER)
    sim.step(round(0.45 / sim.time_step))
    assert np.all(sim.rotor_speeds > 0)
    sim.step(round(0.1 / sim.time_step))
    np.testing.assert_array_equal(sim.rotor_speeds, 0)


def test_attitude_interface_tilts_then_levels_then_stops(make_sim):
    sim = make_sim(interface="attitude", bounds=((-20, -20, 0), (20, 20, 20)))
    assert run(sim, [10.0, 0.0, 0.0, PARAMS.hover_thrust], 0.6) is None
    assert degrees(sim)[0] == pytest.approx(10.0, abs=1.5)
    assert world_velocity(sim)[1] < -0.3  # legacy roll: positive right side down
    sim.step(round(1.2 / sim.time_step))  # no setpoint for 1.2 s: levelled out, thrust kept
    assert np.all(np.abs(degrees(sim)[:2]) < 1.0) and np.all(sim.rotor_speeds > 0.9 * PARAMS.hover_rpm)
    sim.step(round(0.7 / sim.time_step))  # 1.9 s: still flying
    assert np.all(sim.rotor_speeds > 0)
    sim.step(round(0.15 / sim.time_step))  # past 2 s: motors stopped
    np.testing.assert_array_equal(sim.rotor_speeds, 0)
    sim.reset()
    assert run(sim, [0.0, 10.0, 0.0, PARAMS.hover_thrust], 0.6) is None
    assert degrees(sim)[1] == pytest.approx(-10.0, abs=1.5) and world_velocity(sim)[0] < -0.3  # nose up


def fly(sim, pid, goal, seconds, rate=48.0):
    """Position errors (m) at each control tick flying to `goal` with commands held between ticks."""
    substeps = round(1.0 / (rate * sim.time_step))
    law = pid.rotor_command if sim.interface == "rotors" else pid.attitude_command
    errors = []
    for _ in range(round(seconds * rate)):
        readings = sim.base_readings()
        errors.append(np.linalg.norm(readings.position - goal))
        sim.command(law(readings, goal, dt=substeps * sim.time_step))
        assert sim.step(substeps) is None
    return np.array(errors)


@pytest.mark.parametrize("interface", ["rotors", "attitude"])
def test_pid_holds_and_reaches_a_goal(make_sim, interface):
    sim = make_sim(interface=interface)
    pid = CascadedPID(sim.params)
    hold = fly(sim, pid, np.array([0.0, 0.0, 1.0]), 5.0)
    assert np.sqrt(np.mean(hold**2)) < 0.005
    errors = fly(sim, pid, np.array([0.5, 0.0, 1.0]), 8.0)
    assert errors[0] > 0.45 and errors[-1] < 0.03
