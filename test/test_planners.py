import time

import pytest
import torch

from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.planning.planners import PLANNERS, PlannerConfig, colored_noise, make_planner
from mbrl_ros.core.planning.rollout import rollout
from mbrl_ros.core.tasks import make_task

LOW, HIGH = torch.full((2,), -1.0), torch.full((2,), 1.0)


def quadratic(target):
    return lambda actions: (actions - target).square().sum(dim=(1, 2))


def planner(name, **config):
    return make_planner(name, LOW, HIGH, PlannerConfig(**config), torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_each_planner_improves_a_known_cost_over_its_initial_sample(name):
    target = torch.tensor([0.3, -0.6])
    cost = quadratic(target)
    p = planner(name, horizon=5, population=300, elites=30, iterations=5)
    initial = cost(p.mean[None]).item()
    solution, info = p.plan(cost)
    final = cost(solution[None]).item()
    assert final < initial, (initial, final)
    assert info["iterations"] == 5 and info["cost"] <= initial


@pytest.mark.parametrize("name", ["cem", "icem", "mppi", "pddm", "gradient", "cem_gd"])
def test_refining_planners_find_the_minimum(name):
    target = torch.tensor([0.3, -0.6])
    p = planner(name, horizon=4, population=400, elites=40, iterations=20, smoothing=1.0)
    solution, _ = p.plan(quadratic(target))
    torch.testing.assert_close(solution, target.expand(4, 2), atol=0.08, rtol=0)


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_actions_stay_in_bounds(name):
    seen = []

    def cost(actions):
        seen.append(actions)
        return quadratic(torch.tensor([3.0, -3.0]))(actions)

    solution, _ = planner(name, horizon=3, iterations=4).plan(cost)
    everything = torch.cat([s.reshape(-1, 2) for s in seen] + [solution])
    assert everything.max() <= 1.0 and everything.min() >= -1.0


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_with_a_rate_limit_every_candidate_and_the_plan_ramp_from_the_previous_command(name):
    """The robot's rate limits known to the planner: no candidate asks for a change the limiter would
    cut, and the plan still heads for the target as fast as they allow."""
    seen, previous, max_step = [], torch.tensor([0.5, -0.5]), torch.tensor([0.1, 0.3])

    def cost(actions):
        seen.append(actions)
        return quadratic(torch.tensor([-1.0, 1.0]))(actions)

    p = planner(name, horizon=6, population=100, elites=10, iterations=4)
    p.max_step, p.previous = max_step, previous
    solution, _ = p.plan(cost)
    for actions in seen + [solution[None]]:
        steps = torch.diff(torch.cat([previous.expand(len(actions), 1, 2), actions], dim=1), dim=1).abs()
        assert torch.all(steps <= max_step + 1e-6)
    assert solution[-1, 0] < previous[0] - 0.2 and solution[-1, 1] > previous[1] + 0.6, "on its way"


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_warm_start_shifts_by_one_step(name):
    p = planner(name, horizon=4, population=300, elites=30, iterations=8, smoothing=1.0)
    ramp = torch.tensor([-0.6, -0.2, 0.2, 0.6])[:, None].expand(4, 2)
    solution, _ = p.plan(quadratic(ramp))
    shifted = p.mean
    torch.testing.assert_close(shifted[-1], shifted[-2])
    if name in ("cem", "mppi", "pddm", "random"):  # these follow their mean; iCEM its best elite
        torch.testing.assert_close(shifted[:-1], solution[1:])
    if name != "random":
        torch.testing.assert_close(shifted[:-1], ramp[1:], atol=0.15, rtol=0)
    # The next plan starts from there: its first candidate is that shifted sequence.
    first = []
    p.plan(lambda a: first.append(a[0].clone()) or quadratic(ramp)(a))
    torch.testing.assert_close(first[0], shifted)


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_deadline_stops_iterations_early(name):
    def slow_cost(actions):
        time.sleep(0.02)
        return actions.square().sum(dim=(1, 2))

    p = planner(name, horizon=2, iterations=50)
    started = time.monotonic()
    _, info = p.plan(slow_cost, deadline=started + 0.05)
    assert 1 <= info["iterations"] < 10
    assert time.monotonic() - started < 0.5


def test_colored_noise_has_unit_variance_and_the_right_correlation():
    white = colored_noise(2000, 30, 2, 0.0, torch.Generator().manual_seed(0))
    red = colored_noise(2000, 30, 2, 2.0, torch.Generator().manual_seed(0))
    assert white.shape == (2000, 30, 2)
    for noise in (white, red):
        assert abs(noise.std().item() - 1.0) < 0.02

    def lag_one(x):
        return torch.corrcoef(torch.stack([x[:, :-1].flatten(), x[:, 1:].flatten()]))[0, 1].item()

    assert abs(lag_one(white)) < 0.05
    assert lag_one(red) > 0.8


def test_icem_keeps_elites_between_control_steps():
    p = planner("icem", horizon=5, population=100, elites=10, iterations=2, keep_elites=0.3)
    p.plan(quadratic(torch.tensor([0.5, 0.5])))
    assert p.kept is not None and p.kept.shape == (3, 5, 2)
    kept_before = p.kept.clone()
    seen = []
    p.plan(lambda a: seen.append(a.clone()) or quadratic(torch.tensor([0.5, 0.5]))(a))
    torch.testing.assert_close(seen[0][1:4], kept_before)  # after the warm-start mean


def test_icem_population_decays():
    sizes = []
    p = planner("icem", horizon=3, population=200, elites=10, iterations=4, population_decay=2.0)
    p.plan(lambda a: sizes.append(len(a)) or a.square().sum(dim=(1, 2)))
    assert sizes[0] > sizes[1] > sizes[2] >= 20


def test_unknown_planner_is_a_clear_error():
    with pytest.raises(ValueError, match="planner must be one of"):
        make_planner("nope", LOW, HIGH)


@pytest.mark.parametrize("propagation", ["expectation", "ts_inf"])
def test_gradient_steps_lower_a_cost_through_an_ensemble_inside_no_grad_and_leave_its_weights_alone(
        arm, arm_params, propagation):
    """As the MPC calls it: under torch.no_grad(), the arm's reach cost of sequences rolled out
    through a (random) ensemble, with no cost on the actions themselves: every gradient comes
    through the model."""
    torch.manual_seed(0)
    model = GaussianEnsemble(arm.state_dim, arm.dof, members=3, hidden=32, layers=2).eval()
    task = make_task("reach", arm, {**arm_params, "action_weight": 0.0})
    start = torch.zeros(arm.state_dim)
    start[arm.position_columns] = torch.tensor(arm_params["workspace_center"], dtype=torch.float32)
    goal = torch.tensor([0.4, 0.2, 0.4])
    low, high = (torch.tensor(b, dtype=torch.float32) for b in arm.command_bounds)
    p = make_planner("gradient", low, high, PlannerConfig(horizon=5, gradient_steps=20, learning_rate=0.05),
                     torch.Generator().manual_seed(0))

    def evaluate(actions):
        return task.cost(rollout(model, start, actions, propagation), actions, goal)

    with torch.no_grad():
        sequences = p.clamp(low + (high - low) * torch.rand(8, 5, arm.dof, generator=torch.Generator().manual_seed(1)))
        before = evaluate(sequences)
        refined, after = p.descend(sequences, evaluate)
    assert torch.all(after < before), (before, after)
    assert torch.all(refined >= low) and torch.all(refined <= high)
    assert all(parameter.grad is None for parameter in model.parameters())
