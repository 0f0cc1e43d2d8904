"""A goal-conditioned policy network: one forward pass per command instead of a plan."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class Policy(nn.Module):
    """Deterministic action = the command box's centre + half-width * tanh(net(inputs)), where the
    inputs are the state and the task's features of the goal (Task.goal_features), normalised with
    data statistics. The box (the planner's) and the statistics are buffers, kept in the checkpoint
    with the weights."""

    def __init__(self, state_dim: int, goal_dim: int, action_dim: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.hidden, self.num_layers = hidden, layers
        sizes = [state_dim + goal_dim] + [hidden] * layers
        blocks = [module for a, b in zip(sizes, sizes[1:]) for module in (nn.Linear(a, b), nn.SiLU())]
        self.net = nn.Sequential(*blocks, nn.Linear(sizes[-1], action_dim))
        self.register_buffer("input_mean", torch.zeros(state_dim + goal_dim))
        self.register_buffer("input_std", torch.ones(state_dim + goal_dim))
        self.register_buffer("low", -torch.ones(action_dim))
        self.register_buffer("high", torch.ones(action_dim))

    def config(self) -> dict:
        return {"state_dim": self.state_dim, "goal_dim": self.goal_dim, "action_dim": self.action_dim,
                "hidden": self.hidden, "layers": self.num_layers}

    @torch.no_grad()
    def set_bounds(self, low: torch.Tensor, high: torch.Tensor) -> None:
        self.low.copy_(low)
        self.high.copy_(high)

    @torch.no_grad()
    def set_normalization(self, states: torch.Tensor, goals: torch.Tensor) -> None:
        inputs = torch.cat([states, goals], -1)
        self.input_mean.copy_(inputs.mean(0))
        self.input_std.copy_(inputs.std(0).clamp_min(1e-6))

    def normalized(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """The network's input: states and goal features, with the data's statistics."""
        return (torch.cat([states, goals.expand(*states.shape[:-1], -1)], -1) - self.input_mean) / self.input_std

    def unit_actions(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Actions in the box's unit coordinates, [-1, 1]: what training compares."""
        return torch.tanh(self.net(self.normalized(states, goals)))

    def to_unit(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions - (self.high + self.low) / 2) / ((self.high - self.low) / 2).clamp_min(1e-9)

    def forward(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Actions (..., A) for states (..., S) and goals (..., G) or one goal (G,)."""
        return (self.high + self.low) / 2 + (self.high - self.low) / 2 * self.unit_actions(states, goals)


def new_policy(task, states: np.ndarray, low: torch.Tensor, high: torch.Tensor, hidden: int, layers: int,
               rng: np.random.Generator) -> Policy:
    """An untrained policy for `task`, commanding within [low, high], its inputs normalised over
    recorded states (N, S) with a goal the task draws for each."""
    states_t = task.tensor(states)
    goals = task.tensor(np.array([task.random_goal(rng) for _ in range(len(states))]))
    features = task.goal_features(states_t, goals)
    policy = Policy(states_t.shape[-1], features.shape[-1], len(low), hidden, layers).to(low.device)
    policy.set_bounds(low, high)
    policy.set_normalization(states_t, features)
    return policy


def goal_policy(policy: Policy, task) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The policy as a function of states (..., S) and a goal, through the task's goal features."""
    return lambda states, goal: policy(states, task.goal_features(states, goal))


@torch.no_grad()
def policy_command(policy: Policy, task, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """The policy's command for one state and goal, as the controller sends it."""
    state_t = task.tensor(state)
    return policy(state_t, task.goal_features(state_t, task.tensor(goal))).cpu().numpy().astype(float)
