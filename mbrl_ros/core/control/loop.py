"""The control loop: every decision the controller makes, without ROS.

Each tick, `step` takes the newest state and the goal and decides what goes out: nothing while
disarmed; the safe command on stale state; exploration until a model; then a plan (or the distilled
policy's command) towards the goal, through the safety chain (non-finite check, disagreement gate,
rate limits, joint margins and end-effector box, command bounds) and, for a
joint_trajectory_controller, as a trajectory that ends at rest. A watchdog (`watch`, on its own
thread) sends the safe command while a plan overruns its deadline. The node feeds it messages and
publishes what it sends; a sim runner can drive it the same way, in process.

Thread-safe as the node uses it: one thread steps, one watches, callbacks set state, goals and
arming, and swap models.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..models.learner import incompatibility
from ..planning.rollout import rollout
from ..policies import PolicyUse
from ..policies.policy import Policy, policy_command
from ..robots.robot import RobotSpec
from ..tasks import Task
from .arming import Arming
from .goal_integral import GoalIntegral
from .guard import MotionGuard
from .limits import CommandLimiter
from .mpc import MPC
from .plan_size import PlanFit, PlanSizer, PlanSize, median_time, resized
from .trajectory import Trajectory, follow, stop_at


class Mode(enum.Enum):
    """What the controller is doing; the value is the short name /diagnostics reports."""

    WAITING_FOR_STATE = "waiting_for_state"
    DISARMED = "disarmed"
    STALE_STATE = "stale_state"
    EXPLORING = "exploring"
    PURSUING = "pursuing"
    SETTLED = "settled"
    HOLDING = "holding"  # no goal given: holding where the robot is, or the safe command
    PLANNER_LATE = "planner_late"
    PLAN_UNCERTAIN = "plan_uncertain"
    POLICY_UNCERTAIN = "policy_uncertain"
    CONTROL_ERROR = "control_error"

    @property
    def normal(self) -> bool:
        return self in NORMAL_MODES


NORMAL_MODES = {Mode.DISARMED, Mode.EXPLORING, Mode.PURSUING, Mode.SETTLED, Mode.HOLDING}
DESCRIPTIONS = {
    Mode.WAITING_FOR_STATE: "waiting for state",
    Mode.DISARMED: "disarmed",
    Mode.STALE_STATE: "stale state: safe command",
    Mode.EXPLORING: "exploring",
    Mode.PURSUING: "pursuing the goal",
    Mode.SETTLED: "settled at the goal",
    Mode.HOLDING: "holding: no goal",
    Mode.PLANNER_LATE: "planner missed its deadline: safe command",
    Mode.PLAN_UNCERTAIN: "plan too uncertain: safe command",
    Mode.POLICY_UNCERTAIN: "policy too uncertain: safe command",
    Mode.CONTROL_ERROR: "error in the control step: safe command",
}


class Commander(enum.Enum):
    """Where the commands come from; /diagnostics reports the value as `commands_from`."""

    EXPLORER = "explorer"
    PLANNER = "planner"
    POLICY = "policy"


class Log(Protocol):
    """rclpy's logger, or anything with its methods (`throttle_duration_sec` may be ignored)."""

    def info(self, message: str, **kwargs) -> None: ...
    def warning(self, message: str, **kwargs) -> None: ...
    def error(self, message: str, **kwargs) -> None: ...


@dataclass(frozen=True)
class LoopSettings:
    control_rate: float  # Hz
    state_timeout: float  # s after which state is stale
    max_command_gap: float  # s a plan may keep the robot without a command
    deadline_fraction: float = 0.8  # share of the control period planning may use; 0: no deadline
    plan_ahead: bool = False
    command_delay: float = 0.0  # s from a state's measurement to its plan's command acting; < 0: measured
    policy_use: PolicyUse = PolicyUse.OFF
    policy_rate: float = 0.0  # Hz with policy act; 0: control_rate
    terminal_value_weight: float = 0.0
    max_disagreement: float = 0.0  # 0: no gate
    trajectory_steps: int = 0  # periods each trajectory covers; 0: no trajectory output
    fit_plan: bool = False  # size the plan to the deadline on this machine (with a deadline only)


