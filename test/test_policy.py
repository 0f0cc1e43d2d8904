"""Policies distilled from the planner: DAgger's labels, the policy network and its checkpoints, and
the planner's proposals around a policy's rollout."""

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.mpc import MPC
from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.models.training import TrainConfig, train_ensemble
from mbrl_ros.core.planning.planners import PlannerConfig, make_planner
from mbrl_ros.core.planning.rollout import mean_step
from mbrl_ros.core.policies.check import check_policy
from mbrl_ros.core.policies.distill import DistillConfig, Distillation, Labels, distill, label_rollout
from mbrl_ros.core.policies.policy import Policy, policy_command
from mbrl_ros.core.policies.sac import SAC, SACConfig, SoftValue
from mbrl_ros.core.tasks import make_task

DT = 0.05


def integrator_data(arm, count: int, rng) -> Transitions:
    """The arm as a velocity integrator: q' = q + command * dt, qd' = command."""
    low, high = arm.command_bounds
    center, span = np.array(arm.workspace[0] + arm.workspace[1]) / 2, np.array(arm.workspace[1] - arm.workspace[0])
    states = np.zeros((count, arm.state_dim))
    states[:, arm.position_columns] = center + (rng.random((count, arm.dof)) - 0.5) * span
    actions = rng.uniform(low, high, (count, arm.dof))
    states[:, [c + arm.dof for c in arm.position_columns]] = rng.uniform(low, high, (count, arm.dof))
    following = states.copy()
    following[:, arm.position_columns] += actions * DT
    following[:, [c + arm.dof for c in arm.position_columns]] = actions
    return Transitions(states, actions, following)


@pytest.fixture(scope="module")
def reach(arm, arm_params):
    """An arm reach MPC over an ensemble that learned the integrator, and recorded states."""
    torch.manual_seed(0)
    data = integrator_data(arm, 3000, np.random.default_rng(0))
    model = GaussianEnsemble(arm.state_dim, arm.dof, members=2, hidden=64, layers=2)
    train_ensemble(model, data, TrainConfig(max_epochs=40, patience=40))
    mpc = MPC(make_task("reach", arm, arm_params), *arm.planning_bounds, model.eval(),
              PlannerConfig(horizon=6, population=100, elites=10, iterations=2))
    return mpc, data.states


def test_the_policy_drives_the_rollout_and_the_planner_labels_every_state_it_visits(reach):
    mpc, starts = reach
    policy = Policy(mpc.model.state_dim, 9, mpc.model.action_dim)
    policy.set_bounds(mpc.planner.low, mpc.planner.high)
    goal = mpc.task.random_goal(np.random.default_rng(1))
    labels = Labels()
    assert label_rollout(mpc, starts[0], goal, 5, labels, policy) == 5
    for state, following in zip(labels.states, labels.states[1:]):
        action = policy_command(policy, mpc.task, state, goal)
        expected = mean_step(mpc.model, mpc.task.tensor(state), mpc.task.tensor(action))
        np.testing.assert_allclose(following, expected.detach().numpy(), atol=1e-5)
    replay = MPC(mpc.task, mpc.planner.low.numpy(), mpc.planner.high.numpy(), mpc.model, mpc.planner.config)
    replay.reset()
    for state, label in zip(labels.states, labels.actions):
        np.testing.assert_allclose(label, replay.act(state, goal)[0], atol=1e-6)
    assert not np.allclose(labels.actions[0], policy_command(policy, mpc.task, labels.states[0], goal), atol=1e-3), \
        "the labels are the planner's, not the policy's own commands"


def test_a_distilled_policy_reaches_goals_in_the_model(reach):
    mpc, starts = reach
    policy, history = distill(mpc, starts, DistillConfig(rounds=4, rollouts=10, steps=25, epochs=40, hidden=64,
                                                                  check_rollouts=0))
    assert [h["labels"] for h in history] == [250, 500, 750, 1000]
    rng, task = np.random.default_rng(5), mpc.task
    before, after = [], []
    for start in starts[-8:]:
        goal = task.random_goal(rng)
        state = torch.as_tensor(start, dtype=torch.float32)
        before.append(task.error(start, goal))
        for _ in range(40):
            state = mean_step(mpc.model, state, task.tensor(policy_command(policy, task, state.numpy(), goal)))
        after.append(task.error(state.detach().numpy(), goal))
    assert np.median(after) < 0.35 * np.median(before), (before, after)


