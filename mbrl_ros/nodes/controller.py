"""controller: explores until a model arrives, then pursues /mbrl/goal with sampling-based MPC, or
with a policy distilled from it (one forward pass per command, hot-reloaded like the model).

What the robot is (state sources, command interface), the task (cost, goal message) and the
exploration all come from parameters, so one node drives any robot its config describes. Every
decision is the ROS-free control loop's (core/control/loop.py): this node declares its parameters,
feeds it messages, steps it on a thread of its own at the control rate (so a long plan never delays
the newest state), runs its watchdog on another, and publishes what it sends.
"""

from __future__ import annotations

import pathlib
import threading
import traceback

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.duration import Duration
from std_msgs.msg import Bool, Header
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from ..core.control.parameters import build_control_loop, read_controller
from ..core.control.trajectory import Trajectory
from ..core.data.bag import RESET_TOPIC
from ..core.models.ensemble import GaussianEnsemble
from ..core.models.learner import torch_device
from ..core.policies import PolicyUse
from ..core.policies.policy import Policy
from ..core.policies.sac import SoftValue
from ..core.robots.joint_state import BadState
from ..core.tasks import BadGoal
from .checkpoints import CheckpointInbox
from .common import (
    COMMAND_QOS,
    LATCHED_QOS,
    OK,
    STATE_QOS,
    WARN,
    CheckedNode,
    in_range,
    run,
    set_torch_threads,
)
from .messages import message_class, trajectory_message