class ControlLoop:
    def __init__(self, spec: RobotSpec, task: Task, explorer, settings: LoopSettings, mpc_options: dict,
                 send: Callable[[np.ndarray, Trajectory | None], None], log: Log, *,
                 limiter: CommandLimiter | None = None, guard: MotionGuard | None = None,
                 goal_integral: GoalIntegral | None = None, armed: bool = False,
                 show_plan: Callable[[np.ndarray], None] | None = None, rng: np.random.Generator | None = None,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        """`send(command, trajectory)` puts a command on the wire; `show_plan(points)` shows the plan's
        predicted path; `clock` times ticks, deadlines and staleness; `wall_clock` is the time of the
        state's header stamps."""
        self.spec, self.task, self.explorer, self.settings = spec, task, explorer, settings
        self.mpc_options, self.limiter, self.guard, self.goal_integral = mpc_options, limiter, guard, goal_integral
        self._send, self.log, self.show_plan, self.clock, self.wall_clock = send, log, show_plan, clock, wall_clock
        self.rng = rng or np.random.default_rng(0)
        self.arming = Arming(armed)
        self.robot_ready = True
        self.period = 1.0 / settings.control_rate  # of the loop: shorter where a policy acts faster

        self.mpc: MPC | None = None
        self.model_lock = threading.Lock()  # the learned parts, which callbacks and the fit swap
        self.newest_model, self.fitting = None, False
        self.sizer: PlanSizer | None = None
        self.policy: Policy | None = None
        self.value = None
        self.lock = threading.Lock()  # inputs: state, stamps, goal
        self.features: dict[str, tuple[np.ndarray, float]] = {}  # topic -> (features, arrival time)
        self.stamps: dict[str, float] = {}  # topic -> header stamp of its newest message
        self.goal: np.ndarray | None = None
        self.hold_goal: np.ndarray | None = None  # the task's goal that keeps the robot where it is
        self.planned_goal: np.ndarray | None = None
        self.episode_ended = threading.Event()
        self.pending: np.ndarray | None = None  # with plan_ahead: the command planned for the next tick
        self.pending_tail = ()  # ... and the plan's commands after it

        self.send_lock = threading.Lock()  # the stepping thread, the watchdog and callbacks all send
        self.last_command: np.ndarray | None = None
        self.last_sent = clock()
        self.planning = self.plan_overran = False

        self.mode, self.reason = Mode.WAITING_FOR_STATE, ""
        self.disagreement = float("nan")
        self.missed_deadlines = self.guard_cuts = self.policy_fallbacks = 0
        self.rate_limit_cuts = {Mode.PURSUING: 0, Mode.EXPLORING: 0}
        self.latencies: deque = deque(maxlen=200)
        self.iterations: deque = deque(maxlen=200)  # planner iterations each plan finished by its deadline
        self.plans_made = 0
        self.state_ages: deque = deque(maxlen=200)  # s from the oldest state stamp to each plan's start
        self.delays: deque = deque(maxlen=200)  # s from it to each plan's command, on the stamps' clock

    # Inputs ------------------------------------------------------------------------------------
    def take_state(self, topic: str, features: np.ndarray, stamp: float) -> None:
        with self.lock:
            self.features[topic] = (features, self.clock())
            self.stamps[topic] = stamp

    def newest_state(self) -> tuple[np.ndarray | None, float]:
        """The state from every source's newest message, and the age of the oldest of them."""
        with self.lock:
            if len(self.features) < len(self.spec.state.sources):
                return None, np.inf
            state = self.spec.state.combine({topic: f for topic, (f, _) in self.features.items()})
            return state, self.clock() - min(t for _, t in self.features.values())

    def set_goal(self, goal: np.ndarray) -> bool:
        """Pursue `goal` from the next tick; whether it differs from the one before."""
        with self.lock:
            new = self.goal is None or not np.array_equal(self.goal, goal)
            self.goal = goal
        return new

    def end_episode(self) -> None:
        """The robot restarted (a crash, a reset): a plan made for the old episode must not go out."""
        self.episode_ended.set()

    # Arming ------------------------------------------------------------------------------------
    def enable(self, on: bool) -> tuple[bool, str]:
        """~/enable: whether it was done, and what happened."""
        if on and not self.robot_ready:
            return False, "the robot is not ready: not enabled"
        if on:
            self.arming.arm()
            return True, "enabled: commanding from the measured state"
        if self.arming.armed:
            self.disarm("disabled by ~/enable")
            return True, "disabled: safe command sent, then nothing"
        return True, "already disabled: nothing sent"

    def set_ready(self, ready: bool) -> bool:
        """The robot's ready signal; whether it disarmed the controller."""
        self.robot_ready = ready
        if ready:
            return False
        return self.disarm("the robot is not ready")

    def disarm(self, reason: str) -> bool:
        """Disarm and, if armed, send the safe command now rather than at the next tick (a plan that
        finishes later is not sent); whether it was armed."""
        if not self.arming.armed:
            return False
        self.arming.disarm(reason)
        self.send_safe(self.newest_state()[0])
        return True

    # Learned parts -----------------------------------------------------------------------------
    def model_fits(self, model, metadata) -> str | None:
        return incompatibility(model, metadata, self.spec.model_signature(), 1.0 / self.settings.control_rate)

    def learned_fits(self, network, metadata) -> str | None:
        """Why a policy or value function cannot serve this task and robot, or None."""
        if metadata.get("task") != type(self.task).__name__:
            return f"was learned for {metadata.get('task')}, not {type(self.task).__name__}"
        state = np.zeros(self.spec.state_dim)
        goal, state = self.task.tensor(self.goal_to_try(state)), self.task.tensor(state[None])
        try:
            with torch.no_grad():
                network(state, self.task.goal_features(state, goal))
        except (RuntimeError, ValueError) as error:
            return f"does not take this task's goal features: {error}"
        return self.model_fits(network, metadata)

    def goal_to_try(self, state: np.ndarray) -> np.ndarray:
        """A goal to try an arriving network on: the current one, else the one that holds the robot at
        `state`, else one the task draws (a fly_to config need not have a goal box to draw from)."""
        if self.goal is not None:
            return self.goal
        hold = self.task.hold_goal(state)
        return hold if hold is not None else self.task.random_goal(self.rng)

    def use_model(self, model, background: bool = False) -> None:
        """Plan with `model` from the next tick. The first model's plans are first fitted to the
        deadline (fit_plan): seconds of timing plans, while exploration goes on; `background` times
        them on a thread of their own (a node's executor must go on taking the state meanwhile). A
        model arriving during the fit is planned with once it is done."""
        with self.model_lock:
            self.newest_model = model
            if self.mpc is not None:
                self.mpc.set_model(model)
                return
            if self.fitting:
                return
            self.fitting = self.should_fit_plan
        mpc = MPC(self.task, *self.spec.planning_bounds, model, **self.mpc_options)
        if not self.fitting:
            self.start_planning(mpc)
        elif background:
            threading.Thread(target=self.fit_then_plan, args=(mpc,), name="fit_plan", daemon=True).start()
        else:
            self.fit_then_plan(mpc)

    def fit_then_plan(self, mpc: MPC) -> None:
        self.fit_plan(mpc)
        self.start_planning(mpc)

    def start_planning(self, mpc: MPC) -> None:
        """Plan with `mpc` from the next tick, with the newest model, policy and value function."""
        with self.model_lock:
            mpc.set_model(self.newest_model)
            if self.settings.policy_use is PolicyUse.PROPOSE and self.policy is not None:
                mpc.set_policy(self.policy)
            mpc.set_terminal_value(self.value, self.settings.terminal_value_weight)
            self.mpc, self.fitting = mpc, False

    @property
    def should_fit_plan(self) -> bool:
        """Whether plans are fitted to the deadline on this machine (`policy: auto` needs the fit)."""
        fitted = self.settings.fit_plan or self.settings.policy_use is PolicyUse.AUTO
        return fitted and bool(self.settings.deadline_fraction)

    @property
    def plan_too_slow(self) -> bool:
        """Whether the plan that fits the budget here falls too far short of the configured one."""
        return self.sizer is not None and self.sizer.size.falls_short(self.sizer.configured)

    @property
    def commander(self) -> Commander:
        """Where the next command comes from: exploration until a model, then the planner or the
        policy. With `policy: auto`, where plans are too slow the policy commands once it arrives;
        until then the robot explores where plans were too slow from the start, and goes on planning
        where they became too slow later (the explorer taking over a robot pursuing a goal would be
        worse). While the policy commands, no plans are made or timed: the choice stays."""
        use = self.settings.policy_use
        if self.mpc is None:
            return Commander.EXPLORER
        if use is PolicyUse.AUTO and self.plan_too_slow:
            if self.policy is not None:
                return Commander.POLICY
            return Commander.PLANNER if self.plans_made else Commander.EXPLORER
        return Commander.POLICY if use is PolicyUse.ACT and self.policy is not None else Commander.PLANNER

    def fit_plan(self, mpc: MPC) -> None:
        """Time `mpc`'s plans from the newest state and choose their precision and size."""
        configured, configured_precision = mpc.planner.config, mpc.precision
        precisions = tuple(dict.fromkeys((configured_precision, "float32")))
        sizer = PlanSizer(configured, precisions, self.settings.deadline_fraction / self.settings.control_rate)
        state = self.newest_state()[0]
        if state is None:
            state = mpc.model.input_mean[:self.spec.state_dim].cpu().numpy()
        goal = self.goal_to_try(state)

        def time_plan(precision: str, population: int, iterations: int) -> float:
            mpc.set_precision(precision)
            mpc.set_planner_config(resized(configured, population, iterations))
            return median_time(lambda: mpc.act(state, goal))

        size = sizer.calibrate(time_plan)
        self.sizer = sizer  # once it has a size: /diagnostics reads it from another thread
        self.apply_size(mpc, size)
        mpc.reset()  # forget the timing plans' warm start
        timings = ", ".join(f"{p} {t * 1000:.1f} ms" for p, t in self.sizer.timings.items())
        self.log.info(f"the configured plan ({configured.population} x {configured.iterations}) takes {timings} "
                      f"here: planning {self.describe_size(size)}")
        if self.plan_too_slow and self.settings.policy_use is PolicyUse.AUTO:
            self.log.warning("plans that keep their deadline on this machine fall short of the configured plan: the "
                             "policy will give the commands (policy: auto), and until it arrives the robot goes on "
                             "exploring")

    def apply_size(self, mpc: MPC, size: PlanSize) -> None:
        """Plan at `size` from the next plan, from the same warm start."""
        mpc.set_precision(size.precision)
        mpc.set_planner_config(size.config(self.sizer.configured))

    def describe_size(self, size: PlanSize) -> str:
        return (f"{size.population} x {size.iterations} in {size.precision}, about {size.predicted * 1000:.1f} ms "
                f"of a {self.sizer.budget * 1000:.1f} ms budget ({size.fit.value})")

    def use_policy(self, policy: Policy) -> None:
        """Act or propose with `policy` from the next tick; acting, at `policy_rate`."""
        with self.model_lock:
            self.policy = policy.eval()
            if self.settings.policy_use is PolicyUse.PROPOSE and self.mpc is not None:
                self.mpc.set_policy(policy)
        if self.settings.policy_use is PolicyUse.ACT and self.settings.policy_rate:
            self.set_period(1.0 / self.settings.policy_rate)

    def use_value(self, value) -> None:
        """Plan with `value` beyond the horizon from the next plan."""
        with self.model_lock:
            self.value = value.eval()
            if self.mpc is not None:
                self.mpc.set_terminal_value(self.value, self.settings.terminal_value_weight)

    def set_period(self, period: float) -> None:
        """Step, and judge rate limits and motion, at this period from now on."""
        self.period = period
        for check in (self.limiter, self.guard):
            if check is not None:
                check.dt = period

    # The tick ----------------------------------------------------------------------------------
    def step(self) -> None:
        started = self.clock()
        state, age = self.newest_state()
        with self.lock:
            goal = self.goal
        arming = self.arming.take()
        if arming.just_disarmed:
            self.send_safe(state)  # a forward controller holds the last command
        if not arming.armed:
            self.mode, self.reason, self.pending = Mode.DISARMED, arming.reason, None
            return
        if arming.just_armed:
            self.pending, self.planned_goal = None, None  # a fresh plan from the measured state
        if state is None or age > self.settings.state_timeout:
            self.mode = Mode.STALE_STATE if state is not None else Mode.WAITING_FOR_STATE
            if state is not None:
                self.log.warning(f"state is {age:.2f} s old: sending the safe command", throttle_duration_sec=2.0)
            self.pending = None
            self.send_safe(state)
            return
        if self.commander is Commander.EXPLORER:
            self.mode = Mode.EXPLORING
            self.send(self.explorer(state), state)
            return
        if goal is None:
            if self.hold_goal is None:
                self.hold_goal = self.task.hold_goal(state)
            goal = self.hold_goal
        if goal is None:
            self.mode, self.pending = Mode.HOLDING, None
            self.send_safe(state)
            return
        self.mode = Mode.PURSUING if goal is not self.hold_goal else Mode.HOLDING
        self.pursue(state, goal, started)

    def pursue(self, state: np.ndarray, goal: np.ndarray, started: float) -> None:
        """Plan towards `goal` and command it. With plan_ahead, the command planned in the last period
        goes out now, at the moment its plan assumed, and this period's plan starts from the state
        that command is predicted to lead to and waits for the next tick: a fixed one-period delay
        the plan knows about, instead of a command that lands whenever the plan happens to finish.
        A fresh plan (the first, or after an episode end) goes out at once, its second step next."""
        # A new goal or episode: forget the old plan. Done here, not in the callbacks, so that only
        # the stepping thread ever touches the planner.
        if self.episode_ended.is_set():
            self.episode_ended.clear()
            self.pending = None
            self.mpc.reset()
        if goal is not self.planned_goal:
            self.mpc.reset()
            self.planned_goal = goal
        if self.goal_integral is not None:  # a model's steady offset, integrated away
            goal = self.goal_integral.corrected(goal, self.task.achieved(state), self.period)
        if self.commander is Commander.POLICY:
            if self.spec.in_workspace(state):
                self.act_with_policy(state, goal)
                return
            self.policy_fallbacks += 1  # outside the box the policy never saw: the planner brings it back
            self.log.info("outside the workspace box: planning instead of the policy", throttle_duration_sec=5.0)
        ahead = self.settings.plan_ahead and self.pending is not None
        if ahead:
            self.send(self.pending, state, self.pending_tail)
        with self.lock:
            measured = min(self.stamps.values())
        self.state_ages.append(self.wall_clock() - measured)
        lead = 1.0 if ahead else min(1.0, self.command_delay() / self.period)
        with self.send_lock:
            self.planning = True
        still = self.spec.safe_command(state) if self.mpc.holds else None
        deadline = None  # the planner's is time.monotonic(); the loop's clock may be a sim's
        if self.settings.deadline_fraction:
            budget = self.settings.deadline_fraction / self.settings.control_rate - (self.clock() - started)
            deadline = time.monotonic() + budget
        command, info = self.mpc.act(state, goal, deadline, self.last_command if lead > 0 else None,
                                     previous=self.last_command, hold=still, lead=lead)
        self.delays.append(self.wall_clock() - measured)
        with self.send_lock:
            self.planning, overran, self.plan_overran = False, self.plan_overran, False
        if info["settled"] and self.mode is Mode.PURSUING:
            self.mode = Mode.SETTLED
        self.latencies.append(info["latency"])
        self.iterations.append(info["iterations"])
        self.plans_made += 1
        self.disagreement = info["disagreement"]
        too_slow = self.plan_too_slow
        resize = self.sizer.observe(info["latency"], info["iterations"]) if self.sizer else None
        if resize is not None:
            self.apply_size(self.mpc, resize)
            self.log.info(f"plans took {self.sizer.drift:.2f}x the predicted time: planning "
                          f"{self.describe_size(resize)}")
            if self.plan_too_slow and not too_slow and self.settings.policy_use is PolicyUse.AUTO:
                self.log.warning("plans that keep their deadline here now fall short of the configured plan: the "
                                 "policy will give the commands (policy: auto) once it arrives, the planner until then")
        if overran:
            self.mode, self.pending = Mode.PLANNER_LATE, None
            return
        if self.settings.max_disagreement and self.disagreement > self.settings.max_disagreement:
            self.mode, self.pending = Mode.PLAN_UNCERTAIN, None
            self.send_safe(state)
            return
        if ahead:
            self.pending, self.pending_tail = command, info["actions"][1:]
        else:
            self.send(command, state, info["actions"][1:])
            self.pending = info["actions"][1] if self.settings.plan_ahead and len(info["actions"]) > 1 else None
            self.pending_tail = info["actions"][2:]
        if self.show_plan is not None:
            self.show_plan(info["plan_points"])

    def command_delay(self) -> float:
        """s from the measurement of the state a plan starts from to its command acting: configured,
        or measured, the median from the state's stamp to the plan's command over the last plans (in
        process, where the stamps' clock is the sim's, no time passes while planning: 0)."""
        if self.settings.command_delay >= 0:
            return self.settings.command_delay
        if not self.delays:
            return 0.0
        return float(np.median(np.clip(self.delays, 0.0, self.period)))  # clocks apart across machines

    def act_with_policy(self, state: np.ndarray, goal: np.ndarray) -> None:
        """One forward pass of the policy, sent through the same checks as a plan's command; where
        the ensemble disagrees past `max_disagreement` on its next step, the safe command."""
        started = self.clock()
        command = policy_command(self.policy, self.task, state, goal)
        self.latencies.append(self.clock() - started)
        self.iterations.append(0)
        if self.settings.max_disagreement:
            _, disagreement = rollout(self.mpc.model, self.task.tensor(state), self.task.tensor(command)[None, None],
                                      "expectation", with_disagreement=True)
            self.disagreement = float(disagreement.mean())
            if self.disagreement > self.settings.max_disagreement:
                self.mode = Mode.POLICY_UNCERTAIN
                self.send_safe(state)
                return
        self.send(command, state)

    def fail(self, error: Exception) -> None:
        """A step raised (a bug): forget the plan and send the safe command; the loop runs on."""
        with self.send_lock:
            self.planning = False
        self.mode, self.reason, self.pending = Mode.CONTROL_ERROR, type(error).__name__, None
        if self.mpc is not None:
            self.mpc.reset()
        self.send_safe(self.newest_state()[0])

    def watch(self) -> None:
        """The watchdog's look, every quarter period or so: a plan that overruns its deadline leaves
        the robot on its last command, which a forward controller holds; past `max_command_gap` the
        safe command goes out instead, at the control rate, until the plan returns (its late command
        is dropped)."""
        with self.send_lock:
            limit = 1.0 / self.settings.control_rate if self.plan_overran else self.settings.max_command_gap
            if not (self.planning and self.arming.armed) or self.clock() - self.last_sent <= limit:
                return
            if not self.plan_overran:
                self.missed_deadlines += 1
                self.log.warning("the planner missed its deadline: sending the safe command",
                                 throttle_duration_sec=5.0)
            self.plan_overran = True
            self.mode = Mode.PLANNER_LATE
        self.send_safe(self.newest_state()[0])

    # The safety chain --------------------------------------------------------------------------
    def send(self, command: np.ndarray, state: np.ndarray, plan_tail=()) -> None:
        """Send a command within the rate limits, the motion guard and the command bounds; the safe
        one instead if it is not finite. `plan_tail`: the plan's commands after this one, for the
        trajectory output."""
        if not np.all(np.isfinite(command)):
            self.log.error("a non-finite command (from the planner or the policy): sending the safe command",
                           throttle_duration_sec=2.0)
            self.send_safe(state)
            return
        if self.limiter:
            limited = self.limiter(command)
            if not np.allclose(limited, command, rtol=0.0, atol=1e-6):
                self.rate_limit_cuts[Mode.EXPLORING if self.mode is Mode.EXPLORING else Mode.PURSUING] += 1
            command = limited
        command = self.guarded(command, state[self.spec.guarded_columns])
        trajectory = None
        if self.settings.trajectory_steps:
            trajectory = follow(self.spec.command_mode, state[self.spec.position_columns],
                                self.trajectory_commands(command, state, plan_tail), self.period)
        self.put(command, safe=False, trajectory=trajectory)

    def guarded(self, command: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The command within the motion guard (counting the cuts) and the command bounds."""
        if self.guard:
            cut = self.guard(command, positions)
            if not np.allclose(cut, command, rtol=0.0, atol=1e-6):
                self.guard_cuts += 1
                self.log.info("a command was cut to keep within the joint limits or the end-effector box",
                              throttle_duration_sec=10.0)
            command = cut
        return self.spec.command.clamp(command)

    def trajectory_commands(self, command: np.ndarray, state: np.ndarray, plan_tail) -> np.ndarray:
        """`trajectory_steps` commands: this one, then the plan's next ones (the last repeated where
        the plan is shorter), each guarded from the positions the ones before it lead to."""
        positions, commands = state[self.spec.guarded_columns], [command]
        tail = list(plan_tail)
        while len(commands) < self.settings.trajectory_steps:
            following = tail[len(commands) - 1] if len(commands) <= len(tail) else commands[-1]
            positions = self.spec.command.moved(positions, commands[-1], self.period)
            commands.append(self.guarded(np.asarray(following, float), positions))
        return np.array(commands)

    def send_safe(self, state: np.ndarray | None) -> None:
        """The robot's safe command, never rate-limited; nothing while it is unknown (a position
        hold before any state). A trajectory output stops where the joints are."""
        command = self.spec.safe_command(state)
        if command is None:
            return
        trajectory = None
        if self.settings.trajectory_steps and state is not None:
            trajectory = stop_at(state[self.spec.position_columns], self.period)
        self.put(self.spec.command.clamp(command), safe=True, trajectory=trajectory)

    def put(self, command: np.ndarray, safe: bool, trajectory: Trajectory | None) -> None:
        """Out it goes, unless it is not the safe one and the controller is disarmed."""
        with self.send_lock:
            if not (safe or self.arming.armed):
                return
            self.last_command, self.last_sent = command, self.clock()
            if self.limiter:
                self.limiter.sent(command, safe)
            self._send(command, trajectory)

    # Reporting ---------------------------------------------------------------------------------
    def describe(self) -> str:
        """The mode in words, with the reason where there is one."""
        words = DESCRIPTIONS[self.mode]
        if self.mode is Mode.DISARMED:
            return f"{words}: {self.reason}"
        if self.mode is Mode.CONTROL_ERROR:
            return f"{words} ({self.reason})"
        return words

    def late(self) -> bool:
        """Whether the slowest plans (99th percentile) take longer than a period, or even the smallest
        plan is predicted to overrun its budget."""
        over_budget = self.sizer is not None and self.sizer.size.fit is PlanFit.OVER_BUDGET
        return over_budget or (bool(self.latencies) and np.percentile(self.latencies, 99) > self.period)

    def diagnostics(self) -> dict:
        """What /diagnostics reports of the loop."""
        values = {"mode": self.mode.value, "commands_from": self.commander.value, "armed": self.arming.armed,
                  "plan_disagreement": f"{self.disagreement:.3g}", "guard_cuts": self.guard_cuts,
                  "rate_limit_cuts_planned": self.rate_limit_cuts[Mode.PURSUING],
                  "rate_limit_cuts_exploring": self.rate_limit_cuts[Mode.EXPLORING],
                  "missed_deadlines": self.missed_deadlines, "policy_fallbacks": self.policy_fallbacks}
        if self.goal_integral is not None:
            values["goal_shift"] = f"{self.goal_integral.size:.3g}"
        latencies, ages = np.array(self.latencies) * 1000.0, np.array(self.state_ages) * 1000.0
        if latencies.size and ages.size:
            values |= {"plan_latency_p50_ms": f"{np.percentile(latencies, 50):.1f}",
                       "plan_latency_p99_ms": f"{np.percentile(latencies, 99):.1f}",
                       "state_age_p50_ms": f"{np.percentile(ages, 50):.1f}",
                       "state_age_p99_ms": f"{np.percentile(ages, 99):.1f}",
                       "command_delay_ms": f"{self.command_delay() * 1000:.1f}",
                       "plan_iterations_mean": f"{np.mean(self.iterations):.2f}"}
        if self.sizer is not None:
            size = self.sizer.size
            values |= {"plan_fit": size.fit.value, "plan_too_slow": self.plan_too_slow,
                       "plan_precision": size.precision, "plan_population": size.population,
                       "plan_iterations": size.iterations,
                       "plan_predicted_ms": f"{size.predicted * 1000:.1f}",
                       "plan_budget_ms": f"{self.sizer.budget * 1000:.1f}"}
        return values
