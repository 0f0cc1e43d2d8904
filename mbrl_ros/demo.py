"""The main job: learn a task from scratch through ROS 2 topics, and report how well it went.

Starts the four nodes as processes, then plays the user: waits for the first learned model, sends
goals on /mbrl/goal (the robot's scenario in the `demo_user` section of its config: random or
fixed goals, an optional learning phase and hold), and measures the distance to each from the
robot's state topics with the task's own error measure. Where the scenario names a baseline, it
is flown on the same goals and reported alongside.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import Header, String
from tqdm import tqdm

from .core.data.bag import RESET_TOPIC
from .core.params import configured_policy, node_parameters
from .core.paths import robot_config
from .core.robots.joint_state import BadState
from .core.robots.robot import RobotSpec
from .core.tasks import make_task
from .launcher import NODES, Stack
from .nodes.common import COMMAND_QOS, LATCHED_QOS, STATE_QOS
from .nodes.messages import message_class
from .plotting import two_panels

SETTLED_SECONDS = 2.0  # the end of each goal, where the robot should hold still


class DemoUser(Node):
    """Watches the robot and the trainer, and sends goals."""

    SAMPLE = 0.1  # s between error samples

    def __init__(self, spec: RobotSpec, task, stack: Stack | None = None):
        super().__init__("demo_user")
        self.spec, self.task, self.stack = spec, task, stack
        self.features: dict[str, np.ndarray] = {}
        self.model_path = self.policy_path = None
        self.episode_ends: list[str] = []
        self.node_status: dict[str, dict] = {}  # node name -> its newest diagnostic values
        self.create_subscription(Header, RESET_TOPIC, lambda m: self.episode_ends.append(m.frame_id), COMMAND_QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 50)
        self.goal_type = message_class(task.goal_msgtype)
        self.goal_pub = self.create_publisher(self.goal_type, "/mbrl/goal", 10)
        for source in spec.state.sources:
            self.create_subscription(message_class(source.msgtype), source.topic, self.on_state(source), STATE_QOS)
        self.create_subscription(String, "/mbrl/model", self.on_model, LATCHED_QOS)
        self.create_subscription(String, "/mbrl/policy", self.on_policy, LATCHED_QOS)

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

    def on_policy(self, msg: String) -> None:
        self.policy_path = msg.data

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.node_status[status.name.split(":")[-1].strip().lstrip("/")] = {kv.key: kv.value
                                                                            for kv in status.values}

    def pursue(self, goal: np.ndarray, seconds: float, curve: list | None = None, index: int = 0,
               started: float = 0.0) -> list[float]:
        """Send a goal and sample the error every SAMPLE s for `seconds`; returns the errors."""
        self.send_goal(goal)
        errors = [self.error(goal)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.spin_for(self.SAMPLE)
            self.check_alive()
            errors.append(self.error(goal))
            if curve is not None:
                curve.append((time.monotonic() - started, index, errors[-1]))
        return errors

    def pursue_random_goals_until(self, condition, timeout: float, what: str, rng, seconds: float) -> None:
        """Random goals, `seconds` each, until `condition()` holds; the robot learns on meanwhile."""
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"no {what} within {timeout:.0f} s")
            self.pursue(self.task.random_goal(rng), seconds)

    def final_model_in_use(self) -> bool:
        """The trainer has learned from all the data it may (`max_transitions`), and the controller
        plans with that model."""
        trainer, controller = self.node_status.get("trainer", {}), self.node_status.get("controller", {})
        return trainer.get("data_full") == "True" and controller.get("model_version") == trainer.get("model_version")

    def commanding(self, policy: str) -> bool:
        return commanding_as_measured(policy, self.node_status, self.policy_path is not None)

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

    def check_alive(self) -> None:
        """Stop the demo when a node has died: its figures would mean nothing."""
        if self.stack is not None and self.stack.dead():
            raise RuntimeError(f"node(s) exited early: {self.stack.dead()}; see their logs")

    def wait_for(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        with tqdm(desc=what, unit="s", total=int(timeout), leave=False) as bar:
            while not condition():
                if time.monotonic() > end:
                    raise TimeoutError(f"no {what} within {timeout:.0f} s")
                self.check_alive()
                self.spin_for(1.0)
                bar.update(1)


def commanding_as_measured(policy: str, node_status: dict, policy_arrived: bool) -> bool:
    """Whether the controller commands as the goals are to be measured, from the nodes' /diagnostics
    (`node_status`: node -> values): with `policy: auto`, from a planner whose plans do not fall
    short of the configured ones, or once the policy_trainer is done with the controller's model (its
    policy arrived, or failed its check and what flew before flies on); with act or propose, once the
    first policy has arrived."""
    if policy != "auto":
        return policy_arrived
    controller, trainer = node_status.get("controller", {}), node_status.get("policy_trainer", {})
    model, source = controller.get("model_version"), controller.get("commands_from")
    rejected = trainer.get("learned_version") == model != trainer.get("policy_version")
    planning = source == "planner" and controller.get("plan_too_slow") != "True"
    return planning or (source == "policy" and controller.get("policy_version") == model) or rejected


@dataclass
class Scenario:
    """What the demo asks of a robot, from the `demo_user` section of its config."""

    targets: int = 10  # random goals measured, when no fixed goals are given
    target_seconds: float = 8.0  # time given to each goal
    goals: list = field(default_factory=list)  # fixed goals, flattened; measured in this order
    learn_seconds: float = 0.0  # random goals pursued after the first model before measuring (more data)
    hold_seconds: float = 0.0  # then: hold the last goal this long, after target_seconds to settle
    baseline: str = ""  # a baseline flown on the same goals in-process, reported alongside

    @classmethod
    def from_config(cls, params_file: Path, **overrides) -> "Scenario":
        given = {k: v for k, v in overrides.items() if v is not None}
        values = {**node_parameters(params_file, "demo_user"), **given}
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def fixed_goals(self, goal_dim: int) -> list[np.ndarray]:
        return [np.array(g, float) for g in np.reshape(self.goals, (-1, goal_dim))] if self.goals else []


def run_demo(robot: str, out_dir: Path, targets: int | None = None, target_seconds: float | None = None,
             model_timeout: float = 300.0, seed: int = 1, gui: bool = False, policy: str | None = None,
             policy_timeout: float = 1800.0) -> dict:
    """Learn the robot's task from scratch through the ROS 2 nodes and measure it. With `policy`
    act or propose (given, or the config's), a policy_trainer runs too, and the goals are measured once its
    first policy is in use; with auto, once the controller plans, or acts with the policy of its model."""
    started = time.monotonic()
    params_file = robot_config(robot)
    params = node_parameters(params_file, "controller")
    spec = RobotSpec.from_params(params)
    task = make_task(params.get("task", "reach"), spec, params)
    scenario = Scenario.from_config(params_file, targets=targets, target_seconds=target_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    overrides = {"data_dir": str(out_dir / "data"), "checkpoint_dir": str(out_dir / "models")}
    if gui:
        overrides["gui"] = True
    overrides["policy"] = policy = configured_policy(params_file, policy)  # --policy off: off, whatever the config
    nodes = NODES + (("policy_trainer",) if policy != "off" else ())
    rng = np.random.default_rng(seed)
    goal_dim = len(task.random_goal(np.random.default_rng(0)))
    goals = scenario.fixed_goals(goal_dim) or [task.random_goal(rng) for _ in range(scenario.targets)]
    results, curve, hold = [], [], {}

    hold_text = f", then a {scenario.hold_seconds:.0f} s hold" if scenario.hold_seconds else ""
    print(f"mbrl_ros demo: {robot}, {len(goals)} goals of {scenario.target_seconds:.0f} s{hold_text}; "
          f"results in {out_dir}")
    rclpy.init()
    stack = Stack(params_file, overrides, nodes=nodes, log_dir=out_dir / "logs").start()
    try:
        user = DemoUser(spec, task, stack)
        user.wait_for(lambda: user.state is not None, 60.0, "robot state")
        print("exploring until the trainer publishes its first model ...")
        user.wait_for(lambda: user.model_path is not None, model_timeout, "first model")
        learned_after = time.monotonic() - started
        print(f"first model after {learned_after:.0f} s: {user.model_path}")
        if scenario.learn_seconds:
            print(f"learning on: random goals for {scenario.learn_seconds:.0f} s while the trainer retrains ...")
            end = time.monotonic() + scenario.learn_seconds
            while time.monotonic() < end:
                user.pursue(task.random_goal(rng), min(scenario.target_seconds, end - time.monotonic()))
        final_model_after = None
        if node_parameters(params_file, "trainer").get("max_transitions"):
            print("random goals until the controller plans with the model of all the data allowed ...")
            user.pursue_random_goals_until(user.final_model_in_use, model_timeout, "model of all the data allowed",
                                           rng, scenario.target_seconds)
            final_model_after = time.monotonic() - started
            print(f"final model after {final_model_after:.0f} s: {user.model_path}")
        policy_after = None
        if policy != "off":
            print(f"random goals until the controller commands with the policy or plans (policy: {policy}) ...")
            user.pursue_random_goals_until(lambda: user.commanding(policy), policy_timeout, "policy", rng,
                                           scenario.target_seconds)
            policy_after = time.monotonic() - started
            source = user.node_status.get("controller", {}).get("commands_from")
            print(f"commanding from the {source} after {policy_after:.0f} s (newest policy: {user.policy_path})")
        for index, goal in enumerate(tqdm(goals, desc="goals", unit="goal")):
            errors = user.pursue(goal, scenario.target_seconds, curve=curve, index=index, started=started)
            settled = errors[-round(SETTLED_SECONDS / DemoUser.SAMPLE):]
            results.append({"target": index, "goal": goal.tolist(), "start_error": errors[0],
                            "final_error": errors[-1], "settled_spread": float(np.ptp(settled)),
                            "model": user.model_path, "policy": user.policy_path})
            tqdm.write(f"goal {index + 1:2d}: {task.describe(errors[0])} -> {task.describe(errors[-1])}")
        if scenario.hold_seconds:
            print(f"holding {np.round(goals[-1], 3).tolist()} for {scenario.hold_seconds:.0f} s ...")
            errors = user.pursue(goals[-1], scenario.target_seconds + scenario.hold_seconds)
            held = np.array(errors[round(scenario.target_seconds / DemoUser.SAMPLE):])
            hold = {"goal": goals[-1].tolist(), "seconds": scenario.hold_seconds,
                    "rms_error": float(np.sqrt(np.mean(held ** 2))), "max_error": float(held.max())}
        user.destroy_node()
    finally:
        exit_codes = stack.stop()
        rclpy.try_shutdown()

    finals = np.array([r["final_error"] for r in results])
    summary = {
        "robot": robot, "unit": task.unit, "targets": results,
        "median_final_error_last5": float(np.median(finals[-5:])),
        "median_settled_spread_last5": float(np.median([r["settled_spread"] for r in results[-5:]])),
        "success_threshold": task.success_threshold, "success_rate": float(np.mean(finals <= task.success_threshold)),
        "hold": hold, "first_model_after_s": learned_after,
        "final_model_after_s": final_model_after, "wall_time_s": time.monotonic() - started,
        "policy": policy, "first_policy_after_s": policy_after,
        "episode_ends": user.episode_ends, **{node: user.node_status.get(node, {}) for node in nodes},
        "node_exit_codes": exit_codes,
        "target_seconds": scenario.target_seconds, "learn_seconds": scenario.learn_seconds,
    }
    if scenario.baseline:
        summary["baseline"] = run_baseline(scenario.baseline, params_file, spec, goals, scenario)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_learning_curve(curve, results, task, out_dir / "learning_curve.png")
    print_summary(summary, task)
    print(f"wrote {out_dir / 'summary.json'} and {out_dir / 'learning_curve.png'}")
    return summary


def run_baseline(name: str, params_file: Path, spec: RobotSpec, goals: list, scenario: Scenario) -> dict:
    """A hand-written controller on the same goals, in-process: the yardstick for the learned one."""
    from .core.sims import baseline

    rate = node_parameters(params_file, "controller")["control_rate"]
    figures = baseline(name)(spec, node_parameters(params_file, "sim"), goals, scenario.target_seconds,
                              scenario.hold_seconds, rate)
    return {"name": name, "command_mode": spec.command_mode, **figures}


def print_summary(summary: dict, task) -> None:
    finals = ", ".join(task.describe(r["final_error"]) for r in summary["targets"])
    print(f"final errors: {finals}")
    print(f"median final error over the last 5 goals: {task.describe(summary['median_final_error_last5'])}; "
          f"{summary['success_rate']:.0%} within {task.describe(summary['success_threshold'])}; "
          f"wall time {summary['wall_time_s']:.0f} s")
    print(f"at the goal, the error varies by {task.describe(summary['median_settled_spread_last5'])} (max - min over "
          f"the last {SETTLED_SECONDS:.0f} s of each goal, median of the last 5): how still it holds")
    plans, sim = summary.get("controller", {}), summary.get("sim", {})
    if "plan_latency_p50_ms" in plans:
        print(f"plan latency p50/p99 {plans['plan_latency_p50_ms']}/{plans['plan_latency_p99_ms']} ms, "
              f"{plans['plan_iterations_mean']} iterations (last 200 plans); "
              f"the sim fell {sim.get('seconds_behind_wall_clock', '?')} s behind the wall clock")
    if summary["policy"] != "off":
        print(f"policy: {summary['policy']}; the goals were pursued with commands from the "
              f"{plans.get('commands_from', '?')}, from {summary['first_policy_after_s']:.0f} s on")
    if summary["hold"]:
        print(f"hold: RMS error {task.describe(summary['hold']['rms_error'])} over {summary['hold']['seconds']:.0f} s")
    if "baseline" in summary:
        b = summary["baseline"]
        finals = b["goal_final_errors"]
        reached = np.mean(np.asarray(finals) <= task.success_threshold)
        print(f"baseline {b['name']}: final errors " + ", ".join(task.describe(e) for e in finals)
              + f"; {reached:.0%} within {task.describe(task.success_threshold)}"
              + (f"; hold RMS {task.describe(b['hold_rms_m'])}" if "hold_rms_m" in b else ""))


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
