"""Roll action sequences through the ensemble: one batched model call per horizon step."""

from __future__ import annotations

import torch

from .ensemble import GaussianEnsemble


def rollout(model: GaussianEnsemble, initial_state: torch.Tensor, actions: torch.Tensor,
            sample: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """States (N, H+1, S) for action sequences (N, H, A) from one initial state (S,).

    Each sequence is one particle, propagated by one ensemble member for the whole horizon
    (PETS' TS-infinity with one particle per sequence); N must be a multiple of the member count.
    """
    n, horizon, action_dim = actions.shape
    members = model.members
    if n % members:
        raise ValueError(f"{n} sequences cannot be shared evenly by {members} ensemble members")
    per_member = actions.reshape(members, n // members, horizon, action_dim)
    state = initial_state.expand(members, n // members, -1)
    states = [state]
    for t in range(horizon):
        state = model.step(state, per_member[:, :, t], sample=sample, generator=generator)
        states.append(state)
    return torch.stack(states, dim=2).reshape(n, horizon + 1, -1)
