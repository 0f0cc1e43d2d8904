"""What every node shares: QoS profiles, checked parameters, the robot spec, and a main()."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from ..core.params import (  # noqa: F401 - the checks, for the nodes
    Check,
    ListOf,
    Param,
    ParameterError,
    Schema,
    checked,
    in_range,
    length,
    non_negative,
    one_of,
    positive,
)
from ..core.robots.commands import command_interface
from ..core.robots.robot import ROBOT_PARAMETERS, RobotSpec
from ..core.robots.urdf import store_description

# State: best effort, newest only. Accepts reliable and best-effort publishers alike.
STATE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
# For recording: best effort too, with room for bursts.
RECORD_QOS = QoSProfile(depth=200, reliability=ReliabilityPolicy.BEST_EFFORT)
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Late joiners get the newest checkpoint path.
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class CheckedNode(Node):
    """A Node whose parameters are declared with a description and a default, and checked once."""

    callback_errors = 0  # exceptions that callbacks raised, logged and survived

    def create_subscription(self, msg_type, topic, callback, qos_profile, **options):
        return super().create_subscription(msg_type, topic, self.survive(callback, f"a message on {topic}"),
                                           qos_profile, **options)

    def create_timer(self, period, callback, *args, **options):
        return super().create_timer(period, self.survive(callback, "a timer"), *args, **options)

    def create_service(self, srv_type, name, callback, **options):
        def refuse(request, response):
            if hasattr(response, "success"):
                response.success, response.message = False, "internal error: see the node's log"
            return response

        return super().create_service(srv_type, name, self.survive(callback, f"a call of {name}", refuse), **options)

    def survive(self, callback: Callable, what: str, fallback: Callable | None = None) -> Callable:
        """`callback`, such that an exception it raises (a bug, an input nobody foresaw) is logged
        with its traceback and the node runs on, instead of ending and leaving the robot on its last
        command. `fallback` gives the return value then (a service's response)."""
        def guarded(*args):
            try:
                return callback(*args)
            except Exception as error:  # noqa: BLE001 - any bug: said, survived
                self.callback_errors += 1
                self.get_logger().error(f"{what} raised {type(error).__name__}: {error}; carrying on\n"
                                        f"{traceback.format_exc()}", throttle_duration_sec=5.0)
                return fallback(*args) if fallback else None

        return guarded

    def param(self, name: str, default, description: str, check: Check | None = None):
        """Declare, read and check a parameter (see core.params.checked)."""
        descriptor = ParameterDescriptor(description=description, dynamic_typing=True)
        value = self.declare_parameter(name, list(default) if isinstance(default, list) else default,
                                       descriptor).value
        return checked(name, value, Param(default, description, check))

    def declare(self, schema: Schema) -> dict:
        """Declare a component's parameters and return their values."""
        return {name: self.param(name, p.default, p.description, p.check) for name, p in schema.items()}

    def urdf_path(self) -> str:
        """The URDF file: `robot_description` (the XML, as robot_state_publisher takes it) kept as a
        file when given, else `urdf`."""
        description = self.param("robot_description", "", "the robot's URDF as XML; used instead of `urdf` if set")
        path = self.param("urdf", "", "robot description: a path, or a file in the package's urdf/")
        if description:
            try:
                return str(store_description(description))
            except (OSError, ValueError) as error:
                raise ParameterError(f"parameter 'robot_description': {error}") from error
        if not path:
            raise ParameterError("parameter 'urdf' or 'robot_description' must say what the robot is")
        return path

    def robot_spec(self) -> RobotSpec:
        """The robot: its URDF, joints, state sources and command interface, from parameters."""
        params = self.declare(ROBOT_PARAMETERS) | {"urdf": self.urdf_path()}
        try:
            params |= self.declare(command_interface(params["command_mode"]).PARAMETERS)
            return RobotSpec.from_params(params)
        except (OSError, ValueError, KeyError) as error:
            raise ParameterError(f"robot description: {error}") from error

    def model_topics(self) -> tuple[str, str]:
        """Where the trainer announces checkpoints: their path (String) and their bytes (UInt8MultiArray)."""
        return (self.param("model_topic", "/mbrl/model", "std_msgs/String: the newest checkpoint's path"),
                self.param("model_data_topic", "/mbrl/model_data",
                           "std_msgs/UInt8MultiArray: the newest checkpoint's bytes, labelled sha256:<digest>"))

    def policy_topics(self) -> tuple[str, str]:
        """Where the policy_trainer announces policies, as the trainer does models."""
        return self.checkpoint_topics("policy")

    def value_topics(self) -> tuple[str, str]:
        """Where the policy_trainer (method mbpo) announces its actor-critic's value function."""
        return self.checkpoint_topics("value")

    def checkpoint_topics(self, what: str) -> tuple[str, str]:
        return (self.param(f"{what}_topic", f"/mbrl/{what}", f"std_msgs/String: the newest {what}'s path"),
                self.param(f"{what}_data_topic", f"/mbrl/{what}_data",
                           f"std_msgs/UInt8MultiArray: the newest {what}'s bytes, labelled sha256:<digest>"))

    def diagnostics_publisher(self):
        return self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def diagnostic(self, level: int, message: str, values: dict) -> DiagnosticArray:
        status = DiagnosticStatus(level=level, name=f"mbrl_ros: {self.get_name()}", message=message,
                                  hardware_id=self.get_namespace() + self.get_name())
        values = {**values, "callback_errors": self.callback_errors}
        status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        return array


OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def run(node_class: type[CheckedNode], args: list[str] | None = None) -> int:
    """Start rclpy, spin one node until Ctrl-C or SIGTERM, and shut down cleanly (Humble to Kilted)."""
    # Our own signal handling: a stop ends the spin while the context is still alive, so that a node
    # can publish its safe command before shutting down.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    handle_stop_signals()
    node = None
    try:
        node = node_class()
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        while not _stopping.is_set():
            executor.spin_once(timeout_sec=0.1)
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


_stopping = threading.Event()
_cuttable = {"depth": 0}  # inside `interruptible()`


def handle_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job may start with it ignored
        signal.signal(signum, _on_stop_signal)


def _on_stop_signal(signum, frame):
    """The first Ctrl-C or SIGTERM asks the node to stop: the spin ends when the callback running
    returns, or at once inside `interruptible()`. Raising anywhere else could land inside rclpy's
    or a lock's bookkeeping and leave the shutdown stuck. A second Ctrl-C is the same request (a
    terminal's reaches every process of `ros2 launch`, which signals its nodes again) and must not
    cut the shutdown that sends the safe command and closes files, nor kill the interpreter as it
    exits (Python restores the default action of its handlers then, but not of an ignored signal).
    A SIGTERM after the first stop (launch escalates after 5 s) ends a stuck shutdown, first
    printing where each thread was."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _stopping.is_set():
        return
    _stopping.set()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.register(signal.SIGTERM, all_threads=True, chain=True)
    if _cuttable["depth"]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible():
    """A long computation in a callback (a training round) that a stop cuts short (main thread)."""
    if _stopping.is_set():
        raise KeyboardInterrupt
    _cuttable["depth"] += 1
    try:
        yield
    finally:
        _cuttable["depth"] -= 1


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
