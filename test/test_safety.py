"""The controller's safety layer as the node wires it: arming by ~/enable, the e-stop topic and the
robot's ready signal, dry run, rate limits from a joint_limits file, the end-effector box from
parameters, the watchdog's thread and the trajectory topic. The controller runs alone over DDS; the
test plays the arm. The decisions themselves are tested in process: test_control_loop.py."""

import time

import numpy as np
import pytest
import torch
from geometry_msgs.msg import PoseStamped
from probe import COMMAND_TOPIC, Probe
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from mbrl_ros.core.control.arming import Arming, ArmingStatus
from mbrl_ros.core.control.limits import load_rate_limits
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import find_shared_file, robot_config
from mbrl_ros.core.robots.kinematics import ForwardKinematics
from mbrl_ros.core.robots.urdf import load_chain
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
HOME = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
CONTROLLER = "mbrl_ros: controller"
RATE = node_parameters(robot_config("arm"), "controller")["control_rate"]  # commands per second


def test_arming_reports_each_change_once():
    arming = Arming(armed=False)
    assert arming.take() == ArmingStatus(False, "not enabled yet", False, False)
    arming.arm()
    assert arming.take() == ArmingStatus(True, "", True, False)
    assert arming.take() == ArmingStatus(True, "", False, False), "a change is reported once"
    arming.disarm("e-stop")
    arming.disarm("a second reason")
    assert arming.take() == ArmingStatus(False, "e-stop", False, True), "the first reason stands"
    assert not arming.armed


class ArmStandIn(Probe):
    """Publishes the arm's joint states at 50 Hz while spinning; records the dry-run topic too."""

    def __init__(self):
        super().__init__("arm_stand_in")
        self.state_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.dry_run: list[list[float]] = []
        self.position = list(HOME)  # where the arm stands
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC + "/dry_run",
                                 lambda m: self.dry_run.append(list(m.data)), COMMAND_QOS)

    def run_for(self, seconds: float) -> None:
        for _ in range(int(seconds * 50)):
            msg = JointState(name=JOINTS, position=self.position, velocity=[0.0] * 7)
            msg.header.stamp = self.get_clock().now().to_msg()
            self.state_pub.publish(msg)
            self.spin_for(0.02)

    def commands_during(self, seconds: float) -> list[list[float]]:
        mark = len(self.commands)
        self.run_for(seconds)
        return [c for _, c in self.commands[mark:]]

    def run_until(self, condition, timeout: float, what: str) -> None:
        """Play the arm until `condition()` holds; a machine under load may take its time."""
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"no {what} within {timeout:.0f} s (mode: {self.mode()!r})"
            self.run_for(0.1)

    def next_commands(self, count: int, timeout: float = 20.0) -> list[list[float]]:
        mark = len(self.commands)
        self.run_until(lambda: len(self.commands) - mark >= count, timeout, f"{count} commands")
        return [c for _, c in self.commands[mark:]]

    def mode(self) -> str:
        return self.diagnostics.get(CONTROLLER, {}).get("mode", "")


def controller(tmp_path, **overrides):
    overrides = {"data_dir": str(tmp_path / "data"), "checkpoint_dir": str(tmp_path / "models"), **overrides}
    return Stack(robot_config("arm"), overrides, nodes=("controller",), log_dir=tmp_path / "logs")


def reachable_goal() -> PoseStamped:
    goal = PoseStamped()
    goal.header.frame_id = "panda_link0"
    goal.pose.position.x, goal.pose.position.z = 0.4, 0.4
    return goal


def enable(robot: ArmStandIn, on: bool) -> SetBool.Response:
    client = robot.create_client(SetBool, "/controller/enable")
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(SetBool.Request(data=on))
    robot.spin_until(future.done, 5, "~/enable")
    return future.result()


