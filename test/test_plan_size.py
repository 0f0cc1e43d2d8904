"""Fitting the plan to the machine: the cost model, the size chosen for a budget, the precision
chosen by timing, resizing when plans' times drift, the loop planning at the fitted size, and
`policy: auto` handing the commands to the policy where no plan fits."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from mbrl_ros.core.control.plan_size import (
    PlanCost,
    PlanFit,
    PlanSize,
    PlanSizer,
    choose_size,
    preferred_precision,
    choose_precision,
    fit_cost,
    resized,
    smallest_population,
)
from mbrl_ros.core.control.loop import Mode
from mbrl_ros.core.models.learner import DynamicsLearner, ModelConfig
from mbrl_ros.core.models.training import TrainConfig
from mbrl_ros.core.planning.planners import PlannerConfig
from mbrl_ros.core.policies import PolicyUse
from test_control_loop import Rig

CONFIGURED = PlannerConfig(horizon=10, population=400, elites=40, iterations=4)
COST = PlanCost(fixed=0.006, per_iteration=0.001, per_sample=3e-5)  # this machine's drone plan, roughly


def test_the_configured_plan_is_kept_where_it_fits():
    size = choose_size(COST, 1.0, CONFIGURED, "float32")
    assert (size.population, size.iterations, size.fit) == (400, 4, PlanFit.CONFIGURED)
    assert size.predicted == pytest.approx(COST.time(400, 4))


def test_a_tighter_budget_keeps_the_iterations_and_takes_as_many_samples_as_fit():
    budget = COST.time(200, 4) + 1e-6
    size = choose_size(COST, budget, CONFIGURED, "float32")
    assert (size.population, size.iterations, size.fit) == (200, 4, PlanFit.FEWER_SAMPLES)
    assert COST.time(size.population, 4) <= budget < COST.time(size.population + 1, 4)


def test_below_the_smallest_population_fewer_iterations_and_past_one_iteration_over_budget():
    smallest = smallest_population(CONFIGURED)
    assert smallest == 100
    size = choose_size(COST, COST.time(smallest, 2) + 1e-6, CONFIGURED, "float32")
    assert (size.population, size.iterations, size.fit) == (smallest, 2, PlanFit.FEWER_ITERATIONS)
    size = choose_size(COST, COST.fixed, CONFIGURED, "float32")
    assert (size.population, size.iterations, size.fit) == (400, 1, PlanFit.OVER_BUDGET), \
        "the fixed part overruns: the configured samples, one iteration"
    assert size.predicted == pytest.approx(COST.time(400, 1))


def test_a_plan_whose_samples_cost_nothing_is_sized_by_its_iterations():
    flat = PlanCost(fixed=0.001, per_iteration=0.002, per_sample=0.0)
    size = choose_size(flat, flat.time(400, 3), CONFIGURED, "float32")
    assert (size.iterations, size.fit) == (3, PlanFit.FEWER_ITERATIONS)


def test_the_cost_model_is_recovered_from_three_timed_sizes():
    timed = []

    def time_plan(population, iterations):
        timed.append((population, iterations))
        return COST.time(population, iterations)

    fitted = fit_cost(time_plan, 400)
    assert sorted(timed) == [(100, 1), (400, 1), (400, 2)]
    assert fitted.fixed == pytest.approx(COST.fixed)
    assert fitted.per_iteration == pytest.approx(COST.per_iteration)
    assert fitted.per_sample == pytest.approx(COST.per_sample)


def test_resized_scales_the_elites_and_keeps_them_below_the_population():
    config = resized(CONFIGURED, 100, 2)
    assert (config.population, config.iterations, config.elites, config.horizon) == (100, 2, 10, 10)
    assert resized(CONFIGURED, 5, 1).elites == 1
    assert resized(PlannerConfig(population=20, elites=20), 10, 1).elites == 9


def time_by_precision(slowdown: dict):
    """Plans that take `slowdown[precision]` x COST's time."""
    return lambda precision, population, iterations: slowdown[precision] * COST.time(population, iterations)


