"""The main job: learn a task from scratch through ROS 2 topics, and report how well it went.

Starts the four nodes as processes, then plays the user: waits for the first learned model, sends
a sequence of random reachable goals on /mbrl/goal, and measures the distance to each from the
robot's state topics with the task's own error measure.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from tqdm import tqdm

from .core.params import node_parameters
from .core.paths import robot_config
from .core.robots.joint_state import BadState
from .core.robots.robot import RobotSpec
from .core.tasks import make_task
from .launcher import Stack
from .nodes.common import LATCHED_QOS, STATE_QOS
from .nodes.messages import message_class
from .plotting import two_panels


class DemoUser(Node):
    """Watches the robot and the trainer, and sends goals."""

    def __init__(self, spec: RobotSpec, task):
        super().__init__("demo_user")
        self.spec, self.task = spec, task
        self.features: dict[str, np.ndarray] = {}
        self.model_path = None
        self.goal_type = message_class(task.goal_msgtype)
        self.goal_pub = self.create_publisher(self.goal_type, "/mbrl/goal", 10)
        for source in spec.state.sources:
            self.create_subscription(message_class(source.msgtype), source.topic, self.on_state(source), STATE_QOS)
        self.create_subscription(String, "/mbrl/model", self.on_model, LATCHED_QOS)

    def on_state(self, source):
        def record(msg) -> None:
            try:
                self.features[source.topic] = source.features(msg)
            except BadState:
                pass

        return record

    @property
    def state(self) -> np.ndarray | None:
        if len(self.features) < len(self.spec.state.sources):
            return None
        return self.spec.state.combine(self.features)

    def on_model(self, msg: String) -> None:
        self.model_path = msg.data

    def error(self, goal: np.ndarray) -> float:
        return self.task.error(self.state, goal)

    def send_goal(self, goal: np.ndarray) -> None:
        msg = self.task.fill_goal(self.goal_type(), goal)
        if hasattr(msg, "header"):
            msg.header.stamp = self.get_clock().now().to_msg()
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
    task = make_task(params.get("task", "reach"), spec, params)
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
        user = DemoUser(spec, task)
        user.wait_for(lambda: user.state is not None, 60.0, "robot state", stack)
        print("exploring until the trainer publishes its first model ...")
        user.wait_for(lambda: user.model_path is not None, model_timeout, "first model", stack)
        learned_after = time.monotonic() - started
        print(f"first model after {learned_after:.0f} s: {user.model_path}")
        for index in tqdm(range(targets), desc="targets", unit="target"):
            goal = task.random_goal(rng)
            user.send_goal(goal)
            start_error = user.error(goal)
            goal_started = time.monotonic()
            while time.monotonic() - goal_started < target_seconds:
                user.spin_for(0.1)
                curve.append((time.monotonic() - started, index, user.error(goal)))
            final = curve[-1][2]
            results.append({"target": index, "goal": goal.tolist(), "start_error": start_error,
                            "final_error": final, "model": user.model_path})
            tqdm.write(f"target {index + 1:2d}: {task.describe(start_error)} -> {task.describe(final)}")
        user.destroy_node()
    finally:
        exit_codes = stack.stop()
        rclpy.try_shutdown()

    last = [r["final_error"] for r in results[-5:]]
    summary = {
        "robot": robot, "unit": task.unit, "targets": results, "median_final_error_last5": float(np.median(last)),
        "success_threshold": task.success_threshold, "first_model_after_s": learned_after,
        "wall_time_s": time.monotonic() - started, "node_exit_codes": exit_codes, "target_seconds": target_seconds,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_learning_curve(curve, results, task, out_dir / "learning_curve.png")
    print(f"median final error over the last 5 targets: {task.describe(summary['median_final_error_last5'])}; "
          f"wall time {summary['wall_time_s']:.0f} s")
    print(f"wrote {out_dir / 'summary.json'} and {out_dir / 'learning_curve.png'}")
    return summary


def plot_learning_curve(curve: list, results: list, task, path: Path) -> None:
    with two_panels(path) as (left, right):
        if curve:
            times, targets, errors = map(np.array, zip(*curve))
            for index in np.unique(targets):
                mask = targets == index
                left.plot(times[mask], errors[mask], color="tab:blue")
        left.set(xlabel="time since start (s)", ylabel=f"error ({task.unit})", yscale="log",
                 title="Distance to each goal over time")
        finals = [r["final_error"] for r in results]
        right.bar(range(1, len(finals) + 1), finals, color="tab:green")
        right.axhline(task.success_threshold, color="tab:red", linestyle="--",
                      label=f"{task.success_threshold:g} {task.unit}")
        right.set(xlabel="target", ylabel=f"final error ({task.unit})", title="Final error per target")
        right.legend()
