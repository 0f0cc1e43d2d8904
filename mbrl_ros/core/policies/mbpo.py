"""Model-based policy optimisation (MBPO, Janner et al. 2019): soft actor-critic trained mostly on
short rollouts branched from recorded states through the learned ensemble.

Each branch starts at a recorded state with a goal the task draws, and follows the actor for k
steps, each step through a randomly chosen member's Gaussian prediction; it stops where the task
says the episode ended (a crash). k grows as the model's held-out error falls: the longest rollout
whose summed one-step error stays within `error_budget`. The actor-critic learns from batches that
mix these with a share of real transitions, whose goals are drawn the same way (the reward is a
function of the goal, so any recorded step serves any goal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.transitions import Transitions
from ..models.ensemble import GaussianEnsemble
from ..tasks.task import Task
from .sac import SAC


@dataclass
class MBPOConfig:
    branches: int = 400  # rollouts branched at each refresh
    max_length: int = 10  # k at most
    error_budget: float = 0.5  # summed normalised one-step MSE allowed along a rollout
    real_share: float = 0.05  # of each batch
    updates: int = 5000  # actor-critic updates per training round (the policy_trainer's: per model)
    refresh_every: int = 250  # updates between branchings
    buffer_size: int = 200_000  # model transitions kept, newest first
    seed: int = 0


def rollout_length(validation_mse: float, config: MBPOConfig) -> int:
    """How many steps a branch may take with a model of this held-out (normalised) MSE."""
    return int(np.clip(config.error_budget / max(validation_mse, 1e-9), 1, config.max_length))


class Buffer:
    """Transitions (state, goal, unit action, reward, next state, done, and the goal's features at
    both states, computed once) as tensors in a ring of `size` rows: the newest kept."""

    FIELDS = ("states", "goals", "actions", "rewards", "next_states", "done", "features", "next_features")

    def __init__(self, size: int):
        self.size, self.rows, self.filled, self.cursor = size, None, 0, 0

    def __len__(self) -> int:
        return self.filled

    @property
    def data(self) -> dict[str, torch.Tensor]:
        return {k: v[:self.filled] for k, v in (self.rows or {}).items()}

    def add(self, **fields: torch.Tensor) -> None:
        fields = {k: fields[k][-self.size:] for k in self.FIELDS}
        if self.rows is None:
            self.rows = {k: v.new_empty((self.size, *v.shape[1:])) for k, v in fields.items()}
        count = len(fields["states"])
        at = (self.cursor + torch.arange(count)) % self.size
        for k, v in fields.items():
            self.rows[k][at] = v
        self.cursor, self.filled = (self.cursor + count) % self.size, min(self.filled + count, self.size)

    def sample(self, count: int, generator: torch.Generator) -> dict:
        index = torch.randint(len(self), (count,), generator=generator)
        return {k: v[index] for k, v in self.rows.items()}


class MBPO:
    def __init__(self, task: Task, sac: SAC, config: MBPOConfig = MBPOConfig()):
        self.task, self.sac, self.config = task, sac, config
        self.rng = np.random.default_rng(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.model_data = Buffer(config.buffer_size)
        self.real_data = Buffer(1)

    def goals(self, count: int) -> torch.Tensor:
        return self.task.tensor(np.array([self.task.random_goal(self.rng) for _ in range(count)]))

    def unit(self, actions: torch.Tensor) -> torch.Tensor:
        return self.sac.policy.to_unit(actions).clamp(-1.0, 1.0)

    def command(self, unit: torch.Tensor) -> torch.Tensor:
        policy = self.sac.policy
        return (policy.high + policy.low) / 2 + (policy.high - policy.low) / 2 * unit

    @torch.no_grad()
    def explore(self, state: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """A command drawn from the actor for one state and goal: how MBPO acts on the robot while
        it learns (its mean, policy_command, is what the controller sends)."""
        states = self.task.tensor(state)[None]
        unit, _ = self.sac.sample(states, self.task.goal_features(states, self.task.tensor(goal)))
        return self.command(unit)[0].cpu().numpy().astype(float)

    def set_real(self, data: Transitions) -> None:
        """The recorded transitions, each with a goal drawn for it, and their rewards under it."""
        states, actions, next_states = (self.task.tensor(x) for x in (data.states, data.actions, data.next_states))
        goals = self.goals(len(states))
        self.real_data = Buffer(max(len(states), 1))
        with torch.no_grad():
            self.real_data.add(**self.transitions(states, goals, self.unit(actions), actions, next_states))

    def transitions(self, states, goals, unit, actions, next_states) -> dict[str, torch.Tensor]:
        """A Buffer's fields for these steps: their rewards, episode ends and goal features."""
        return {"states": states, "goals": goals, "actions": unit, "next_states": next_states,
                "rewards": self.task.reward(states, actions, next_states, goals),
                "done": self.task.episode_ended(next_states).float(),
                "features": self.task.goal_features(states, goals),
                "next_features": self.task.goal_features(next_states, goals)}

    @torch.no_grad()
    def branch(self, model: GaussianEnsemble, length: int) -> int:
        """Add `branches` rollouts of up to `length` steps from recorded states; returns the steps added."""
        real = self.real_data.sample(self.config.branches, self.generator)
        states, goals = real["states"], self.goals(self.config.branches)
        alive, added = torch.ones(len(states), dtype=torch.bool), 0
        for _ in range(length):
            unit, _ = self.sac.sample(states, self.task.goal_features(states, goals))
            actions = self.command(unit)
            mean, variance = model.predict(states.expand(model.members, -1, -1), actions.expand(model.members, -1, -1))
            member = torch.randint(model.members, (len(states),), generator=self.generator)
            rows = torch.arange(len(states))
            noise = torch.randn(states.shape, generator=self.generator)
            next_states = mean[member, rows] + variance[member, rows].sqrt() * noise
            keep = alive & torch.isfinite(next_states).all(-1)
            self.model_data.add(**self.transitions(states[keep], goals[keep], unit[keep], actions[keep],
                                                   next_states[keep]))
            added += int(keep.sum())
            alive = keep & ~self.task.episode_ended(next_states)
            if not alive.any():
                break
            states = torch.where(alive[:, None], next_states, states)
        return added

    def train(self, model: GaussianEnsemble, data: Transitions, validation_mse: float, updates: int | None = None,
              on_refresh=None) -> dict:
        """`updates` (default: the config's) actor-critic updates on fresh branches from `data`
        through `model`, whose held-out normalised MSE is `validation_mse`."""
        self.set_real(data)
        length = rollout_length(validation_mse, self.config)
        batch = self.sac.config.batch_size
        real_count = round(self.config.real_share * batch) if len(self.real_data) else 0
        stats = {}
        for update in range(self.config.updates if updates is None else updates):
            if update % self.config.refresh_every == 0:
                self.branch(model, length)
                if on_refresh is not None:
                    on_refresh(update, stats)
            parts = [self.model_data.sample(batch - real_count, self.generator)]
            if real_count:
                parts.append(self.real_data.sample(real_count, self.generator))
            b = {k: torch.cat([p[k] for p in parts]) for k in Buffer.FIELDS}
            stats = self.sac.update(b["states"], b["features"], b["actions"], b["rewards"], b["next_states"],
                                    b["next_features"], b["done"])
        return {**stats, "rollout_length": length, "model_transitions": len(self.model_data)}
