"""Fitting the plan to the machine it runs on.

A plan's time depends on the CPU (a bfloat16 rollout is fast where the CPU has bfloat16 units and
several times slower where it has not), on what runs beside the controller, and on the model. A
config's planner settings say what the plan should be; `PlanSizer` chooses what it can be here.
When the first model arrives it times plans of a few sizes in each allowed precision and fits
`time = fixed + iterations x (per_iteration + per_sample x population)`; it keeps the precision
whose configured plan is fastest (float32 unless another is at least a tenth faster), and the most
samples (up to the configured number) for which the configured iterations end within the budget.
Below the smallest population worth sampling it keeps that population and runs fewer iterations;
where not even one iteration of it fits, the fixed part overruns, and the configured samples plan
one iteration. While the loop runs, every 50 plans, it compares the last 300 plans' times with the
fit's prediction; where their mean ratio parts from 1 by more than a tenth, it scales the whole cost
by that ratio and sizes the plan again. What slows a plan after start-up slows all of it: another
process sharing the core, or the trainer, which shared it while the first model was timed, going
idle. The 300 plans span the CPU's phases (on an Intel Xeon with AMX the drone's 400 x 4 plan ran
16 ms for a second or two, then 24 ms, from the same state), and their mean, unlike a median, does
not flip between phases; a plan cut at its deadline rides a slow phase out with an iteration less.
Where a plan's time hardly depends on its samples (its fixed part and its iterations' overhead
dominate, as the drone's did beside the sim and the trainers on 2 cores: 17-23 ms for 4 iterations
of 69 to 291 samples), scaling shrinks the plan to its smallest population, a quarter of the
configured one; `policy: auto` hands the commands to the policy before that (`PlanSize.falls_short`).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..planning.planners import PlannerConfig


class PlanFit(enum.Enum):
    """How the plan fits its budget; the value is what /diagnostics says."""

    CONFIGURED = "configured"  # the config's plan fits
    FEWER_SAMPLES = "fewer_samples"
    FEWER_ITERATIONS = "fewer_iterations"  # the smallest population, and fewer iterations
    OVER_BUDGET = "over_budget"  # even one iteration of the smallest population does not fit: the
    # configured samples, one iteration (the time is the fixed part's, which fewer samples do not cut)


@dataclass(frozen=True)
class PlanCost:
    """Seconds a plan takes: `fixed + iterations x (per_iteration + per_sample x population)`."""

    fixed: float
    per_iteration: float
    per_sample: float

    def time(self, population, iterations):  # ints, or arrays of them
        return self.fixed + iterations * (self.per_iteration + self.per_sample * population)

    def scaled(self, ratio: float) -> PlanCost:
        return PlanCost(self.fixed * ratio, self.per_iteration * ratio, self.per_sample * ratio)


@dataclass(frozen=True)
class PlanSize:
    precision: str
    population: int
    iterations: int
    fit: PlanFit
    predicted: float  # s

    def config(self, configured: PlannerConfig) -> PlannerConfig:
        return resized(configured, self.population, self.iterations)

    def falls_short(self, configured: PlannerConfig) -> bool:
        """Whether this plan falls too far short of the configured one to command with (`policy: auto`
        commands with the policy instead): fewer iterations, or fewer than half the samples. The
        drone on an Intel Xeon with AMX held within 1.1 cm RMS planning 229-269 samples x 4, and
        4.3-28 cm RMS where the fit went down to 50-100 x 1-4."""
        return self.iterations < configured.iterations or self.population < configured.population / 2


def resized(configured: PlannerConfig, population: int, iterations: int) -> PlannerConfig:
    """The configured planner with this population and iterations, its elites scaled with the population."""
    elites = max(1, min(population - 1, round(configured.elites * population / configured.population)))
    return replace(configured, population=population, iterations=iterations, elites=elites,
                   gradient_starts=min(configured.gradient_starts, population))


def smallest_population(configured: PlannerConfig) -> int:
    """Fewer samples than this are not worth an iteration: a quarter of the configured population,
    at least 16 (and never more than configured)."""
    return min(configured.population, max(16, configured.population // 4))


def choose_size(cost: PlanCost, budget: float, configured: PlannerConfig, precision: str) -> PlanSize:
    """The largest plan within `budget` seconds: the configured iterations with as many samples as
    fit, or, below the smallest population, that population with as many iterations as fit. Where
    not even one iteration of it fits, what overruns is the plan's fixed part (the rollout of the
    chosen plan, the task's kinematics): fewer samples would cut the plan's quality and hardly its
    time, so the configured samples plan one iteration, and the fit says it is over budget."""
    population, iterations = configured.population, configured.iterations
    smallest = smallest_population(configured)
    if cost.time(population, iterations) <= budget:
        return PlanSize(precision, population, iterations, PlanFit.CONFIGURED, cost.time(population, iterations))
    per_iteration = (budget - cost.fixed) / iterations - cost.per_iteration
    fitting = int(per_iteration / cost.per_sample) if cost.per_sample > 0 else 0  # 0: samples cost nothing
    if fitting >= smallest:
        return PlanSize(precision, fitting, iterations, PlanFit.FEWER_SAMPLES, cost.time(fitting, iterations))
    one = cost.per_iteration + cost.per_sample * smallest
    fewer = min(int((budget - cost.fixed) / one) if one > 0 else iterations, iterations)
    if fewer < 1:
        return PlanSize(precision, population, 1, PlanFit.OVER_BUDGET, cost.time(population, 1))
    return PlanSize(precision, smallest, fewer, PlanFit.FEWER_ITERATIONS, cost.time(smallest, fewer))


def fit_cost(time_plan: Callable[[int, int], float], population: int) -> PlanCost:
    """The cost model from three timed sizes: the configured population for one and two iterations,
    and a quarter of it for one. `time_plan(population, iterations)`: seconds."""
    quarter = max(2, population // 4)
    one, two, small = time_plan(population, 1), time_plan(population, 2), time_plan(quarter, 1)
    iteration = max(two - one, 1e-6)
    per_sample = max((one - small) / (population - quarter), 0.0) if population > quarter else 0.0
    return PlanCost(fixed=max(one - iteration, 0.0), per_iteration=max(iteration - per_sample * population, 0.0),
                    per_sample=per_sample)


class PlanSizer:
    """Chooses the plan's precision and size for `budget` seconds, and keeps choosing as plans run.
    `precisions`: those allowed, the configured one first."""

    WINDOW = 50  # plans compared with the prediction before the size may change
    DRIFT = 0.1  # by more than this share
    STEP = 1 / 16  # the least change of population worth a resize, as a share of the configured one
    HEADROOM = 0.85  # share of the budget a plan is sized for: plans' times vary
    MEMORY = 6  # windows of plans whose mean drift counts

    def __init__(self, configured: PlannerConfig, precisions: tuple[str, ...], budget: float):
        self.configured, self.precisions, self.budget = configured, precisions, self.HEADROOM * budget
        self.cost: PlanCost | None = None
        self.size: PlanSize | None = None
        self.plans: deque = deque(maxlen=self.MEMORY * self.WINDOW)  # (population, iterations, seconds)
        self.observed = 0
        self.drift = 1.0  # the last 300 plans' mean of seconds over the prediction
        self.timings: dict[str, float] = {}  # precision -> s of the configured plan, as measured

    def calibrate(self, time_plan: Callable[[str, int, int], float]) -> PlanSize:
        """Fit each precision's cost with `time_plan(precision, population, iterations)` and choose."""
        costs = {p: fit_cost(lambda n, i, p=p: time_plan(p, n, i), self.configured.population)
                 for p in self.precisions}
        self.timings = {p: c.time(self.configured.population, self.configured.iterations) for p, c in costs.items()}
        precision = preferred_precision(self.timings)
        self.cost = costs[precision]
        self.size = choose_size(self.cost, self.budget, self.configured, precision)
        return self.size

    def observe(self, seconds: float, iterations: int) -> PlanSize | None:
        """A plan of the current size took `seconds` for `iterations` (fewer where its deadline cut
        it): the new size where plans' time drifted from the prediction, else None."""
        if self.cost is None or iterations < 1:
            return None
        self.plans.append((self.size.population, iterations, seconds))
        self.observed += 1
        if self.observed % self.WINDOW:
            return None
        plans = np.array(self.plans, dtype=float)
        self.drift = float(np.mean(plans[:, 2] / self.cost.time(plans[:, 0], plans[:, 1])))
        if abs(self.drift - 1.0) <= self.DRIFT:
            return None
        self.cost = self.cost.scaled(self.drift)
        size = choose_size(self.cost, self.budget, self.configured, self.size.precision)
        step = abs(size.population - self.size.population) / self.configured.population
        if size.iterations == self.size.iterations and step < self.STEP:
            return None
        self.size = size
        return size


