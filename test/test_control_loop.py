"""The control loop's decisions, in process and on a clock the test moves: arming, the e-stop and the
robot's ready signal, stale state, exploring, holding and pursuing a goal, the deadline watchdog,
the disagreement gate, the policy and its fallback, every check of the safety chain, trajectories and
plan-ahead. The DDS tests (test_safety, test_policy_mode) check the node's wiring of the same loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.exploration import make_explorer
from mbrl_ros.core.control.goal_integral import GoalIntegral, GoalIntegralSettings
from mbrl_ros.core.control.guard import MotionGuard
from mbrl_ros.core.control.limits import CommandLimiter, RateLimits
from mbrl_ros.core.control.loop import ControlLoop, LoopSettings, Mode
from mbrl_ros.core.policies import PolicyUse
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.planning.planners import PlannerConfig
from mbrl_ros.core.policies.policy import Policy, policy_command
from mbrl_ros.core.robots.kinematics import ForwardKinematics
from mbrl_ros.core.robots.urdf import load_chain
from mbrl_ros.core.tasks import make_task

RATE = 20.0
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
SMALL_PLANNER = dict(config=PlannerConfig(horizon=3, population=16, elites=4, iterations=1))


class Clock:
    """Seconds the test sets; the loop reads its time here."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Log:
    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def info(self, message, **_):
        self.lines.append(("info", message))

    def warning(self, message, **_):
        self.lines.append(("warning", message))

    def error(self, message, **_):
        self.lines.append(("error", message))


