"""The main job: learn to reach from scratch through ROS 2 topics, and report how well it went.

Starts the four nodes as processes, then plays the user: waits for the first learned model, sends
a sequence of random reachable goals on /mbrl/goal, and measures the end effector's distance to
each from /joint_states with the URDF's forward kinematics.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import rclpy
import torch
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from tqdm import tqdm

from .core.params import node_parameters
from .core.paths import robot_config
from .core.robots.joint_state import BadJointState, state_vector
from .core.robots.robot import RobotSpec
from .core.tasks.reach import joint_box, random_reachable_goal
from .launcher import Stack
from .nodes.common import LATCHED_QOS, STATE_QOS
from .plotting import two_panels


class DemoUser(Node):
    """Watches the robot and the trainer, and sends goals."""

    def __init__(self, spec: RobotSpec, base_frame: str):
        super().__init__("demo_user")
        self.spec, self.base_frame = spec, base_frame
        self.fk = spec.forward_kinematics().double()
        self.q, self.model_path = None, None
        self.goal_pub = self.create_publisher(PoseStamped, "/mbrl/goal", 10)
        self.create_subscription(JointState, "/joint_states", self.on_state, STATE_QOS)
        self.create_subscription(String, "/mbrl/model", self.on_model, LATCHED_QOS)

    def on_state(self, msg: JointState) -> None:
        try:
            self.q = state_vector(msg.name, msg.position, msg.velocity, self.spec.joints)[: self.spec.dof]
        except BadJointState:
            pass

    def on_model(self, msg: String) -> None:
        self.model_path = msg.data

    def ee_position(self) -> np.ndarray:
        with torch.no_grad():
            return self.fk.position(torch.as_tensor(self.q)).numpy()

    def send_goal(self, position: np.ndarray) -> None:
        msg = PoseStamped()
        msg.header.frame_id = self.base_frame
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, position)
        msg.pose.orientation.w = 1.0
        self.goal_pub.publish(msg)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self, timeout_sec=min(0.05, max(0.0, end - time.monotonic())))

    def wait_for(self, condition, timeout: float, what: str, stack: Stack) -> None:
        end = time.monotonic() + timeout
        with tqdm(desc=what, unit="s", total=int(timeout), leave=False) as bar:
            while not condition():
                if time.monotonic() > end:
                    raise TimeoutError(f"no {what} within {timeout:.0f} s")
                if stack.dead():
                    raise RuntimeError(f"node(s) exited early: {stack.dead()}")
                self.spin_for(1.0)
                bar.update(1)


def run_demo(robot: str, out_dir: Path, targets: int = 10, target_seconds: float = 8.0,
             model_timeout: float = 300.0, seed: int = 1, gui: bool = False) -> dict:
    started = time.monotonic()
    params_file = robot_config(robot)
    params = node_parameters(params_file, "controller")
    spec = RobotSpec.from_params(params)
    low, high = joint_box(params["workspace_center"], params["workspace_span"], spec.position_lower,
                          spec.position_upper)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    overrides = {"data_dir": str(out_dir / "data"), "checkpoint_dir": str(out_dir / "models")}
    if gui:
        overrides["gui"] = True
    rng = np.random.default_rng(seed)
    results, curve = [], []

    print(f"mbrl_ros demo: {robot}, {targets} targets of {target_seconds:.0f} s, results in {out_dir}")
    rclpy.init()
    stack = Stack(params_file, overrides, log_dir=out_dir / "logs").start()
    try:
        user = DemoUser(spec, params.get("base_frame", "world"))
        user.wait_for(lambda: user.q is not None, 60.0, "joint states", stack)
        print("exploring until the trainer publishes its first model ...")
        user.wait_for(lambda: user.model_path is not None, model_timeout, "first model", stack)
        learned_after = time.monotonic() - started
        print(f"first model after {learned_after:.0f} s: {user.model_path}")
        for index in tqdm(range(targets), desc="targets", unit="target"):
            _, goal = random_reachable_goal(user.fk, low, high, rng)
            user.send_goal(goal)
            start_error = float(np.linalg.norm(user.ee_position() - goal))
            goal_started = time.monotonic()
            while time.monotonic() - goal_started < target_seconds:
                user.spin_for(0.1)
                curve.append((time.monotonic() - started, index, float(np.linalg.norm(user.ee_position() - goal))))
            final = curve[-1][2]
            results.append({"target": index, "goal": goal.tolist(), "start_error_m": start_error,
                            "final_error_m": final, "model": user.model_path})
            tqdm.write(f"target {index + 1:2d}: {start_error * 100:5.1f} cm -> {final * 100:5.2f} cm")
        user.destroy_node()
    finally:
        exit_codes = stack.stop()
        rclpy.try_shutdown()

    last = [r["final_error_m"] for r in results[-5:]]
    summary = {
        "robot": robot, "targets": results, "median_final_error_last5_m": float(np.median(last)),
        "first_model_after_s": learned_after, "wall_time_s": time.monotonic() - started,
        "node_exit_codes": exit_codes, "target_seconds": target_seconds,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_learning_curve(curve, results, out_dir / "learning_curve.png")
    print(f"median final error over the last 5 targets: {summary['median_final_error_last5_m'] * 100:.2f} cm; "
          f"wall time {summary['wall_time_s']:.0f} s")
    print(f"wrote {out_dir / 'summary.json'} and {out_dir / 'learning_curve.png'}")
    return summary


def plot_learning_curve(curve: list, results: list, path: Path) -> None:
    with two_panels(path) as (left, right):
        if curve:
            times, targets, errors = map(np.array, zip(*curve))
            for index in np.unique(targets):
                mask = targets == index
                left.plot(times[mask], errors[mask] * 100, color="tab:blue")
        left.set(xlabel="time since start (s)", ylabel="end-effector error (cm)", yscale="log",
                 title="Distance to each goal over time")
        finals = [r["final_error_m"] * 100 for r in results]
        right.bar(range(1, len(finals) + 1), finals, color="tab:green")
        right.axhline(3.0, color="tab:red", linestyle="--", label="3 cm")
        right.set(xlabel="target", ylabel="final error (cm)", title="Final error per target")
        right.legend()