# A reduced precision is chosen only where it plans at least this much faster than float32. On an Intel
# Xeon with AMX the two timed within 2 % of each other at start-up; a drone demo that took bfloat16 on
# a 1 % lead then planned about 3x slower than timed, shrank to 76 samples and crashed.
REDUCED_LEAD = 0.1


def preferred_precision(timings: dict[str, float]) -> str:
    """The precision to plan in, given each one's seconds for the same plan: the fastest, but float32
    unless the fastest leads it by `REDUCED_LEAD`."""
    fastest = min(timings, key=timings.get)
    if "float32" in timings and timings[fastest] > (1 - REDUCED_LEAD) * timings["float32"]:
        return "float32"
    return fastest


def median_time(run: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """The median seconds of `repeats` calls of `run`, after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def choose_precision(mpc, state: np.ndarray, goal: np.ndarray) -> dict[str, float]:
    """Plan in the preferred of `mpc`'s configured precision and float32 as timed here (bfloat16 is
    several times slower than float32 on a CPU without native bfloat16); returns each one's seconds."""
    times = {}
    for precision in dict.fromkeys((mpc.precision, "float32")):
        mpc.set_precision(precision)
        times[precision] = median_time(lambda: mpc.act(state, goal))
    mpc.set_precision(preferred_precision(times))
    mpc.reset()
    return times

