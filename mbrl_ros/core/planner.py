"""Cross-entropy method (CEM) planning over action sequences, warm-started between control steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

Evaluate = Callable[[torch.Tensor], torch.Tensor]  # action sequences (N, H, A) -> costs (N,)


@dataclass
class CEMConfig:
    horizon: int = 12
    population: int = 300
    elites: int = 30
    iterations: int = 3
    momentum: float = 0.1  # share of the old mean and std kept at each refit
    initial_std: float = 0.5  # as a share of the half-width of the action box
    min_std: float = 0.02

    def __post_init__(self):
        if not 0 < self.elites <= self.population:
            raise ValueError(f"elites must be in [1, population={self.population}], got {self.elites}")
        if self.horizon < 1 or self.iterations < 1:
            raise ValueError("horizon and iterations must be at least 1")


class CEMPlanner:
    """Sample Gaussian action sequences, refit to the best (the elites), repeat.

    The plan is the final mean, as in PETS: smoother than the single best sample, which on the arm
    halved the steady-state error. The mean is kept between calls and shifted by one step, so each
    plan starts from the last. A deadline stops the iterations early.
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor, config: CEMConfig = CEMConfig(),
                 generator: torch.Generator | None = None):
        self.low, self.high, self.config = low, high, config
        self.generator = generator
        self.reset()

    def reset(self) -> None:
        shape = (self.config.horizon, self.low.shape[0])
        self.mean = ((self.low + self.high) / 2).expand(shape).clone()

    def _initial_std(self) -> torch.Tensor:
        return ((self.high - self.low) / 2 * self.config.initial_std).expand_as(self.mean).clone()

    def plan(self, evaluate: Evaluate, deadline: float | None = None) -> tuple[torch.Tensor, dict]:
        """The planned action sequence (H, A) and statistics; `deadline` is a time.monotonic() value."""
        c = self.config
        mean, std = self.mean, self._initial_std()
        best_cost, iterations = float("inf"), 0
        for _ in range(c.iterations):
            noise = torch.randn((c.population, *mean.shape), generator=self.generator,
                                dtype=mean.dtype, device=mean.device)
            samples = torch.clamp(mean + std * noise, self.low, self.high)
            samples[0] = mean  # the warm start itself is always a candidate
            costs = evaluate(samples)
            elite_costs, elite_index = torch.topk(costs, c.elites, largest=False)
            elites = samples[elite_index]
            best_cost = min(best_cost, float(elite_costs[0]))
            mean = c.momentum * mean + (1 - c.momentum) * elites.mean(0)
            std = (c.momentum * std + (1 - c.momentum) * elites.std(0)).clamp_min(c.min_std)
            iterations += 1
            if deadline is not None and time.monotonic() >= deadline:
                break
        self.mean = torch.cat([mean[1:], mean[-1:]])
        return mean, {"cost": best_cost, "iterations": iterations}
