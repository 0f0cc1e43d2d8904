"""A test's own rclpy node: records what the stack publishes and sends it input."""

from __future__ import annotations

import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool

from mbrl_ros.nodes.common import COMMAND_QOS, LATCHED_QOS, STATE_QOS

COMMAND_TOPIC = "/forward_velocity_controller/commands"


class Probe(Node):
    """Every probe still alive; conftest destroys them after each test, whether it passed or not, so
    that no latched message of one test reaches the next one's nodes."""

    alive: set[Probe] = set()

    def __init__(self, name: str = "probe"):
        super().__init__(name)
        Probe.alive.add(self)
        self.states: list[JointState] = []
        self.commands: list[tuple[float, list[float]]] = []
        self.models: list[str] = []
        self.diagnostics: dict[str, dict] = {}
        self.create_subscription(JointState, "/joint_states", self.states.append, STATE_QOS)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC,
                                 lambda m: self.commands.append((time.monotonic(), list(m.data))), COMMAND_QOS)
        self.create_subscription(String, "/mbrl/model", lambda m: self.models.append(m.data), LATCHED_QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 50)

    def destroy_node(self) -> None:
        Probe.alive.discard(self)
        super().destroy_node()

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values} | {"_message": status.message}

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=0.02)

    def spin_until(self, condition, timeout: float, what: str, stack=None) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            if stack is not None and stack.dead():
                raise AssertionError(f"node(s) died while waiting for {what}: {stack.dead()}")
            rclpy.spin_once(self, timeout_sec=0.05)

    def call(self, service: str, on: bool) -> SetBool.Response:
        """Call a std_srvs/SetBool service, such as the controller's ~/enable, and wait for its answer."""
        client = self.create_client(SetBool, service)
        assert client.wait_for_service(timeout_sec=20), f"no {service}"
        future = client.call_async(SetBool.Request(data=on))
        self.spin_until(future.done, 10, service)
        return future.result()

    def commands_since(self, since: float) -> list[list[float]]:
        return [c for t, c in self.commands if t >= since]
