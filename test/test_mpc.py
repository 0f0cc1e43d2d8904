"""The MPC plans from the state its command will meet."""

import numpy as np
import torch

from mbrl_ros.core.control.mpc import MPC
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.planning.planners import PlannerConfig
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.tasks import make_task


def drifting_model(state_dim: int, action_dim: int, drift: np.ndarray) -> GaussianEnsemble:
    """Every member predicts next state = state + drift, whatever the command."""
    model = GaussianEnsemble(state_dim, action_dim, members=2, hidden=8, layers=1)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.target_mean.copy_(torch.as_tensor(drift, dtype=torch.float32))
    return model.eval()


def test_planning_ahead_starts_from_the_state_the_command_in_flight_leads_to_a_step_or_a_share_of_it_later():
    params = node_parameters(robot_config("drone"), "controller")
    spec = RobotSpec.from_params(params)
    drift = np.zeros(spec.state_dim)
    drift[:3] = [0.1, 0.0, -0.05]
    mpc = MPC(make_task("fly_to", spec, params), *spec.command_bounds, drifting_model(spec.state_dim, 4, drift),
              PlannerConfig(horizon=3, population=10, elites=2, iterations=1))
    state = np.zeros(spec.state_dim)
    state[[2, 3, 7]] = [1.0, 1.0, 1.0]  # 1 m up, level
    _, now = mpc.act(state, np.array([0.0, 0.0, 1.0]))
    _, ahead = mpc.act(state, np.array([0.0, 0.0, 1.0]), in_flight=np.full(4, 0.5))
    # a command landing 40 % into the step
    _, share = mpc.act(state, np.array([0.0, 0.0, 1.0]), in_flight=np.full(4, 0.5), lead=0.4)
    np.testing.assert_allclose(now["plan_points"][0], [0.0, 0.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(ahead["plan_points"][0], [0.1, 0.0, 0.95], atol=1e-6)
    np.testing.assert_allclose(share["plan_points"][0], [0.04, 0.0, 0.98], atol=1e-6)


def test_the_whole_plan_comes_back_its_first_step_is_the_command():
    # The controller sends a fresh plan's second step on the next tick, so the plan must come back whole.
    params = node_parameters(robot_config("drone"), "controller")
    spec = RobotSpec.from_params(params)
    mpc = MPC(make_task("fly_to", spec, params), *spec.command_bounds,
              drifting_model(spec.state_dim, 4, np.zeros(spec.state_dim)),
              PlannerConfig(horizon=5, population=10, elites=2, iterations=1))
    state = np.zeros(spec.state_dim)
    state[[2, 3, 7]] = [1.0, 1.0, 1.0]
    command, info = mpc.act(state, np.array([0.0, 0.0, 1.0]))
    assert info["actions"].shape == (5, 4)
    np.testing.assert_array_equal(command, info["actions"][0])
    low, high = spec.command_bounds
    assert np.all(info["actions"] >= low) and np.all(info["actions"] <= high)


def test_with_rate_limits_a_plan_ramps_from_the_last_command_sent(arm, arm_params):
    limit = np.full(arm.dof, 0.05)
    mpc = MPC(make_task("reach", arm, arm_params), *arm.command_bounds,
              drifting_model(arm.state_dim, arm.dof, np.zeros(arm.state_dim)),
              PlannerConfig(horizon=4, population=50, elites=5, iterations=2), max_action_change=limit)
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = arm_params["workspace_center"]
    last = np.linspace(-0.3, 0.3, arm.dof)
    _, info = mpc.act(state, np.array([0.5, 0.0, 0.3]), previous=last)
    steps = np.abs(np.diff(np.vstack([last, info["actions"]]), axis=0))
    assert np.all(steps <= limit + 1e-6)
    mpc.set_model(drifting_model(arm.state_dim, arm.dof, np.zeros(arm.state_dim)))  # a new model keeps the limits
    assert mpc.planner.max_step is not None


def reach_mpc(arm, arm_params, settle_margin: float) -> MPC:
    """Reach MPC over a model in which nothing the arm is commanded moves it."""
    return MPC(make_task("reach", arm, arm_params), *arm.command_bounds,
               drifting_model(arm.state_dim, arm.dof, np.zeros(arm.state_dim)),
               PlannerConfig(horizon=4, population=50, elites=5, iterations=2),
               max_action_change=np.full(arm.dof, 0.05), settle_margin=settle_margin)


def test_where_no_plan_saves_more_than_the_margin_the_arm_brakes_to_a_stop(arm, arm_params):
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = arm_params["workspace_center"]
    moving = np.full(arm.dof, 0.12)
    command, info = reach_mpc(arm, arm_params, 0.001).act(state, np.array([0.5, 0.0, 0.3]), previous=moving,
                                                          hold=np.zeros(arm.dof))
    assert info["settled"]
    np.testing.assert_allclose(info["actions"], [[0.07] * 7, [0.02] * 7, [0.0] * 7, [0.0] * 7], atol=1e-6)
    np.testing.assert_array_equal(command, info["actions"][0])


def test_holding_is_taken_only_within_the_margin_and_never_without_one(arm, arm_params):
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = arm_params["workspace_center"]
    goal, flat_out = np.array([0.5, 0.0, 0.3]), arm.command_bounds[1]  # holding that costs all the action cost
    decisions = {}
    for margin in (0.0, 0.01, 1.0):
        mpc = reach_mpc(arm, arm_params, margin)
        _, info = mpc.act(state, goal, previous=flat_out, hold=flat_out)
        decisions[margin] = info["settled"]
    assert decisions == {0.0: False, 0.01: False, 1.0: True}


def test_within_the_hold_tolerance_the_arm_holds_until_twice_as_far_off(arm, arm_params):
    mpc = MPC(make_task("reach", arm, arm_params), *arm.command_bounds,
              drifting_model(arm.state_dim, arm.dof, np.zeros(arm.state_dim)),
              PlannerConfig(horizon=4, population=50, elites=5, iterations=2), hold_tolerance=0.01)
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = arm_params["workspace_center"]
    reached, hold = mpc.task.achieved(state), arm.safe_command(state)
    held = {}
    for step, offset in enumerate((0.015, 0.008, 0.015, 0.025, 0.015)):
        _, info = mpc.act(state, reached + [offset, 0.0, 0.0], hold=hold)
        held[step] = info["settled"]
        if info["settled"]:
            np.testing.assert_allclose(info["actions"], np.repeat(hold[None], 4, 0), atol=1e-6)
    assert held == {0: False, 1: True, 2: True, 3: False, 4: False}
    mpc.act(state, reached + [0.008, 0.0, 0.0], hold=hold)
    mpc.reset()  # a new goal starts away from it
    assert not mpc.act(state, reached + [0.015, 0.0, 0.0], hold=hold)[1]["settled"]
