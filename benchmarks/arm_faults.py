"""Faults the controller must survive on a real arm, against a stand-in arm over DDS: how long until
the robot receives the safe command, whether commands keep coming at the control rate, and whether
the controller lives on.

The stand-in (the standin node, config/arm_hardware.yaml's `standin` section) is what ros2_control
gives a Franka-like arm: /joint_states at 500 Hz with the joints in its own order, two finger joints
among them, NaN in the velocity field (an interface the hardware lacks), noise and 5 ms latency,
and a forward velocity controller that holds whatever command came last. The controller runs
config/arm_hardware.yaml: disarmed at start, enabled here over ~/enable as a user would, the
robot's ready signal on /robot_program_running. Each runs in its own process.

    .venv/bin/python benchmarks/arm_faults.py [--json arm_faults.json]

Prints a table of faults with the time from each fault (for lost or bad state: from the last good
state) to the first safe command the arm received, and writes JSON. Takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String, UInt8MultiArray
from std_srvs.srv import SetBool

from mbrl_ros.core.control.limits import load_rate_limits
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import find_shared_file, robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.launcher import Stack
from mbrl_ros.nodes.common import COMMAND_QOS, LATCHED_QOS

CONFIG = robot_config("arm_hardware")
PARAMS = node_parameters(CONFIG, "controller")
JOINTS = list(PARAMS["joints"])
RATE = PARAMS["control_rate"]
STATE_RATE = node_parameters(CONFIG, "standin")["publish_rate"]
COMMAND_TOPIC = PARAMS["command_topic"]
READY_TOPIC = "/robot_program_running"
ACCELERATION_LIMITS = load_rate_limits(find_shared_file(PARAMS["joint_limits_file"], "config"), tuple(JOINTS),
                                       "velocity").max_change


class Operator(Node):
    """Watches the commands the arm receives and does what a person at the robot does."""

    def __init__(self):
        super().__init__("operator")
        self.commands: list[tuple[float, np.ndarray]] = []
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self.on_command, COMMAND_QOS)
        self.ready_pub = self.create_publisher(Bool, READY_TOPIC, LATCHED_QOS)
        self.estop_pub = self.create_publisher(Bool, "/mbrl/estop", COMMAND_QOS)
        self.model_pub = self.create_publisher(String, "/mbrl/model", LATCHED_QOS)
        self.model_data_pub = self.create_publisher(UInt8MultiArray, "/mbrl/model_data", LATCHED_QOS)
        self.goal_pub = self.create_publisher(PoseStamped, "/mbrl/goal", 10)
        self.controller_status: dict[str, str] = {}
        self.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        self.last_good_state = 0.0  # when the last joint state with finite positions arrived
        self.create_subscription(JointState, "/joint_states", self.on_state, 10)

    def on_state(self, msg: JointState) -> None:
        if np.all(np.isfinite(msg.position)):
            self.last_good_state = time.monotonic()

    def on_command(self, msg: Float64MultiArray) -> None:
        self.commands.append((time.monotonic(), np.array(msg.data)))

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "mbrl_ros: controller":
                self.controller_status = {kv.key: kv.value for kv in status.values}

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=0.001)

    def spin_until(self, condition, timeout: float, what: str) -> float:
        """Seconds until `condition()` holds; RuntimeError after `timeout`."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"no {what} within {timeout} s")
            rclpy.spin_once(self, timeout_sec=0.001)
        return time.monotonic() - start

    def call(self, service: str, on: bool) -> SetBool.Response:
        client = self.create_client(SetBool, service)
        self.spin_until(client.service_is_ready, 30, service)
        future = client.call_async(SetBool.Request(data=on))
        self.spin_until(future.done, 10, f"answer from {service}")
        return future.result()

    def since(self, start: float) -> list[tuple[float, np.ndarray]]:
        return [(t, c) for t, c in self.commands if t >= start]

    def seconds_to_safe(self, start: float, timeout: float = 5.0) -> float:
        """From `start` to the first zero-velocity command received after it."""
        self.spin_until(lambda: any(not c.any() for _, c in self.since(start)), timeout, "safe command")
        return next(t for t, c in self.since(start) if not c.any()) - start

    def rate_during(self, seconds: float) -> tuple[float, bool]:
        """Commands per second over the next `seconds`, and whether all were the safe one."""
        start = time.monotonic()
        self.spin_for(seconds)
        commands = self.since(start)
        return len(commands) / seconds, all(not c.any() for _, c in commands)

    def exploring(self) -> None:
        self.spin_until(lambda: self.commands and self.commands[-1][1].any(), 10, "exploring commands")


def row(fault: str, reaction: str, to_safe: float | None, rate: float | None, stack: Stack, **extra) -> dict:
    """One fault's figures: ms from the fault to the first safe command the arm received, commands per
    second after it, whether the controller still runs, and what else was measured."""
    figures = {"fault": fault, "reaction": reaction,
               "to_safe_ms": None if to_safe is None else round(1000 * to_safe, 1),
               "commands_per_s_after": None if rate is None else round(rate, 1),
               "controller_alive": "controller" not in stack.dead(), **extra}
    print(f"{fault:34} {reaction:44} {figures['to_safe_ms'] or '-':>8} ms  "
          f"{figures['commands_per_s_after'] if rate is not None else '-':>5}/s  "
          f"{'running' if figures['controller_alive'] else 'exited'}  "
          + " ".join(f"{k}={v}" for k, v in extra.items()), flush=True)
    return figures


