"""The controller's parameters, and the control loop built from them: the controller node declares
them and builds its loop here, the in-process runner and the benchmarks read the same config into
the same loop, and the policy_trainer plans with the same planner settings.

`declare` is how a reader gets a schema's values: a node's `declare`, or
`lambda schema: read_parameters(schema, params)` for a params file's section."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..params import ListOf, ParameterError, Param, Schema, in_range, non_negative, one_of, positive
from ..paths import find_shared_file
from ..planning.planners import PLANNERS, PlannerConfig
from ..planning.rollout import PROPAGATIONS
from ..policies import POLICY_USES, PolicyUse
from ..robots.kinematics import ForwardKinematics
from ..robots.robot import RobotSpec
from ..robots.urdf import load_chain
from ..tasks import TASKS, Task, make_task
from .exploration import EXPLORERS, make_explorer
from .goal_integral import GoalIntegral, GoalIntegralSettings
from .guard import MotionGuard
from .limits import CommandLimiter, load_rate_limits
from .loop import ControlLoop, LoopSettings
from .mpc import PRECISIONS
from .trajectory import TRAJECTORY_MODES

Declare = Callable[[Schema], dict]

PLANNER_PARAMETERS = {
    "planner": Param("cem", "trajectory optimiser", one_of(*PLANNERS)),
    "horizon": Param(PlannerConfig.horizon, "planning horizon in control steps", in_range(1, 500)),
    "population": Param(PlannerConfig.population, "action sequences per iteration", in_range(2, 100000)),
    "elites": Param(PlannerConfig.elites, "best sequences CEM and iCEM refit to; at most population",
                    in_range(1, 100000)),
    "iterations": Param(PlannerConfig.iterations, "planner iterations per control step", in_range(1, 100)),
    "initial_std": Param(PlannerConfig.initial_std, "first samples' spread, as a share of the command box's "
                         "half-width", in_range(0.01, 2.0)),
    "gradient_starts": Param(PlannerConfig.gradient_starts, "gradient and cem_gd planners: sequences refined by "
                             "gradient steps at once; at most population", in_range(1, 100000)),
    "gradient_steps": Param(PlannerConfig.gradient_steps, "... Adam steps on them per iteration", in_range(1, 1000)),
    "gradient_learning_rate": Param(PlannerConfig.learning_rate, "... Adam's step, as a share of the command "
                                    "box's half-width", in_range(1e-4, 1.0)),
    "proposal_share": Param(PlannerConfig.proposal_share, "with a policy (policy: propose), the share of "
                            "candidates drawn around its own rollout", in_range(0.0, 1.0)),
    "propagation": Param("ts_inf", "how particles use the ensemble members", one_of(*PROPAGATIONS)),
    "uncertainty_weight": Param(0.0, "cost of ensemble disagreement along a plan", non_negative),
    "rollout_precision": Param("float32", "dtype of the candidates' model products", one_of(*PRECISIONS)),
}

TASK_CHOICE = {"task": Param("reach", "what the robot is asked to do", one_of(*TASKS))}

CONTROLLER_PARAMETERS = {  # and the task's (TASK_CHOICE and its own), and the exploration's
    "control_rate": Param(20.0, "control rate in Hz", in_range(1.0, 1000.0)),
    "exploration": Param("waypoints", "how to move before the first model", one_of(*EXPLORERS)),
    "seed": Param(0, "random seed", non_negative),
    "state_timeout": Param(0.25, "seconds after which state is stale", positive),
    "max_command_gap": Param(0.0, "seconds a plan may keep the robot without a command before the safe command "
                             "goes out; 0: 1.5 control periods", non_negative),
    "plan_deadline_fraction": Param(0.8, "share of the control period planning may use", in_range(0.1, 1.0)),
    "fit_plan": Param(False, "when the first model arrives, time plans on this machine and choose the rollout "
                      "precision (the configured one or float32) and the samples per iteration (or, below a quarter "
                      "of population, fewer iterations) that fit the deadline; while running, size again when plans' "
                      "times drift by a tenth; false: always the configured plan (cut at the deadline)"),
    "plan_ahead": Param(False, "plan a period ahead: from the state predicted under the command in flight, "
                        "sending the result at the next tick (for fast robots)"),
    "command_delay": Param(0.0, "seconds from a state's measurement to the command planned from it acting on the "
                           "robot: plans start from the state the model predicts that much later under the command "
                           "acting meanwhile; negative: measured (the median from the state's header stamp to the plan's "
                           "command over the last plans, as /diagnostics reports it); 0: none", in_range(-1.0, 1.0)),
    "policy": Param("off", "a distilled policy, once one arrives: act (it gives every command, one forward pass "
                    "each), propose (the planner also samples around its rollout), auto (plans are fitted to the "
                    "deadline as with fit_plan; where the plan that fits has fewer iterations or under half the "
                    "samples of the configured one, the policy acts once it arrives; until then the robot goes on exploring, or on "
                    "planning where plans became too slow later) or off",
                    one_of(*POLICY_USES)),
    "policy_rate": Param(0.0, "with policy: act, the rate it commands at, Hz, up to the state's rate; 0: "
                         "control_rate", in_range(0.0, 1000.0)),
    "terminal_value_weight": Param(0.0, "with a value function from the policy_trainer (method mbpo), the weight "
                                   "of its value at a plan's end, subtracted from the plan's cost; 0: none",
                                   non_negative),
    "max_disagreement": Param(0.0, "ensemble disagreement along the chosen plan above which the safe command goes "
                              "out instead; 0: no limit", non_negative),
    "settle_margin": Param(0.0, "cost a plan must be predicted to save over holding still for the robot to move "
                           "(reach: metres of mean distance to the goal); 0: always follow the plan", non_negative),
    "goal_integral_gain": Param(0.0, "integral action on the goal, 1/s: near the goal, the goal the planner and "
                                "policy are given moves away from where the robot is by this times the offset "
                                "per second, so that a model's bias leaves no steady offset (position goals: "
                                "reach, fly_to); 0: off", non_negative),
    "goal_integral_radius": Param(0.03, "... it integrates only within this distance of the goal (m)", positive),
    "goal_integral_limit": Param(0.03, "... and shifts the goal at most this far (m)", positive),
    "hold_tolerance": Param(0.0, "hold still once the task's error is within this (the task's unit), until it is "
                            "twice as large; 0: never", non_negative),
    "joint_limits_file": Param("", "ros2_control joint_limits YAML whose acceleration and jerk limits bound how "
                               "fast commands change; empty: none"),
    "position_margin": Param(0.05, "how far inside the URDF position limits a command may take a joint, rad or m",
                             non_negative),
    "ee_box_link": Param("", "link kept inside the box ee_box_low..ee_box_high (m, in the URDF's root frame); "
                         "empty: no box"),
    "ee_box_low": Param([0.0], "low corner of the end-effector box"),
    "ee_box_high": Param([0.0], "high corner of the end-effector box"),
    "geofence_low": Param(ListOf(float), "a wheeled base: low corner (x, y) of the box its odometry must stay in, "
                          "m; empty: no geofence"),
    "geofence_high": Param(ListOf(float), "... and its high corner"),
    "trajectory_steps": Param(5, "with a trajectory output, the control periods each trajectory covers: the "
                              "command and the plan's next ones, ending at rest", in_range(1, 100)),
    **PLANNER_PARAMETERS,
}


def read_controller(declare: Declare) -> dict:
    """The controller's values: its own, then those of the task and the exploration they name."""
    values = declare(CONTROLLER_PARAMETERS)
    return values | read_task(declare) | declare(EXPLORERS[values["exploration"]].PARAMETERS)


