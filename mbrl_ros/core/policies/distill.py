"""Distil the MPC into a policy with DAgger (Ross et al. 2011), entirely on the learned model.

Each round, the policy drives rollouts through the model from recorded (real) states towards goals
the task draws, and the planner labels every state they visit with the command it would send; the
policy then learns from all labels so far. The first round's rollouts follow the planner itself.
Labelling by the policy's own states is what lets it recover from its own mistakes: a policy
trained only on the planner's trajectories drifts off them and has never seen where it ends up.
After the rounds, the policy is checked on long rollouts through the model (core/policies/check.py);
while it fails, each further round labels from where its failed rollouts began to go wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..control.mpc import MPC
from ..planning.rollout import mean_step
from .check import PolicyCheck, check_policy
from .policy import Policy, new_policy, policy_command


@dataclass
class DistillConfig:
    """The policy_trainer's defaults (core/policies/parameters.py declares them)."""

    rounds: int = 10
    rollouts: int = 16  # per round
    steps: int = 30  # per rollout
    epochs: int = 60  # per round, over all labels so far
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden: int = 256
    layers: int = 2
    seed: int = 0
    check_rollouts: int = 16  # the check after the rounds: 0, none
    check_steps: int = 200  # per check rollout: long enough to settle
    check_tolerance: float = 0.0  # the farthest a check rollout may end from its goal; 0: the task's success threshold
    repair_rounds: int = 10  # further rounds while the check fails, before the policy is given up

    def __post_init__(self):
        if min(self.rounds, self.rollouts, self.steps, self.epochs, self.batch_size, self.check_steps) < 1:
            raise ValueError("rounds, rollouts, steps, epochs, batch_size and check_steps must be at least 1")
        if min(self.check_rollouts, self.check_tolerance, self.repair_rounds) < 0:
            raise ValueError("check_rollouts, check_tolerance and repair_rounds cannot be negative")


