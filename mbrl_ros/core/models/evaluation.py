"""How good is a dynamics model on recorded data: one- and k-step errors, and calibration."""

from __future__ import annotations

import numpy as np
import torch

from ..data.transitions import Transitions
from ..planning.rollout import rollout
from .ensemble import GaussianEnsemble

EXPECTED_COVERAGE = {1: 0.6827, 2: 0.9545}  # share of a Gaussian within 1 and 2 standard deviations


def coverage(mean: np.ndarray, std: np.ndarray, truth: np.ndarray, sigmas: int) -> np.ndarray:
    """Per dimension, the share of true values inside mean +- sigmas * std."""
    return (np.abs(truth - mean) <= sigmas * std).mean(axis=0)


def predictive(model: GaussianEnsemble, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of the ensemble's next-state mixture (epistemic + aleatoric)."""
    members = model.members
    s = torch.as_tensor(states, dtype=torch.float32).expand(members, -1, -1)
    a = torch.as_tensor(actions, dtype=torch.float32).expand(members, -1, -1)
    mean, variance = model.predict(s, a)
    mixture_mean = mean.mean(0)
    mixture_variance = variance.mean(0) + mean.var(0, unbiased=False)
    return mixture_mean.numpy(), mixture_variance.sqrt().numpy()


def chains(times: np.ndarray, dt: float, k: int) -> np.ndarray:
    """Indices i where transitions i .. i+k-1 follow each other one period apart."""
    gaps = np.diff(times)
    contiguous = (gaps > 0.5 * dt) & (gaps < 1.5 * dt)
    if k == 1:
        return np.arange(len(times))
    window = np.convolve(contiguous.astype(int), np.ones(k - 1, dtype=int), mode="valid")
    return np.flatnonzero(window == k - 1)


def evaluate_model(model: GaussianEnsemble, data: Transitions, dt: float, horizon: int = 10) -> dict:
    """One-step error and calibration per state dimension, and error after k = 1..horizon steps
    of open-loop prediction (the expectation over members) on chains of recorded transitions."""
    model.eval()
    mean, std = predictive(model, data.states, data.actions)
    result = {
        "transitions": len(data),
        "one_step_rmse": np.sqrt(((mean - data.next_states) ** 2).mean(0)).tolist(),
        "coverage_1sigma": coverage(mean, std, data.next_states, 1).tolist(),
        "coverage_2sigma": coverage(mean, std, data.next_states, 2).tolist(),
        "k_step_rmse": {},
    }
    if data.times is None:
        return result
    for k in range(1, horizon + 1):
        starts = chains(data.times, dt, k)
        if len(starts) == 0:
            break
        actions = np.stack([data.actions[starts + j] for j in range(k)], axis=1)
        truth = data.next_states[starts + k - 1]
        with torch.no_grad():
            predicted = rollout(model, torch.as_tensor(data.states[starts], dtype=torch.float32),
                                torch.as_tensor(actions, dtype=torch.float32), "expectation")[:, -1].numpy()
        result["k_step_rmse"][k] = np.sqrt(((predicted - truth) ** 2).mean(0)).tolist()
    return result