def read_task(declare: Declare) -> dict:
    """The task's name and its own parameters (the policy_trainer learns for the same task)."""
    values = declare(TASK_CHOICE)
    return values | declare(TASKS[values["task"]].PARAMETERS)


def read_planner(declare: Declare) -> dict:
    """The planner's settings, as MPC takes them (the policy_trainer plans with them too)."""
    values = declare(PLANNER_PARAMETERS)
    for name in ("elites", "gradient_starts"):
        if values[name] > values["population"]:
            raise ParameterError(f"parameter '{name}' = {values[name]} must be at most population "
                                 f"({values['population']})")
    config = PlannerConfig(horizon=values["horizon"], population=values["population"], elites=values["elites"],
                           iterations=values["iterations"], initial_std=values["initial_std"],
                           gradient_starts=values["gradient_starts"], gradient_steps=values["gradient_steps"],
                           learning_rate=values["gradient_learning_rate"], proposal_share=values["proposal_share"])
    return dict(config=config, planner=values["planner"], propagation=values["propagation"],
                uncertainty_weight=values["uncertainty_weight"], rollout_precision=values["rollout_precision"])


def make_controller_task(spec: RobotSpec, values: dict, device: str) -> Task:
    try:
        return make_task(values["task"], spec, values, device)
    except (OSError, ValueError, KeyError) as error:
        raise ParameterError(f"{values['task']} task: {error}") from error


