"""What every node shares: QoS profiles, checked parameters, the robot spec, and a main()."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from ..core.robots.robot import COMMAND_MODES, RobotSpec

# State: best effort, newest only. Accepts reliable and best-effort publishers alike.
STATE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
# For recording: best effort too, with room for bursts.
RECORD_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.BEST_EFFORT)
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Late joiners get the newest checkpoint path.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

PANDA_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]


class ParameterError(ValueError):
    """A parameter outside its accepted range: the node does not start."""


def positive(value) -> str | None:
    return None if value > 0 else "must be > 0"


def non_negative(value) -> str | None:
    return None if value >= 0 else "must be >= 0"


def one_of(*choices) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


def in_range(low, high) -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"must be in [{low}, {high}]"


def length(n: int) -> Callable[[Any], str | None]:
    return lambda value: None if len(value) == n else f"needs {n} values, one per joint"


def non_empty(value) -> str | None:
    return None if len(value) > 0 else "must not be empty"


class CheckedNode(Node):
    """A Node whose parameters are declared with a description and a default, and checked once."""

    def param(self, name: str, default, description: str, check: Callable[[Any], str | None] | None = None):
        """Declare, read and check a parameter. Whole numbers are accepted where a float is expected
        (`rate: 20` as well as `rate: 20.0`); any other type is refused with a message."""
        descriptor = ParameterDescriptor(description=description, dynamic_typing=True)
        value = self.declare_parameter(name, default, descriptor).value
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, list) and default and isinstance(default[0], float) and isinstance(value, list):
            value = [float(v) if isinstance(v, int) else v for v in value]
        if not _same_type(value, default):
            raise ParameterError(f"parameter '{name}' = {value!r} must be of type {type(default).__name__} "
                                 f"like its default {default!r} ({description})")
        problem = check(value) if check else None
        if problem:
            raise ParameterError(f"parameter '{name}' = {value!r} {problem} ({description})")
        return value

    def robot_spec(self) -> RobotSpec:
        spec = RobotSpec(
            joints=tuple(self.param("joints", PANDA_JOINTS, "joint names, in command order", non_empty)),
            urdf=self.param("urdf", "panda_arm.urdf", "robot description: a path, or a file in the package's urdf/"),
            ee_link=self.param("ee_link", "panda_tcp", "link whose position the task cost uses"),
            command_mode=self.param("command_mode", "velocity", "what the commands set",
                                    one_of(*COMMAND_MODES)),
            command_scale=self.param("command_scale", 0.5, "share of the URDF velocity or effort limit used",
                                     in_range(0.01, 1.0)),
        )
        try:
            spec.chain  # reads the URDF now, so a bad description stops the node at start-up
        except (OSError, ValueError, KeyError) as error:
            raise ParameterError(f"robot description: {error}") from error
        return spec

    def diagnostics_publisher(self):
        return self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def diagnostic(self, level: int, message: str, values: dict) -> DiagnosticArray:
        status = DiagnosticStatus(level=level, name=f"mbrl_ros: {self.get_name()}", message=message,
                                  hardware_id=self.get_namespace() + self.get_name())
        status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        return array


def _same_type(value, default) -> bool:
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, type(default[0])) for v in value) if default else True
    return type(value) is type(default)


OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def run(node_class: type[CheckedNode], args: list[str] | None = None) -> int:
    """Start rclpy, spin one node until Ctrl-C or SIGTERM, and shut down cleanly (Humble to Kilted)."""
    # Our own signal handling: Ctrl-C and SIGTERM raise KeyboardInterrupt while the context is still
    # alive, so a node can publish its safe command before shutting down.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job may start with it ignored
        signal.signal(signum, _interrupt)
    node = None
    try:
        node = node_class()
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ParameterError as error:
        print(f"[{node_class.__name__}] bad parameter, not starting: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if node is not None:
            shutdown = getattr(node, "on_shutdown", None)
            if shutdown:
                shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