@pytest.mark.timeout(120)
def test_disarmed_until_enabled_and_an_estop_stops_it(ros, tmp_path):
    with controller(tmp_path, start_enabled=False, ready_topic="/robot_ready") as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        assert robot.commands_during(1.5) == [], "disarmed: nothing is published"
        robot.run_until(lambda: robot.mode().startswith("disarmed"), 10, "the disarmed mode in diagnostics")

        assert enable(robot, True).success
        moving = robot.next_commands(int(RATE))
        assert np.abs(moving).max() > 0.01, "enabled: exploring"

        estop = robot.create_publisher(Bool, "/mbrl/estop", COMMAND_QOS)
        estop.publish(Bool(data=True))
        robot.run_for(0.3)
        after = robot.commands_during(1.0)
        assert after == [], "after the e-stop's one safe command, silence"
        assert np.allclose(robot.commands[-1][1], 0.0), "the last command sent is the safe one"

        ready = robot.create_publisher(Bool, "/robot_ready", LATCHED_QOS)
        ready.publish(Bool(data=False))
        robot.run_for(0.3)
        refused = enable(robot, True)
        assert not refused.success and "not ready" in refused.message
        ready.publish(Bool(data=True))
        robot.run_for(0.3)
        assert enable(robot, True).success
        assert len(robot.next_commands(int(RATE))) >= RATE, "enabled again once the robot is ready"
        assert stack.dead() == {}
        robot.destroy_node()


@pytest.mark.timeout(120)
def test_dry_run_publishes_only_on_the_shadow_topic(ros, tmp_path):
    with controller(tmp_path, dry_run=True, start_enabled=True) as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        robot.run_until(lambda: len(robot.dry_run) > 2 * RATE, 20, "commands on the shadow topic")
        assert robot.commands == [], "nothing on the real command topic"
        assert np.abs(robot.dry_run).max() > 0.01
        robot.run_until(lambda: isinstance(robot.diagnostics.get(CONTROLLER, {}).get("dry_run_would_send"), str),
                        10, "what would have been sent, in diagnostics")
        assert robot.diagnostics[CONTROLLER]["dry_run_would_send"].startswith("[")
        robot.destroy_node()


def plan_with_an_untrained_model(robot: ArmStandIn, tmp_path, arm, size: ModelConfig, until, what: str) -> None:
    """Give the controller an untrained model of `size` and a goal, and play the arm until `until()`."""
    untrained = DynamicsLearner(arm.model_signature(), 1.0 / RATE, size, TrainConfig())
    path = untrained.save(tmp_path / "untrained.pt", {"nll": 0.0})
    robot.create_publisher(String, "/mbrl/model", LATCHED_QOS).publish(String(data=str(path)))
    goal_pub = robot.create_publisher(PoseStamped, "/mbrl/goal", 10)

    def planning() -> bool:
        goal_pub.publish(reachable_goal())  # until the controller has it: a first message may precede discovery
        return until()

    robot.run_until(planning, 30, what)


@pytest.mark.timeout(120)
def test_exploring_commands_stay_within_the_arms_acceleration_limits(ros, tmp_path):
    limits = load_rate_limits(find_shared_file("arm_joint_limits.yaml", "config"), tuple(JOINTS), "velocity")
    with controller(tmp_path, start_enabled=True, joint_limits_file="arm_joint_limits.yaml") as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        commands = np.array(robot.next_commands(int(3 * RATE)))
        assert np.abs(commands).max() > 0.1, "exploring"
        changes = np.abs(np.diff(commands, axis=0))
        assert np.all(changes <= limits.max_change / RATE + 1e-9), f"largest change {changes.max():.3f} rad/s"
        robot.destroy_node()