class ControllerNode(CheckedNode):
    def __init__(self):
        super().__init__("controller")
        self.spec = spec = self.robot_spec()
        values = read_controller(self.declare)
        self.dry_run = self.param("dry_run", False, "send commands to <command_topic>/dry_run only, and say in "
                                  "/diagnostics what would have been sent")
        trajectory_topic = self.param("trajectory_topic", "", "trajectory_msgs/JointTrajectory topic of a "
                                      "joint_trajectory_controller to command through, as well as command_topic "
                                      "(which the logger records); empty: command_topic only")
        self.device = torch_device(self.param("device", "auto", "torch device: auto, cpu or cuda"))
        set_torch_threads(self.param("torch_threads", 1, "CPU threads for planning", in_range(1, 256)))
        armed = self.param("start_enabled", False, "command the robot from the start; otherwise wait for ~/enable")
        self.loop = build_control_loop(
            spec, values, self.publish, self.get_logger(), device=self.device, trajectories=bool(trajectory_topic),
            armed=armed, show_plan=self.publish_plan, wall_clock=lambda: self.get_clock().now().nanoseconds * 1e-9)
        settings, task = self.loop.settings, self.loop.task

        suffix = "/dry_run" if self.dry_run else ""
        self.command_type = message_class(spec.command.msgtype)
        self.command_pub = self.create_publisher(self.command_type, spec.command.topic + suffix, COMMAND_QOS)
        self.trajectory_pub = None
        if trajectory_topic:
            self.trajectory_pub = self.create_publisher(JointTrajectory, trajectory_topic + suffix, COMMAND_QOS)
        self.plan_pub = self.create_publisher(Path, self.param("plan_topic", "/mbrl/plan", "nav_msgs/Path: the "
                                                               "predicted trajectory, for rviz"), 10)
        self.rejected, self.said_estimated = 0, False
        self.model_version, self.model_path, self.policy_version = 0, "", 0

        self.diagnostics = self.diagnostics_publisher()
        for source in spec.state.sources:
            self.create_subscription(message_class(source.msgtype), source.topic, self.state_callback(source),
                                     STATE_QOS)
        self.create_subscription(message_class(task.goal_msgtype), self.param("goal_topic", "/mbrl/goal",
                                 "the task's goal message"), self.on_goal, 10)
        checkpoints = self.param("checkpoint_dir", "~/.ros/mbrl_ros/models", "where the trainer writes checkpoints")
        received = pathlib.Path(checkpoints).expanduser() / "received"  # checkpoints that came as bytes
        CheckpointInbox(self, GaussianEnsemble, "model", self.model_topics(), received, self.device,
                        self.loop.model_fits, self.use_model)
        if settings.policy_use is not PolicyUse.OFF:
            CheckpointInbox(self, Policy, "policy", self.policy_topics(), received, self.device,
                            self.loop.learned_fits, self.use_policy)
        if settings.terminal_value_weight:
            CheckpointInbox(self, SoftValue, "value", self.value_topics(), received, self.device,
                            self.loop.learned_fits, self.use_value)
        reset_topic = self.param("reset_topic", RESET_TOPIC, "std_msgs/Header episode ends (a crash, a reset)")
        self.create_subscription(Header, reset_topic, self.on_episode_end, COMMAND_QOS)
        self.create_service(SetBool, "~/enable", self.on_enable)
        self.create_subscription(Bool, self.param("estop_topic", "/mbrl/estop", "std_msgs/Bool: true disarms at "
                                                  "once, until ~/enable is called again"), self.on_estop, COMMAND_QOS)
        ready_topic = self.param("ready_topic", "", "std_msgs/Bool the robot publishes (transient local), such as "
                                 "UR's robot_program_running: false disarms; empty: none")
        if ready_topic:
            self.create_subscription(Bool, ready_topic, self.on_ready, LATCHED_QOS)
        self.create_timer(1.0, self.publish_diagnostics)
        self.stopping = threading.Event()
        self.control_thread = threading.Thread(target=self.control_loop, name="control", daemon=True)
        self.control_thread.start()
        threading.Thread(target=self.watchdog_loop, name="watchdog", daemon=True).start()
        self.get_logger().info(f"{type(task).__name__}, {spec.command_mode} commands on {spec.command.topic + suffix} "
                               f"at {settings.control_rate:.0f} Hz, state {list(spec.state.topics)}, planning on "
                               f"{self.device}; " + ("enabled" if armed else "waiting for ~/enable"))

    # Inputs --------------------------------------------------------------------------------------
    def state_callback(self, source):
        def on_state(msg) -> None:
            try:
                features = source.features(msg)
            except BadState as error:
                self.rejected += 1
                self.get_logger().warning(f"dropping {source.topic}: {error}", throttle_duration_sec=2.0)
                return
            if source.estimated and not self.said_estimated:
                self.said_estimated = True
                self.get_logger().info(f"{source.topic} has no velocity for {sorted(source.estimated)}: "
                                       "estimating it from positions")
            stamp = msg.header.stamp
            self.loop.take_state(source.topic, features, stamp.sec + 1e-9 * stamp.nanosec)

        return on_state

    def on_goal(self, msg) -> None:
        try:
            goal = self.loop.task.goal(msg)
        except BadGoal as error:
            self.get_logger().warning(f"ignoring goal: {error}", throttle_duration_sec=2.0)
            return
        if self.loop.set_goal(goal):  # a goal republished at a rate is one goal
            self.get_logger().info(f"new goal {np.round(goal, 3).tolist()}")

    def use_model(self, model, metadata, path: str) -> None:
        self.loop.use_model(model, background=True)  # not blocking the state's callbacks while plans are timed
        self.model_version, self.model_path = int(metadata.get("version", 0)), path
        self.get_logger().info(f"loaded model version {self.model_version} from {path}")

    def use_policy(self, policy, metadata, path: str) -> None:
        self.loop.use_policy(policy)
        self.policy_version = int(metadata.get("version", 0))
        self.get_logger().info(f"loaded policy version {self.policy_version} from {path}: it will "
                               f"{self.loop.settings.policy_use.value}")

    def use_value(self, value, metadata, path: str) -> None:
        self.loop.use_value(value)
        self.get_logger().info(f"loaded value function version {metadata.get('version', 0)} from {path}")

    def on_enable(self, request, response):
        response.success, response.message = self.loop.enable(request.data)
        self.get_logger().info(response.message)
        return response

    def on_estop(self, msg: Bool) -> None:
        if msg.data and self.loop.disarm("e-stop"):
            self.get_logger().warning("e-stop: disarmed until ~/enable is called again")

    def on_ready(self, msg: Bool) -> None:
        if self.loop.set_ready(msg.data):
            self.get_logger().warning("the robot says it is not ready: disarmed")

    def on_episode_end(self, msg: Header) -> None:
        self.loop.end_episode()
        self.get_logger().info(f"episode ended ({msg.frame_id}): starting a fresh plan")

    # Threads -------------------------------------------------------------------------------------
    def control_loop(self) -> None:
        next_tick = self.loop.clock()
        while not self.stopping.is_set():
            try:
                self.loop.step()
            except Exception as error:  # noqa: BLE001 - a bug must not leave the robot on its last command
                self.callback_errors += 1
                self.get_logger().error(f"control step raised {type(error).__name__}: {error}; sending the safe "
                                        f"command\n{traceback.format_exc()}", throttle_duration_sec=5.0)
                self.loop.fail(error)
            next_tick += self.loop.period
            delay = next_tick - self.loop.clock()
            if delay < 0:
                next_tick = self.loop.clock()
            self.stopping.wait(max(0.0, delay))

    def watchdog_loop(self) -> None:
        period = 1.0 / self.loop.settings.control_rate
        while not self.stopping.wait(min(self.loop.settings.max_command_gap, period) / 4):
            self.loop.watch()

    # Outputs -------------------------------------------------------------------------------------
    def publish(self, command: np.ndarray, trajectory: Trajectory | None) -> None:
        msg = self.spec.command.fill(self.command_type(), command)
        if hasattr(msg, "header"):  # a stamped command, such as diff_drive_controller's TwistStamped
            msg.header.stamp = self.get_clock().now().to_msg()
        self.command_pub.publish(msg)
        if trajectory is not None:
            self.trajectory_pub.publish(trajectory_message(self.spec.joints, trajectory))

    def publish_plan(self, points: np.ndarray) -> None:
        path = Path()
        path.header.frame_id = self.loop.task.frame
        path.header.stamp = self.get_clock().now().to_msg()
        for x, y, z in points:
            pose = PoseStamped()
            pose.header = path.header
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = float(x), float(y), float(z)
            pose.pose.orientation.w = 1.0
            path.poses.append(pose)
        self.plan_pub.publish(path)

    def publish_diagnostics(self) -> None:
        level = OK if self.loop.mode.normal and not self.loop.late() else WARN
        values = self.loop.diagnostics() | {
            "model_version": self.model_version, "model_path": self.model_path,
            "policy": self.loop.settings.policy_use.value, "policy_version": self.policy_version,
            "rejected_states": self.rejected}
        if self.dry_run:
            would_send = self.loop.last_command
            values["dry_run_would_send"] = "nothing yet" if would_send is None else np.round(would_send, 4).tolist()
        self.diagnostics.publish(self.diagnostic(level, self.loop.describe(), values))

    def on_shutdown(self) -> None:
        armed = self.loop.disarm("shutting down")  # at once: a plan in progress may take a while to end
        self.stopping.set()
        self.control_thread.join(timeout=2.0)
        # The process ends next: the safe command must have reached the robot's controller first.
        delivered = all(publisher.wait_for_all_acked(Duration(seconds=1.0))
                        for publisher in (self.command_pub, self.trajectory_pub) if publisher is not None)
        self.get_logger().info("stopping" + (": sent the safe command" if armed else "")
                               + ("" if delivered else ", not acknowledged within 1 s"))


def main(args=None):
    raise SystemExit(run(ControllerNode, args=args))


if __name__ == "__main__":
    main()
