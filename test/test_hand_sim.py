"""The Allegro-class hand and its valve in PyBullet: the URDFs, position control, valve friction,
turning the valve with a finger, the readings' layout, reset and the camera."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

from mbrl_ros.core.sims.hand import FINGERTIPS, HAND_JOINTS, VALVE_JOINT, HandValveSim

try:
    from mbrl_ros.core.robots.kinematics import ForwardKinematics
    from mbrl_ros.core.robots.urdf import load_chain
except ImportError:  # the older flat layout
    from mbrl_ros.core.kinematics import ForwardKinematics
    from mbrl_ros.core.urdf import load_chain

URDF = Path(__file__).resolve().parents[1] / "urdf"
HAND, VALVE = URDF / "hand.urdf", URDF / "valve.urdf"
STEPS_PER_COMMAND = 24  # 10 Hz commands at the 240 Hz physics rate
# Middle finger lowered so that its tip is in the spokes' plane, 0.035 m from the valve's axis.
MIDDLE_DOWN = (0.0, 0.808, 0.31, 0.311)


@pytest.fixture(scope="module")
def sim():
    world = HandValveSim(HAND, VALVE, list(HAND_JOINTS), seed=3)
    yield world
    world.close()


def test_hand_urdf_has_the_allegro_layout():
    root = ET.parse(HAND).getroot()
    joints = {j.get("name"): j for j in root.iter("joint")}
    actuated = [name for name, j in joints.items() if j.get("type") != "fixed"]
    assert actuated == list(HAND_JOINTS)
    for name in actuated:
        j = joints[name]
        limit = j.find("limit")
        assert j.get("type") == "revolute"
        assert float(limit.get("lower")) < float(limit.get("upper"))
        assert float(limit.get("effort")) > 0 and float(limit.get("velocity")) > 0
    # one abduction joint about the finger's axis, then three flexion joints, for index, middle, ring
    for first in (0, 4, 8):
        assert joints[f"joint_{first}"].find("axis").get("xyz") == "0 0 1"
        assert [joints[f"joint_{first + k}"].find("axis").get("xyz") for k in (1, 2, 3)] == ["0 1 0"] * 3
    assert joints["joint_12"].find("axis").get("xyz") == "-1 0 0"  # the thumb has its own axes
    for i, tip in enumerate(FINGERTIPS):
        chain = load_chain(HAND, tip)
        assert [j.name for j in chain.actuated] == list(HAND_JOINTS[4 * i: 4 * i + 4])
        assert chain.joints[-1].type == "fixed" and chain.base_link == "palm"
        assert root.find(f"link[@name='{tip}']/collision/geometry/sphere") is not None


def test_valve_urdf_is_a_continuous_vertical_joint():
    joint = ET.parse(VALVE).getroot().find(f"joint[@name='{VALVE_JOINT}']")
    assert joint.get("type") == "continuous"
    assert joint.find("axis").get("xyz") == "0 0 1"


def test_start_pose_has_the_fingertips_just_above_the_spokes(sim):
    sim.reset(valve_angle=0.0)
    sim.step(120)
    tips = sim.fingertip_positions()
    axis = np.array(sim.client.getLinkState(sim.valve, sim.valve_index)[4])
    spoke_top = axis[2] + 0.016  # spokes 0.012 high, centred 0.01 above the joint
    radius = np.hypot(tips[:, 0] - axis[0], tips[:, 1] - axis[1])
    assert np.all(radius < 0.05)  # over the spokes, which reach 0.05 m
    clearance = tips[:, 2] - 0.012 - spoke_top  # tip spheres' undersides above the spokes' tops
    assert np.all((clearance > 0.003) & (clearance < 0.03)), clearance
    assert not sim.client.getContactPoints(sim.hand, sim.valve)
    assert abs(sim.valve_angle()) < 1e-6


def test_position_commands_are_tracked_in_command_order():
    joints = list(reversed(HAND_JOINTS))
    world = HandValveSim(HAND, VALVE, joints)
    try:
        world.reset(valve_angle=0.5)
        # every joint 0.3 rad towards extension (fingers lift off the valve), abduction sideways
        target = world.home - 0.3
        target[[joints.index(j) for j in ("joint_0", "joint_4", "joint_8")]] += [0.1, 0.5, 0.3]
        target = np.clip(target, world.lower, world.upper)
        world.command(target)
        world.step(120)  # 0.5 s
        readings = world.joint_readings()
        assert readings.names == joints + [VALVE_JOINT]
        error = np.degrees(np.abs(readings.position[:16] - target))
        assert error.max() < 3.0, error
        assert np.abs(world.home - target).max() > 0.25  # it did have to move
        # out-of-range targets are clipped to the URDF limits, not rejected
        world.command(np.full(16, 10.0))
        assert np.allclose(world.target, world.upper)
    finally:
        world.close()


@pytest.mark.parametrize("bad", [np.zeros(15), np.zeros(17), np.r_[np.zeros(15), np.nan], np.r_[np.inf, np.zeros(15)]])
def test_bad_commands_raise_and_keep_the_previous_one(sim, bad):
    sim.reset(valve_angle=0.0)
    previous = sim.home + 0.05
    sim.command(previous)
    with pytest.raises(ValueError):
        sim.command(bad)
    assert np.allclose(sim.target, np.clip(previous, sim.lower, sim.upper))


def test_valve_keeps_its_angle_unless_pushed_harder_than_its_friction(sim):
    sim.reset(valve_angle=1.0)
    sim.step(480)  # 2 s untouched
    assert abs(sim.valve_angle() - 1.0) < 1e-3
    # a torque below the joint's friction (0.03 N m) does not turn it, one above does
    for torque, moves in ((0.5 * sim.valve_friction, False), (3.0 * sim.valve_friction, True)):
        sim.reset(valve_angle=1.0)
        for _ in range(120):
            sim.client.applyExternalTorque(sim.valve, sim.valve_index, [0, 0, torque], sim.client.WORLD_FRAME)
            sim.step()
        assert (abs(sim.valve_angle() - 1.0) > 0.05) == moves, (torque, sim.valve_angle())
        sim.step(240)  # let go: friction stops it where it is
        settled = sim.valve_angle()
        sim.step(240)
        assert abs(sim.valve_angle() - settled) < 1e-3


def sweep_middle_finger(world: HandValveSim, valve_angle: float, direction: float) -> list[float]:
    """Lower the middle finger into a gap between spokes, then swing it sideways (joint_4) at 10 Hz.
    Returns the valve angle read after every command."""
    world.reset(valve_angle=valve_angle)
    middle = [world.joints.index(f"joint_{k}") for k in (4, 5, 6, 7)]
    q = world.home.copy()
    q[middle] = MIDDLE_DOWN
    angles = []
    for k in range(5):  # down in 0.5 s
        world.command(world.home + (q - world.home) * (k + 1) / 5)
        world.step(STEPS_PER_COMMAND)
        angles.append(world.joint_readings().position[-1])
    for k in range(10):  # sideways in 1 s
        q[middle[0]] = direction * 0.47 * (k + 1) / 10
        world.command(q)
        world.step(STEPS_PER_COMMAND)
        angles.append(world.joint_readings().position[-1])
    return angles


def test_a_finger_sweeping_a_spoke_turns_the_valve_across_pi(sim):
    # valve at 2.694 rad: one spoke at 0.6 rad (mod 120 degrees), just beside the lowered fingertip
    angles = sweep_middle_finger(sim, 2.694, +1.0)
    assert abs(angles[4] - 2.694) < 0.05  # lowering the finger does not turn it
    assert angles[-1] - 2.694 > 0.4  # the sweep does, clearly
    assert angles[-1] > math.pi  # and the reading goes on past pi instead of wrapping to -pi
    assert np.abs(np.diff(angles)).max() < 0.5
    stopped = sim.valve_angle()
    sim.step(240)  # the finger stopped: the valve stays
    assert abs(sim.valve_angle() - stopped) < 0.01


def test_sweeping_the_other_way_turns_it_the_other_way(sim):
    angles = sweep_middle_finger(sim, -2.694, -1.0)
    assert angles[-1] + 2.694 < -0.4
    assert angles[-1] < -math.pi


def test_readings_layout_and_protocol(sim):
    sim.reset(valve_angle=0.2)
    assert sim.step(10) is None
    assert sim.base_readings() is None
    readings = sim.joint_readings()
    assert len(readings.names) == 17 and readings.names[-1] == VALVE_JOINT
    assert readings.names[:16] == list(HAND_JOINTS)
    for values in (readings.position, readings.velocity, readings.effort):
        assert values.shape == (17,) and np.all(np.isfinite(values))
    assert sim.time_step == pytest.approx(1 / 240) and sim.sim_time > 0


def test_reset_puts_the_valve_at_the_requested_angle_at_rest(sim):
    for angle in (-2.5, 0.0, 3.5, 7.0):  # 3.5 and 7.0 stay unwrapped, as a multi-turn encoder reads
        sim.command(sim.home - 0.2)
        sim.step(30)
        sim.reset(valve_angle=angle)
        readings = sim.joint_readings()
        assert readings.position[-1] == pytest.approx(angle, abs=1e-9)
        assert np.allclose(readings.position[:16], sim.home) and np.allclose(readings.velocity, 0.0)
        assert np.allclose(sim.target, sim.home)
        sim.step(48)
        assert sim.valve_angle() == pytest.approx(angle, abs=1e-3)
    # no angle: random from the seeded generator, the same for the same seed
    a = HandValveSim(HAND, VALVE, list(HAND_JOINTS), seed=7)
    b = HandValveSim(HAND, VALVE, list(HAND_JOINTS), seed=7)
    try:
        first = [a.valve_angle()] + [a.reset() or a.valve_angle() for _ in range(3)]
        second = [b.valve_angle()] + [b.reset() or b.valve_angle() for _ in range(3)]
        assert first == second and len(set(first)) == 4
        assert all(-math.pi <= x < math.pi for x in first)
    finally:
        a.close()
        b.close()


def test_fingertip_positions_match_the_package_kinematics(sim):
    sim.reset(valve_angle=0.0)
    q = sim.joint_readings().position[:16]
    rotation = np.array(sim.client.getMatrixFromQuaternion(sim.hand_orientation.tolist())).reshape(3, 3)
    for i, tip in enumerate(FINGERTIPS):
        joints = list(HAND_JOINTS[4 * i: 4 * i + 4])
        fk = ForwardKinematics(load_chain(HAND, tip), joints)
        local = fk.position(torch.tensor(q[4 * i: 4 * i + 4][None], dtype=torch.float64))[0].numpy()
        assert np.allclose(sim.hand_position + rotation @ local, sim.fingertip_positions()[i], atol=1e-5)


def test_fk_benchmark_checks_agree(sim):
    """benchmarks/hand_fk.py's correctness check, with the package's code only (fast)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import hand_fk

    errors = hand_fk.check({"a_package": hand_fk.package_fk(HAND)}, sim, n=20, n_pybullet=3)
    assert errors["a_vs_pybullet_mm"] < 0.01
    assert hand_fk.median_ms(hand_fk.package_fk(HAND), hand_fk.random_configurations_from_limits(HAND, 50),
                             min_runs=2, budget=0.01) > 0


def test_render_shows_the_hand_and_the_valve(sim):
    sim.reset(valve_angle=0.0)
    image = sim.render(160, 120)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    r, g, b = (image[..., k].astype(int) for k in range(3))
    valve_red = (r > 120) & (g < 80) & (b < 80)
    hand_dark = (r < 80) & (g < 80) & (b < 80)
    assert valve_red.sum() > 50 and hand_dark.sum() > 500