@pytest.mark.timeout(120)
def test_no_command_takes_the_end_effector_further_out_of_its_box(ros, tmp_path, arm):
    """The arm stands with its end effector just above the box's ceiling: commands that would lift it
    further are cut, those that lower it pass, and diagnostics count the cuts."""
    fk = ForwardKinematics(load_chain(arm.urdf_path, "panda_tcp"), JOINTS).double()
    height = lambda q: float(fk.position(torch.as_tensor(q, dtype=torch.float64))[2])  # noqa: E731
    ceiling = height(HOME) - 0.001
    box = {"ee_box_link": "panda_tcp", "ee_box_low": [-2.0, -2.0, -1.0], "ee_box_high": [2.0, 2.0, ceiling]}
    with controller(tmp_path, start_enabled=True, **box) as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        commands = np.array(robot.next_commands(int(3 * RATE)))
        rises = [height(np.array(HOME) + c / RATE) - height(HOME) for c in commands]
        assert max(rises) <= 1e-9, f"a command lifted the end effector by {max(rises) * 1000:.2f} mm"
        assert min(rises) < -0.001, "commands that lower it pass"
        robot.run_until(lambda: int(robot.diagnostics.get(CONTROLLER, {}).get("guard_cuts", 0)) > 0, 10,
                        "the cuts counted in diagnostics")
        assert stack.dead() == {}
        robot.destroy_node()


@pytest.mark.timeout(120)
def test_a_planner_past_its_deadline_gives_the_safe_command_at_the_control_rate(ros, tmp_path, arm):
    """Each plan takes far longer than a control period (a huge population): the forward controller
    would hold the last command meanwhile, so the watchdog sends the safe one, and the late plans'
    commands are dropped."""
    with controller(tmp_path, start_enabled=True, population=30000, iterations=1) as stack:
        robot = ArmStandIn()
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        plan_with_an_untrained_model(
            robot, tmp_path, arm, ModelConfig(5, 200, 3),
            lambda: int(robot.diagnostics.get(CONTROLLER, {}).get("missed_deadlines", 0)) > 0,
            "a missed deadline counted in diagnostics")
        mark = len(robot.commands)
        robot.run_for(2.0)
        times = np.array([t for t, _ in robot.commands[mark:]])
        commands = np.array([c for _, c in robot.commands[mark:]])
        assert np.allclose(commands, 0.0), "only the safe command while plans overrun"
        assert np.diff(times).max() < 4.0 / RATE, "sent at about the control rate, not once per late plan"
        assert stack.dead() == {}
        robot.destroy_node()


@pytest.mark.timeout(120)
def test_commands_also_go_out_as_trajectories_that_end_at_rest(ros, tmp_path):
    """For a joint_trajectory_controller: each command with the next ones as points from the
    measured positions, the last at rest; after the e-stop, a trajectory that stops where the arm is."""
    trajectories = []
    with controller(tmp_path, start_enabled=True, trajectory_topic="/arm_trajectory", trajectory_steps=4) as stack:
        robot = ArmStandIn()
        robot.create_subscription(JointTrajectory, "/arm_trajectory",
                                  lambda m: trajectories.append((time.monotonic(), m)), COMMAND_QOS)
        robot.spin_until(lambda: robot.state_pub.get_subscription_count() > 1, 20, "the controller", stack)
        robot.run_until(lambda: len(trajectories) > RATE, 20, "trajectories")
        message = trajectories[-1][1]
        assert list(message.joint_names) == JOINTS and len(message.points) == 4
        times = [p.time_from_start.sec + 1e-9 * p.time_from_start.nanosec for p in message.points]
        np.testing.assert_allclose(times, np.arange(1, 5) / RATE)
        velocities = np.array([p.velocities for p in message.points])
        positions = np.array([p.positions for p in message.points])
        assert np.abs(velocities[0]).max() > 0.01 and np.all(velocities[-1] == 0.0), "moving, and ending at rest"
        np.testing.assert_allclose(positions[0], np.array(HOME) + velocities[0] / RATE, atol=1e-9)
        assert any(np.allclose(velocities[0], c) for _, c in robot.commands), "the command, on both topics"

        robot.create_publisher(Bool, "/mbrl/estop", COMMAND_QOS).publish(Bool(data=True))
        robot.run_until(lambda: len(trajectories[-1][1].points) == 1, 10, "a stopping trajectory")
        stop = trajectories[-1][1].points[0]
        np.testing.assert_allclose(stop.positions, HOME)
        assert np.all(np.array(stop.velocities) == 0.0)
        assert stack.dead() == {}
        robot.destroy_node()
