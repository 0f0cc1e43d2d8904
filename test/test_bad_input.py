"""Bad input over real topics: each node drops it with a warning, reacts safely, and stays alive."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from geometry_msgs.msg import PoseStamped
from probe import COMMAND_TOPIC, Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool

from mbrl_ros.core.paths import find_shared_file, robot_config
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import LATCHED_QOS, CheckedNode

JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def joint_state(names=JOINTS, position=HOME, velocity=(0.0,) * 7, effort=()):
    return JointState(name=list(names), position=list(position), velocity=list(velocity), effort=list(effort))


BAD_STATES = {
    "missing joint": joint_state(JOINTS[:6], HOME[:6], [0.0] * 6),
    "NaN position": joint_state(position=HOME[:3] + [math.nan] + HOME[4:]),
    "infinite velocity": joint_state(velocity=[0.0] * 6 + [math.inf]),
    "short position": joint_state(position=HOME[:5]),
    "long velocity": joint_state(velocity=[0.0] * 9),
}


@pytest.fixture
def controller_alone(ros, tmp_path):
    """The controller with no sim: the test plays the robot."""
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models")}
    with Stack(robot_config("arm"), overrides, nodes=("controller",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("robot_stand_in")
        state_pub = probe.create_publisher(JointState, "/joint_states", 10)
        # The probe subscribes to /joint_states itself: wait for a second subscriber, the controller's,
        # and for its commands (safe ones, while it has no state).
        probe.spin_until(lambda: state_pub.get_subscription_count() > 1 and probe.commands, 20, "the controller",
                         stack)
        yield stack, probe, state_pub
        probe.destroy_node()


def publish_for(probe, publisher, message, seconds, rate=50.0):
    for _ in range(int(seconds * rate)):
        publisher.publish(message)
        probe.spin_for(1.0 / rate)


@pytest.mark.timeout(120)
def test_controller_drops_bad_states_and_sends_the_safe_command(controller_alone):
    stack, probe, state_pub = controller_alone
    # Valid, with joints reordered and a gripper joint added: the controller explores (moves).
    order = [6, 2, 0, 1, 5, 4, 3]
    good = joint_state([JOINTS[i] for i in order] + ["gripper"], [HOME[i] for i in order] + [0.04], [0.0] * 8)
    publish_for(probe, state_pub, good, 1.5)
    moving = probe.commands[-10:]
    assert len(moving) == 10 and np.abs([c for _, c in moving]).max() > 0.01, "valid state: exploring"

    for reason, bad in BAD_STATES.items():
        mark = len(probe.commands)
        publish_for(probe, state_pub, bad, 0.8)
        after = [c for _, c in probe.commands[mark:]]
        assert after, f"{reason}: the controller went silent"
        assert np.allclose(after[-5:], 0.0), f"{reason}: expected the safe command, got {after[-1]}"
        assert stack.dead() == {}, f"{reason}: {stack.dead()}"
    probe.spin_until(lambda: int(probe.diagnostics.get("mbrl_ros: controller", {}).get("rejected_states", 0)) > 50,
                     5, "rejections in diagnostics")

    # Stale: no state at all for longer than state_timeout gives the safe command too.
    publish_for(probe, state_pub, good, 1.0)
    mark = len(probe.commands)
    probe.spin_for(1.0)
    assert np.allclose([c for _, c in probe.commands[mark:]][-5:], 0.0)
    assert stack.dead() == {}


@pytest.mark.timeout(120)
def test_nan_velocities_are_estimated_from_positions_when_configured(ros, tmp_path):
    # What joint_state_broadcaster sends for a velocity interface the hardware lacks: NaN.
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models"),
                 "velocity_from_positions": True}
    with Stack(robot_config("arm"), overrides, nodes=("controller",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("robot_stand_in")
        state_pub = probe.create_publisher(JointState, "/joint_states", 10)
        probe.spin_until(lambda: state_pub.get_subscription_count() > 1 and probe.commands, 20, "the controller",
                         stack)
        for step in range(75):
            msg = joint_state(position=[q + 0.001 * step for q in HOME], velocity=[math.nan] * 7)
            msg.header.stamp = probe.get_clock().now().to_msg()
            state_pub.publish(msg)
            probe.spin_for(0.02)
        moving = [c for _, c in probe.commands[-10:]]
        assert np.abs(moving).max() > 0.01, "the controller explores instead of refusing every message"
        probe.spin_until(lambda: "mbrl_ros: controller" in probe.diagnostics, 3, "the controller's diagnostics")
        assert int(probe.diagnostics["mbrl_ros: controller"]["rejected_states"]) <= 1, "only the first message"
        assert stack.dead() == {}
        probe.destroy_node()
    assert "estimating it from positions" in (tmp_path / "logs" / "controller.log").read_text()


@pytest.mark.timeout(120)
def test_controller_survives_bad_goals_and_bad_checkpoints(controller_alone, tmp_path):
    stack, probe, state_pub = controller_alone
    goal_pub = probe.create_publisher(PoseStamped, "/mbrl/goal", 10)
    model_pub = probe.create_publisher(String, "/mbrl/model", LATCHED_QOS)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a checkpoint")
    bad_goal = PoseStamped()
    bad_goal.pose.position.x = math.nan
    foreign_goal = PoseStamped()
    foreign_goal.header.frame_id = "some_other_frame"
    probe.spin_for(1.0)
    for message, publisher in ((bad_goal, goal_pub), (foreign_goal, goal_pub),
                               (String(data=str(corrupt)), model_pub),
                               (String(data=str(tmp_path / "missing.pt")), model_pub)):
        publisher.publish(message)
        publish_for(probe, state_pub, joint_state(), 0.5)
    assert stack.dead() == {}
    assert probe.diagnostics["mbrl_ros: controller"]["_message"] == "exploring"  # no model was taken
    log = (tmp_path / "logs" / "controller.log").read_text()
    assert "keeping the current model" in log and "ignoring goal" in log


@pytest.mark.timeout(120)
def test_sim_ignores_bad_commands_and_holds(ros, tmp_path):
    with Stack(robot_config("arm"), {}, nodes=("sim",), log_dir=tmp_path / "logs") as stack:
        probe = Probe("commander")
        command_pub = probe.create_publisher(Float64MultiArray, COMMAND_TOPIC, 10)
        probe.spin_until(lambda: len(probe.states) > 5 and command_pub.get_subscription_count() > 0, 20,
                         "the sim", stack)
        start = np.array(probe.states[-1].position)
        for bad in ([0.3] * 6, [0.3] * 6 + [math.nan], [0.3] * 8):
            for _ in range(20):
                command_pub.publish(Float64MultiArray(data=bad))
                probe.spin_for(0.02)
        held = np.array(probe.states[-1].position)
        assert np.abs(held - start).max() < 1e-3, "bad commands must not move the arm"
        for _ in range(25):
            command_pub.publish(Float64MultiArray(data=[0.3] * 7))
            probe.spin_for(0.02)
        moved = np.array(probe.states[-1].position)
        assert np.abs(moved - held).min() > 0.05, "a good command moves every joint"
        probe.spin_for(1.0)  # past command_timeout: the sim holds
        first = np.array(probe.states[-1].position)
        probe.spin_for(0.5)
        assert np.abs(np.array(probe.states[-1].position) - first).max() < 1e-3
        assert stack.dead() == {}
        probe.destroy_node()


def arm_params_with(tmp_path, sections: dict, robot: str = "arm") -> str:
    """The robot's params file with values changed, by section. One file, because rcl keeps the first
    file's value when a later file gives the same parameter another type."""
    document = yaml.safe_load(robot_config(robot).read_text())
    for section, values in sections.items():
        document.setdefault(section, {"ros__parameters": {}})["ros__parameters"].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.parametrize("node, parameter, value", [
    ("controller", "control_rate", "0.0"),
    ("controller", "elites", "5000"),
    ("sim", "initial_positions", "[0.0, 1.0]"),
    ("trainer", "nice", "40"),
    ("logger", "storage", "tape"),
    ("controller", "command_mode", "torque"),
    ("controller", "control_rate", "fast"),
    ("sim", "initial_positions", "[a, b, c, d, e, f, g]"),
    ("trainer", "ensemble_members", "2.5"),
    ("controller", "position_margin", "2.0"),
    ("controller", "ee_box_link", "no_such_link"),
    ("controller", "ee_box_high", "[1.0, 1.0]"),
    ("controller", "settle_margin", "-0.1"),
    ("controller", "hold_tolerance", "-0.05"),
])
def test_bad_parameter_stops_the_node_with_its_name(tmp_path, node, parameter, value):
    params = arm_params_with(tmp_path, {node: {parameter: yaml.safe_load(value)}})
    result = subprocess.run([sys.executable, "-m", f"mbrl_ros.nodes.{node}", "--ros-args", "--params-file", params],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"'{parameter}'" in result.stderr


@pytest.mark.parametrize("parameter", ["settle_margin", "hold_tolerance"])
def test_holding_still_is_refused_where_the_safe_command_does_not_hold_the_robot_still(tmp_path, parameter):
    params = arm_params_with(tmp_path, {"controller": {parameter: 0.01}}, robot="drone")
    result = subprocess.run([sys.executable, "-m", "mbrl_ros.nodes.controller", "--ros-args", "--params-file", params],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"'{parameter}'" in result.stderr and "rotors commands" in result.stderr


def test_whole_numbers_are_accepted_for_float_parameters(tmp_path):
    """`control_rate: 20` in YAML is an integer; the node takes it as 20.0 and starts."""
    params = arm_params_with(tmp_path, {"/**": {"control_rate": 20},
                                        "controller": {"state_timeout": 1, "workspace_span": [1, 1, 1, 1, 1, 1, 1]}})
    process = subprocess.Popen([sys.executable, "-m", "mbrl_ros.nodes.controller", "--ros-args", "--params-file",
                                params], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        process.wait(timeout=8)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
        assert "at 20 Hz" in output and process.returncode == 0, output
    else:
        raise AssertionError(f"the controller exited: {process.communicate()[0]}")


def test_the_robot_can_come_as_a_robot_description_parameter(ros, tmp_path):
    """As robot_state_publisher takes it: the URDF's text instead of a file name."""
    description = find_shared_file("panda_arm.urdf", "urdf").read_text()
    params = arm_params_with(tmp_path, {"/**": {"urdf": "", "robot_description": description}})
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models")}
    probe = Probe("arm_player")
    publisher = probe.create_publisher(JointState, "/joint_states", 10)
    with Stack(Path(params), overrides, nodes=("controller",), log_dir=tmp_path / "logs") as stack:
        probe.spin_until(lambda: publisher.get_subscription_count() > 1, 20, "the controller", stack)
        mark = time.monotonic()

        def exploring() -> bool:
            publish_for(probe, publisher, joint_state(), 0.1)
            return any(np.abs(c).max() > 0 for c in probe.commands_since(mark))

        probe.spin_until(exploring, 20, "exploring commands", stack)
    probe.destroy_node()


@pytest.mark.parametrize("description, message", [("<robot", "not XML"), ("<sdf version='1.7'/>", "not a URDF")])
def test_a_bad_robot_description_stops_the_node_with_the_reason(tmp_path, description, message):
    params = arm_params_with(tmp_path, {"/**": {"robot_description": description}})
    result = subprocess.run([sys.executable, "-m", "mbrl_ros.nodes.controller", "--ros-args", "--params-file", params],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "'robot_description'" in result.stderr and message in result.stderr


def test_a_callback_that_raises_is_logged_and_the_node_runs_on(ros):
    """A bug or an input nobody foresaw, in any callback: said with its traceback, counted in
    diagnostics, and the next message is handled; a service call gets a refusal, not silence."""
    class Fragile(CheckedNode):
        def __init__(self):
            super().__init__("fragile")
            self.handled = []
            self.create_subscription(String, "/fragile_input", self.on_message, 10)
            self.create_service(SetBool, "~/fragile_service", lambda request, response: 1 / 0)

        def on_message(self, msg: String) -> None:
            if msg.data == "unforeseen":
                raise KeyError(msg.data)
            self.handled.append(msg.data)

    node, probe = Fragile(), Probe("fragile_probe")
    executor = ros.executors.SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    publisher = probe.create_publisher(String, "/fragile_input", 10)
    client = probe.create_client(SetBool, "/fragile/fragile_service")
    try:
        deadline = time.monotonic() + 20
        while publisher.get_subscription_count() == 0 or not client.service_is_ready():
            assert time.monotonic() < deadline, "discovery"
            executor.spin_once(timeout_sec=0.05)
        for text in ("unforeseen", "fine"):
            publisher.publish(String(data=text))
        future = client.call_async(SetBool.Request(data=True))
        while not (node.handled and future.done()):
            assert time.monotonic() < deadline, f"handled {node.handled}, service done {future.done()}"
            executor.spin_once(timeout_sec=0.05)
        assert node.handled == ["fine"] and node.callback_errors == 2
        assert not future.result().success and "internal error" in future.result().message
        assert node.diagnostic(0, "", {}).status[0].values[-1].value == "2"
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
