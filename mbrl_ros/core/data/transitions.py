"""(state, action, next state) transitions from time series of states, commands and resets."""

from __future__ import annotations

from collections.abc import Sequence
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


def concatenate(parts: Sequence[Transitions], state_dim: int, action_dim: int) -> Transitions:
    """One set of transitions from several; an empty one of these sizes when there are none."""
    if not parts:
        return Transitions(np.zeros((0, state_dim)), np.zeros((0, action_dim)), np.zeros((0, state_dim)), np.zeros(0))
    times = None if any(p.times is None for p in parts) else np.concatenate([p.times for p in parts])
    return Transitions(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("states", "actions", "next_states")),
                       times)


def _state_at(times: np.ndarray, values: np.ndarray, at: np.ndarray, before: np.ndarray, max_gap: float):
    """The state at times `at` from the samples recorded before times `before` only: interpolated
    between two of them, or extrapolated from the last two; and which of them have samples within
    `max_gap` on both sides (used or not: the stream goes on).

    A command can change a state at once (a velocity-controlled joint takes the new velocity within
    a physics step), so a sample recorded after the next command arrived shows that command, and
    interpolating across it blends two commands' effects by the phase of the state's rate against
    the commands'. A model trained on that blend predicts noise."""
    last = (np.searchsorted(times, before, side="left") - 1).clip(1, len(times) - 1)  # last sample before
    following = np.searchsorted(times, at, side="left").clip(max=len(times) - 1)  # the first at or after `at`
    after = following.clip(min=1)
    inside = times[last] >= at
    first = np.where(inside, after - 1, last - 1)  # the two samples used: interpolation or extrapolation
    second = np.where(inside, after, last)
    t0, t1, following = times[first], times[second], times[following]
    valid = ((t0 <= at) & (at - t0 <= max_gap) & (np.abs(t1 - at) <= max_gap) & (times[last] < before)
             & (following >= at) & (following - at <= max_gap))
    weight = np.where(t1 > t0, (at - t0) / np.maximum(t1 - t0, 1e-12), 0.0)[:, None]
    return values[first] * (1 - weight) + values[second] * weight, valid


def build_transitions(state_streams: Sequence[tuple[np.ndarray, np.ndarray]], command_times: np.ndarray,
                      commands: np.ndarray, dt: float, resets: np.ndarray = (), max_gap: float | None = None
                      ) -> Transitions:
    """One transition per command: the state when it was sent, the command, and the state `dt` later.

    The state is the streams' values side by side (each stream a (times, values) pair, one per state
    source), each interpolated at those times, so jitter in any stream does not matter, from the
    samples recorded before the command (the start) or before the next one (the end). A
    transition is dropped where a stream has no samples around either time (a gap longer than
    `max_gap`, default 2 dt), where the next command came within half a period (the command did not
    act for `dt`), or where an episode ended (a reset) in between: no transition crosses a reset.
    """
    max_gap = 2.0 * dt if max_gap is None else max_gap
    width = sum(values.shape[1] for _, values in state_streams)
    empty = Transitions(np.zeros((0, width)), np.zeros((0, commands.shape[1])), np.zeros((0, width)), np.zeros(0))
    if len(command_times) == 0 or any(len(times) < 2 for times, _ in state_streams):
        return empty
    order = np.argsort(command_times, kind="stable")
    command_times, commands = command_times[order], commands[order]
    keep = np.append(np.diff(command_times) >= 0.5 * dt, True)
    next_commands = np.append(command_times[1:], np.inf)
    starts, ends = [], []
    for times, values in state_streams:
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        start, start_ok = _state_at(times, values, command_times, command_times, max_gap)
        end, end_ok = _state_at(times, values, command_times + dt, next_commands, max_gap)
        starts.append(start)
        ends.append(end)
        keep &= start_ok & end_ok
    resets = np.sort(np.asarray(resets, float))
    if resets.size:  # any reset within [t - max_gap, t + dt + max_gap] spoils the transition
        first_after = np.searchsorted(resets, command_times - max_gap, side="left")
        next_reset = resets[first_after.clip(max=resets.size - 1)]
        keep &= (first_after >= resets.size) | (next_reset > command_times + dt + max_gap)
    return Transitions(np.hstack(starts)[keep], commands[keep], np.hstack(ends)[keep], command_times[keep])


class TransitionStream:
    """build_transitions over a recording given piece by piece in time order (a logger's chunks, a
    long bag read in parts), keeping only what later transitions still need: the same transitions
    as from the whole recording at once, in memory proportional to the transitions, not the samples.

    A command's transition is complete once every stream and the commands have been seen past its
    end and the next command is known; until then the samples from `max_gap` before it are carried
    over to the next piece. `finish()` completes the last ones, at the end of a recording."""

    def __init__(self, widths: Sequence[int], action_dim: int, dt: float, max_gap: float | None = None):
        self.dt, self.max_gap = dt, 2.0 * dt if max_gap is None else max_gap
        self.streams = [(np.zeros(0), np.zeros((0, w))) for w in widths]
        self.command_times, self.commands = np.zeros(0), np.zeros((0, action_dim))
        self.resets = np.zeros(0)

    def add(self, streams: Sequence[tuple[np.ndarray, np.ndarray]], command_times: np.ndarray,
            commands: np.ndarray, resets: np.ndarray = ()) -> Transitions:
        """The next piece: each stream's (times, values), the commands and their times, the resets.
        Returns the transitions it completed."""
        self.streams = [(np.concatenate([t, new_t]), np.concatenate([v, new_v]))
                        for (t, v), (new_t, new_v) in zip(self.streams, streams)]
        self.command_times = np.concatenate([self.command_times, command_times])
        self.commands = np.concatenate([self.commands, commands])
        self.resets = np.concatenate([self.resets, np.asarray(resets, float)])
        seen = min(times.max(initial=-np.inf) for times, _ in self.streams)  # every stream known up to here
        return self._complete(min(seen, self.command_times.max(initial=-np.inf)) - self.dt - self.max_gap, seen)

    def finish(self) -> Transitions:
        """The transitions left at the end of the recording."""
        return self._complete(np.inf, np.inf)

    def _complete(self, before: float, seen: float) -> Transitions:
        """The transitions of the commands sent before `before` whose next command is known (all, at
        the end); then drops what no later transition needs: nothing starts before `seen` but them."""
        order = np.argsort(self.command_times, kind="stable")
        self.command_times, self.commands = self.command_times[order], self.commands[order]
        done = int(np.searchsorted(self.command_times, before, side="left"))
        if np.isfinite(before):
            done = min(done, len(self.command_times) - 1)  # the newest waits for the one after it
        # Built with the next command (done) beside them, for their ends; its own transition waits.
        built = build_transitions(self.streams, self.command_times[:done + 1], self.commands[:done + 1], self.dt,
                                  self.resets, self.max_gap)
        if done < len(self.command_times):
            built = built.subset(built.times < self.command_times[done])
            seen = min(seen, self.command_times[done])
        self.command_times, self.commands = self.command_times[done:], self.commands[done:]
        self._forget(seen)
        return built

    def _forget(self, pending: float) -> None:
        """Drop each stream's samples but the two last more than `max_gap` before `pending` (where
        the next transition may start), and the resets before that."""
        cutoff = pending - self.max_gap
        streams = []
        for times, values in self.streams:
            order = np.argsort(times, kind="stable")
            first = max(0, int(np.searchsorted(times[order], cutoff, side="left")) - 2)
            streams.append((times[order][first:], values[order][first:]))
        self.streams = streams
        self.resets = self.resets[self.resets >= cutoff]