class Rig:
    """A loop on the arm, what it sent, and the state the test gives it."""

    def __init__(self, arm, params, armed=True, limiter=None, guard=None, goal_integral=None, mpc_options=None,
                 **settings):
        self.clock, self.log, self.sent = Clock(), Log(), []
        self.arm = arm
        self.task = make_task("reach", arm, params, "cpu")
        explorer = make_explorer("waypoints", arm, params, 1.0 / RATE, np.random.default_rng(0))
        settings = LoopSettings(**({"control_rate": RATE, "state_timeout": 0.25, "max_command_gap": 0.075} | settings))
        self.loop = ControlLoop(arm, self.task, explorer, settings, mpc_options or SMALL_PLANNER,
                                lambda command, trajectory: self.sent.append((command, trajectory)), self.log,
                                limiter=limiter, guard=guard, goal_integral=goal_integral, armed=armed, clock=self.clock,
                                wall_clock=self.clock)

    def state(self, positions=HOME, velocities=None) -> np.ndarray:
        velocities = np.zeros(7) if velocities is None else velocities
        self.loop.take_state("/joint_states", np.concatenate([positions, velocities]), self.clock.now)
        return np.concatenate([positions, velocities])

    def tick(self, positions=HOME, seconds: float = 1.0 / RATE) -> list:
        """The state, a step, and what it sent; then the clock moves on."""
        mark = len(self.sent)
        self.state(positions)
        self.loop.step()
        self.clock.now += seconds
        return [command for command, _ in self.sent[mark:]]

    def give_model(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        learner = DynamicsLearner(self.arm.model_signature(), 1.0 / RATE, ModelConfig(2, 16, 1), TrainConfig())
        self.loop.use_model(learner.model)

    def give_policy(self, goal: np.ndarray) -> None:
        """An untrained policy of the size this task's goal features need."""
        state = self.task.tensor(self.state())[None]
        goal_dim = self.task.goal_features(state, self.task.tensor(goal)).shape[-1]
        self.loop.use_policy(Policy(self.arm.state_dim, goal_dim, len(self.arm.command.names), hidden=16, layers=1))

    def reachable_goal(self) -> np.ndarray:
        goal = np.array([0.4, 0.0, 0.4])
        assert self.loop.set_goal(goal)
        return goal


@pytest.fixture
def rig(arm, arm_params):
    return lambda **kwargs: Rig(arm, arm_params, **kwargs)


def zero(command) -> bool:
    return bool(np.all(np.asarray(command) == 0.0))


def test_disarmed_nothing_goes_out_until_armed_and_disarming_sends_one_safe_command(rig):
    r = rig(armed=False)
    assert r.tick() == [] and r.loop.mode is Mode.DISARMED and r.loop.describe() == "disarmed: not enabled yet"
    assert r.loop.enable(True) == (True, "enabled: commanding from the measured state")
    exploring = r.tick()
    assert len(exploring) == 1 and not zero(exploring[0]) and r.loop.mode is Mode.EXPLORING
    assert r.loop.disarm("e-stop")
    assert len(r.sent) == 2 and zero(r.sent[-1][0]), "the safe command, at once"
    assert all(zero(c) for c in r.tick()), "at the next tick, the safe command at most"
    assert r.tick() == [] and r.tick() == [], "then silence"
    assert r.loop.describe() == "disarmed: e-stop"
    assert not r.loop.disarm("again"), "disarming twice sends nothing more"


def test_a_robot_that_is_not_ready_cannot_be_enabled_and_going_unready_disarms(rig):
    r = rig()
    r.tick()
    assert r.loop.set_ready(False) and zero(r.sent[-1][0])
    assert r.loop.enable(True) == (False, "the robot is not ready: not enabled")
    r.tick()
    assert r.tick() == []
    assert not r.loop.set_ready(True), "ready again: still disarmed until enabled"
    assert r.loop.enable(True)[0] and len(r.tick()) == 1


def test_stale_or_missing_state_gives_the_safe_command(rig):
    r = rig()
    r.loop.step()
    assert r.loop.mode is Mode.WAITING_FOR_STATE and zero(r.sent[-1][0])
    r.state()
    r.clock.now += 0.3  # past state_timeout
    r.loop.step()
    assert r.loop.mode is Mode.STALE_STATE and zero(r.sent[-1][0])
    assert any("old: sending the safe command" in line for _, line in r.log.lines)
    assert not zero(r.tick()[0]) and r.loop.mode is Mode.EXPLORING, "fresh state: on it goes"


def test_exploring_commands_stay_within_the_rate_limits_and_a_safe_command_is_never_limited(rig, arm):
    limits = RateLimits(np.full(7, 2.0), np.full(7, np.inf))  # rad/s per second
    r = rig(limiter=CommandLimiter(limits, 1.0 / RATE))
    commands = np.array([r.tick()[0] for _ in range(60)])
    assert np.abs(np.diff(commands, axis=0)).max() <= 2.0 / RATE + 1e-9
    assert r.loop.diagnostics()["rate_limit_cuts_exploring"] > 0
    r.loop.disarm("test")
    assert zero(r.sent[-1][0]), "the safe command jumps to zero at once"


def test_a_model_and_no_goal_holds_the_arm_where_it_is_then_a_goal_is_pursued(rig):
    r = rig()
    r.give_model()
    command = r.tick()[0]
    assert r.loop.mode is Mode.HOLDING and np.all(np.isfinite(command))
    r.reachable_goal()
    command = r.tick()[0]
    assert r.loop.mode is Mode.PURSUING and r.loop.describe() == "pursuing the goal"
    low, high = r.arm.command.low, r.arm.command.high
    assert np.all((command >= low) & (command <= high)), "within the command bounds"
    assert not r.loop.set_goal(np.array([0.4, 0.0, 0.4])), "the same goal again is not a new one"


def test_a_plan_the_ensemble_disagrees_on_gives_the_safe_command(rig):
    r = rig(max_disagreement=1e-9)
    r.give_model()
    r.reachable_goal()
    assert zero(r.tick()[0]) and r.loop.mode is Mode.PLAN_UNCERTAIN
    assert float(r.loop.diagnostics()["plan_disagreement"]) > 1e-9


def test_a_plan_past_its_deadline_is_dropped_and_the_watchdog_sends_the_safe_command(rig):
    r = rig()
    r.give_model()
    r.reachable_goal()
    plan = r.loop.mpc.act

    def slow_plan(*args, **kwargs):
        r.clock.now += 0.05
        r.loop.watch()  # within the gap: nothing
        r.clock.now += 0.05  # 0.1 s since the last command: past max_command_gap
        r.loop.watch()
        return plan(*args, **kwargs)

    r.tick()
    sent = len(r.sent)
    r.loop.mpc.act = slow_plan
    r.tick()
    assert len(r.sent) == sent + 1 and zero(r.sent[-1][0]), "the watchdog's safe command, not the late plan's"
    assert r.loop.mode is Mode.PLANNER_LATE and r.loop.missed_deadlines == 1
    r.loop.mpc.act = plan
    assert not zero(r.tick()[0]) and r.loop.mode is Mode.PURSUING, "a plan in time goes out again"


def test_a_non_finite_command_gives_the_safe_command(rig):
    r = rig()
    r.loop.explorer = lambda state: np.full(7, np.nan)
    assert zero(r.tick()[0])
    assert ("error", "a non-finite command (from the planner or the policy): sending the safe command") in r.log.lines


def test_a_failed_step_sends_the_safe_command_and_says_why(rig):
    r = rig()
    r.tick()
    r.loop.fail(KeyError("bug"))
    assert zero(r.sent[-1][0]) and r.loop.mode is Mode.CONTROL_ERROR and not r.loop.mode.normal
    assert r.loop.describe() == "error in the control step: safe command (KeyError)"


def test_the_guard_keeps_joints_inside_their_margin_and_the_end_effector_inside_its_box(rig, arm):
    fk = ForwardKinematics(load_chain(arm.urdf_path, "panda_tcp"), list(arm.joints)).double()
    height = lambda q: float(fk.position(torch.as_tensor(q))[2])  # noqa: E731
    box = (np.array([-2.0, -2.0, -1.0]), np.array([2.0, 2.0, height(HOME) - 0.001]))
    guard = MotionGuard(arm.command, 1.0 / RATE, arm.position_lower, arm.position_upper, 0.05,
                        point=lambda q: fk.position(torch.as_tensor(q)).numpy(), box=box)
    r = rig(guard=guard)
    rises = [height(HOME + r.tick()[0] / RATE) - height(HOME) for _ in range(40)]
    assert max(rises) <= 1e-9 and min(rises) < -0.001, "no command lifts it further out; lowering ones pass"
    assert r.loop.diagnostics()["guard_cuts"] > 0

    at_limit = HOME.copy()
    at_limit[0] = arm.position_upper[0] - 0.05
    r = rig(guard=MotionGuard(arm.command, 1.0 / RATE, arm.position_lower, arm.position_upper, 0.05))
    r.loop.explorer = lambda state: np.full(7, 0.5)
    assert r.tick(at_limit)[0][0] <= 0.0, "no further towards the limit"


def test_commands_go_out_as_trajectories_that_end_at_rest_and_stop_where_the_arm_is(rig):
    r = rig(trajectory_steps=4)
    r.tick()
    command, trajectory = r.sent[-1]
    np.testing.assert_allclose(trajectory.times, np.arange(1, 5) / RATE)
    np.testing.assert_allclose(trajectory.velocities[0], command)
    np.testing.assert_allclose(trajectory.positions[0], HOME + command / RATE)
    assert np.all(trajectory.velocities[-1] == 0.0)
    r.loop.disarm("e-stop")
    stop = r.sent[-1][1]
    assert len(stop.times) == 1 and np.allclose(stop.positions[0], HOME) and np.all(stop.velocities == 0.0)


def test_plan_ahead_sends_the_last_plan_at_the_tick_and_a_new_goal_or_episode_starts_afresh(rig):
    r = rig(plan_ahead=True)
    r.give_model()
    r.reachable_goal()
    first = r.tick()
    assert len(first) == 1, "a fresh plan goes out at once"
    planned = r.loop.pending.copy()
    second = r.tick()
    np.testing.assert_allclose(second[0], planned, err_msg="the command planned a period ago, now")
    assert r.loop.pending is not None
    r.loop.end_episode()
    assert len(r.tick()) == 1 and r.loop.pending is not None, "the episode's end: a fresh plan, sent at once"


def leads(loop) -> list[tuple[float, np.ndarray | None]]:
    """Each plan's share of a step ahead and the command it was predicted under, as the MPC got them."""
    seen, act = [], loop.mpc.act

    def spy(*args, **kwargs):
        seen.append((kwargs["lead"], args[3]))
        return act(*args, **kwargs)

    loop.mpc.act = spy
    return seen


def test_a_command_delay_plans_from_the_state_that_much_later_measured_or_given(rig):
    r = rig(command_delay=-1.0)
    r.give_model()
    r.reachable_goal()
    seen = leads(r.loop)
    r.tick()
    for _ in range(3):
        r.loop.take_state("/joint_states", np.concatenate([HOME, np.zeros(7)]), r.clock.now - 0.02)  # 20 ms old
        r.loop.step()
        r.clock.now += 1.0 / RATE
    assert seen[0][1] is None, "the first plan: no command acting yet"
    assert r.loop.command_delay() == pytest.approx(0.02), "the median from the stamps to the commands"
    lead, in_flight = seen[-1]
    np.testing.assert_array_equal(in_flight, r.sent[-2][0])
    assert lead == pytest.approx(0.4), "20 ms of a 50 ms step (the test's clock stands still while planning)"

    r = rig(command_delay=0.03)
    r.give_model()
    r.reachable_goal()
    seen = leads(r.loop)
    r.tick(), r.tick()
    assert seen[-1][0] == pytest.approx(0.6) and r.loop.diagnostics()["command_delay_ms"] == "30.0"
    r = rig()
    r.give_model()
    r.reachable_goal()
    seen = leads(r.loop)
    r.tick(), r.tick()
    assert seen[-1] == (0.0, None), "no delay given: from the measured state"


def test_a_policy_acts_inside_the_workspace_and_the_planner_outside_it(rig, arm):
    r = rig(policy_use=PolicyUse.ACT)
    r.give_model()
    r.give_policy(r.reachable_goal())
    low, high = arm.workspace
    inside, outside = (low + high) / 2, high + 0.1
    r.tick(inside)
    assert r.loop.iterations[-1] == 0 and r.loop.policy_fallbacks == 0, "one forward pass"
    r.tick(outside)
    assert r.loop.iterations[-1] > 0 and r.loop.policy_fallbacks == 1, "planned instead"


def test_a_policy_the_ensemble_disagrees_on_gives_the_safe_command(rig, arm):
    r = rig(policy_use=PolicyUse.ACT, max_disagreement=1e-9)
    r.give_model()
    r.give_policy(r.reachable_goal())
    low, high = arm.workspace
    assert zero(r.tick((low + high) / 2)[0]) and r.loop.mode is Mode.POLICY_UNCERTAIN


def test_diagnostics_say_the_mode_and_the_plans_figures(rig):
    r = rig()
    r.give_model()
    r.reachable_goal()
    for _ in range(3):
        r.tick()
    values = r.loop.diagnostics()
    assert values["mode"] == "pursuing" and values["armed"] is True
    assert float(values["plan_latency_p50_ms"]) >= 0.0 and float(values["plan_iterations_mean"]) == 1.0
    assert Mode.PURSUING.normal and not Mode.PLAN_UNCERTAIN.normal


def test_near_the_goal_the_policy_is_given_the_goal_shifted_against_a_steady_offset(rig):
    """The arm stays 1 cm off its goal (as a biased model would leave it): each period the goal the
    policy is given moves 1 cm x gain x period further the other way; a new goal starts unshifted."""
    r = rig(goal_integral=GoalIntegral(GoalIntegralSettings(gain=0.5, radius=0.03, limit=0.03)),
            policy_use=PolicyUse.ACT)
    r.give_model()
    goal = r.task.achieved(r.state()) + np.array([0.01, 0.0, 0.0])
    r.give_policy(goal)
    r.loop.set_goal(goal)
    for _ in range(20):
        command = r.tick()[0]
    shifted = goal + np.array([0.01, 0.0, 0.0]) * 0.5 * 20 / RATE
    assert float(r.loop.diagnostics()["goal_shift"]) == pytest.approx(0.005, rel=1e-3)
    np.testing.assert_allclose(command, policy_command(r.loop.policy, r.task, r.state(), shifted), atol=1e-6)
    assert not np.allclose(command, policy_command(r.loop.policy, r.task, r.state(), goal), atol=1e-6)
    far = goal + np.array([0.0, 0.0, 0.1])
    r.loop.set_goal(far)
    command = r.tick()[0]
    assert r.loop.goal_integral.size == 0.0, "10 cm away: nothing integrated, the old shift forgotten"
    np.testing.assert_allclose(command, policy_command(r.loop.policy, r.task, r.state(), far), atol=1e-6)