@dataclass
class Labels:
    """States the rollouts visited, their goals (as the task's goal features), and the planner's
    command at each."""

    states: list = field(default_factory=list)
    goals: list = field(default_factory=list)
    actions: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.states)

    def tensors(self, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(torch.as_tensor(np.array(x), dtype=torch.float32, device=device)
                     for x in (self.states, self.goals, self.actions))


def label_rollout(mpc: MPC, start: np.ndarray, goal: np.ndarray, steps: int, labels: Labels,
                  policy: Policy | None = None) -> int:
    """Roll from `start` through the model, the policy acting (the planner where there is none),
    and add the planner's command at every state visited. The planner keeps its warm start along
    the rollout, as it does on the robot. Returns the states labelled: fewer than `steps` where the
    model's prediction stops being finite."""
    mpc.reset()
    state = np.asarray(start, float)
    for step in range(steps):
        label, _ = mpc.act(state, goal)
        labels.states.append(state)
        with torch.no_grad():
            labels.goals.append(mpc.task.goal_features(mpc.task.tensor(state), mpc.task.tensor(goal)).cpu().numpy())
        labels.actions.append(label)
        action = label if policy is None else policy_command(policy, mpc.task, state, goal)
        with torch.no_grad():
            state = mean_step(mpc.model, mpc.task.tensor(state), mpc.task.tensor(action)).cpu().numpy().astype(float)
        if not np.all(np.isfinite(state)):
            return step + 1
    return steps


def fit(policy: Policy, labels: Labels, config: DistillConfig, rng: np.random.Generator) -> float:
    """Train on the labels (mean squared error in the command box's unit coordinates), keeping the
    epoch with the best held-out error; returns that error."""
    states, goals, actions = labels.tensors(policy.low.device)
    targets = policy.to_unit(actions)
    order = torch.as_tensor(rng.permutation(len(labels)), device=states.device)
    held_out, train = order[:max(1, len(labels) // 10)], order[max(1, len(labels) // 10):]
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)

    def held_out_error() -> float:
        with torch.no_grad():
            return float((policy.unit_actions(states[held_out], goals[held_out]) - targets[held_out]).square().mean())

    best, best_weights = held_out_error(), {k: v.clone() for k, v in policy.state_dict().items()}
    for _ in range(config.epochs):
        for batch in train[torch.randperm(len(train), device=states.device)].split(config.batch_size):
            loss = (policy.unit_actions(states[batch], goals[batch]) - targets[batch]).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        error = held_out_error()
        if error < best:
            best, best_weights = error, {k: v.clone() for k, v in policy.state_dict().items()}
    policy.load_state_dict(best_weights)
    return best


class Distillation:
    """DAgger from the recorded states `starts` (N, S), one round at a time (`next_round`), so that a
    node can stop between rounds when a newer model arrives; continues training `policy` where given.
    Done after the configured rounds once the policy passes its check (`accepted`), or once the
    repair rounds are spent without (not accepted)."""

    def __init__(self, mpc: MPC, starts: np.ndarray, config: DistillConfig = DistillConfig(),
                 policy: Policy | None = None):
        self.mpc, self.config = mpc, config
        flying = ~mpc.task.episode_ended(mpc.task.tensor(starts)).cpu().numpy()  # not mid-crash
        self.starts = starts[flying] if flying.any() else starts
        self.rng = np.random.default_rng(config.seed)
        torch.manual_seed(config.seed)
        self.fresh = policy is None
        self.policy = policy if policy is not None else new_policy(
            mpc.task, starts, mpc.planner.low, mpc.planner.high, config.hidden, config.layers,
            np.random.default_rng(config.seed + 1))
        self.labels, self.history, self.started = Labels(), [], time.monotonic()
        self.check: PolicyCheck | None = None

    @property
    def accepted(self) -> bool:
        return len(self.history) >= self.config.rounds and (not self.config.check_rollouts or self.check.passed)

    @property
    def done(self) -> bool:
        return self.accepted or len(self.history) >= self.config.rounds + self.config.repair_rounds

    def next_round(self) -> dict:
        """Label the states of this round's rollouts (after the rounds, from where the failed check
        rollouts turned) and train on all labels so far; then the check, after the rounds. Its summary."""
        actor = None if self.fresh and not self.history else self.policy
        for start, goal in self.check.turning_points() if self.check is not None else self.draw(self.config.rollouts):
            label_rollout(self.mpc, start, goal, self.config.steps, self.labels, actor)
        self.policy.train()
        error = fit(self.policy, self.labels, self.config, self.rng)
        self.policy.eval()
        summary = {"round": len(self.history) + 1, "labels": len(self.labels), "held_out_error": error}
        if len(self.history) + 1 >= self.config.rounds and self.config.check_rollouts:
            starts, goals = map(np.array, zip(*self.draw(self.config.check_rollouts)))
            self.check = check_policy(self.policy, self.mpc.model, self.mpc.task, starts, goals,
                                      self.config.check_steps, self.config.check_tolerance)
            summary |= self.check.summary()
        self.history.append(summary | {"seconds": time.monotonic() - self.started})
        return self.history[-1]

    def draw(self, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Recorded starts and the task's random goals."""
        return [(self.starts[self.rng.integers(len(self.starts))], self.mpc.task.random_goal(self.rng))
                for _ in range(count)]


def labeller(task, spec, model, planner: dict, *, seed: int, device: str = "cpu") -> MPC:
    """The planner that labels states: the controller's planner settings (`read_planner`) without the
    settling and rate limits the controller adds around its own plans, which would teach a policy to
    stop short and move slowly."""
    return MPC(task, *spec.planning_bounds, model, **planner, device=device, seed=seed)


def distill(mpc: MPC, starts: np.ndarray, config: DistillConfig = DistillConfig(),
            policy: Policy | None = None, on_round=None) -> tuple[Policy, list[dict]]:
    """A policy that imitates `mpc` (its planner, model and task) from the recorded states `starts`
    (N, S); continues training `policy` where given. `on_round(summary)` reports progress. Returns
    the policy and one summary per round."""
    distillation = Distillation(mpc, starts, config, policy)
    while not distillation.done:
        summary = distillation.next_round()
        if on_round is not None:
            on_round(summary)
    return distillation.policy, distillation.history
