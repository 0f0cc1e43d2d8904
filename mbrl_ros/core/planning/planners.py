"""Sampling-based trajectory optimisers for MPC, behind one interface.

Every planner keeps its solution between calls shifted by one step (warm start), keeps actions in
the box [low, high], and stops iterating at a deadline (anytime). `evaluate` maps action sequences
(N, H, A) to costs (N,) in one batched call.

- random: random shooting, uniform samples.
- cem: cross-entropy method; plans with the final mean, as in PETS (Chua et al. 2018).
- icem: improved CEM (Pinneri et al. 2020): colored noise, decaying population, elites kept
  between iterations and between control steps, returns the best sequence seen.
- mppi: model predictive path integral (Williams et al. 2017): exponentially weighted mean with a
  temperature, smoothed along time.
- pddm: the filtered, reward-weighted CEM of PDDM (Nagabandi et al. 2019).
- gradient: Adam on a few sequences at once, by backpropagation through the model and the cost.
- cem_gd: CEM whose best samples take gradient steps before each refit (Bharadhwaj et al. 2020,
  "Model-Predictive Control via Cross-Entropy and Gradient-Based Optimization").

Where a `proposal` sequence is set (a policy's own rollout), a share of the sampling planners'
candidates is drawn around it instead of around the mean, as TD-MPC (Hansen et al. 2022) does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

Evaluate = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PlannerConfig:
    horizon: int = 10
    population: int = 200
    iterations: int = 3
    elites: int = 20
    momentum: float = 0.1  # CEM/iCEM: share of the old mean and std kept at each refit
    initial_std: float = 0.5  # as a share of the half-width of the action box
    min_std: float = 0.02
    noise_exponent: float = 2.0  # iCEM: 0 white, 2 red (Brownian-like) noise along time
    keep_elites: float = 0.3  # iCEM: share of elites carried to the next iteration and control step
    population_decay: float = 1.25  # iCEM: population shrinks by this factor each iteration
    temperature: float = 0.05  # MPPI: cost temperature, relative to the spread of costs
    smoothing: float = 0.5  # MPPI/PDDM: weight of the new sample vs the previous step (1 = none)
    kappa: float = 10.0  # PDDM: reward-weighting sharpness
    gradient_starts: int = 8  # gradient, cem_gd: sequences refined by gradient steps at once
    gradient_steps: int = 5  # ... Adam steps on them per iteration
    learning_rate: float = 0.05  # ... Adam's step, as a share of the half-width of the action box
    proposal_share: float = 0.25  # share of the candidates drawn around a proposal, where one is set

    def __post_init__(self):
        if self.horizon < 1 or self.iterations < 1 or self.population < 2:
            raise ValueError("horizon and iterations must be at least 1, population at least 2")
        if not 0 < self.elites <= self.population:
            raise ValueError(f"elites must be in [1, population={self.population}], got {self.elites}")
        if not 0 < self.gradient_starts <= self.population or self.gradient_steps < 1 or self.learning_rate <= 0:
            raise ValueError("gradient_starts must be in [1, population], gradient_steps at least 1, "
                             "learning_rate positive")
        if not 0 <= self.proposal_share <= 1:
            raise ValueError(f"proposal_share must be in [0, 1], got {self.proposal_share}")


class Planner:
    """Shared machinery: warm start, bounds, deadline, statistics. Subclasses give `iterate`."""

    name = "planner"

    def __init__(self, low: torch.Tensor, high: torch.Tensor, config: PlannerConfig = PlannerConfig(),
                 generator: torch.Generator | None = None):
        self.low, self.high, self.config, self.generator = low, high, config, generator
        self.nominal = (low + high) / 2  # the action a plan starts from, before any warm start
        self.max_step: torch.Tensor | None = None  # per action: the most it may change from one step to the next
        self.previous: torch.Tensor | None = None  # the command in force when the plan starts
        self.proposal: torch.Tensor | None = None  # (H, A): a sequence to sample around as well
        self.reset()

    def reset(self) -> None:
        shape = (self.config.horizon, self.low.shape[0])
        self.mean = self.nominal.expand(shape).clone()
        self.kept = None  # iCEM elites carried between control steps

    @property
    def initial_std(self) -> torch.Tensor:
        return ((self.high - self.low) / 2 * self.config.initial_std).expand_as(self.mean).clone()

    def noise(self, std: torch.Tensor, count: int | None = None) -> torch.Tensor:
        """Gaussian noise with standard deviation `std` (H, A), for `count` (default: population) sequences."""
        shape = (count or self.config.population, *std.shape)
        return torch.randn(shape, generator=self.generator, dtype=std.dtype, device=std.device) * std

    def around_mean(self, state: dict, noise: torch.Tensor, evaluate: Evaluate) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates mean + noise in bounds, the mean itself (the warm start) first, and their costs."""
        samples = self.around_proposal(state["mean"] + noise, noise)
        samples[0] = state["mean"]
        samples = self.clamp(samples)
        return samples, evaluate(samples)

    def around_proposal(self, samples: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The last `proposal_share` of the samples moved around the proposal (the proposal itself
        first), where one is set."""
        count = round(self.config.proposal_share * len(samples))
        if self.proposal is None or count == 0:
            return samples
        samples[-count:] = self.proposal + noise[-count:]
        samples[-count] = self.proposal
        return samples

    def descend(self, actions: torch.Tensor, evaluate: Evaluate) -> tuple[torch.Tensor, torch.Tensor]:
        """`gradient_steps` of Adam on each sequence's own cost, backpropagated through the model,
        in the box's unit coordinates; after each step, back within the bounds and rate limits. The
        refined sequences and their costs."""
        center, half = (self.high + self.low) / 2, ((self.high - self.low) / 2).clamp_min(1e-9)
        unit = ((actions - center) / half).detach().requires_grad_(True)
        optimizer = torch.optim.Adam([unit], lr=self.config.learning_rate)
        with torch.enable_grad():
            for _ in range(self.config.gradient_steps):
                costs = evaluate(center + half * unit)
                unit.grad, = torch.autograd.grad(costs.sum(), unit)  # no gradients for the model's weights
                optimizer.step()
                with torch.no_grad():
                    unit.copy_((self.clamp(center + half * unit) - center) / half)
        refined = (center + half * unit).detach()
        with torch.no_grad():
            return refined, evaluate(refined)

    def within_bounds(self, actions: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(actions, self.high), self.low)

    def clamp(self, actions: torch.Tensor) -> torch.Tensor:
        """Action sequences (..., H, A) within the bounds and, with `max_step`, each action within
        `max_step` of the one before it, the first of `previous`: what the rate limits let through."""
        actions = self.within_bounds(actions)
        if self.max_step is None:
            return actions
        steps, before = [], self.previous
        for step in actions.unbind(-2):
            if before is not None:
                step = torch.maximum(torch.minimum(step, before + self.max_step), before - self.max_step)
            steps.append(step)
            before = step
        return torch.stack(steps, -2)

    def plan(self, evaluate: Evaluate, deadline: float | None = None) -> tuple[torch.Tensor, dict]:
        """The action sequence (H, A) to follow, and statistics. `deadline`: a time.monotonic() value."""
        state = self.start()
        best_cost, best = math.inf, self.mean
        iterations = 0
        for iteration in range(self.config.iterations):
            started = time.monotonic()
            samples, costs = self.iterate(state, evaluate, iteration)
            index = int(torch.argmin(costs))
            if float(costs[index]) < best_cost:
                best_cost, best = float(costs[index]), samples[index]
            iterations += 1
            # Stop when another iteration, as long as this one, would end past the deadline.
            if deadline is not None and 2 * time.monotonic() - started > deadline:
                break
        solution = self.clamp(self.solution(state, best))
        self.mean = torch.cat([state["mean"][1:], state["mean"][-1:]])
        return solution, {"cost": best_cost, "iterations": iterations}

    def start(self) -> dict:
        return {"mean": self.mean, "std": self.initial_std}

    def iterate(self, state: dict, evaluate: Evaluate, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def solution(self, state: dict, best: torch.Tensor) -> torch.Tensor:
        return state["mean"]


class RandomShooting(Planner):
    name = "random"

    def iterate(self, state, evaluate, iteration):
        c = self.config
        shape = (c.population, *self.mean.shape)
        uniform = torch.rand(shape, generator=self.generator, dtype=self.mean.dtype, device=self.mean.device)
        samples = self.low + (self.high - self.low) * uniform
        samples[0] = state["mean"]
        samples = self.clamp(samples)
        costs = evaluate(samples)
        state["mean"] = samples[int(torch.argmin(costs))]
        return samples, costs


class CEM(Planner):
    name = "cem"

    def iterate(self, state, evaluate, iteration):
        samples, costs = self.around_mean(state, self.noise(state["std"]), evaluate)
        self.refit(state, samples, costs)
        return samples, costs

    def refit(self, state: dict, samples: torch.Tensor, costs: torch.Tensor) -> None:
        c = self.config
        elites = samples[torch.topk(costs, c.elites, largest=False).indices]
        state["mean"] = c.momentum * state["mean"] + (1 - c.momentum) * elites.mean(0)
        state["std"] = (c.momentum * state["std"] + (1 - c.momentum) * elites.std(0)).clamp_min(c.min_std)


class CEMGradient(CEM):
    name = "cem_gd"

    def iterate(self, state, evaluate, iteration):
        samples, costs = self.around_mean(state, self.noise(state["std"]), evaluate)
        best = torch.topk(costs, self.config.gradient_starts, largest=False).indices
        samples[best], costs[best] = self.descend(samples[best], evaluate)
        self.refit(state, samples, costs)
        return samples, costs


class GradientPlanner(Planner):
    """Gradient descent alone: the warm start and `gradient_starts` - 1 sequences around it, refined
    together; the plan is the best sequence seen."""

    name = "gradient"

    def iterate(self, state, evaluate, iteration):
        if iteration == 0:
            starts = state["mean"] + self.noise(state["std"], self.config.gradient_starts)
            starts[0] = state["mean"]
            state["candidates"] = self.clamp(starts)
        samples, costs = self.descend(state["candidates"], evaluate)
        state["candidates"], state["mean"] = samples, samples[int(torch.argmin(costs))]
        return samples, costs

    def solution(self, state, best):
        return best


def colored_noise(count: int, horizon: int, action_dim: int, exponent: float, generator=None,
                  dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Gaussian noise (count, horizon, action_dim) with power spectrum 1/f^exponent along time,
    scaled to unit variance over the batch (the iCEM paper's sampler)."""
    frequencies = torch.fft.rfftfreq(horizon, dtype=torch.float64)
    frequencies[0] = 1.0 / horizon  # no infinite power at f = 0
    scale = frequencies ** (-exponent / 2.0)
    shape = (count, action_dim, len(frequencies))
    real = torch.randn(shape, generator=generator, dtype=torch.float64)
    imaginary = torch.randn(shape, generator=generator, dtype=torch.float64)
    if horizon % 2 == 0:
        imaginary[..., -1] = 0.0
    imaginary[..., 0] = 0.0
    signal = torch.fft.irfft(torch.complex(real, imaginary) * scale, n=horizon)
    signal = signal / signal.std().clamp_min(1e-12)
    return signal.transpose(1, 2).to(dtype=dtype, device=device)


class ICEM(Planner):
    name = "icem"

    def start(self):
        return {**super().start(), "elites": None, "best": None}

    def iterate(self, state, evaluate, iteration):
        c = self.config
        count = max(2 * c.elites, round(c.population / c.population_decay**iteration))
        horizon, action_dim = self.mean.shape
        noise = colored_noise(count, horizon, action_dim, c.noise_exponent, self.generator,
                              self.mean.dtype, self.mean.device)
        noise = state["std"] * noise
        samples = self.around_proposal(state["mean"] + noise, noise)
        carried = [state["mean"][None]]
        keep = max(1, int(c.keep_elites * c.elites))
        if state["elites"] is not None:
            carried.append(state["elites"][:keep])
        elif self.kept is not None:
            carried.append(self.kept)
        samples = self.clamp(torch.cat(carried + [samples]))
        costs = evaluate(samples)
        order = torch.topk(costs, min(c.elites, len(costs)), largest=False).indices
        elites = samples[order]
        state["elites"], state["best"] = elites, elites[0]
        state["mean"] = c.momentum * state["mean"] + (1 - c.momentum) * elites.mean(0)
        state["std"] = (c.momentum * state["std"] + (1 - c.momentum) * elites.std(0)).clamp_min(c.min_std)
        return samples, costs

    def solution(self, state, best):
        keep = max(1, int(self.config.keep_elites * self.config.elites))
        elites = state["elites"][:keep]
        self.kept = torch.cat([elites[:, 1:], elites[:, -1:]], dim=1)  # shifted, for the next step
        return best


def smooth_in_time(actions: torch.Tensor, weight: float) -> torch.Tensor:
    """Exponential filter along the horizon (dim -2): a_t <- w a_t + (1 - w) a_{t-1}."""
    if weight >= 1.0:
        return actions
    out = actions.clone()
    for t in range(1, actions.shape[-2]):
        out[..., t, :] = weight * actions[..., t, :] + (1 - weight) * out[..., t - 1, :]
    return out


class MPPI(Planner):
    name = "mppi"

    def iterate(self, state, evaluate, iteration):
        c = self.config
        samples, costs = self.around_mean(state, self.noise(state["std"]), evaluate)
        spread = (costs.max() - costs.min()).clamp_min(1e-9)
        weights = torch.softmax(-(costs - costs.min()) / (c.temperature * spread), dim=0)
        update = (weights[:, None, None] * (samples - state["mean"])).sum(0)
        state["mean"] = self.clamp(state["mean"] + smooth_in_time(update, c.smoothing))
        return samples, costs


class PDDM(Planner):
    name = "pddm"

    def iterate(self, state, evaluate, iteration):
        c = self.config
        samples, costs = self.around_mean(state, smooth_in_time(self.noise(state["std"]), c.smoothing), evaluate)
        scale = costs.std().clamp_min(1e-9)
        weights = torch.softmax(-c.kappa * (costs - costs.min()) / scale, dim=0)
        state["mean"] = (weights[:, None, None] * samples).sum(0)
        return samples, costs


PLANNERS = {cls.name: cls for cls in (RandomShooting, CEM, ICEM, MPPI, PDDM, GradientPlanner, CEMGradient)}


def make_planner(name: str, low: torch.Tensor, high: torch.Tensor, config: PlannerConfig = PlannerConfig(),
                 generator: torch.Generator | None = None) -> Planner:
    if name not in PLANNERS:
        raise ValueError(f"planner must be one of {sorted(PLANNERS)}, got {name!r}")
    return PLANNERS[name](low, high, config, generator)
