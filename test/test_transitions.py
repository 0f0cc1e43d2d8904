import numpy as np
import pytest

from mbrl_ros.core.data.transitions import TransitionStream, build_transitions

DT = 0.05


def linear_robot(state_times, command_times, commands):
    """Position integrates the zero-order-held command; velocity is the command."""
    index = np.searchsorted(command_times, state_times, side="right") - 1
    positions = np.zeros(len(state_times))
    for i, t in enumerate(state_times):
        past = command_times[: index[i] + 1]
        durations = np.diff(np.append(past, t))
        positions[i] = np.sum(commands[: index[i] + 1] * durations)
    return np.stack([positions, commands[index]], axis=1)


def test_jittered_streams_give_the_true_transitions():
    rng = np.random.default_rng(0)
    jitter = 0.004
    command_times = np.arange(0, 5, DT) + rng.uniform(-jitter, jitter, 100)
    commands = rng.uniform(-1, 1, 100)
    base = np.arange(0.0, 5.1, 1 / 120)
    state_times = np.sort(base + rng.uniform(-0.002, 0.002, len(base)))
    states = linear_robot(state_times, command_times, commands)
    t = build_transitions([(state_times, states)], command_times, commands[:, None], DT)
    assert len(t) >= 90
    moved = t.next_states[:, 0] - t.states[:, 0]
    # Over one period the command moved the joint by command * dt, except while the next command
    # (at most 2 jitter early, and at most 2 away in value) already acted.
    np.testing.assert_allclose(moved, t.actions[:, 0] * DT, atol=2 * jitter * 2.0)


def test_gaps_in_state_drop_transitions_that_span_them():
    command_times = np.arange(0, 2, DT)
    commands = np.ones((40, 1))
    state_times = np.arange(0, 2.05, 0.01)
    state_times = state_times[(state_times < 0.8) | (state_times > 1.2)]  # a 0.4 s drop-out
    states = np.stack([state_times, np.ones_like(state_times)], axis=1)
    t = build_transitions([(state_times, states)], command_times, commands, DT)
    assert np.all((t.states[:, 0] < 0.8) | (t.states[:, 0] > 1.2))
    assert np.all((t.next_states[:, 0] < 0.8) | (t.next_states[:, 0] > 1.2))
    assert 25 <= len(t) <= 32


def test_bursts_of_commands_are_not_mistaken_for_one_period():
    command_times = np.array([0.0, 0.01, 0.1, 0.15])
    commands = np.array([[1.0], [2.0], [3.0], [4.0]])
    state_times = np.arange(-0.1, 0.5, 0.01)
    states = np.stack([state_times, state_times], axis=1)
    t = build_transitions([(state_times, states)], command_times, commands, DT)
    assert 1.0 not in t.actions[:, 0]
    assert {2.0, 3.0, 4.0} <= set(t.actions[:, 0])


def test_no_data_gives_no_transitions():
    t = build_transitions([(np.zeros(0), np.zeros((0, 2)))], np.zeros(0), np.zeros((0, 1)), DT)
    assert len(t) == 0 and t.states.shape == (0, 2)


def test_no_transition_crosses_a_reset():
    command_times = np.arange(0, 2, DT)
    commands = np.ones((40, 1))
    state_times = np.arange(0, 2.05, 0.01)
    states = np.stack([state_times, np.ones_like(state_times)], axis=1)
    reset = 1.003
    t = build_transitions([(state_times, states)], command_times, commands, DT, resets=[reset])
    assert np.all((t.next_states[:, 0] < reset) | (t.states[:, 0] > reset)), "none spans the reset"
    assert 34 <= len(t) <= 37, "only those around the reset are dropped"


def test_two_state_streams_are_joined_at_the_command_times():
    command_times = np.arange(0, 1, DT)
    commands = np.zeros((20, 1))
    fast, slow = np.arange(0, 1.1, 0.005), np.arange(0.002, 1.1, 0.02)
    t = build_transitions([(fast, fast[:, None]), (slow, 2 * slow[:, None])], command_times, commands, DT)
    assert t.states.shape[1] == 2 and len(t) >= 18
    np.testing.assert_allclose(t.states, np.stack([t.times, 2 * t.times], axis=1), atol=1e-9)
    np.testing.assert_allclose(t.next_states, np.stack([t.times + DT, 2 * (t.times + DT)], axis=1), atol=1e-9)