def untrained_model(folder: Path) -> Path:
    spec = RobotSpec.from_params(PARAMS)
    learner = DynamicsLearner(spec.model_signature(), 1.0 / RATE, ModelConfig(5, 200, 3), TrainConfig())
    return learner.save(folder / "untrained.pt", {"nll": 0.0})


def goal() -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = PARAMS["base_frame"]
    msg.pose.position.x, msg.pose.position.z = 0.4, 0.4
    return msg


def run(folder: Path) -> list[dict]:
    # A huge population makes every plan overrun its deadline once a model arrives (the last fault).
    overrides = {"data_dir": str(folder / "data"), "checkpoint_dir": str(folder / "models"),
                 "ready_topic": READY_TOPIC, "population": 30000, "iterations": 1}
    rows = []
    arm = Operator()
    arm.ready_pub.publish(Bool(data=True))
    with Stack(CONFIG, overrides, nodes=("standin", "controller"), log_dir=folder / "logs") as stack:
        arm.spin_until(lambda: arm.controller_status, 30, "the controller's diagnostics")
        arm.spin_for(2.0)
        rows.append(row("start (disarmed)", "nothing sent until ~/enable", None, len(arm.commands) / 2.0, stack))

        start = time.monotonic()
        arm.call("/controller/enable", True)
        arm.spin_until(lambda: arm.since(start), 5, "commands after enabling")
        rate, _ = arm.rate_during(3.0)
        commands = np.array([c for _, c in arm.since(start)])
        acceleration = np.abs(np.diff(commands, axis=0)) * RATE / ACCELERATION_LIMITS
        rows.append(row("enabled, NaN velocities at 500 Hz", "explores at the control rate", None, rate, stack,
                        largest_share_of_acceleration_limit=round(float(acceleration.max()), 3)))

        stale = f"safe command after state_timeout {PARAMS['state_timeout']} s"
        for service, fault, reaction in (("/standin/pause_state", "state stops", stale),
                                         ("/standin/corrupt_state", "NaN positions", "states dropped, then as above")):
            arm.exploring()
            start = time.monotonic()
            arm.call(service, True)
            to_safe = arm.seconds_to_safe(start) + start - arm.last_good_state  # from the last good state
            rate, all_safe = arm.rate_during(1.0)
            arm.call(service, False)
            rows.append(row(fault, reaction, to_safe, rate, stack, all_safe_after=all_safe))

        arm.exploring()
        start = time.monotonic()
        arm.estop_pub.publish(Bool(data=True))
        to_safe = arm.seconds_to_safe(start)
        rate, _ = arm.rate_during(1.0)
        rows.append(row("e-stop", "safe command at once, then silence", to_safe, rate, stack))

        arm.call("/controller/enable", True)
        arm.exploring()
        start = time.monotonic()
        arm.ready_pub.publish(Bool(data=False))
        to_safe = arm.seconds_to_safe(start)
        rate, _ = arm.rate_during(1.0)
        refused = not arm.call("/controller/enable", True).success
        rows.append(row("robot not ready", "disarmed; enabling refused until ready", to_safe, rate, stack,
                        enable_refused_while_not_ready=refused))
        arm.ready_pub.publish(Bool(data=True))
        arm.spin_for(0.3)
        arm.call("/controller/enable", True)

        arm.exploring()
        arm.model_data_pub.publish(UInt8MultiArray(data=b"not a checkpoint"))
        arm.model_pub.publish(String(data=str(folder / "missing.pt")))
        rate, all_safe = arm.rate_during(2.0)
        rows.append(row("corrupt and missing models", "kept exploring", None, rate, stack,
                        all_safe_after=all_safe))

        arm.model_pub.publish(String(data=str(untrained_model(folder))))

        def overrunning() -> bool:
            arm.goal_pub.publish(goal())  # until the controller has it: a first message may precede discovery
            return int(arm.controller_status.get("missed_deadlines", 0)) > 0

        arm.spin_until(overrunning, 60, "plans overrunning")
        mark = time.monotonic()
        rate, all_safe = arm.rate_during(2.0)
        gaps = np.diff([t for t, _ in arm.since(mark)])
        rows.append(row("every plan overruns its deadline", "safe command at the control rate", None, rate, stack,
                        all_safe_after=all_safe, longest_gap_ms=round(1000 * float(gaps.max()), 1)))

        start = time.monotonic()
        stack.processes["controller"].send_signal(2)
        to_safe = arm.seconds_to_safe(start)
        stack.processes["controller"].wait(10)
        rows.append(row("controller stopped (Ctrl-C)", "safe command as it exits", to_safe, None, stack))
    arm.destroy_node()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="arm_faults.json")
    args = parser.parse_args()
    rclpy.init()
    print(f"{'fault':34} {'expected reaction':44} {'to safe':>11}  {'rate':>7}  controller")
    with tempfile.TemporaryDirectory() as folder:
        rows = run(Path(folder))
    rclpy.shutdown()
    Path(args.json).write_text(json.dumps({"state_rate_hz": STATE_RATE, "control_rate_hz": RATE, "faults": rows},
                                          indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
