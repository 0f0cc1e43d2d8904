"""Roll action sequences through the ensemble: one batched model call per horizon step.

Propagation (PETS, Chua et al. 2018), for N particles, one per action sequence:
- ts_inf: each particle keeps one ensemble member for the whole horizon (members get equal shares);
- ts1: each particle gets a random member again at every step;
- expectation: every member predicts every particle, and the particle moves to their mean.
With `sample`, a particle moves to a draw from the predicted Gaussian instead of its mean.
"""

from __future__ import annotations

import torch

from ..models.ensemble import GaussianEnsemble

PROPAGATIONS = ("ts_inf", "ts1", "expectation")


def mean_step(model: GaussianEnsemble, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The next states (..., S) the members predict on average for states (..., S) under actions (..., A)."""
    batch_states, batch_actions = states.reshape(-1, states.shape[-1]), actions.reshape(-1, actions.shape[-1])
    mean, _ = model.predict(batch_states.expand(model.members, -1, -1), batch_actions.expand(model.members, -1, -1))
    return mean.mean(0).reshape(states.shape)


def policy_rollout(model: GaussianEnsemble, policy, state: torch.Tensor, goal: torch.Tensor,
                   horizon: int) -> torch.Tensor:
    """The actions (H, A) a policy (states, goal -> actions) takes over `horizon` steps from `state`
    (S,), following the members' mean prediction."""
    actions = []
    for _ in range(horizon):
        actions.append(policy(state, goal))
        state = mean_step(model, state, actions[-1])
    return torch.stack(actions)


def rollout(model: GaussianEnsemble, initial_state: torch.Tensor, actions: torch.Tensor,
            propagation: str = "ts_inf", sample: bool = False, generator: torch.Generator | None = None,
            with_disagreement: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """States (N, H+1, S) for action sequences (N, H, A) from one initial state (S,), or one per
    sequence (N, S).

    With `with_disagreement`, also the ensemble's disagreement at each step (N, H): the summed
    variance of the members' mean predictions, which needs every member on every particle.
    """
    if propagation not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {PROPAGATIONS}, got {propagation!r}")
    n, horizon, _ = actions.shape
    members = model.members
    if propagation != "expectation" and n % members:
        # Members take equal shares: pad with copies of the first particles, and drop them after.
        pad = members - n % members
        initial = initial_state if initial_state.dim() == 1 else torch.cat([initial_state, initial_state[:pad]])
        padded = rollout(model, initial, torch.cat([actions, actions[:pad]]), propagation, sample, generator,
                         with_disagreement)
        return tuple(p[:n] for p in padded) if with_disagreement else padded[:n]
    state = initial_state.expand(n, -1)
    if propagation == "expectation" and not sample:
        states, disagreement = model.rollout_expectation(state, actions)
        return (states, disagreement) if with_disagreement else states
    if propagation == "ts_inf" and not sample and not with_disagreement:
        shares = n // members
        grouped = model.rollout_means(state.reshape(members, shares, -1),
                                      actions.reshape(members, shares, horizon, -1))
        return grouped.reshape(n, horizon + 1, -1)
    particles = torch.arange(n, device=actions.device)
    fixed_member = particles // (n // members) if propagation != "expectation" else None
    states, disagreement = [state], []
    for t in range(horizon):
        action = actions[:, t]
        if propagation == "expectation" or with_disagreement:
            mean, variance = model.predict(state.expand(members, -1, -1), action.expand(members, -1, -1))
            if with_disagreement:
                disagreement.append(mean.var(0).sum(-1))
            if propagation == "expectation":
                mean, variance = mean.mean(0), variance.mean(0)
            else:
                member = fixed_member if propagation == "ts_inf" else torch.randint(
                    members, (n,), generator=generator, device=actions.device)
                mean, variance = mean[member, particles], variance[member, particles]
        else:
            order = None if propagation == "ts_inf" else torch.randperm(n, generator=generator, device=actions.device)
            grouped_state = state if order is None else state[order]
            grouped_action = action if order is None else action[order]
            mean, variance = model.predict(grouped_state.reshape(members, n // members, -1),
                                           grouped_action.reshape(members, n // members, -1))
            mean, variance = mean.reshape(n, -1), variance.reshape(n, -1)
            if order is not None:
                mean, variance = mean[torch.argsort(order)], variance[torch.argsort(order)]
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            mean = mean + noise * variance.sqrt()
        state = mean
        states.append(state)
    trajectory = torch.stack(states, dim=1)
    if with_disagreement:
        return trajectory, torch.stack(disagreement, dim=1)
    return trajectory