def test_a_state_the_commands_change_at_once_is_not_blended_across_them():
    """Velocity-controlled joints take each command's velocity within a physics step, and the
    state comes at 60 Hz: whatever the phase of the samples against the commands, a transition's
    start shows the command before and its end this command, never the next."""
    rng = np.random.default_rng(1)
    for phase in np.linspace(0.0, 1 / 60, 5, endpoint=False):
        command_times = np.arange(0.2, 5, DT) + rng.uniform(-0.004, 0.004, 96)
        commands = rng.uniform(-1, 1, 96)
        state_times = np.arange(0.0, 5.1, 1 / 60) + phase
        states = linear_robot(state_times, command_times, commands)
        t = build_transitions([(state_times, states)], command_times, commands[:, None], DT)
        assert len(t) >= 90
        sent = np.searchsorted(command_times, t.times)
        np.testing.assert_allclose(t.next_states[:, 1], t.actions[:, 0], atol=1e-9)
        np.testing.assert_allclose(t.states[:, 1], commands[sent - 1], atol=1e-9)
        np.testing.assert_allclose(t.states[:, 0], linear_robot(t.times, command_times, commands)[:, 0], atol=1e-9)
        np.testing.assert_allclose(t.next_states[:, 0] - t.states[:, 0], t.actions[:, 0] * DT, atol=1e-9)


def random_recording(rng: np.random.Generator, dt: float):
    """Two jittered state streams at different rates (one with a gap), commands at uneven intervals
    (some within half a period), and resets."""
    seconds = rng.uniform(3.0, 8.0)
    streams = []
    for width, rate in ((3, 60.0), (2, rng.uniform(20.0, 240.0))):
        times = np.sort(rng.uniform(0.0, seconds, int(seconds * rate)))
        if rng.random() < 0.5:
            gap = rng.uniform(0.0, seconds)
            times = times[(times < gap) | (times > gap + rng.uniform(0.0, 0.5))]
        streams.append((times, rng.normal(size=(len(times), width))))
    command_times = np.cumsum(rng.uniform(0.3 * dt, 1.6 * dt, int(seconds / dt * 1.2)))
    command_times = command_times[command_times < seconds]
    resets = np.sort(rng.uniform(0.0, seconds, rng.integers(0, 3)))
    return seconds, streams, command_times, rng.normal(size=(len(command_times), 2)), resets


@pytest.mark.parametrize("seed", range(40))
def test_a_recording_streamed_in_pieces_gives_the_transitions_of_the_whole(seed):
    rng, dt = np.random.default_rng(seed), 0.05
    seconds, streams, command_times, commands, resets = random_recording(rng, dt)
    whole = build_transitions(streams, command_times, commands, dt, resets)
    edges = [-1.0, *np.sort(rng.uniform(0.0, seconds, rng.integers(1, 12))), seconds + 1.0]
    stream, parts, kept = TransitionStream([3, 2], 2, dt), [], []
    for start, end in zip(edges[:-1], edges[1:]):
        within = lambda times: (times >= start) & (times < end)  # noqa: E731
        sent = within(command_times)
        parts.append(stream.add([(t[within(t)], v[within(t)]) for t, v in streams], command_times[sent],
                                commands[sent], resets[within(resets)]))
        kept.append(max(len(t) for t, _ in stream.streams))
    parts.append(stream.finish())
    np.testing.assert_array_equal(np.concatenate([p.times for p in parts]), whole.times)
    for field in ("states", "actions", "next_states"):
        np.testing.assert_allclose(np.concatenate([getattr(p, field) for p in parts]), getattr(whole, field))
    longest = max(np.diff(edges)[1:-1], default=seconds) + 0.5  # a piece, and what the gap may hold back
    assert max(kept) <= 240.0 * (longest + 4 * dt) + 4, "only the last samples are carried over"