def test_the_faster_precision_is_chosen_by_timing_and_float32_unless_the_other_is_clearly_faster():
    budget = COST.time(400, 4) * 1.2 / PlanSizer.HEADROOM
    slow_bfloat16 = PlanSizer(CONFIGURED, ("bfloat16", "float32"), budget)
    size = slow_bfloat16.calibrate(time_by_precision({"bfloat16": 7.0, "float32": 1.0}))
    assert (size.precision, size.fit) == ("float32", PlanFit.CONFIGURED)
    assert slow_bfloat16.timings["bfloat16"] == pytest.approx(7 * slow_bfloat16.timings["float32"])
    fast_bfloat16 = PlanSizer(CONFIGURED, ("bfloat16", "float32"), budget)
    assert fast_bfloat16.calibrate(time_by_precision({"bfloat16": 0.5, "float32": 1.0})).precision == "bfloat16"
    for lead in (1.0, 0.99, 0.92):  # a tie, and leads within the timing's noise
        near = PlanSizer(CONFIGURED, ("bfloat16", "float32"), budget)
        assert near.calibrate(time_by_precision({"bfloat16": lead, "float32": 1.0})).precision == "float32"
    clear = PlanSizer(CONFIGURED, ("bfloat16", "float32"), budget)
    assert clear.calibrate(time_by_precision({"bfloat16": 0.85, "float32": 1.0})).precision == "bfloat16"


def run_plans(sizer: PlanSizer, cost: PlanCost, windows: int) -> list:
    """Plans of the sizer's size taking `cost`'s time, for `windows` windows: the sizes it changed to."""
    resizes = []
    for _ in range(windows * PlanSizer.WINDOW):
        size = sizer.observe(cost.time(sizer.size.population, sizer.size.iterations), sizer.size.iterations)
        resizes += [size] if size is not None else []
    return resizes


def test_plans_slowed_by_a_busy_core_shrink_the_plan_and_grow_it_back_when_the_core_is_free():
    sizer = PlanSizer(CONFIGURED, ("float32",), 1.01 * COST.time(400, 4) / PlanSizer.HEADROOM)
    assert sizer.calibrate(time_by_precision({"float32": 1.0})).fit is PlanFit.CONFIGURED
    for _ in range(PlanSizer.WINDOW):
        assert sizer.observe(COST.time(400, 4) * 1.05, 4) is None, "within a tenth: no change"
    busy = [sizer.observe(COST.time(400, 4) * 1.5, 4) for _ in range(PlanSizer.WINDOW)]  # a core shared
    assert busy[:-1] == [None] * (PlanSizer.WINDOW - 1), "a window of plans before a change"
    assert busy[-1] is not None and busy[-1].population < 400 and busy[-1].fit is PlanFit.FEWER_SAMPLES
    run_plans(sizer, COST.scaled(1.5), 6)
    assert COST.scaled(1.5).time(sizer.size.population, 4) <= 1.1 * sizer.budget, "fits the shared core"
    grown = run_plans(sizer, COST, 8)
    assert grown and grown[-1].population > busy[-1].population
    assert COST.time(sizer.size.population, 4) >= (1 - PlanSizer.DRIFT) * COST.time(400, 4), \
        "back to the configured plan, within the drift allowed"


def test_a_plan_timed_beside_a_busy_trainer_grows_when_the_trainer_is_idle():
    """The drone's first model is timed while the trainer trains on the other core: 1.7x too slow.
    Correcting only the fixed part, the first way, left it at 50 x 3 when the trainer went idle."""
    sizer = PlanSizer(CONFIGURED, ("float32",), 1.01 * COST.time(400, 4) / PlanSizer.HEADROOM)
    assert sizer.calibrate(time_by_precision({"float32": 1.7})).population < 400
    run_plans(sizer, COST, 8)
    assert (sizer.size.population, sizer.size.iterations) == (400, 4)


def test_a_plan_whose_time_hardly_depends_on_its_samples_keeps_a_quarter_of_them_and_settles():
    """The drone beside the sim and the trainers on 2 cores: 4 iterations took 17-23 ms whether of 69
    or of 291 samples, and fewer samples only made it fly worse."""
    sizer = PlanSizer(CONFIGURED, ("float32",), COST.time(400, 4) / PlanSizer.HEADROOM)
    sizer.calibrate(time_by_precision({"float32": 1.0}))
    overhead = PlanCost(fixed=COST.fixed, per_iteration=COST.per_iteration + 400 * COST.per_sample, per_sample=0.0)
    sizes = run_plans(sizer, overhead.scaled(1.3), 24)
    assert sizes and min(s.population for s in sizes) == smallest_population(CONFIGURED) == 100
    assert run_plans(sizer, overhead.scaled(1.3), 6) == [], "settled"


def test_plans_whose_time_swings_around_the_prediction_keep_their_size():
    sizer = PlanSizer(CONFIGURED, ("float32",), 0.8 * COST.time(400, 4) / PlanSizer.HEADROOM)
    size = sizer.calibrate(time_by_precision({"float32": 1.0}))
    swings = np.resize([0.85, 1.15, 0.9, 1.3, 0.8, 1.1], 4 * PlanSizer.WINDOW)  # within a fifth at the median
    assert [sizer.observe(r * size.predicted, size.iterations) for r in swings] == [None] * len(swings)
    assert sizer.size == size


