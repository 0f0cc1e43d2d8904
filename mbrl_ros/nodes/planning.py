"""The task and the planner's settings, declared alike by the controller, which plans with them, and
the policy_trainer, which labels a policy's states with the same planner."""

from __future__ import annotations

from ..core.control.mpc import PRECISIONS
from ..core.planning.planners import PLANNERS, PlannerConfig
from ..core.planning.rollout import PROPAGATIONS
from ..core.robots.robot import RobotSpec
from ..core.tasks import TASKS, Task, make_task
from .common import ParameterError, in_range, non_negative, one_of


def declare_task(node, robot: RobotSpec, device: str) -> Task:
    """The task the `task` parameter names, with its own parameters."""
    name = node.param("task", "reach", "what the robot is asked to do", one_of(*TASKS))
    try:
        return make_task(name, robot, node.declare(TASKS[name].PARAMETERS), device)
    except (OSError, ValueError, KeyError) as error:
        raise ParameterError(f"{name} task: {error}") from error


def declare_planner(node) -> dict:
    """The planner's settings, as MPC takes them."""
    population = node.param("population", 200, "action sequences per iteration", in_range(2, 100000))
    config = PlannerConfig(
        horizon=node.param("horizon", 10, "planning horizon in control steps", in_range(1, 500)),
        population=population,
        elites=node.param("elites", 20, "best sequences CEM and iCEM refit to", in_range(1, population)),
        iterations=node.param("iterations", 3, "planner iterations per control step", in_range(1, 100)),
        initial_std=node.param("initial_std", 0.5, "first samples' spread, as a share of the command box's "
                               "half-width", in_range(0.01, 2.0)),
        gradient_starts=node.param("gradient_starts", 8, "gradient and cem_gd planners: sequences refined by "
                                   "gradient steps at once", in_range(1, population)),
        gradient_steps=node.param("gradient_steps", 5, "... Adam steps on them per iteration", in_range(1, 1000)),
        learning_rate=node.param("gradient_learning_rate", 0.05, "... Adam's step, as a share of the command box's "
                                 "half-width", in_range(1e-4, 1.0)),
        proposal_share=node.param("proposal_share", 0.25, "with a policy (use_policy: proposals), the share of "
                                  "candidates drawn around its own rollout", in_range(0.0, 1.0)))
    return dict(
        config=config,
        planner=node.param("planner", "cem", "trajectory optimiser", one_of(*PLANNERS)),
        propagation=node.param("propagation", "ts_inf", "how particles use the ensemble members",
                               one_of(*PROPAGATIONS)),
        uncertainty_weight=node.param("uncertainty_weight", 0.0, "cost of ensemble disagreement along a plan",
                                      non_negative),
        rollout_precision=node.param("rollout_precision", "float32", "dtype of the candidates' model products",
                                     one_of(*PRECISIONS)))
