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
                   on_epoch=None, warm: bool = False, place_members=None) -> dict:
    """Train in place and keep the epoch with the best held-out loss (with patience 0, the last one);
    with `warm`, the model is a trained one that starts from what it predicts now, and is kept if no
    epoch beats it. Returns the metrics of the epoch kept. `on_epoch(epoch, metrics)` reports progress.

    The members share only the normalisation, so they may also train apart, an epoch at a time in
    step: `place_members(model, train, held_out, bootstrap, config)` makes MemberFits of groups of
    members wherever it likes (a Ray cluster's actors, mbrl_ros/cluster.py) and returns a Crew of
    them, the members in order; the model is the same."""
    if len(data) < 10:
        raise ValueError(f"need at least 10 transitions to train, got {len(data)}")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(data))
    n_val = max(1, int(len(data) * config.validation_fraction))
    train, held_out = data.subset(order[n_val:]), data.subset(order[:n_val])
    states, actions, deltas = _tensors(train, model.input_mean.device)
    model.set_normalization(torch.cat([states, actions], dim=-1), deltas, keep_predictions=warm)
    bootstrap = rng.integers(0, len(train), size=(model.members, len(train)))
    place_members = place_members or (lambda *fit: Crew([MemberFit(*fit, model.members)]))
    crew = place_members(model, train, held_out, bootstrap, config)

    best = {"epoch": 0, **crew.metrics("evaluate")} if warm else {"loss": float("inf")}
    stale, started = 0, time.monotonic()
    for epoch in range(config.max_epochs):
        metrics = {"epoch": epoch + 1, **crew.metrics("epoch")}
        if on_epoch is not None:
            on_epoch(epoch + 1, metrics)
        if metrics["loss"] < best["loss"] or not config.patience:
            best, stale = metrics, 0
            crew.each("keep")
        else:
            stale += 1
        if (config.patience and stale >= config.patience) or time.monotonic() - started > config.max_seconds:
            break
    model.load_state_dict(GaussianEnsemble.join(crew.each("kept")).state_dict())
    return {**best, "train_size": len(train), "validation_size": n_val}


class MemberFit:
    """Some members of an ensemble (all of them, or one apart), already normalised for `train`,
    trained an epoch at a time, each on its row of `bootstrap` (indices into `train`).
    `ensemble_size`: of the whole ensemble, which the log-variance bounds' penalty is shared over."""

    def __init__(self, model: GaussianEnsemble, train: Transitions, held_out: Transitions, bootstrap: np.ndarray,
                 config: TrainConfig, ensemble_size: int):
        device = model.input_mean.device
        self.model, self.held_out, self.config = model, held_out, config
        states, actions, deltas = _tensors(train, device)
        self.inputs = model.normalize_inputs(states, actions)
        self.targets = (deltas - model.target_mean) / model.target_std
        self.bootstrap = torch.as_tensor(bootstrap, device=device)
        self.shuffles = torch.Generator().manual_seed(config.seed)  # the same for every member, together or apart
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
        self.bound_weight = 0.01 / ensemble_size
        self.best = copy.deepcopy(model.state_dict())

    def epoch(self) -> tuple[int, dict]:
        """One pass over the bootstrap rows; then the held-out metrics."""
        model, beta = self.model, self.config.nll_beta
        shuffled = self.bootstrap[:, torch.randperm(self.bootstrap.shape[1], generator=self.shuffles)
                                  .to(self.bootstrap.device)]
        model.train()
        for batch in shuffled.split(self.config.batch_size, dim=1):
            mean, logvar = model(self.inputs[batch])
            loss = gaussian_nll(mean, logvar, self.targets[batch], beta).sum()
            loss = loss + self.bound_weight * (model.max_logvar.sum() - model.min_logvar.sum())
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return self.evaluate()

    def evaluate(self) -> tuple[int, dict]:
        """The held-out metrics averaged over these members, and how many they are."""
        self.model.eval()
        return self.model.members, evaluate(self.model, self.held_out, self.config.nll_beta)

    def keep(self) -> None:
        self.best = copy.deepcopy(self.model.state_dict())

    def kept(self) -> GaussianEnsemble:
        """The members as they were when last kept."""
        self.model.load_state_dict(self.best)
        return self.model


class Crew:
    """MemberFits that train in step, here; cluster.py has one whose fits are Ray actors."""

    def __init__(self, fits: list[MemberFit]):
        self.fits = fits

    def each(self, method: str) -> list:
        return [getattr(fit, method)() for fit in self.fits]

    def metrics(self, method: str) -> dict:
        """The held-out metrics `method` gives, averaged over every member of the ensemble."""
        counted = self.each(method)
        total = sum(count for count, _ in counted)
        return {key: sum(count * m[key] for count, m in counted) / total for key in counted[0][1]}
