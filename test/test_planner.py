import time

import torch

from mbrl_ros.core.planner import CEMConfig, CEMPlanner


def quadratic(target):
    return lambda actions: (actions - target).square().sum(dim=(1, 2))


def test_cem_finds_the_minimum_of_a_known_cost():
    target = torch.tensor([0.3, -0.6])
    planner = CEMPlanner(torch.full((2,), -1.0), torch.full((2,), 1.0),
                         CEMConfig(horizon=5, population=400, elites=40, iterations=8),
                         generator=torch.Generator().manual_seed(0))
    best, info = planner.plan(quadratic(target))
    torch.testing.assert_close(best, target.expand(5, 2), atol=0.05, rtol=0)
    assert info["iterations"] == 8


def test_cem_respects_action_bounds():
    planner = CEMPlanner(torch.full((2,), -0.5), torch.full((2,), 0.5), CEMConfig(horizon=3, iterations=10),
                         generator=torch.Generator().manual_seed(0))
    best, _ = planner.plan(quadratic(torch.tensor([2.0, -2.0])))
    assert best.max() <= 0.5 and best.min() >= -0.5
    torch.testing.assert_close(best, torch.tensor([0.5, -0.5]).expand(3, 2), atol=0.02, rtol=0)


def test_warm_start_shifts_by_one_step():
    planner = CEMPlanner(torch.full((1,), -1.0), torch.full((1,), 1.0),
                         CEMConfig(horizon=4, population=200, elites=20, iterations=6),
                         generator=torch.Generator().manual_seed(0))
    ramp = torch.tensor([-0.6, -0.2, 0.2, 0.6])[:, None]
    planner.plan(quadratic(ramp))
    before = planner.mean.clone()
    torch.testing.assert_close(before[:-1], ramp[1:], atol=0.08, rtol=0)
    torch.testing.assert_close(before[-1], before[-2])


def test_deadline_stops_iterations_early():
    def slow_cost(actions):
        time.sleep(0.02)
        return actions.square().sum(dim=(1, 2))

    planner = CEMPlanner(torch.full((1,), -1.0), torch.full((1,), 1.0), CEMConfig(horizon=2, iterations=50))
    started = time.monotonic()
    _, info = planner.plan(slow_cost, deadline=started + 0.05)
    assert info["iterations"] < 10
    assert time.monotonic() - started < 0.5
