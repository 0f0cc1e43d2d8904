"""controller: explores until a model arrives, then pursues /mbrl/goal with sampling-based MPC, or
with a policy distilled from it (one forward pass per command, hot-reloaded like the model).

What the robot is (state sources, command interface), the task (cost, goal message) and the
exploration all come from parameters, so one node drives any robot its config describes. State comes
in on best-effort subscriptions; planning runs in its own thread at a fixed rate, so a long plan
never delays the newest state. The node owns the safety checks a forward command controller lacks:
it commands only while armed (~/enable, an e-stop topic, the robot's ready signal); stale state, NaN,
and plans the ensemble disagrees on give the safe command; commands stay within the bounds, the
rate limits, the joint limits less a margin and an end-effector box; the safe command goes out on
disarming and on shutdown; a dry run sends to a shadow topic only.
"""

from __future__ import annotations

import pathlib
import threading
import time
import traceback
from collections import deque

import numpy as np
import torch
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from std_msgs.msg import Bool, Header
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from ..core.control.arming import Arming
from ..core.control.exploration import EXPLORERS, make_explorer
from ..core.control.guard import GUARDED_MODES, MotionGuard
from ..core.control.limits import CommandLimiter, load_rate_limits
from ..core.control.mpc import MPC
from ..core.control.trajectory import TRAJECTORY_MODES, Trajectory, follow, hold
from ..core.data.bag import RESET_TOPIC
from ..core.models.ensemble import GaussianEnsemble
from ..core.models.learner import incompatibility, torch_device
from ..core.paths import find_shared_file
from ..core.planning.rollout import rollout
from ..core.policies import POLICY_USES
from ..core.policies.policy import Policy, policy_command
from ..core.policies.sac import SoftValue
from ..core.robots.joint_state import BadState
from ..core.robots.kinematics import ForwardKinematics
from ..core.robots.urdf import load_chain
from ..core.tasks import BadGoal
from .checkpoints import CheckpointInbox
from .common import (
    COMMAND_QOS,
    LATCHED_QOS,
    OK,
    STATE_QOS,
    WARN,
    CheckedNode,
    ParameterError,
    in_range,
    non_negative,
    one_of,
    positive,
    run,
    set_torch_threads,
)
from .messages import message_class, trajectory_message
from .planning import declare_planner, declare_task

NORMAL_MODES = ("exploring", "pursuing the goal", "settled at the goal", "holding: no goal")


