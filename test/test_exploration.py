import collections

import numpy as np
import pytest

from mbrl_ros.core.control.exploration import WaypointExplorer, make_explorer
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.robots.state import OdometrySource
from mbrl_ros.core.sims import make_world
from mbrl_ros.core.sims.fixed_base import RobotSim

CONTROL_DT, PHYSICS_DT = 0.02, 1 / 240
TAKEOFF_SECONDS = 3.0  # the drone starts on the ground, below the pilot's box


def test_exploration_covers_the_box_smoothly_within_command_bounds(arm, arm_params):
    box = arm.workspace
    sim = RobotSim(arm, initial_positions=np.array(arm_params["workspace_center"]))
    explorer = WaypointExplorer(arm, {}, dt=0.05, rng=np.random.default_rng(0))
    low, high = arm.command_bounds
    positions, commands = [], []
    for _ in range(600):  # 30 s at 20 Hz
        command = explorer(sim.state())
        sim.command(command)
        sim.step(12)
        commands.append(command)
        positions.append(sim.state()[: arm.dof])
    positions, commands = np.array(positions), np.array(commands)
    sim.close()
    assert np.all(commands >= low) and np.all(commands <= high)
    width = box[1] - box[0]
    assert np.all(positions.min(0) > box[0] - 0.25 * width) and np.all(positions.max(0) < box[1] + 0.25 * width)
    assert np.all(positions.max(0) - positions.min(0) > 0.5 * width), "visits most of the box on every joint"
    lag_one = np.mean([np.corrcoef(commands[:-1, j], commands[1:, j])[0, 1] for j in range(arm.dof)])
    assert lag_one > 0.7, f"smooth: consecutive commands are correlated (white noise: 0), got {lag_one:.2f}"


@pytest.fixture(scope="module")
def drone_params():
    return node_parameters(robot_config("drone"), "controller")


def fly(params, seed, seconds=60.0, state_delay=0):
    """The pilot flies the simulated drone, seeing each state `state_delay` control periods late (as
    over ROS on a busy machine); the crash reasons, positions (T, 3) and commands (T, 4)."""
    spec = RobotSpec.from_params(params)
    world = make_world("quadrotor", spec, node_parameters(robot_config("drone"), "sim"), PHYSICS_DT)
    explorer = make_explorer("pilot", spec, params, CONTROL_DT, np.random.default_rng(seed))
    substeps = round(CONTROL_DT / PHYSICS_DT)
    crashes, positions, commands = [], [], []
    seen = collections.deque(maxlen=state_delay + 1)
    try:
        for _ in range(round(seconds / CONTROL_DT)):
            r = world.base_readings()
            seen.append(OdometrySource.from_pose(r.position, r.orientation, r.linear_velocity, r.angular_velocity))
            command = explorer(seen[0])
            world.command(command)
            reason = world.step(substeps)
            if reason:
                crashes.append(reason)
            positions.append(r.position)
            commands.append(command)
    finally:
        world.close()
    return crashes, np.array(positions), np.array(commands)


def assert_pilot_flight(params, crashes, positions, commands, spare=0.8):
    """No crash, and at least `spare` metres inside the sim's crash bounds all along: its noise makes
    the pilot overshoot its waypoint box, never near the edge of the world."""
    assert crashes == []
    sim = node_parameters(robot_config("drone"), "sim")
    airborne = positions[round(TAKEOFF_SECONDS / CONTROL_DT):]
    room = np.minimum(airborne - sim["bounds_low"], np.array(sim["bounds_high"]) - airborne).min(0)
    assert np.all(room[:2] > spare) and room[2] > 0.3, f"came within {room.round(2)} m of the crash bounds"
    center, span = np.array(params["pilot_center"]), np.array(params["pilot_span"])
    assert np.all(np.abs(airborne.mean(0) - center) < span), "flies around the box's centre"
    assert np.all(np.ptp(airborne, axis=0) > 0.3), "explores along x, y and z"
    assert commands.min() >= 0.0 and commands.max() <= 1.0
    assert np.all(commands.std(0) > 0.02), "noisy enough to vary"


def lag_one(commands: np.ndarray) -> float:
    """The smallest correlation of consecutive commands over the rotors."""
    return min(np.corrcoef(commands[:-1, j], commands[1:, j])[0, 1] for j in range(commands.shape[1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pilot_explores_safely_with_the_configured_noise(drone_params, seed):
    flight = fly(drone_params, seed)
    assert_pilot_flight(drone_params, *flight)
    white = fly({**drone_params, "pilot_smoothing": 0.0}, seed)[2]
    assert lag_one(flight[2]) > lag_one(white) + 0.2, "smooth noise: smoother commands than white noise gives"


def test_pilot_flies_safely_when_it_sees_the_state_a_control_period_late(drone_params):
    """Over ROS the state a command is computed from is some milliseconds old. The pilot's attitude
    loop keeps flying with a whole period (20 ms) of extra delay. With two it crashes within seconds:
    the limit of a 50 Hz attitude loop over ROS, where a Crazyflie closes it onboard at 500 Hz."""
    assert_pilot_flight(drone_params, *fly(drone_params, seed=0, state_delay=1))