def build_control_loop(spec: RobotSpec, values: dict, send, log, *, device: str = "cpu", trajectories: bool = False,
                       deadlines: bool = True, **loop_options) -> ControlLoop:
    """The control loop `values` (read_controller's) describe for `spec`; `trajectories`: with a
    trajectory output; without `deadlines`, plans finish every iteration (in process, where results
    should not depend on the machine's load). `loop_options`: ControlLoop's keyword arguments
    (armed, show_plan, clock...).
    Raises ParameterError, saying which parameter, for values that cannot work together."""
    rate = values["control_rate"]
    limiter = rate_limiter(spec, values)
    if trajectories and spec.command_mode not in TRAJECTORY_MODES:
        raise ParameterError(f"parameter 'trajectory_topic': trajectories carry {TRAJECTORY_MODES} commands, not "
                             f"{spec.command_mode}")
    settings = LoopSettings(
        control_rate=rate, state_timeout=values["state_timeout"],
        max_command_gap=values["max_command_gap"] or 1.5 / rate,
        deadline_fraction=values["plan_deadline_fraction"] if deadlines else 0.0,
        plan_ahead=values["plan_ahead"], command_delay=values["command_delay"], policy_use=PolicyUse(values["policy"]), policy_rate=values["policy_rate"],
        terminal_value_weight=values["terminal_value_weight"], max_disagreement=values["max_disagreement"],
        trajectory_steps=values["trajectory_steps"] if trajectories else 0, fit_plan=values["fit_plan"])
    for name in ("settle_margin", "hold_tolerance"):
        if values[name] and not spec.command.safe_holds_still:
            raise ParameterError(f"parameter '{name}' needs a safe command that holds the robot still, which "
                                 f"{spec.command_mode} commands have not (position and velocity have); set it to 0")
    mpc_options = dict(**read_planner(lambda schema: {name: values[name] for name in schema}),
                       settle_margin=values["settle_margin"], hold_tolerance=values["hold_tolerance"],
                       device=device, seed=values["seed"],
                       max_action_change=limiter.limits.max_change / rate if limiter else None)
    task = make_controller_task(spec, values, device)
    try:
        explorer = make_explorer(values["exploration"], spec, values, 1.0 / rate, np.random.default_rng(values["seed"]))
    except (OSError, ValueError, KeyError) as error:
        raise ParameterError(f"{values['exploration']} exploration: {error}") from error
    return ControlLoop(spec, task, explorer, settings, mpc_options, send, log, limiter=limiter,
                       guard=motion_guard(spec, values, limiter), goal_integral=goal_integral(spec, task, values),
                       rng=np.random.default_rng(values["seed"]), **loop_options)


def goal_integral(spec: RobotSpec, task: Task, values: dict) -> GoalIntegral | None:
    if not values["goal_integral_gain"]:
        return None
    if task.achieved(np.zeros(spec.state_dim)) is None:
        raise ParameterError(f"parameter 'goal_integral_gain': the {values['task']} task's goals are not positions "
                             "to shift; set it to 0")
    return GoalIntegral(GoalIntegralSettings(values["goal_integral_gain"], values["goal_integral_radius"],
                                             values["goal_integral_limit"]))


def rate_limiter(spec: RobotSpec, values: dict) -> CommandLimiter | None:
    if not values["joint_limits_file"]:
        return None
    try:
        limits = load_rate_limits(find_shared_file(values["joint_limits_file"], "config"), spec.joints,
                                  spec.command_mode)
    except (OSError, ValueError) as error:
        raise ParameterError(f"joint_limits_file: {error}") from error
    return CommandLimiter(limits, 1.0 / values["control_rate"])


def motion_guard(spec: RobotSpec, values: dict, limiter: CommandLimiter | None) -> MotionGuard | None:
    """Joint position limits (from the URDF) less a margin and, if configured, an end-effector box,
    for joint velocity and position commands; a wheeled base's geofence, if configured."""
    dt = 1.0 / values["control_rate"]
    if spec.command.guarded == "base":
        return geofence(spec, values, dt)
    if spec.command.guarded != "joints":
        return None
    end_effector, box = None, None
    if values["ee_box_link"]:
        try:
            chain = load_chain(spec.urdf_path, values["ee_box_link"])
            kinematics = ForwardKinematics(chain, list(spec.joints)).double()
        except (OSError, ValueError, KeyError) as error:
            raise ParameterError(f"parameter 'ee_box_link': {error}") from error
        low, high = values["ee_box_low"], values["ee_box_high"]
        if len(low) != 3 or len(high) != 3:
            raise ParameterError(f"parameters 'ee_box_low' and 'ee_box_high' need 3 values (x, y, z), got {low} and "
                                 f"{high}")
        end_effector = lambda q: kinematics.position(torch.as_tensor(q)).numpy()  # noqa: E731
        box = (np.array(low), np.array(high))
    acceleration = limiter.limits.max_change if limiter and spec.command_mode == "velocity" else None
    try:
        return MotionGuard(spec.command, dt, spec.position_lower, spec.position_upper, values["position_margin"],
                           acceleration, end_effector, box)
    except ValueError as error:
        raise ParameterError(f"parameter 'position_margin' or the end-effector box: {error}") from error


def geofence(spec: RobotSpec, values: dict, dt: float) -> MotionGuard | None:
    """The box a wheeled base's (x, y) must stay in, or None where none is configured."""
    low, high = values["geofence_low"], values["geofence_high"]
    if not low and not high:
        return None
    if len(low) != 2 or len(high) != 2:
        raise ParameterError(f"parameters 'geofence_low' and 'geofence_high' need 2 values (x, y), got {low} and "
                             f"{high}")
    try:
        return MotionGuard(spec.command, dt, point=lambda pose: pose[..., :2], box=(np.array(low), np.array(high)))
    except ValueError as error:
        raise ParameterError(f"parameters 'geofence_low' and 'geofence_high': {error}") from error