def test_a_plan_whose_fixed_part_overruns_keeps_its_samples_and_does_not_swing():
    """The arm on a slow machine: the fixed part alone is past the budget."""
    sizer = PlanSizer(CONFIGURED, ("float32",), 0.5 * COST.time(400, 4) / PlanSizer.HEADROOM)
    sizer.calibrate(time_by_precision({"float32": 1.0}))
    late = COST.time(400, 1) + COST.time(400, 4)  # far more than predicted, whatever the size
    sizes = [sizer.observe(late, 1) for _ in range(3 * PlanSizer.WINDOW)]
    assert [s.fit for s in sizes if s is not None] == [PlanFit.OVER_BUDGET]
    assert (sizer.size.population, sizer.size.iterations) == (400, 1)


def test_plans_cut_by_their_deadline_are_compared_for_the_iterations_they_ran():
    sizer = PlanSizer(CONFIGURED, ("float32",), COST.time(400, 4) / PlanSizer.HEADROOM)
    sizer.calibrate(time_by_precision({"float32": 1.0}))
    for _ in range(PlanSizer.WINDOW):
        assert sizer.observe(COST.time(400, 2), 2) is None, "two iterations, as long as predicted for two"


def test_the_loop_plans_at_the_size_it_fitted_and_says_so(arm, arm_params):
    config = PlannerConfig(horizon=3, population=64, elites=8, iterations=3)
    fitted = Rig(arm, arm_params, mpc_options=dict(config=config), fit_plan=True, deadline_fraction=0.8)
    fitted.tick()
    fitted.give_model()
    size = fitted.loop.sizer.size
    assert fitted.loop.mpc.planner.config == resized(config, size.population, size.iterations)
    assert fitted.loop.mpc.precision == "float32"
    assert any("the configured plan (64 x 3) takes float32" in line for _, line in fitted.log.lines)
    fitted.reachable_goal()
    fitted.tick()
    values = fitted.loop.diagnostics()
    assert values["plan_fit"] == size.fit.value and values["plan_population"] == size.population
    assert float(values["plan_budget_ms"]) == pytest.approx(0.8 / 20.0 * PlanSizer.HEADROOM * 1000, abs=0.1)

    unfitted = Rig(arm, arm_params, mpc_options=dict(config=config), fit_plan=True, deadline_fraction=0.0)
    unfitted.give_model()
    assert unfitted.loop.sizer is None and unfitted.loop.mpc.planner.config == config, \
        "without a deadline (in process) the configured plan"


def test_a_deadline_no_plan_can_meet_is_late_on_diagnostics(arm, arm_params):
    config = PlannerConfig(horizon=3, population=64, elites=8, iterations=3)
    r = Rig(arm, arm_params, mpc_options=dict(config=config), fit_plan=True, control_rate=1000.0,
            deadline_fraction=0.1)  # 85 microseconds
    r.tick()
    r.give_model()
    assert r.loop.sizer.size.fit is PlanFit.OVER_BUDGET
    assert (r.loop.mpc.planner.config.population, r.loop.mpc.planner.config.iterations) == (64, 1)
    assert r.loop.late()
    assert np.isfinite(r.loop.sizer.timings["float32"])


def auto_rig(arm, arm_params, control_rate: float, deadline_fraction: float) -> Rig:
    """A loop with `policy: auto` and its first model, its plans fitted to this deadline."""
    config = PlannerConfig(horizon=3, population=64, elites=8, iterations=3)
    r = Rig(arm, arm_params, mpc_options=dict(config=config), policy_use=PolicyUse.AUTO, control_rate=control_rate,
            deadline_fraction=deadline_fraction)
    r.tick()
    r.give_model()
    return r


def test_with_policy_auto_a_plan_too_slow_explores_until_the_policy_then_the_policy_acts(arm, arm_params):
    r = auto_rig(arm, arm_params, control_rate=1000.0, deadline_fraction=0.1)  # 85 microseconds: no plan fits
    assert r.loop.plan_too_slow and any("the policy will give the commands" in line for _, line in r.log.lines)
    goal = r.reachable_goal()
    low, high = arm.workspace
    inside = (low + high) / 2
    assert len(r.tick(inside)) == 1 and r.loop.mode is Mode.EXPLORING and not r.loop.iterations, \
        "no plan is flown: the explorer goes on"
    assert r.loop.diagnostics()["commands_from"] == "explorer"
    r.give_policy(goal)
    assert len(r.tick(inside)) == 1 and r.loop.mode is Mode.PURSUING and list(r.loop.iterations) == [0], \
        "one forward pass of the policy"
    assert r.loop.diagnostics()["commands_from"] == "policy"


