"""Soft actor-critic (Haarnoja et al. 2018), goal-conditioned and compact, in the style of CleanRL.

The actor is a `Policy` (its tanh-squashed mean is the command the controller sends) with a learned
log standard deviation per action; the twin critics run as one two-member ensemble. Actions are in
the command box's unit coordinates [-1, 1] throughout; rewards are the task's negative cost.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..models.ensemble import EnsembleLinear
from .policy import Policy


@dataclass
class SACConfig:
    hidden: int = 256
    layers: int = 2
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005  # target critics' share of the critics' weights, per update
    batch_size: int = 256
    initial_alpha: float = 0.1  # entropy temperature, tuned towards an entropy of -action_dim


class TwinCritic(nn.Module):
    """Two Q-functions of (state, goal features, unit action), as one batched two-member network."""

    def __init__(self, input_dim: int, hidden: int, layers: int):
        super().__init__()
        sizes = [input_dim] + [hidden] * layers
        self.layers = nn.ModuleList(EnsembleLinear(2, a, b) for a, b in zip(sizes, sizes[1:]))
        self.head = EnsembleLinear(2, hidden, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.expand(2, *inputs.shape)
        for layer in self.layers:
            x = F.silu(layer(x))
        return self.head(x)[..., 0]  # (2, batch)


def critic_inputs(policy: Policy, states, goals, actions) -> torch.Tensor:
    """What the critics see: the state and goal features normalised as the actor sees them, and the
    unit action."""
    return torch.cat([policy.normalized(states, goals), actions], -1)


class SoftValue(nn.Module):
    """V(s, g) = min_i Q_i(s, g, mu(s, g)): the critics' value of a state under the actor's mean
    action, which a planner adds beyond its horizon. Holds copies of the actor and the critics."""

    def __init__(self, state_dim: int, goal_dim: int, action_dim: int, hidden: int = 256, layers: int = 2,
                 critic_hidden: int = 256, critic_layers: int = 2):
        super().__init__()
        self.policy = Policy(state_dim, goal_dim, action_dim, hidden, layers)
        self.critic = TwinCritic(state_dim + goal_dim + action_dim, critic_hidden, critic_layers)
        self.state_dim, self.action_dim = state_dim, action_dim  # what a checkpoint's compatibility check reads
        self.sizes = {"critic_hidden": critic_hidden, "critic_layers": critic_layers}

    def config(self) -> dict:
        return {**self.policy.config(), **self.sizes}

    def forward(self, states: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Values (N,) of states (N, S) with the goal's features (N, G)."""
        actions = self.policy.unit_actions(states, goals)
        return self.critic(critic_inputs(self.policy, states, goals, actions)).min(0).values


class SAC:
    def __init__(self, policy: Policy, config: SACConfig = SACConfig()):
        """`policy`: the actor's mean, with its bounds and input normalisation already set."""
        self.policy, self.config = policy, config
        device = policy.low.device
        self.log_std = torch.zeros(policy.action_dim, device=device, requires_grad=True)
        inputs = policy.state_dim + policy.goal_dim + policy.action_dim
        self.critic = TwinCritic(inputs, config.hidden, config.layers).to(device)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.initial_alpha), device=device, requires_grad=True)
        self.target_entropy = -float(policy.action_dim)
        adam = {"lr": config.learning_rate, "foreach": True}  # one call per step for all tensors, on the CPU too
        self.actor_optimizer = torch.optim.Adam([*policy.parameters(), self.log_std], **adam)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), **adam)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], **adam)

    def sample(self, states: torch.Tensor, goals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit actions drawn from the squashed Gaussian, and their log-probabilities."""
        mean = self.policy.net(self.policy.normalized(states, goals))
        std = self.log_std.clamp(-5.0, 1.0).exp()
        raw = mean + std * torch.randn_like(mean)
        actions = torch.tanh(raw)
        log_prob = (torch.distributions.Normal(mean, std).log_prob(raw)
                    - torch.log(1 - actions.square() + 1e-6)).sum(-1)
        return actions, log_prob

    def q(self, critic: TwinCritic, states, goals, actions) -> torch.Tensor:
        return critic(critic_inputs(self.policy, states, goals, actions))

    def update(self, states, goals, actions, rewards, next_states, next_goals, done) -> dict:
        """One gradient step of the critics, the actor and the temperature on a batch of transitions:
        states and the goal's features at them, unit actions, rewards, the same at the next states,
        and `done` 1 where the episode ended at the next state."""
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_actions, next_log_prob = self.sample(next_states, next_goals)
            next_q = self.q(self.target, next_states, next_goals, next_actions).min(0).values - alpha * next_log_prob
            target = rewards + self.config.gamma * (1 - done) * next_q
        critic_loss = (self.q(self.critic, states, goals, actions) - target).square().mean()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        new_actions, log_prob = self.sample(states, goals)
        self.critic.requires_grad_(False)  # the actor's loss needs the critics' gradient in the action alone
        actor_loss = (alpha * log_prob - self.q(self.critic, states, goals, new_actions).min(0).values).mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()
        self.critic.requires_grad_(True)

        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self.alpha_optimizer.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_optimizer.step()

        with torch.no_grad():
            for target_weight, weight in zip(self.target.parameters(), self.critic.parameters()):
                target_weight.lerp_(weight, self.config.tau)
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "alpha": alpha.item()}

    def soft_value(self) -> SoftValue:
        """A copy of the actor and the critics as a value function, to save and plan with."""
        c, p = self.config, self.policy
        value = SoftValue(p.state_dim, p.goal_dim, p.action_dim, p.hidden, p.num_layers, c.hidden, c.layers)
        value.policy.load_state_dict(p.state_dict())
        value.critic.load_state_dict(self.critic.state_dict())
        return value.to(p.low.device).eval()
