"""Fit a GaussianEnsemble to transitions: bootstrapped members, Gaussian NLL, early stopping."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.transitions import Transitions
from .ensemble import GaussianEnsemble


@dataclass
class TrainConfig:
    max_epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    validation_fraction: float = 0.1
    patience: int = 8  # epochs without a better held-out loss before stopping; 0: none, the last epoch is kept
    nll_beta: float = 0.0  # 0: the Gaussian NLL; towards 1: beta-NLL, which fits hard dimensions (see gaussian_nll)
    max_seconds: float = float("inf")  # bounded slices, so a trainer never hogs the machine
    seed: int = 0


def _tensors(data: Transitions, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    def as_tensor(a):
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    states, actions, next_states = map(as_tensor, (data.states, data.actions, data.next_states))
    return states, actions, next_states - states


def gaussian_nll(mean: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Per-member Gaussian negative log-likelihood, averaged over batch and dimensions (no constant).

    With `beta` > 0, each term is weighted by its predicted variance to that power, without a
    gradient through the weight: beta-NLL (Seitzer et al. 2022). The plain NLL lets a network
    explain a dimension it finds hard to fit (a valve's turn among a hand's easy joints) as noise,
    and stop fitting it; with beta = 1 the mean gets the gradient of a squared error."""
    nll = ((mean - target) ** 2) * torch.exp(-logvar) + logvar
    if beta:
        nll = nll * torch.exp(beta * logvar.detach())
    return nll.mean(dim=(1, 2))


def evaluate(model: GaussianEnsemble, data: Transitions, beta: float = 0.0) -> dict:
    """Held-out NLL and MSE of the normalised delta, averaged over members, and the training loss
    (the NLL, or with `beta` the beta-NLL) that early stopping watches."""
    device = model.input_mean.device
    states, actions, deltas = _tensors(data, device)
    with torch.no_grad():
        inputs = model.normalize_inputs(states, actions).expand(model.members, -1, -1)
        targets = ((deltas - model.target_mean) / model.target_std).expand(model.members, -1, -1)
        mean, logvar = model(inputs)
        nll = gaussian_nll(mean, logvar, targets).mean().item()
        return {"nll": nll, "mse": ((mean - targets) ** 2).mean().item(),
                "loss": gaussian_nll(mean, logvar, targets, beta).mean().item() if beta else nll}


def train_ensemble(model: GaussianEnsemble, data: Transitions, config: TrainConfig = TrainConfig(),
                   on_epoch=None, warm: bool = False) -> dict:
    """Train in place and keep the epoch with the best held-out loss (with patience 0, the last one);
    with `warm`, the model is a trained one that starts from what it predicts now, and is kept if no
    epoch beats it. Returns the metrics of the epoch kept. `on_epoch(epoch, metrics)` reports progress."""
    if len(data) < 10:
        raise ValueError(f"need at least 10 transitions to train, got {len(data)}")
    device = model.input_mean.device
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(data))
    n_val = max(1, int(len(data) * config.validation_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    train, held_out = data.subset(train_idx), data.subset(val_idx)

    states, actions, deltas = _tensors(train, device)
    model.set_normalization(torch.cat([states, actions], dim=-1), deltas, keep_predictions=warm)
    inputs = model.normalize_inputs(states, actions)
    targets = (deltas - model.target_mean) / model.target_std
    bootstrap = torch.as_tensor(rng.integers(0, len(train), size=(model.members, len(train))), device=device)

    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    beta = config.nll_beta
    best = {"epoch": 0, **evaluate(model, held_out, beta)} if warm else {"loss": float("inf")}
    best_state, stale, started = copy.deepcopy(model.state_dict()), 0, time.monotonic()
    for epoch in range(config.max_epochs):
        shuffled = bootstrap[:, torch.randperm(len(train), device=device)]
        model.train()
        for batch in shuffled.split(config.batch_size, dim=1):
            mean, logvar = model(inputs[batch])
            loss = gaussian_nll(mean, logvar, targets[batch], beta).sum()
            loss = loss + 0.01 * (model.max_logvar.sum() - model.min_logvar.sum())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        metrics = {"epoch": epoch + 1, **evaluate(model, held_out, beta)}
        if on_epoch is not None:
            on_epoch(epoch + 1, metrics)
        if metrics["loss"] < best["loss"] or not config.patience:
            best, best_state, stale = metrics, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if (config.patience and stale >= config.patience) or time.monotonic() - started > config.max_seconds:
            break
    model.load_state_dict(best_state)
    return {**best, "train_size": len(train), "validation_size": n_val}