class ControllerNode(CheckedNode):
    def __init__(self):
        super().__init__("controller")
        self.spec = spec = self.robot_spec()
        self.control_rate = self.param("control_rate", 20.0, "control rate in Hz", in_range(1.0, 1000.0))
        self.state_timeout = self.param("state_timeout", 0.25, "seconds after which state is stale", positive)
        self.max_command_gap = self.param("max_command_gap", 1.5 / self.control_rate, "seconds a plan may keep "
                                          "the robot without a command before the safe command goes out", positive)
        self.deadline_fraction = self.param("plan_deadline_fraction", 0.8,
                                            "share of the control period planning may use", in_range(0.1, 1.0))
        self.plan_ahead = self.param("plan_ahead", False, "plan a period ahead: from the state predicted under the "
                                     "command in flight, sending the result at the next tick (for fast robots)")
        exploration = self.param("exploration", "waypoints", "how to move before the first model",
                                 one_of(*EXPLORERS))
        self.policy_use = self.param("policy", "off", "a distilled policy, once one arrives: act (it gives every "
                                     "command, one forward pass each), propose (the planner also samples around "
                                     "its rollout) or off", one_of(*POLICY_USES))
        self.policy_rate = self.param("policy_rate", 0.0, "with policy: act, the rate it commands at, Hz, up to the "
                                      "state's rate; 0: control_rate", in_range(0.0, 1000.0))
        self.terminal_value_weight = self.param("terminal_value_weight", 0.0, "with a value function from the "
                                                "policy_trainer (method mbpo), the weight of its value at a plan's "
                                                "end, subtracted from the plan's cost; 0: none", non_negative)
        self.max_disagreement = self.param("max_disagreement", 0.0, "ensemble disagreement along the chosen plan "
                                           "above which the safe command goes out instead; 0: no limit", non_negative)
        limits_file = self.param("joint_limits_file", "", "ros2_control joint_limits YAML whose acceleration and "
                                 "jerk limits bound how fast commands change; empty: none")
        self.limiter = None
        if limits_file:
            try:
                limits = load_rate_limits(find_shared_file(limits_file, "config"), spec.joints, spec.command_mode)
            except (OSError, ValueError) as error:
                raise ParameterError(f"joint_limits_file: {error}") from error
            self.limiter = CommandLimiter(limits, 1.0 / self.control_rate)
        self.guard = self.motion_guard()
        self.guard_cuts, self.rate_limit_cuts = 0, [0, 0]  # cuts of planned, explored commands
        self.dry_run = self.param("dry_run", False, "send commands to <command_topic>/dry_run only, and say in "
                                  "/diagnostics what would have been sent")
        self.device = torch_device(self.param("device", "auto", "torch device: auto, cpu or cuda"))
        seed = self.param("seed", 0, "random seed", non_negative)
        self.mpc_options = dict(
            **declare_planner(self),
            settle_margin=self.param("settle_margin", 0.0, "cost a plan must be predicted to save over holding "
                                     "still for the robot to move (reach: metres of mean distance to the goal); "
                                     "0: always follow the plan", non_negative),
            hold_tolerance=self.param("hold_tolerance", 0.0, "hold still once the task's error is within this "
                                      "(the task's unit), until it is twice as large; 0: never", non_negative),
            device=self.device, seed=seed,
            max_action_change=self.limiter.limits.max_change / self.control_rate if self.limiter else None)
        for name in ("settle_margin", "hold_tolerance"):
            if self.mpc_options[name] and not spec.command.safe_holds_still:
                raise ParameterError(f"parameter '{name}' needs a safe command that holds the robot still, which "
                                     f"{spec.command_mode} commands have not (position and velocity have); set it to 0")
        set_torch_threads(self.param("torch_threads", 1, "CPU threads for planning", in_range(1, 256)))
        self.task = declare_task(self, spec, self.device)
        try:
            self.explorer = make_explorer(exploration, spec, self.declare_all(EXPLORERS[exploration].PARAMETERS),
                                          1.0 / self.control_rate, np.random.default_rng(seed))
        except (OSError, ValueError, KeyError) as error:
            raise ParameterError(f"{exploration} exploration: {error}") from error
        self.rng = np.random.default_rng(seed)

        self.mpc: MPC | None = None
        self.policy: Policy | None = None
        self.policy_version, self.policy_fallbacks = 0, 0
        self.period = 1.0 / self.control_rate  # of the control loop: shorter where a policy acts faster
        self.planned_goal = None
        self.model_version, self.model_path = 0, ""
        self.lock = threading.Lock()
        self.features: dict[str, tuple[np.ndarray, float]] = {}  # topic -> (features, arrival time)
        self.goal = None
        self.hold = None  # the task's goal while none has been given
        self.pending = None  # with plan_ahead: the command planned for the next tick
        self.pending_tail = ()  # ... and the plan's commands after it
        self.last_command: np.ndarray | None = None
        self.said_estimated = False
        self.stamps: dict[str, float] = {}  # topic -> header stamp of its newest message
        self.latencies: deque = deque(maxlen=200)
        self.iterations: deque = deque(maxlen=200)  # planner iterations each plan finished by its deadline
        self.state_ages: deque = deque(maxlen=200)  # s from the oldest state stamp to each plan's start
        self.mode, self.rejected, self.disagreement = "waiting for state", 0, float("nan")

        self.command_type = message_class(spec.command.msgtype)
        command_topic = spec.command.topic + ("/dry_run" if self.dry_run else "")
        self.command_pub = self.create_publisher(self.command_type, command_topic, COMMAND_QOS)
        self.trajectory_pub, self.trajectory_steps = self.trajectory_output()
        self.plan_pub = self.create_publisher(Path, self.param("plan_topic", "/mbrl/plan", "nav_msgs/Path: the "
                                                               "predicted trajectory, for rviz"), 10)
        self.diagnostics = self.diagnostics_publisher()
        for source in spec.state.sources:
            self.create_subscription(message_class(source.msgtype), source.topic, self.state_callback(source),
                                     STATE_QOS)
        self.create_subscription(message_class(self.task.goal_msgtype), self.param("goal_topic", "/mbrl/goal",
                                 "the task's goal message"), self.on_goal, 10)
        checkpoints = self.param("checkpoint_dir", "~/.ros/mbrl_ros/models", "where the trainer writes checkpoints")
        received = pathlib.Path(checkpoints).expanduser() / "received"  # checkpoints that came as bytes
        CheckpointInbox(self, GaussianEnsemble, "model", self.model_topics(), received, self.device, self.model_fits,
                        self.use_model)
        if self.policy_use != "off":
            CheckpointInbox(self, Policy, "policy", self.policy_topics(), received, self.device, self.learned_fits,
                            self.use_policy)
        self.value = None
        if self.terminal_value_weight:
            CheckpointInbox(self, SoftValue, "value", self.value_topics(), received, self.device, self.learned_fits,
                            self.use_value)
        reset_topic = self.param("reset_topic", RESET_TOPIC, "std_msgs/Header episode ends (a crash, a reset)")
        self.create_subscription(Header, reset_topic, self.on_episode_end, COMMAND_QOS)
        self.episode_ended = threading.Event()
        self.arming = Arming(self.param("start_enabled", False, "command the robot from the start; otherwise "
                                        "wait for ~/enable"))
        self.create_service(SetBool, "~/enable", self.on_enable)
        self.create_subscription(Bool, self.param("estop_topic", "/mbrl/estop", "std_msgs/Bool: true disarms at "
                                                  "once, until ~/enable is called again"), self.on_estop, COMMAND_QOS)
        ready_topic = self.param("ready_topic", "", "std_msgs/Bool the robot publishes (transient local), such as "
                                 "UR's robot_program_running: false disarms; empty: none")
        self.robot_ready = True
        if ready_topic:
            self.create_subscription(Bool, ready_topic, self.on_ready, LATCHED_QOS)
        self.create_timer(1.0, self.publish_diagnostics)
        self.stopping = threading.Event()
        self.send_lock = threading.Lock()  # the control thread and the watchdog both publish
        self.last_sent = time.monotonic()
        self.planning = False
        self.plan_overran, self.missed_deadlines = False, 0
        self.control_thread = threading.Thread(target=self.control_loop, name="control", daemon=True)
        self.control_thread.start()
        threading.Thread(target=self.watchdog_loop, name="watchdog", daemon=True).start()
        self.get_logger().info(f"{type(self.task).__name__}, {spec.command_mode} commands on {command_topic} "
                               f"at {self.control_rate:.0f} Hz, state {list(spec.state.topics)}, planning on "
                               f"{self.device}; " + ("enabled" if self.arming.armed else "waiting for ~/enable"))

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
            with self.lock:
                self.features[source.topic] = (features, time.monotonic())
                self.stamps[source.topic] = stamp.sec + 1e-9 * stamp.nanosec

        return on_state

    def on_goal(self, msg) -> None:
        try:
            goal = self.task.goal(msg)
        except BadGoal as error:
            self.get_logger().warning(f"ignoring goal: {error}", throttle_duration_sec=2.0)
            return
        with self.lock:
            repeated = self.goal is not None and np.array_equal(self.goal, goal)
            self.goal = goal
        if not repeated:  # a goal republished at a rate is one goal
            self.get_logger().info(f"new goal {np.round(goal, 3).tolist()}")

    def model_fits(self, model, metadata) -> str | None:
        return incompatibility(model, metadata, self.spec.model_signature(), 1.0 / self.control_rate)

    def use_model(self, model, metadata, path: str) -> None:
        if self.mpc is None:
            mpc = MPC(self.task, *self.spec.planning_bounds, model, **self.mpc_options)
            if self.policy_use == "propose" and self.policy is not None:
                mpc.set_policy(self.policy)
            mpc.set_terminal_value(self.value, self.terminal_value_weight)
            self.mpc = mpc
        else:
            self.mpc.set_model(model)
        self.model_version, self.model_path = int(metadata.get("version", 0)), path
        self.get_logger().info(f"loaded model version {self.model_version} from {path}")

    def learned_fits(self, network, metadata) -> str | None:
        """Why a policy or value function cannot serve this task and robot, or None."""
        if metadata.get("task") != type(self.task).__name__:
            return f"was learned for {metadata.get('task')}, not {type(self.task).__name__}"
        state = np.zeros(self.spec.state_dim)
        goal, state = self.task.tensor(self.probe_goal(state)), self.task.tensor(state[None])
        try:
            with torch.no_grad():
                network(state, self.task.goal_features(state, goal))
        except (RuntimeError, ValueError) as error:
            return f"does not take this task's goal features: {error}"
        return self.model_fits(network, metadata)

    def probe_goal(self, state: np.ndarray) -> np.ndarray:
        """A goal to try an arriving network on: the current one, else the one that holds the robot at
        `state`, else one the task draws (a fly_to config need not have a goal box to draw from)."""
        if self.goal is not None:
            return self.goal
        hold = self.task.hold_goal(state)
        return hold if hold is not None else self.task.random_goal(self.rng)

    def use_policy(self, policy, metadata, path: str) -> None:
        """Act or propose with `policy` from the next control step; acting, at `policy_rate`."""
        self.policy = policy.eval()
        if self.policy_use == "propose" and self.mpc is not None:
            self.mpc.set_policy(policy)
        if self.policy_use == "act" and self.policy_rate:
            self.set_period(1.0 / self.policy_rate)
        self.policy_version = int(metadata.get("version", 0))
        self.get_logger().info(f"loaded policy version {self.policy_version} from {path}: it will {self.policy_use}")

    def use_value(self, value, metadata, path: str) -> None:
        """Plan with `value` beyond the horizon from the next plan."""
        self.value = value.eval()
        if self.mpc is not None:
            self.mpc.set_terminal_value(self.value, self.terminal_value_weight)
        self.get_logger().info(f"loaded value function version {metadata.get('version', 0)} from {path}")

    def set_period(self, period: float) -> None:
        """Run the control loop, and judge rate limits and motion, at this period from now on."""
        self.period = period
        for check in (self.limiter, self.guard):
            if check is not None:
                check.dt = period

    def on_enable(self, request, response):
        if request.data and not self.robot_ready:
            response.success, response.message = False, "the robot is not ready: not enabled"
        elif request.data:
            self.arming.arm()
            response.success, response.message = True, "enabled: commanding from the measured state"
        elif self.arming.armed:
            self.disarm("disabled by ~/enable")
            response.success, response.message = True, "disabled: safe command sent, then nothing"
        else:
            response.success, response.message = True, "already disabled: nothing sent"
        self.get_logger().info(response.message)
        return response

    def on_estop(self, msg: Bool) -> None:
        if msg.data and self.arming.armed:
            self.disarm("e-stop")
            self.get_logger().warning("e-stop: disarmed until ~/enable is called again")

    def on_ready(self, msg: Bool) -> None:
        self.robot_ready = msg.data
        if not msg.data and self.arming.armed:
            self.disarm("the robot is not ready")
            self.get_logger().warning("the robot says it is not ready: disarmed")

    def disarm(self, reason: str) -> None:
        """Disarm and, if armed, send the safe command now rather than at the next tick; a plan that
        finishes later is not sent (`publish` drops commands while disarmed)."""
        if self.arming.armed:
            self.arming.disarm(reason)
            self.send_safe(self.newest_state(time.monotonic())[0])

    def trajectory_output(self):
        """A JointTrajectory publisher for a joint_trajectory_controller, and the periods each
        trajectory covers; (None, 1) without one."""
        topic = self.param("trajectory_topic", "", "trajectory_msgs/JointTrajectory topic of a "
                           "joint_trajectory_controller to command through, as well as command_topic (which the "
                           "logger records); empty: command_topic only")
        steps = self.param("trajectory_steps", 5, "control periods each trajectory covers: the command and the "
                           "plan's next ones, ending at rest", in_range(1, 100))
        if not topic:
            return None, 1
        if self.spec.command_mode not in TRAJECTORY_MODES:
            raise ParameterError(f"parameter 'trajectory_topic': trajectories carry {TRAJECTORY_MODES} commands, "
                                 f"not {self.spec.command_mode}")
        topic += "/dry_run" if self.dry_run else ""
        return self.create_publisher(JointTrajectory, topic, COMMAND_QOS), steps

    def motion_guard(self) -> MotionGuard | None:
        """Joint position limits (from the URDF) less a margin and, if configured, an end-effector box,
        for joint velocity and position commands."""
        margin = self.param("position_margin", 0.05, "how far inside the URDF position limits a command may "
                            "take a joint, rad or m", non_negative)
        link = self.param("ee_box_link", "", "link kept inside the box ee_box_low..ee_box_high (m, in the URDF's "
                          "root frame); empty: no box")
        low, high = (self.param(f"ee_box_{corner}", [0.0], f"{corner} corner of the end-effector box")
                     for corner in ("low", "high"))
        if self.spec.command_mode not in GUARDED_MODES:
            return None
        end_effector, box = None, None
        if link:
            try:
                kinematics = ForwardKinematics(load_chain(self.spec.urdf_path, link), list(self.spec.joints)).double()
            except (OSError, ValueError, KeyError) as error:
                raise ParameterError(f"parameter 'ee_box_link': {error}") from error
            if len(low) != 3 or len(high) != 3:
                raise ParameterError(f"parameters 'ee_box_low' and 'ee_box_high' need 3 values (x, y, z), got {low} "
                                     f"and {high}")
            end_effector = lambda q: kinematics.position(torch.as_tensor(q)).numpy()  # noqa: E731
            box = (np.array(low), np.array(high))
        acceleration = self.limiter.limits.max_change if self.limiter and self.spec.command_mode == "velocity" else None
        try:
            return MotionGuard(self.spec.command_mode, self.spec.position_lower, self.spec.position_upper, margin,
                               1.0 / self.control_rate, acceleration, end_effector, box)
        except ValueError as error:
            raise ParameterError(f"parameter 'position_margin' or the end-effector box: {error}") from error

    def on_episode_end(self, msg: Header) -> None:
        """The robot restarted (a crash, a reset): a plan made for the old episode must not go out."""
        self.episode_ended.set()
        self.get_logger().info(f"episode ended ({msg.frame_id}): starting a fresh plan")

    def newest_state(self, now: float) -> tuple[np.ndarray | None, float]:
        """The state from every source's newest message, and the age of the oldest of them."""
        with self.lock:
            if len(self.features) < len(self.spec.state.sources):
                return None, np.inf
            state = self.spec.state.combine({topic: f for topic, (f, _) in self.features.items()})
            return state, now - min(t for _, t in self.features.values())

    # Control -------------------------------------------------------------------------------------
    def control_loop(self) -> None:
        next_tick = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.on_control()
            except Exception as error:  # noqa: BLE001 - a bug must not leave the robot on its last command
                self.control_failed(error)
            next_tick += self.period
            delay = next_tick - time.monotonic()
            if delay < 0:
                next_tick = time.monotonic()
            self.stopping.wait(max(0.0, delay))

    def control_failed(self, error: Exception) -> None:
        """Say what went wrong, forget the plan, and send the safe command; the loop runs on."""
        self.callback_errors += 1
        self.get_logger().error(f"control step raised {type(error).__name__}: {error}; sending the safe command\n"
                                f"{traceback.format_exc()}", throttle_duration_sec=5.0)
        with self.send_lock:
            self.planning = False
        self.mode, self.pending = f"error in the control step: safe command ({type(error).__name__})", None
        if self.mpc is not None:
            self.mpc.reset()
        self.send_safe(self.newest_state(time.monotonic())[0])

    def watchdog_loop(self) -> None:
        """A plan that overruns its deadline leaves the robot on its last command, which a forward
        controller holds: past `max_command_gap` the safe command goes out instead, at the control
        rate, until the plan returns; its late command is dropped."""
        period = 1.0 / self.control_rate
        while not self.stopping.wait(min(self.max_command_gap, period) / 4):
            with self.send_lock:
                limit = period if self.plan_overran else self.max_command_gap
                if not (self.planning and self.arming.armed) or time.monotonic() - self.last_sent <= limit:
                    continue
                if not self.plan_overran:
                    self.missed_deadlines += 1
                    self.get_logger().warning("the planner missed its deadline: sending the safe command",
                                              throttle_duration_sec=5.0)
                self.plan_overran = True
                self.mode = "planner missed its deadline: safe command"
            self.send_safe(self.newest_state(time.monotonic())[0])

    def on_control(self) -> None:
        started = time.monotonic()
        state, age = self.newest_state(started)
        with self.lock:
            goal = self.goal
        arming = self.arming.take()
        if arming.just_disarmed:
            self.send_safe(state)  # a forward controller holds the last command
        if not arming.armed:
            self.mode, self.pending = f"disarmed: {arming.reason}", None
            return
        if arming.just_armed:
            self.pending, self.planned_goal = None, None  # a fresh plan from the measured state
        if state is None or age > self.state_timeout:
            self.mode = "stale state: safe command" if state is not None else "waiting for state"
            if state is not None:
                self.get_logger().warning(f"state is {age:.2f} s old: sending the safe command",
                                          throttle_duration_sec=2.0)
            self.pending = None
            self.send_safe(state)
            return
        if self.mpc is None:
            self.mode = "exploring"
            self.send(self.explorer(state), state)
            return
        if goal is None:
            if self.hold is None:
                self.hold = self.task.hold_goal(state)
            goal = self.hold
        if goal is None:
            self.mode = "holding: no goal"
            self.pending = None
            self.send_safe(state)
            return
        self.mode = "pursuing the goal" if goal is not self.hold else "holding: no goal"
        self.pursue(state, goal, started)

    def pursue(self, state: np.ndarray, goal: np.ndarray, started: float) -> None:
        """Plan towards `goal` and command it. With plan_ahead, the command planned in the last period
        goes out now, at the moment its plan assumed, and this period's plan starts from the state
        that command is predicted to lead to and waits for the next tick: a fixed one-period delay
        the plan knows about, instead of a command that lands whenever the plan happens to finish.
        A fresh plan (the first, or after an episode end) goes out at once, its second step next."""
        # A new goal or episode: forget the old plan. Done here, not in the callbacks, so that only
        # this thread ever touches the planner.
        if self.episode_ended.is_set():
            self.episode_ended.clear()
            self.pending = None
            self.mpc.reset()
        if goal is not self.planned_goal:
            self.mpc.reset()
            self.planned_goal = goal
        if self.policy_use == "act" and self.policy is not None:
            if self.spec.in_workspace(state):
                self.act_with_policy(state, goal)
                return
            self.policy_fallbacks += 1  # outside the box the policy never saw: the planner brings it back
            self.get_logger().info("outside the workspace box: planning instead of the policy",
                                   throttle_duration_sec=5.0)
        ahead = self.plan_ahead and self.pending is not None
        if ahead:
            self.send(self.pending, state, self.pending_tail)
        with self.lock:
            self.state_ages.append(self.get_clock().now().nanoseconds * 1e-9 - min(self.stamps.values()))
        with self.send_lock:
            self.planning = True
        hold = self.spec.safe_command(state) if self.mpc.holds else None
        command, info = self.mpc.act(state, goal, started + self.deadline_fraction / self.control_rate,
                                     self.last_command if ahead else None, previous=self.last_command, hold=hold)
        with self.send_lock:
            self.planning, overran, self.plan_overran = False, self.plan_overran, False
        if info["settled"] and self.mode == "pursuing the goal":
            self.mode = "settled at the goal"
        self.latencies.append(info["latency"])
        self.iterations.append(info["iterations"])
        self.disagreement = info["disagreement"]
        if overran:
            self.mode, self.pending = "planner missed its deadline: safe command", None
            return
        if self.max_disagreement and self.disagreement > self.max_disagreement:
            self.mode, self.pending = "plan too uncertain: safe command", None
            self.send_safe(state)
            return
        if ahead:
            self.pending, self.pending_tail = command, info["actions"][1:]
        else:
            self.send(command, state, info["actions"][1:])
            self.pending = info["actions"][1] if self.plan_ahead and len(info["actions"]) > 1 else None
            self.pending_tail = info["actions"][2:]
        self.publish_plan(info["plan_points"])

    def act_with_policy(self, state: np.ndarray, goal: np.ndarray) -> None:
        """One forward pass of the policy, sent through the same checks as a plan's command; where
        the ensemble disagrees past `max_disagreement` on its next step, the safe command."""
        started = time.monotonic()
        command = policy_command(self.policy, self.task, state, goal)
        self.latencies.append(time.monotonic() - started)
        self.iterations.append(0)
        if self.max_disagreement:
            _, disagreement = rollout(self.mpc.model, self.task.tensor(state), self.task.tensor(command)[None, None],
                                      "expectation", with_disagreement=True)
            self.disagreement = float(disagreement.mean())
            if self.disagreement > self.max_disagreement:
                self.mode = "policy too uncertain: safe command"
                self.send_safe(state)
                return
        self.send(command, state)

    def send(self, command: np.ndarray, state: np.ndarray, plan_tail=()) -> None:
        """Publish a command within the rate limits, the motion guard and the command bounds; the
        safe one instead if it is not finite. `plan_tail`: the plan's commands after this one, for
        the trajectory output."""
        if not np.all(np.isfinite(command)):
            self.get_logger().error("a non-finite command (from the planner or the policy): sending the safe command",
                                    throttle_duration_sec=2.0)
            self.send_safe(state)
            return
        if self.limiter:
            limited = self.limiter(command)
            if not np.allclose(limited, command, rtol=0.0, atol=1e-6):
                self.rate_limit_cuts[self.mode == "exploring"] += 1
            command = limited
        command = self.guarded(command, state[self.spec.position_columns])
        trajectory = None
        if self.trajectory_pub:
            trajectory = follow(self.spec.command_mode, state[self.spec.position_columns],
                                self.trajectory_commands(command, state, plan_tail), self.period)
        self.publish(command, safe=False, trajectory=trajectory)

    def guarded(self, command: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The command within the motion guard (counting the cuts) and the command bounds."""
        if self.guard:
            cut = self.guard(command, positions)
            if not np.allclose(cut, command, rtol=0.0, atol=1e-6):
                self.guard_cuts += 1
                self.get_logger().info("a command was cut to keep within the joint limits or the end-effector box",
                                       throttle_duration_sec=10.0)
            command = cut
        return self.spec.command.clamp(command)

    def trajectory_commands(self, command: np.ndarray, state: np.ndarray, plan_tail) -> np.ndarray:
        """`trajectory_steps` commands: this one, then the plan's next ones (the last repeated where
        the plan is shorter), each guarded from the positions the ones before it lead to."""
        positions, commands = state[self.spec.position_columns], [command]
        tail = list(plan_tail)
        while len(commands) < self.trajectory_steps:
            following = tail[len(commands) - 1] if len(commands) <= len(tail) else commands[-1]
            positions = (positions + commands[-1] * self.period if self.spec.command_mode == "velocity"
                         else commands[-1])
            commands.append(self.guarded(np.asarray(following, float), positions))
        return np.array(commands)

    def send_safe(self, state: np.ndarray | None) -> None:
        """The robot's safe command, never rate-limited; nothing while it is unknown (a position
        hold before any state). A trajectory output stops where the joints are."""
        command = self.spec.safe_command(state)
        if command is None:
            return
        trajectory = None
        if self.trajectory_pub and state is not None:
            trajectory = hold(state[self.spec.position_columns], self.period)
        self.publish(self.spec.command.clamp(command), safe=True, trajectory=trajectory)

    def publish(self, command: np.ndarray, safe: bool, trajectory: Trajectory | None = None) -> None:
        with self.send_lock:
            if not (safe or self.arming.armed):
                return
            self.last_command, self.last_sent = command, time.monotonic()
            if self.limiter:
                self.limiter.sent(command, safe)
            self.command_pub.publish(self.spec.command.fill(self.command_type(), command))
            if trajectory is not None:
                self.trajectory_pub.publish(trajectory_message(self.spec.joints, trajectory))

    def publish_plan(self, points: np.ndarray) -> None:
        path = Path()
        path.header.frame_id = self.task.frame
        path.header.stamp = self.get_clock().now().to_msg()
        for x, y, z in points:
            pose = PoseStamped()
            pose.header = path.header
            pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = float(x), float(y), float(z)
            pose.pose.orientation.w = 1.0
            path.poses.append(pose)
        self.plan_pub.publish(path)

    def publish_diagnostics(self) -> None:
        latencies = np.array(self.latencies) * 1000.0
        late = latencies.size and np.percentile(latencies, 99) > 1000.0 * self.period
        normal = self.mode in NORMAL_MODES or self.mode.startswith("disarmed")
        level = OK if normal and not late else WARN
        values = {"mode": self.mode, "armed": self.arming.armed, "model_version": self.model_version,
                  "model_path": self.model_path, "policy": self.policy_use, "policy_version": self.policy_version,
                  "policy_fallbacks": self.policy_fallbacks,
                  "rejected_states": self.rejected,
                  "plan_disagreement": f"{self.disagreement:.3g}", "guard_cuts": self.guard_cuts,
                  "rate_limit_cuts_planned": self.rate_limit_cuts[0],
                  "rate_limit_cuts_exploring": self.rate_limit_cuts[1],
                  "missed_deadlines": self.missed_deadlines}
        if self.dry_run:
            would_send = self.last_command
            values["dry_run_would_send"] = "nothing yet" if would_send is None else np.round(would_send, 4).tolist()
        ages = np.array(self.state_ages) * 1000.0
        if latencies.size and ages.size:
            values.update({"plan_latency_p50_ms": f"{np.percentile(latencies, 50):.1f}",
                           "plan_latency_p99_ms": f"{np.percentile(latencies, 99):.1f}",
                           "state_age_p50_ms": f"{np.percentile(ages, 50):.1f}",
                           "state_age_p99_ms": f"{np.percentile(ages, 99):.1f}",
                           "plan_iterations_mean": f"{np.mean(self.iterations):.2f}"})
        self.diagnostics.publish(self.diagnostic(level, self.mode, values))

    def on_shutdown(self) -> None:
        armed = self.arming.armed
        self.disarm("shutting down")  # at once: a plan in progress may take a while to end
        self.stopping.set()
        self.control_thread.join(timeout=2.0)
        self.get_logger().info("stopping" + (": sent the safe command" if armed else ""))


def main(args=None):
    raise SystemExit(run(ControllerNode, args=args))


if __name__ == "__main__":
    main()
