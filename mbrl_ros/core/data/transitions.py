"""(state, action, next state) transitions from time series of joint states and commands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Transitions:
    states: np.ndarray  # (N, state_dim)
    actions: np.ndarray  # (N, action_dim)
    next_states: np.ndarray  # (N, state_dim)
    times: np.ndarray | None = None  # (N,) when each action was sent, where known

    def __len__(self) -> int:
        return len(self.states)

    def subset(self, index) -> "Transitions":
        return Transitions(self.states[index], self.actions[index], self.next_states[index],
                           None if self.times is None else self.times[index])


def _interpolate(times: np.ndarray, values: np.ndarray, at: np.ndarray, max_gap: float):
    """Linear interpolation of `values` at times `at`, and which of them lie between two samples
    no more than `max_gap` from the query time."""
    after = np.searchsorted(times, at, side="left").clip(1, len(times) - 1)
    before = after - 1
    t0, t1 = times[before], times[after]
    valid = (t0 <= at) & (at <= t1) & (at - t0 <= max_gap) & (t1 - at <= max_gap)
    weight = np.where(t1 > t0, (at - t0) / np.maximum(t1 - t0, 1e-12), 0.0)[:, None]
    return values[before] * (1 - weight) + values[after] * weight, valid


def build_transitions(state_times: np.ndarray, states: np.ndarray, command_times: np.ndarray,
                      commands: np.ndarray, dt: float, max_gap: float | None = None) -> Transitions:
    """One transition per command: the state when it was sent, the command, and the state `dt` later.

    States are interpolated at those times, so jitter in either stream does not matter. A transition
    is dropped where states are missing around either time (a gap longer than `max_gap`, default
    2 dt) or where the next command came within half a period (the command did not act for `dt`).
    """
    max_gap = 2.0 * dt if max_gap is None else max_gap
    empty = Transitions(np.zeros((0, states.shape[1])), np.zeros((0, commands.shape[1])),
                        np.zeros((0, states.shape[1])), np.zeros(0))
    if len(state_times) < 2 or len(command_times) == 0:
        return empty
    order = np.argsort(state_times, kind="stable")
    state_times, states = state_times[order], states[order]
    order = np.argsort(command_times, kind="stable")
    command_times, commands = command_times[order], commands[order]

    start, start_ok = _interpolate(state_times, states, command_times, max_gap)
    end, end_ok = _interpolate(state_times, states, command_times + dt, max_gap)
    next_command = np.append(command_times[1:], np.inf)
    acted_long_enough = next_command - command_times >= 0.5 * dt
    keep = start_ok & end_ok & acted_long_enough
    return Transitions(start[keep], commands[keep], end[keep], command_times[keep])