def test_policy_commands_stay_in_the_box_and_checkpoints_say_what_they_hold(tmp_path, reach):
    mpc, starts = reach
    policy = Policy(mpc.model.state_dim, 9, mpc.model.action_dim, hidden=16)
    policy.set_bounds(mpc.planner.low, mpc.planner.high)
    with torch.no_grad():
        policy.net[-1].bias.fill_(100.0)
    command = policy_command(policy, mpc.task, starts[0], np.array([0.4, 0.0, 0.4]))
    np.testing.assert_allclose(command, mpc.planner.high.numpy(), rtol=1e-6)

    path = save_checkpoint(tmp_path / "policy.pt", policy, {"task": "ReachTask"})
    loaded, metadata = load_checkpoint(path, kind=Policy)
    assert metadata["task"] == "ReachTask"
    np.testing.assert_allclose(policy_command(loaded, mpc.task, starts[3], np.zeros(3)),
                               policy_command(policy, mpc.task, starts[3], np.zeros(3)))
    with pytest.raises(CheckpointError, match="holds a Policy, not a GaussianEnsemble"):
        load_checkpoint(path)


def biased_policy(mpc, bias: float) -> Policy:
    """A policy that commands the same whatever the state: `bias` in the box's unit coordinates."""
    policy = Policy(mpc.model.state_dim, 9, mpc.model.action_dim, hidden=16)
    policy.set_bounds(mpc.planner.low, mpc.planner.high)
    with torch.no_grad():
        policy.net[-1].weight.zero_()
        policy.net[-1].bias.fill_(bias)
    return policy.eval()


def test_the_check_drives_the_model_with_the_policy_and_fails_rollouts_that_end_far_off(reach):
    mpc, starts = reach
    task, rng = mpc.task, np.random.default_rng(2)
    goals = np.array([task.random_goal(rng) for _ in range(4)])
    policy = biased_policy(mpc, 0.5)
    check = check_policy(policy, mpc.model, task, starts[:4], goals, 30, tolerance=0.05)
    for rollout, goal in zip(check.visited, goals):
        for t in (0, 17, 29):
            action = policy_command(policy, task, rollout[t], goal)
            expected = mean_step(mpc.model, task.tensor(rollout[t]), task.tensor(action)).detach().numpy()
            np.testing.assert_allclose(rollout[t + 1], expected, atol=1e-4)
    np.testing.assert_allclose(check.errors[1], [task.error(state, goals[1]) for state in check.visited[1]], atol=1e-6)
    assert not check.ended.any()
    np.testing.assert_array_equal(check.failed, check.errors[:, -1] > 0.05)
    assert check.failed.any(), "a policy that ignores the goal ends far from some of them"
    for (state, goal), i in zip(check.turning_points(), np.flatnonzero(check.failed)):
        np.testing.assert_array_equal(state, check.visited[i, np.argmin(check.errors[i])])
        np.testing.assert_array_equal(goal, goals[i])
    loose = check_policy(policy, mpc.model, task, starts[:4], goals, 30, tolerance=10.0)
    assert loose.passed and loose.summary()["check_failed"] == 0


def test_a_rollout_that_stops_being_finite_ends_and_fails(reach):
    mpc, starts = reach
    check = check_policy(biased_policy(mpc, float("nan")), mpc.model, mpc.task, starts[:2],
                         np.zeros((2, 3)), 5, tolerance=10.0)
    assert check.ended.all() and not check.passed and check.summary()["check_crashed"] == 2
    np.testing.assert_array_equal(check.visited[:, -1], check.visited[:, 0])  # left where it was last finite
    assert np.isinf(check.final_errors).all()