def test_with_policy_auto_a_plan_that_fits_is_flown_and_the_policy_waits(arm, arm_params):
    r = auto_rig(arm, arm_params, control_rate=0.5, deadline_fraction=0.8)  # 1.6 s: every plan fits
    r.give_policy(r.reachable_goal())
    r.tick()
    assert r.loop.sizer.size.fit is PlanFit.CONFIGURED and r.loop.iterations[-1] == 3
    assert r.loop.diagnostics()["commands_from"] == "planner"


def test_a_plan_falls_short_with_fewer_iterations_or_under_half_the_samples():
    assert not PlanSize("float32", 400, 4, PlanFit.CONFIGURED, 0.01).falls_short(CONFIGURED)
    assert not PlanSize("float32", 200, 4, PlanFit.FEWER_SAMPLES, 0.01).falls_short(CONFIGURED)
    assert PlanSize("float32", 199, 4, PlanFit.FEWER_SAMPLES, 0.01).falls_short(CONFIGURED)
    assert PlanSize("float32", 100, 3, PlanFit.FEWER_ITERATIONS, 0.01).falls_short(CONFIGURED)
    assert PlanSize("float32", 400, 1, PlanFit.OVER_BUDGET, 0.01).falls_short(CONFIGURED)


def test_with_policy_auto_plans_that_become_too_slow_go_on_until_the_policy_then_it_acts(arm, arm_params):
    r = auto_rig(arm, arm_params, control_rate=0.5, deadline_fraction=0.8)  # 1.6 s: every plan fits
    goal = r.reachable_goal()
    r.tick()
    assert r.loop.diagnostics()["commands_from"] == "planner"
    sizer = r.loop.sizer
    resizes = [sizer.observe(50.0, sizer.size.iterations) for _ in range(PlanSizer.WINDOW)]  # the core taken
    resize = next(size for size in resizes if size is not None)
    assert r.loop.plan_too_slow
    r.loop.apply_size(r.loop.mpc, resize)
    planned = r.loop.plans_made
    assert len(r.tick()) == 1 and r.loop.plans_made == planned + 1, \
        "the planner goes on: the explorer would take the robot off its goal"
    r.give_policy(goal)
    r.tick()
    assert r.loop.diagnostics()["commands_from"] == "policy" and r.loop.plans_made == planned + 1


def test_labels_are_planned_in_the_faster_precision_here(arm, arm_params):
    config = PlannerConfig(horizon=3, population=64, elites=8, iterations=2)
    r = Rig(arm, arm_params, mpc_options=dict(config=config, rollout_precision="bfloat16"))
    r.tick()
    r.give_model()
    mpc = r.loop.mpc
    times = choose_precision(mpc, r.state(), r.reachable_goal())
    assert set(times) == {"bfloat16", "float32"} and all(t > 0 for t in times.values())
    assert mpc.precision == preferred_precision(times)


def test_a_fit_in_the_background_explores_meanwhile_then_plans_with_the_newest_model(arm, arm_params):
    config = PlannerConfig(horizon=3, population=64, elites=8, iterations=3)
    r = Rig(arm, arm_params, mpc_options=dict(config=config), fit_plan=True, deadline_fraction=0.8)
    r.tick()
    go_on, fit = threading.Event(), r.loop.fit_plan
    r.loop.fit_plan = lambda mpc: (go_on.wait(10.0), fit(mpc))  # the test says when the timing ends
    torch.manual_seed(1)
    first = DynamicsLearner(arm.model_signature(), 1.0 / 20.0, ModelConfig(2, 16, 1), TrainConfig()).model
    second = DynamicsLearner(arm.model_signature(), 1.0 / 20.0, ModelConfig(2, 16, 1), TrainConfig()).model
    r.loop.use_model(first, background=True)
    assert r.loop.fitting and r.loop.mpc is None
    assert len(r.tick()) == 1 and r.loop.mode is Mode.EXPLORING, "state keeps coming, and the robot explores"
    r.loop.use_model(second, background=True)  # arrives during the fit
    go_on.set()
    for _ in range(200):
        if r.loop.mpc is not None:
            break
        time.sleep(0.05)
    assert r.loop.mpc is not None and r.loop.mpc.model is second and not r.loop.fitting
    assert r.loop.sizer is not None and r.loop.commander.value == "planner"
