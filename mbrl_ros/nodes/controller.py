"""controller: explores until a model arrives, then reaches /mbrl/goal with sampling-based MPC.

State comes in on a best-effort subscription; planning runs in its own thread at a fixed rate,
so a long plan never delays the newest state. The node owns the safety checks a forward command
controller lacks: stale state, NaN and out-of-range commands give the safe command, and the safe
command goes out on shutdown.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String

from ..core.control.exploration import WaypointExplorer
from ..core.control.mpc import PRECISIONS, ReachMPC
from ..core.models.checkpoint import CheckpointError, load_checkpoint
from ..core.models.learner import torch_device
from ..core.planning.planners import PLANNERS, PlannerConfig
from ..core.planning.rollout import PROPAGATIONS
from ..core.robots.joint_state import BadJointState, state_vector
from ..core.tasks.reach import joint_box
from .common import (
    COMMAND_QOS,
    LATCHED_QOS,
    OK,
    STATE_QOS,
    WARN,
    CheckedNode,
    in_range,
    length,
    non_negative,
    one_of,
    positive,
    run,
    set_torch_threads,
)


class ControllerNode(CheckedNode):
    def __init__(self):
        super().__init__("controller")
        self.spec = spec = self.robot_spec()
        command_topic = self.param("command_topic", "/forward_velocity_controller/commands",
                                   "where commands go, in `joints` order")
        state_topic = self.param("state_topic", "/joint_states", "JointState input")
        self.control_rate = self.param("control_rate", 20.0, "control rate in Hz", in_range(1.0, 1000.0))
        self.state_timeout = self.param("state_timeout", 0.25, "seconds after which state is stale", positive)
        self.deadline_fraction = self.param("plan_deadline_fraction", 0.8,
                                            "share of the control period planning may use", in_range(0.1, 1.0))
        self.base_frame = self.param("base_frame", "panda_link0", "frame of goals and plans")
        center = self.param("workspace_center", [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785],
                            "centre of the joint box explored and planned in, in `joints` order",
                            length(spec.dof))
        span = self.param("workspace_span", [1.2, 0.6, 1.0, 0.6, 1.2, 0.6, 1.2],
                          "half-width of the joint box explored and planned in", length(spec.dof))
        population = self.param("population", 200, "action sequences per iteration", in_range(2, 100000))
        planner_config = PlannerConfig(
            horizon=self.param("horizon", 10, "planning horizon in control steps", in_range(1, 500)),
            population=population,
            elites=self.param("elites", 20, "best sequences CEM and iCEM refit to", in_range(1, population)),
            iterations=self.param("iterations", 3, "planner iterations per control step", in_range(1, 100)))
        self.device = torch_device(self.param("device", "auto", "torch device: auto, cpu or cuda"))
        seed = self.param("seed", 0, "random seed", non_negative)
        box = joint_box(center, span, spec.position_lower, spec.position_upper)
        self.mpc_options = dict(
            config=planner_config,
            planner=self.param("planner", "cem", "trajectory optimiser", one_of(*PLANNERS)),
            propagation=self.param("propagation", "ts_inf", "how particles use the ensemble members",
                                   one_of(*PROPAGATIONS)),
            uncertainty_weight=self.param("uncertainty_weight", 0.0, "cost of ensemble disagreement along a plan",
                                          non_negative),
            rollout_precision=self.param("rollout_precision", "float32", "dtype of the candidates' model products",
                                         one_of(*PRECISIONS)),
            device=self.device, seed=seed, joint_low=box[0], joint_high=box[1])
        set_torch_threads(self.param("torch_threads", 1, "CPU threads for planning", in_range(1, 256)))

        self.explorer = WaypointExplorer(spec, *box, 1.0 / self.control_rate, np.random.default_rng(seed))
        self.mpc: ReachMPC | None = None
        self.planned_goal = None
        self.model_version, self.model_path = 0, ""
        self.lock = threading.Lock()
        self.state, self.state_time, self.goal = None, 0.0, None
        self.latencies: deque = deque(maxlen=200)
        self.mode, self.rejected, self.disagreement = "waiting for state", 0, float("nan")

        self.command_pub = self.create_publisher(Float64MultiArray, command_topic, COMMAND_QOS)
        self.plan_pub = self.create_publisher(Path, "/mbrl/plan", 10)
        self.diagnostics = self.diagnostics_publisher()
        self.create_subscription(JointState, state_topic, self.on_state, STATE_QOS)
        self.create_subscription(PoseStamped, "/mbrl/goal", self.on_goal, 10)
        self.create_subscription(String, "/mbrl/model", self.on_model, LATCHED_QOS)
        self.create_timer(1.0, self.publish_diagnostics)
        self.stopping = threading.Event()
        self.control_thread = threading.Thread(target=self.control_loop, name="control", daemon=True)
        self.control_thread.start()
        self.get_logger().info(f"{spec.dof} joints, {spec.command_mode} commands on {command_topic} "
                               f"at {self.control_rate:.0f} Hz, planning on {self.device}")

    # Inputs --------------------------------------------------------------------------------------
    def on_state(self, msg: JointState) -> None:
        try:
            state = state_vector(msg.name, msg.position, msg.velocity, self.spec.joints)
        except BadJointState as error:
            self.rejected += 1
            self.get_logger().warning(f"dropping joint state: {error}", throttle_duration_sec=2.0)
            return
        with self.lock:
            self.state, self.state_time = state, time.monotonic()

    def on_goal(self, msg: PoseStamped) -> None:
        p = msg.pose.position
        goal = np.array([p.x, p.y, p.z])
        if not np.all(np.isfinite(goal)):
            self.get_logger().warning("ignoring goal with non-finite position", throttle_duration_sec=2.0)
            return
        if msg.header.frame_id not in ("", self.base_frame):
            self.get_logger().warning(f"ignoring goal in frame '{msg.header.frame_id}': goals must be in "
                                      f"'{self.base_frame}'", throttle_duration_sec=2.0)
            return
        with self.lock:
            self.goal = goal
        self.get_logger().info(f"new goal {np.round(goal, 3).tolist()}")

    def on_model(self, msg: String) -> None:
        try:
            model, metadata = load_checkpoint(msg.data, self.device)
        except CheckpointError as error:
            self.get_logger().error(f"keeping the current model: {error}")
            return
        problem = self.incompatibility(model, metadata)
        if problem:
            self.get_logger().error(f"keeping the current model: {msg.data} {problem}")
            return
        if self.mpc is None:
            self.mpc = ReachMPC(self.spec, model, **self.mpc_options)
        else:
            self.mpc.set_model(model)
        self.model_version, self.model_path = int(metadata.get("version", 0)), msg.data
        self.get_logger().info(f"loaded model version {self.model_version} from {msg.data}")

    def incompatibility(self, model, metadata) -> str | None:
        if metadata.get("joints") != list(self.spec.joints):
            return f"was trained for joints {metadata.get('joints')}"
        if abs(float(metadata.get("dt", 0.0)) - 1.0 / self.control_rate) > 1e-6:
            return f"was trained for a {metadata.get('dt')} s step, this controller runs at {self.control_rate} Hz"
        if metadata.get("command_mode") != self.spec.command_mode:
            return f"was trained on {metadata.get('command_mode')} commands"
        if (model.state_dim, model.action_dim) != (self.spec.state_dim, self.spec.dof):
            return f"has {model.state_dim} states and {model.action_dim} actions"
        return None

    # Control -------------------------------------------------------------------------------------
    def control_loop(self) -> None:
        """Tick at the control rate; after an overrun, start the next period at once (no burst)."""
        period = 1.0 / self.control_rate
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            self.on_control()
            next_tick += period
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick = time.monotonic()
            self.stopping.wait(max(0.0, delay))

    def on_control(self) -> None:
        period = 1.0 / self.control_rate
        started = time.monotonic()
        with self.lock:
            state, age, goal = self.state, started - self.state_time, self.goal
        if state is None or age > self.state_timeout:
            self.mode = "stale state: safe command" if state is not None else "waiting for state"
            if state is not None:
                self.get_logger().warning(f"state is {age:.2f} s old: sending the safe command",
                                          throttle_duration_sec=2.0)
            self.send(self.safe_command(state), state)
            return
        if self.mpc is None:
            self.mode = "exploring"
            self.send(self.explorer(state), state)
        elif goal is None:
            self.mode = "holding: no goal"
            self.send(self.safe_command(state), state)
        else:
            self.mode = "reaching"
            # A new goal: forget the old plan. Done here, not in on_goal, so that only this thread
            # ever touches the planner.
            if goal is not self.planned_goal:
                self.mpc.reset()
                self.planned_goal = goal
            command, info = self.mpc.act(state, goal, deadline=started + self.deadline_fraction * period)
            self.latencies.append(info["latency"])
            self.disagreement = info["disagreement"]
            self.send(command, state)
            self.publish_plan(info["predicted_ee"])

    def safe_command(self, state: np.ndarray | None) -> np.ndarray | None:
        """Hold still; None for a position-controlled robot whose position is not known yet."""
        if state is None and self.spec.command_mode == "position":
            return None
        return self.spec.safe_command(None if state is None else state[: self.spec.dof])

    def send(self, command: np.ndarray | None, state: np.ndarray | None) -> None:
        """Publish a command, replaced by the safe one if it is not finite, and clamped to the limits."""
        if command is not None and not np.all(np.isfinite(command)):
            self.get_logger().error("planner produced a non-finite command: sending the safe command",
                                    throttle_duration_sec=2.0)
            command = self.safe_command(state)
        if command is None:
            return
        low, high = self.spec.command_bounds
        self.command_pub.publish(Float64MultiArray(data=np.clip(command, low, high).tolist()))

    def publish_plan(self, positions: np.ndarray) -> None:
        path = Path()
        path.header.frame_id = self.base_frame
        path.header.stamp = self.get_clock().now().to_msg()
        for x, y, z in positions:
            pose = PoseStamped()
            pose.header = path.header
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = float(x), float(y), float(z)
            pose.pose.orientation.w = 1.0
            path.poses.append(pose)
        self.plan_pub.publish(path)

    def publish_diagnostics(self) -> None:
        latencies = np.array(self.latencies) * 1000.0
        late = latencies.size and np.percentile(latencies, 99) > 1000.0 / self.control_rate
        level = OK if self.mode in ("exploring", "reaching", "holding: no goal") and not late else WARN
        values = {"mode": self.mode, "model_version": self.model_version, "model_path": self.model_path,
                  "rejected_states": self.rejected, "plan_disagreement": f"{self.disagreement:.3g}"}
        if latencies.size:
            values.update({"plan_latency_p50_ms": f"{np.percentile(latencies, 50):.1f}",
                           "plan_latency_p99_ms": f"{np.percentile(latencies, 99):.1f}"})
        self.diagnostics.publish(self.diagnostic(level, self.mode, values))

    def on_shutdown(self) -> None:
        self.stopping.set()
        self.control_thread.join(timeout=2.0)
        with self.lock:
            state = self.state
        self.send(self.safe_command(state), state)
        self.get_logger().info("stopping: sent the safe command")


def main(args=None):
    raise SystemExit(run(ControllerNode, args=args))


if __name__ == "__main__":
    main()