@pytest.mark.parametrize("tolerance, accepted, rounds", [(10.0, True, 1), (1e-9, False, 3)])
def test_a_policy_that_fails_its_check_is_relabelled_from_where_it_went_wrong_then_given_up(
        reach, tolerance, accepted, rounds):
    mpc, starts = reach
    config = DistillConfig(rounds=1, rollouts=4, steps=5, epochs=2, hidden=16, check_rollouts=3, check_steps=20,
                           check_tolerance=tolerance, repair_rounds=2)
    distillation = Distillation(mpc, starts, config)
    history = []
    while not distillation.done:
        history.append(distillation.next_round())
    assert distillation.accepted is accepted and len(history) == rounds
    assert history[0]["labels"] == 4 * 5
    for before, after in zip(history, history[1:]):  # a repair round: 5 labels from each failed rollout
        assert after["labels"] - before["labels"] == 5 * before["check_failed"] > 0


def test_a_share_of_the_candidates_is_drawn_around_the_proposal():
    low, high = -torch.ones(2), torch.ones(2)
    planner = make_planner("cem", low, high, PlannerConfig(horizon=4, population=40, elites=4, iterations=1,
                                                           initial_std=0.05, proposal_share=0.25),
                           torch.Generator().manual_seed(0))
    planner.proposal = torch.full((4, 2), 0.8)
    seen = []

    def evaluate(actions):
        seen.append(actions.clone())
        return actions.square().sum((1, 2))

    planner.plan(evaluate)
    samples = seen[0]
    near = (samples - planner.proposal).abs().amax((1, 2)) < 0.3
    assert near.sum() == 10 and near[-10:].all(), "the last quarter, around the proposal"
    assert (samples == planner.proposal).all((1, 2)).any(), "the proposal itself is a candidate"


def test_the_reach_task_gives_a_policy_the_end_effectors_offset(arm, arm_params):
    task = make_task("reach", arm, arm_params)
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = arm_params["workspace_center"]
    goal = np.array([0.4, 0.1, 0.3])
    features = task.goal_features(task.tensor(state), task.tensor(goal)).numpy()
    offset = task.achieved(state) - goal
    expected = np.concatenate([offset, offset / (np.linalg.norm(offset) + 0.01), goal])
    np.testing.assert_allclose(features, expected, atol=1e-6)


def rising_value(state_dim: int, goal_dim: int, action_dim: int, column: int) -> SoftValue:
    """A value function that grows with state[column] (through two SiLU units), whatever the goal."""
    value = SoftValue(state_dim, goal_dim, action_dim, hidden=8, layers=1, critic_hidden=4, critic_layers=2)
    with torch.no_grad():
        for layer in (*value.critic.layers, value.critic.head):
            layer.weight.zero_()
            layer.bias.zero_()
        value.critic.layers[0].weight[:, column, 0] = 1.0
        value.critic.layers[1].weight[:, 0, 0] = 1.0
        value.critic.head.weight[:, 0, 0] = 1.0
    return value.eval()


def test_a_terminal_value_draws_plans_towards_what_it_values(reach, arm):
    mpc, starts = reach
    state = np.zeros(arm.state_dim)
    state[arm.position_columns] = np.array(arm.workspace[0] + arm.workspace[1]) / 2
    here = mpc.task.achieved(state)  # the goal is where the arm is: the task alone asks for stillness
    first_joint = arm.position_columns[0]
    value = rising_value(arm.state_dim, 9, arm.dof, first_joint)
    mpc.reset()
    _, still = mpc.act(state, here)
    mpc.set_terminal_value(value, weight=20.0)
    mpc.reset()
    _, drawn = mpc.act(state, here)
    mpc.set_terminal_value(None, 0.0)
    speed = mpc.planner.high[0].item()
    assert abs(still["actions"][:, 0].mean()) < 0.2 * speed
    assert drawn["actions"][:, 0].mean() > 0.5 * speed, "the first joint turns the way the value rises"


def test_the_soft_value_is_the_critics_value_of_the_actors_mean_action():
    torch.manual_seed(0)
    sac = SAC(Policy(3, 2, 2, hidden=16), SACConfig(hidden=16))
    states, goals = torch.randn(32, 3), torch.randn(32, 2)
    with torch.no_grad():
        expected = sac.q(sac.critic, states, goals, sac.policy.unit_actions(states, goals)).min(0).values
        torch.testing.assert_close(sac.soft_value()(states, goals), expected)
